"""Test helpers for the app: a folder of tiny, randomly initialised exported models laid out like
checkpoints/ (with progress GIFs, losses and model cards, so every tab has something to show), and
`python app.py` served in a subprocess (benchmarks.gradio_server) against such a folder."""

import contextlib
import json
import os
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


@contextlib.contextmanager
def serve_app(checkpoints: Path | None, startup_timeout: float = 120) -> Iterator[str]:
    """`python app.py` on a free port, offline, with `checkpoints` as the bundled folder (None: the
    repository's own checkpoints/); yields the URL once the page answers, stops the server after."""
    env = {**SUBPROCESS_ENV, "OMP_NUM_THREADS": "2"}
    env.pop("GAN_DEMO_CHECKPOINTS", None)
    if checkpoints is not None:
        env["GAN_DEMO_CHECKPOINTS"] = str(checkpoints)
    log_folder = Path(os.environ.get("TMPDIR", "/tmp"))
    with gradio_server([sys.executable, "app.py"], env, log_folder, startup_timeout) as (url, _):
        yield url
