"""gan-demo core: the networks, pixel conventions, augmentations, rendering, latent tools, the Hub
client and the inference helpers that both the Gradio app (`app.py`) and the training scripts
(`train/`) build on. Nothing in here imports gradio or the training package."""
