"""gan-demo core: the networks, pixel conventions, augmentations, rendering, latent tools, the Hub
client and the inference helpers that both the Gradio app (`app.py`) and the training scripts
(`train/`) build on. Nothing in here imports gradio or the training package."""

import os

# Set before anything imports torch (importing any gan_demo module does this first): idle OpenMP
# threads sleep instead of spin-waiting, so on a CPU shared with other work (another training run,
# the app's second request) they do not fight over the cores; on a busy 2-core CPU spinning made a
# 256 px translation 3-7x slower. OMP_WAIT_POLICY set by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
