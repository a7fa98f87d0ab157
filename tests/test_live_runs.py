"""Local runs (gan_demo.runs): a real tiny training run is read while it trains (its frames and
iterations grow, its latest export loads), and folders caught in any state in between (empty, no
samples yet, a broken GIF, an export half copied) are listed without breaking anything; and the
app, started with --runs, shows the run grow over /progress."""

import subprocess
import sys
import time

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from benchmarks.gradio_server import gradio_server
from gan_demo import runs
from gan_demo.inference import ModelLoadError
from gan_demo.models import DCGenerator
from tests.app_server import make_tiny_checkpoints
from tests.conftest import ROOT, SUBPROCESS_ENV, make_images

TINY_DCGAN = ["--iters", "60", "--sample-every", "10", "--checkpoint-every", "20", "--image-size", "16",
              "--conv-dim", "4", "--latent-dim", "8", "--batch-size", "4"]


def test_a_run_is_read_while_it_trains(tmp_path):
    images = make_images(tmp_path / "images", count=8, seed=0)
    root = tmp_path / "runs"
    training = subprocess.Popen([sys.executable, "-m", "train.dcgan", "--data", str(images),
                                 "--out", str(root / "live"), *TINY_DCGAN],
                                cwd=ROOT, env=SUBPROCESS_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen_steps, kinds = [], set()
    try:
        while training.poll() is None:
            if "live" in runs.run_names(root):
                progress = runs.run_progress(root / "live")
                if progress is not None and (not seen_steps or progress.steps[-1] != seen_steps[-1]):
                    seen_steps.append(progress.steps[-1])
                kinds.add(runs.export_kind(root / "live"))
            time.sleep(0.05)
    finally:
        training.kill()
        stderr = training.communicate()[1].decode()
    assert training.returncode == 0, stderr[-3000:]
    final = runs.run_progress(root / "live")
    assert final.steps == (10, 20, 30, 40, 50, 60) and len(final.frames) == 6
    assert final.losses["step"][-1] == 60
    assert seen_steps == sorted(seen_steps) and len(seen_steps) >= 2 and seen_steps[-1] == 60, seen_steps
    assert kinds <= {None, "dcgan"} and runs.export_kind(root / "live") == "dcgan"
    model = runs.load_export(root / "live")
    assert isinstance(model, DCGenerator) and model.latent_dim == 8


def test_folders_in_every_state_are_listed_and_read_without_breaking(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    (root / "empty").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "a-file.txt").write_text("not a run")
    broken = root / "broken"
    (broken / "export").mkdir(parents=True)
    (broken / "progress.gif").write_bytes(b"GIF89a truncated")
    (broken / "losses.csv").write_text("step,loss_d\n1,")
    (broken / "config.json").write_text("{not json")
    DCGenerator(latent_dim=8, conv_dim=4, image_size=16).save_pretrained(broken / "export")
    (broken / "export" / "model.safetensors").write_bytes(b"half a checkpoint")

    assert runs.run_names(root) == ["broken", "empty"]
    assert runs.run_names(None) == [] and runs.run_names(root / "absent") == []
    for name in ("broken", "empty"):
        assert runs.run_progress(root / name) is None
    assert runs.export_kind(root / "empty") is None and runs.export_kind(root / "broken") == "dcgan"
    with pytest.raises(ModelLoadError) as empty:
        runs.load_export(root / "empty")
    assert str(empty.value) == "run:empty: no exported model yet (it appears at the run's first checkpoint)"
    with pytest.raises(ModelLoadError) as half:
        runs.load_export(root / "broken")
    assert str(half.value).startswith("run:broken: its export cannot be loaded right now (")

    monkeypatch.setenv(runs.RUNS_VARIABLE, str(root))
    assert runs.runs_folder() == root and runs.runs_folder(tmp_path) == tmp_path
    monkeypatch.delenv(runs.RUNS_VARIABLE)
    assert runs.runs_folder() is None


def test_the_app_shows_a_run_growing_and_offers_its_export(tmp_path):
    """`python app.py --runs DIR` while a training run writes into DIR: /progress on run:<name> shows
    more frames as it trains, and the run's export answers /sample as run:<name>."""
    checkpoints = make_tiny_checkpoints(tmp_path / "checkpoints")
    images = make_images(tmp_path / "images", count=8, seed=0)
    root = tmp_path / "runs"
    root.mkdir()
    env = {**SUBPROCESS_ENV, "GAN_DEMO_CHECKPOINTS": str(checkpoints)}
    with gradio_server([sys.executable, "app.py", "--runs", str(root)], env, tmp_path, startup_timeout=600) as (url, _):
        client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        training = subprocess.Popen([sys.executable, "-m", "train.dcgan", "--data", str(images),
                                     "--out", str(root / "live"), *TINY_DCGAN],
                                    cwd=ROOT, env=SUBPROCESS_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        frame_counts = []
        try:
            while training.poll() is None or not frame_counts or frame_counts[-1] < 6:
                try:
                    gif = client.predict("run:live", 0, api_name="/progress")[0]
                except AppError as error:  # before the first sample
                    assert "has written no sample yet" in str(error)
                else:
                    with Image.open(gif) as animation:
                        if not frame_counts or animation.n_frames != frame_counts[-1]:
                            frame_counts.append(animation.n_frames)
                if training.poll() not in (None, 0):
                    break
        finally:
            training.kill()
            stderr = training.communicate()[1].decode()
        assert training.returncode == 0, stderr[-3000:]
        assert frame_counts == sorted(frame_counts) and len(frame_counts) >= 2 and frame_counts[-1] == 6, frame_counts
        grid, note = client.predict("run:live", 0, 1.0, 1, *(0,) * 6, "", api_name="/sample")
        assert "local run: " in note and Image.open(grid).width == 16 + 4  # one 16 px cat, its seed under it
