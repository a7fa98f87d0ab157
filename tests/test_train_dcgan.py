"""`python -m train.dcgan` as a user runs it: the run-folder contract, exact resume (also after
SIGKILL at random moments), export round trip, two-process Accelerate, and one-line errors."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from gan_demo.models import DCGenerator
from gan_demo.render import read_gif_frames
from tests.conftest import ROOT, SUBPROCESS_ENV, make_images, run_cli

TINY = ["--image-size", "32", "--conv-dim", "8", "--latent-dim", "16", "--batch-size", "4"]


def train(data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    result = run_cli("train.dcgan", "--data", str(data), "--out", str(out), *TINY, *extra)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def generator_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "export" / "model.safetensors")


def test_smoke_run_writes_the_run_folder_contract(image_folder, tmp_path):
    out = tmp_path / "run"
    train(image_folder, out, "--iters", "12", "--sample-every", "4", "--checkpoint-every", "8",
          "--aug", "deluxe", "--diffaug")
    for name in ("config.json", "state.pt", "losses.csv", "losses.png", "progress.gif"):
        assert (out / name).is_file(), name
    assert sorted(path.name for path in (out / "samples").iterdir()) == [
        "step-000004.png", "step-000008.png", "step-000012.png"]
    assert {path.name for path in (out / "export").iterdir()} >= {
        "config.json", "model.safetensors", "README.md", "progress.gif", "losses.csv"}

    config = json.loads((out / "config.json").read_text())
    assert config["aug"] == "deluxe" and config["diffaug"] is True and config["iters"] == 12

    lines = (out / "losses.csv").read_text().splitlines()
    assert lines[0] == "step,d_real,d_fake,g" and len(lines) == 13
    assert all(np.isfinite(float(value)) for line in lines[1:] for value in line.split(","))

    frames = read_gif_frames(out / "progress.gif")
    assert len(frames) == 3  # one frame per sample step
    sample = np.asarray(Image.open(out / "samples" / "step-000004.png").convert("RGB"))
    first = np.asarray(frames[0])
    assert first.shape == sample.shape
    # The label box is drawn in the top-left corner (and only there).
    assert np.abs(first[:8, :30].astype(int) - sample[:8, :30].astype(int)).mean() > 20
    assert np.abs(first[-20:, -20:].astype(int) - sample[-20:, -20:].astype(int)).mean() < 10

    card = (out / "export" / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: gan-demo" in card and "| 12 |" in card


def test_export_is_the_ema_generator(image_folder, tmp_path):
    out = tmp_path / "run"
    train(image_folder, out, "--iters", "3")
    loaded = DCGenerator.from_pretrained(out / "export")
    state = torch.load(out / "state.pt", weights_only=True)
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, state["gen_ema"][name]), name
    assert any(not torch.equal(state["gen"][name], state["gen_ema"][name]) for name in state["gen"])
    assert loaded.image_size == 32 and loaded.latent_dim == 16


def test_resume_gives_the_same_weights_as_a_straight_run(image_folder, tmp_path):
    common = ["--aug", "deluxe", "--diffaug", "--sample-every", "3", "--checkpoint-every", "100"]
    train(image_folder, tmp_path / "straight", "--iters", "8", *common)
    train(image_folder, tmp_path / "resumed", "--iters", "4", *common)
    train(image_folder, tmp_path / "resumed", "--iters", "8", "--resume", *common)
    straight, resumed = generator_weights(tmp_path / "straight"), generator_weights(tmp_path / "resumed")
    for name in straight:  # the exported (EMA) generator
        assert torch.equal(straight[name], resumed[name]), name
    straight_state, resumed_state = (torch.load(tmp_path / run / "state.pt", weights_only=True)
                                     for run in ("straight", "resumed"))
    for network in ("gen", "gen_ema", "disc"):
        for name, value in straight_state[network].items():
            assert torch.equal(value, resumed_state[network][name]), f"{network}.{name}"
    assert (tmp_path / "straight" / "losses.csv").read_text() == (tmp_path / "resumed" / "losses.csv").read_text()


def test_resume_after_sigkill_at_random_moments(image_folder, tmp_path):
    out, iters = tmp_path / "run", 60
    command = [sys.executable, "-m", "train.dcgan", "--data", str(image_folder), "--out", str(out), *TINY,
               "--iters", str(iters), "--sample-every", "5", "--checkpoint-every", "3"]
    rng = random.Random(0)
    for _ in range(4):
        process = subprocess.Popen(command + (["--resume"] if out.exists() else []), cwd=ROOT, env=SUBPROCESS_ENV,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.0, 4.0))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
    train(image_folder, out, "--iters", str(iters), "--sample-every", "5", "--checkpoint-every", "3", "--resume")
    steps = [int(line.split(",")[0]) for line in (out / "losses.csv").read_text().splitlines()[1:]]
    assert steps == list(range(1, iters + 1))
    assert len(read_gif_frames(out / "progress.gif")) == iters // 5
    assert torch.load(out / "state.pt", weights_only=True)["step"] == iters
    assert not [path for path in out.rglob("*.tmp")]  # no temporary file left behind
    DCGenerator.from_pretrained(out / "export")


@pytest.mark.timeout(300)
def test_two_process_accelerate_launch_on_cpu(image_folder, tmp_path):
    # `--multi_gpu` is Accelerate's torchrun launcher; with no GPU the script joins a gloo group on CPU.
    out = tmp_path / "ddp"
    port = str(29500 + os.getpid() % 1000)
    result = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", port,
         "-m", "train.dcgan", "--data", str(image_folder), "--out", str(out), *TINY,
         "--iters", "6", "--sample-every", "3", "--checkpoint-every", "3"],
        cwd=ROOT, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, result.stderr[-3000:]
    model = DCGenerator.from_pretrained(out / "export")
    assert model(torch.randn(2, 16)).shape == (2, 3, 32, 32)
    card = (out / "export" / "README.md").read_text()
    assert "| 6 |" in card and "| 2 |" in card  # six steps, two processes


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def test_missing_data_folder(tmp_path):
    missing = tmp_path / "nowhere"
    assert_one_line_error(run_cli("train.dcgan", "--data", str(missing), "--out", str(tmp_path / "run")),
                          "--data", str(missing), "no such folder")


def test_folder_without_images(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    assert_one_line_error(run_cli("train.dcgan", "--data", str(empty), "--out", str(tmp_path / "run")),
                          str(empty), "no images")


def test_corrupt_files_are_named_and_skipped(tmp_path):
    data = make_images(tmp_path / "data", count=5, seed=1)
    (data / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (data / "nested").mkdir()
    shutil.copy(data / "broken.png", data / "nested" / "also-broken.jpg")
    result = train(data, tmp_path / "run", "--iters", "2")
    assert "broken.png" in result.stdout + result.stderr and "also-broken.jpg" in result.stdout + result.stderr
    assert "5 images" in result.stdout + result.stderr


def test_all_files_corrupt_stops(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for index in range(3):
        (data / f"{index}.png").write_bytes(b"garbage")
    assert_one_line_error(run_cli("train.dcgan", "--data", str(data), "--out", str(tmp_path / "run")),
                          str(data), "could be read")


def test_image_size_must_be_a_power_of_two(image_folder, tmp_path):
    assert_one_line_error(run_cli("train.dcgan", "--data", str(image_folder), "--out", str(tmp_path / "run"),
                                  "--image-size", "48"), "--image-size", "48")


def test_non_empty_out_without_resume_is_refused(image_folder, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    assert_one_line_error(run_cli("train.dcgan", "--data", str(image_folder), "--out", str(out)),
                          str(out), "--resume")
    assert (out / "precious.txt").read_text() == "keep me"
