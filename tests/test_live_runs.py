"""Local runs (gan_demo.runs): a real tiny training run is read while it trains (its frames and
iterations grow, its latest export loads), and folders caught in any state in between (empty, no
samples yet, a broken GIF, an export half copied) are listed without breaking anything; hostile
folders (links out of the runs folder, odd names, FIFOs, sparse giants, JSON nested 30,000 deep) are
refused in one line without blocking; and the app, started with --runs beside such folders, shows
the run grow over /progress and answers every name that is not a run with one message."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from benchmarks.gradio_server import gradio_server
from gan_demo import runs
from gan_demo.inference import ModelLoadError
from gan_demo.models import DCGenerator
from gan_demo.progress import ProgressError
from tests.app_server import make_tiny_checkpoints, write_progress
from tests.conftest import ROOT, SUBPROCESS_ENV, make_images
from tests.test_progress import finishes_within
from ui.progress_tab import NO_SUCH_RUN

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
    assert runs.run_progress(root / "empty") is None  # no sample yet
    with pytest.raises(ProgressError, match=r"^progress.gif: corrupt GIF \("):
        runs.run_progress(broken)
    assert runs.export_kind(root / "empty") is None and runs.export_kind(root / "broken") == "dcgan"
    with pytest.raises(ModelLoadError) as empty:
        runs.load_export(root / "empty")
    assert str(empty.value) == "run:empty: no exported model yet (it appears at the run's first checkpoint)"
    with pytest.raises(ModelLoadError) as half:
        runs.load_export(root / "broken")
    assert str(half.value) == ("run:broken: its export cannot be loaded right now; it is rewritten at the next "
                               "checkpoint")

    monkeypatch.setenv(runs.RUNS_VARIABLE, str(root))
    assert runs.runs_folder() == root and runs.runs_folder(tmp_path) == tmp_path
    monkeypatch.delenv(runs.RUNS_VARIABLE)
    assert runs.runs_folder() is None


def hostile_runs(root: Path) -> Path:
    """Beside a good run in `root`: a folder outside it holding a planted config.json, a link to that
    folder and to the good run, odd names, and a run whose config.json and export/config.json nest
    30,000 and 10,000 deep (json.loads overflows Python's recursion on either). Returns the folder
    outside."""
    secret = root.parent / "secret"
    secret.mkdir()
    write_progress(secret, seed=1)
    (secret / "config.json").write_text('{"api_key": "planted"}')
    for name in ("good", "nested", "odd name", "-dash", "caf\u00e9"):
        (root / name).mkdir(parents=True)
        write_progress(root / name, seed=2)
    (root / "link").symlink_to(secret, target_is_directory=True)
    (root / "inside-link").symlink_to(root / "good", target_is_directory=True)
    nested = root / "nested"
    (nested / "config.json").write_text("[" * 30_000 + "]" * 30_000)
    DCGenerator(latent_dim=8, conv_dim=4, image_size=16).save_pretrained(nested / "export")
    (nested / "export" / "config.json").write_text('{"a":' * 10_000 + "1" + "}" * 10_000)  # 60 kB
    return secret


def test_only_plain_folders_directly_in_the_runs_folder_are_runs(tmp_path):
    root = tmp_path / "runs"
    hostile_runs(root)
    assert runs.run_names(root) == ["good", "nested"]  # no link (wherever it leads), no odd name
    assert runs.run_progress(root / "link") is None  # a listed run swapped for a link is not read through it


def test_nested_configs_give_one_line_instead_of_a_crash(tmp_path):
    root = tmp_path / "runs"
    hostile_runs(root)
    record = runs.run_progress(root / "nested")
    assert len(record.frames) == 3 and record.settings == {}
    assert record.problems == ("config.json nests deeper than the 8 levels a gan-demo config could use",)
    assert record.shown_settings == {"problems": list(record.problems)}
    assert runs.export_kind(root / "nested") is None  # so the app does not offer it
    with pytest.raises(ModelLoadError, match=r"^run:nested: its export cannot be used \(config.json nests deeper"):
        runs.load_export(root / "nested")


def test_special_and_oversized_files_in_a_run_are_refused_without_blocking(tmp_path):
    run = tmp_path / "runs" / "run"
    run.mkdir(parents=True)
    write_progress(run, seed=3)
    os.mkfifo(run / "config.json")
    (run / "losses.csv").unlink()
    with open(run / "losses.csv", "wb") as handle:
        handle.truncate(2**30)  # a sparse gigabyte without a line in it
    record = finishes_within(10, lambda: runs.run_progress(run))
    assert record.problems == ("config.json: not a regular file",) and record.losses == {}
    (run / "config.json").unlink()
    with open(run / "config.json", "wb") as handle:
        handle.truncate(100 * 2**20)
    assert runs.run_progress(run).problems == ("config.json: 104,857,600 bytes, over the limit of 65,536",)
    assert len(json.dumps(runs.run_progress(run).shown_settings)) < 200  # not a 100 MB reply
    (run / "progress.gif").unlink()
    os.mkfifo(run / "progress.gif")
    with pytest.raises(ProgressError, match="^progress.gif: not a regular file$"):
        finishes_within(10, lambda: runs.run_progress(run))
    (run / "export").mkdir()
    os.mkfifo(run / "export" / "config.json")
    os.mkfifo(run / "export" / "model.safetensors")
    assert finishes_within(10, lambda: runs.export_kind(run)) is None


def test_the_app_shows_a_run_growing_and_offers_its_export(tmp_path):
    """`python app.py --runs DIR` while a training run writes into DIR beside hostile folders: the app
    starts (a nested export/config.json no longer crashes it), /progress on run:<name> shows more
    frames as the run trains, the run's export answers /sample as run:<name>, every name that is not
    a run gets one identical message whether or not something is there, and a nested config.json is
    named in the run's settings."""
    checkpoints = make_tiny_checkpoints(tmp_path / "checkpoints")
    images = make_images(tmp_path / "images", count=8, seed=0)
    root = tmp_path / "runs"
    secret = hostile_runs(root)
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
                except AppError as error:  # before the run's folder, then its first sample
                    assert str(error) == NO_SUCH_RUN or "has written no sample yet" in str(error)
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

        messages = set()
        for name in ["../secret", str(secret), "good/../../secret", "good/.", "a/b", ".", "..", "", "link",
                     "inside-link", "odd name", "-dash", "caf\u00e9", "absent", "x" * 300]:
            with pytest.raises(AppError) as refused:
                client.predict(f"run:{name}", 0, api_name="/progress")
            messages.add(str(refused.value))
        assert messages == {NO_SUCH_RUN}
        settings = client.predict("run:nested", 0, api_name="/progress")[3]
        assert settings == {"problems": ["config.json nests deeper than the 8 levels a gan-demo config could use"]}
