"""Test helpers for the app: a folder of tiny, randomly initialised exported models laid out like
checkpoints/ (with progress GIFs, losses and model cards, so every tab has something to show), and
`python app.py` served in a subprocess on a free 127.0.0.1 port against such a folder."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import torch
from PIL import Image

from gan_demo import render
from gan_demo.catalog import ENTRIES
from gan_demo.models import CycleGAN, DCGenerator
from tests.conftest import ROOT, SUBPROCESS_ENV

TINY_IMAGE_SIZE = 32
TINY_SETTINGS = {"sample_every": 100, "iters": 300}


def make_tiny_checkpoints(root: Path, leave_out: tuple[str, ...] = ()) -> Path:
    """Every catalog model except `leave_out`, tiny and seeded, in root/<name>/ as an export."""
    for index, entry in enumerate(ENTRIES):
        if entry.name in leave_out:
            continue
        torch.manual_seed(index)  # only to initialise the tiny weights; the app itself never seeds globally
        if entry.kind == "dcgan":
            model = DCGenerator(latent_dim=16, conv_dim=4, image_size=TINY_IMAGE_SIZE)
        else:
            model = CycleGAN(domain_a="a", domain_b="b", image_size=TINY_IMAGE_SIZE, conv_dim=4, n_res_blocks=1)
        folder = root / entry.name
        model.save_pretrained(folder)
        write_progress(folder, index)
    return root


def write_progress(folder: Path, seed: int) -> None:
    """A 3-frame progress.gif (iterations 100, 200, 300), losses.csv and a card with its settings."""
    generator = torch.Generator().manual_seed(seed)
    frames = []
    for step in (100, 200, 300):
        pixels = (torch.rand(TINY_IMAGE_SIZE * 2, TINY_IMAGE_SIZE * 2, 3, generator=generator) * 255).to(torch.uint8)
        frames.append(render.label_frame(Image.fromarray(pixels.numpy()), render.step_label(step)))
    (folder / "progress.gif").write_bytes(render.gif_bytes(frames))
    rows = ["step,d_real,d_fake,g"] + [f"{step},{1 / step:.5f},{2 / step:.5f},{0.5 + 1 / step:.5f}"
                                       for step in range(1, 301)]
    (folder / "losses.csv").write_text("\n".join(rows) + "\n")
    settings = json.dumps({**TINY_SETTINGS, "seed": seed}, indent=2)
    (folder / "README.md").write_text(f"# tiny test model\n\n## Training settings\n\n```json\n{settings}\n```\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serve_app(checkpoints: Path | None, startup_timeout: float = 120) -> Iterator[str]:
    """`python app.py` on a free port, offline, with `checkpoints` as the bundled folder (None: the
    repository's own checkpoints/); yields the URL once the page answers, stops the server after."""
    port = free_port()
    env = {**SUBPROCESS_ENV, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GAN_DEMO_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "OMP_NUM_THREADS": "2"}
    env.pop("GAN_DEMO_CHECKPOINTS", None)
    if checkpoints is not None:
        env["GAN_DEMO_CHECKPOINTS"] = str(checkpoints)
    url = f"http://127.0.0.1:{port}/"
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"gan-demo-app-{port}.log", "w+")
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if server.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"app.py exited with {server.returncode}:\n{log.read()[-4000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"app.py did not answer on {url} within {startup_timeout} s") from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
