"""gan-demo's inference library: the generators and their Hub mixin (`gan_demo.models`), pixel
conventions, latent tools, the model registry, pulling pinned models from the Hub, reading training
progress and drawing GIFs: what the Gradio app (`app.py`) and anyone loading a model need. Training
lives in `train/`, which builds on this package; nothing here imports it, gradio, torchvision,
matplotlib, accelerate or tqdm, and importing any of it changes no setting (environment, threads):
the entry points (`app.py`'s launch(), the training CLIs, the benchmarks) set those explicitly."""
