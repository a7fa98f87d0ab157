"""Shared test fixtures: tiny seeded synthetic image folders (tests never need the real data)
and helpers to run the project's command lines, in a subprocess or in this process."""

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
# Subprocesses (training CLIs, accelerate launch) run single-threaded so parallel tests stay fast.
SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "HF_HUB_DISABLE_TELEMETRY": "1"}


def make_images(folder: Path, count: int, seed: int, size: tuple[int, int] = (48, 40), tint=(0, 0, 0)) -> Path:
    """`count` random RGB PNGs of `size` (w, h) with a colour tint, so two domains differ."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        pixels = rng.integers(0, 200, (size[1], size[0], 3)) + np.array(tint)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"image-{index:03d}.png")
    return folder


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_images(tmp_path / "images", count=12, seed=0)


def run_cli(*arguments: str, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m <arguments>` from the project root, capturing output."""
    return subprocess.run([sys.executable, "-m", *arguments], cwd=ROOT, env=env or SUBPROCESS_ENV,
                          capture_output=True, text=True, timeout=timeout)


def run_main(parse_and_run, *arguments: str) -> subprocess.CompletedProcess:
    """A training or publishing CLI's entry point (`parse_and_train`, `parse_and_publish`) through
    `train.errors.main` in this process, captured like `run_cli`: what a refusal prints and its
    exit code are the same, without the seconds a new interpreter spends importing torch."""
    from train.errors import main

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main(parse_and_run, list(arguments))
            code = 0
        except SystemExit as exit:
            code = exit.code
    return subprocess.CompletedProcess(list(arguments), code, stdout.getvalue(), stderr.getvalue())


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (the system's, through Playwright) for a module's browser tests."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
