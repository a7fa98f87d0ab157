"""Test helpers for the app: a folder of tiny, randomly initialised exported models laid out like
checkpoints/ (with progress GIFs, losses and model cards, so every tab has something to show), and
`python app.py` served in a subprocess (benchmarks.gradio_server) against such a folder."""

import contextlib
import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import torch
from PIL import Image

from benchmarks.gradio_server import gradio_server
from gan_demo import render
from gan_demo.catalog import ENTRIES
from gan_demo.models import CycleGAN, DCGenerator
from tests.conftest import SUBPROCESS_ENV

TINY_IMAGE_SIZE = 32
TINY_SETTINGS = {"sample_every": 100, "iters": 300}


def make_tiny_checkpoints(root: Path, leave_out: tuple[str, ...] = ()) -> Path:
    """Every catalog model except `leave_out`, tiny and seeded, in root/<name>/ as an export, with the
    bundled models' architectures (pixel norm in the DCGANs, the encoder's skip in the CycleGANs)."""
    for index, entry in enumerate(ENTRIES):
        if entry.name in leave_out:
            continue
        torch.manual_seed(index)  # only to initialise the tiny weights; the app itself never seeds globally
        if entry.kind == "dcgan":
            model = DCGenerator(latent_dim=16, conv_dim=4, image_size=TINY_IMAGE_SIZE, norm="pixel")
        else:
            model = CycleGAN(domain_a="a", domain_b="b", image_size=TINY_IMAGE_SIZE, conv_dim=4, n_res_blocks=1,
                             skips="features")
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


def crafted_gif(width: int, height: int) -> bytes:
    """A GIF whose header claims width x height, with one pixel of image data: small on disk, and
    width * height bytes to whoever decodes it."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0) + bytes(3) + b"\xff\xff\xff"  # 2-colour table
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x4c\x01\x00"
    return b"GIF89a" + screen + image + b"\x3b"


@contextlib.contextmanager
def serve_app(checkpoints: Path | None, startup_timeout: float = 120) -> Iterator[str]:
    """`python app.py` on a free port, offline, with `checkpoints` as the bundled folder (None: the
    repository's own checkpoints/); yields the URL once the page answers, stops the server after."""
    with serve_app_process(checkpoints, startup_timeout=startup_timeout) as (url, _):
        yield url


@contextlib.contextmanager
def serve_app_process(checkpoints: Path | None, extra_env: dict[str, str] | None = None,
                      startup_timeout: float = 120) -> Iterator[tuple[str, subprocess.Popen]]:
    """`serve_app` with `extra_env` added to the server's environment, yielding (URL, server process)."""
    env = {**SUBPROCESS_ENV, "OMP_NUM_THREADS": "2", **(extra_env or {})}
    env.pop("GAN_DEMO_CHECKPOINTS", None)
    if checkpoints is not None:
        env["GAN_DEMO_CHECKPOINTS"] = str(checkpoints)
    log_folder = Path(os.environ.get("TMPDIR", "/tmp"))
    with gradio_server([sys.executable, "app.py"], env, log_folder, startup_timeout) as (url, server):
        yield url, server
