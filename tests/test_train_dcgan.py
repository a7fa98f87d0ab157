"""`python -m train.dcgan` as a user runs it: the run-folder contract, exact resume (also after
SIGKILL at random moments, and after extending a run), export round trip, two-process Accelerate
(and stopping it with a signal), separate random streams, and one-line errors. The command line
runs in this process (its entry point through train.errors.main) unless only a new process proves
the point: a kill, a signal, `accelerate launch`."""

import json
import os
import random
import re
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
from tests.conftest import ROOT, SUBPROCESS_ENV, make_images, run_main
from train import run_folder
from train.data import batch_indices, step_generator
from train.dcgan import parse_and_train

TINY = ["--image-size", "32", "--conv-dim", "8", "--latent-dim", "16", "--batch-size", "4"]


def train(data: Path, out: Path, *extra: str) -> None:
    """`python -m train.dcgan` with the tiny sizes, in this process; a refusal fails the test with its line."""
    parse_and_train(["--data", str(data), "--out", str(out), *TINY, *extra])


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
    assert config["norm"] == "pixel" and DCGenerator.from_pretrained(out / "export").norm == "pixel"

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


def test_a_run_from_before_the_norm_flag_resumes_with_instance_norm(image_folder, tmp_path):
    out = tmp_path / "run"
    train(image_folder, out, "--iters", "3", "--norm", "instance")
    config = json.loads((out / "config.json").read_text())
    del config["norm"]  # as a run folder written before --norm
    (out / "config.json").write_text(json.dumps(config))
    train(image_folder, out, "--iters", "5", "--resume")
    assert DCGenerator.from_pretrained(out / "export").norm == "instance"
    assert len((out / "losses.csv").read_text().splitlines()) == 6


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
    assert_one_line_error(run_main(parse_and_train, "--data", str(missing), "--out", str(tmp_path / "run")),
                          "--data", str(missing), "no such folder")


def test_folder_without_images(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    assert_one_line_error(run_main(parse_and_train, "--data", str(empty), "--out", str(tmp_path / "run")),
                          str(empty), "no images")


def test_corrupt_files_are_named_and_skipped(tmp_path):
    data = make_images(tmp_path / "data", count=5, seed=1)
    (data / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (data / "nested").mkdir()
    shutil.copy(data / "broken.png", data / "nested" / "also-broken.jpg")
    result = run_main(parse_and_train, "--data", str(data), "--out", str(tmp_path / "run"), *TINY, "--iters", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "broken.png" in output and "also-broken.jpg" in output and "5 images" in output


def test_all_files_corrupt_stops(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for index in range(3):
        (data / f"{index}.png").write_bytes(b"garbage")
    assert_one_line_error(run_main(parse_and_train, "--data", str(data), "--out", str(tmp_path / "run")),
                          str(data), "could be read")


def test_image_size_must_be_a_power_of_two(image_folder, tmp_path):
    assert_one_line_error(run_main(parse_and_train, "--data", str(image_folder), "--out", str(tmp_path / "run"),
                                   "--image-size", "48"), "--image-size", "48")


def test_non_empty_out_without_resume_is_refused(image_folder, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    assert_one_line_error(run_main(parse_and_train, "--data", str(image_folder), "--out", str(out)),
                          str(out), "--resume")
    assert (out / "precious.txt").read_text() == "keep me"


def test_the_data_order_and_the_step_streams_never_draw_the_same_numbers():
    # A set smaller than a batch is drawn with replacement, one draw per step, as the augmentation
    # draws from the step generator: with a shared seed the two would be the same numbers.
    for seed, step, rank in [(0, 1, 0), (0, 7, 1), (123, 1, 0)]:
        data_draw = batch_indices(5, 64, seed, step, rank)
        step_draw = torch.randint(0, 5, (64,), generator=step_generator(seed, step, rank))
        assert not torch.equal(data_draw, step_draw)
    assert torch.equal(batch_indices(5, 64, 3, 2), batch_indices(5, 64, 3, 2))  # and stay reproducible


def test_extending_a_run_labels_every_frame_with_its_real_step_and_appends_the_losses(image_folder, tmp_path):
    out = tmp_path / "run"
    train(image_folder, out, "--iters", "10", "--sample-every", "4", "--checkpoint-every", "100")
    assert json.loads((out / "progress.json").read_text()) == {"frame_steps": [4, 8, 10]}
    losses_before, inode = (out / "losses.csv").read_text(), (out / "losses.csv").stat().st_ino
    train(image_folder, out, "--iters", "20", "--resume")
    steps = [4, 8, 10, 12, 16, 20]
    for folder in (out, out / "export"):
        assert json.loads((folder / "progress.json").read_text()) == {"frame_steps": steps}
        assert len(read_gif_frames(folder / "progress.gif")) == len(steps)
    # Appended in place: the same file, the first run's rows unchanged at its start.
    assert (out / "losses.csv").stat().st_ino == inode
    assert (out / "losses.csv").read_text().startswith(losses_before)
    assert len((out / "losses.csv").read_text().splitlines()) == 21


def test_a_long_runs_gif_keeps_evenly_spaced_frames_the_last_included(image_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(run_folder, "MAX_PROGRESS_FRAMES", 4)
    out = tmp_path / "run"
    train(image_folder, out, "--iters", "20", "--sample-every", "2", "--checkpoint-every", "100")
    assert len(list((out / "samples").glob("step-*.png"))) == 10  # every grid is kept in samples/
    for folder in (out, out / "export"):  # the GIF shows 4 of them: 2, 8, 14, 20
        assert json.loads((folder / "progress.json").read_text()) == {"frame_steps": [2, 8, 14, 20]}
        assert len(read_gif_frames(folder / "progress.gif")) == 4
    assert run_folder.evenly_spaced(list(range(3)), 4) == [0, 1, 2]


def launch_two_processes(data: Path, out: Path, *flags: str) -> subprocess.Popen:
    """`accelerate launch` of two CPU processes over gloo, in a session of its own (so a test can
    signal the whole group, as Ctrl-C in a terminal does)."""
    port = str(31500 + os.getpid() % 1000 + random.randrange(400))
    return subprocess.Popen(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", port,
         "-m", "train.dcgan", "--data", str(data), "--out", str(out), *TINY, *flags],
        cwd=ROOT, env=SUBPROCESS_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)


@pytest.mark.timeout(400)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_two_processes_stopped_by_a_signal_stop_at_the_same_step_save_and_resume(image_folder, tmp_path, signum):
    out = tmp_path / "run"
    launcher = launch_two_processes(image_folder, out, "--iters", "100000", "--sample-every", "1",
                                    "--checkpoint-every", "100000")
    deadline = time.monotonic() + 240
    while not list((out / "samples").glob("step-*.png")):
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()[1][-3000:]
        time.sleep(0.1)
    time.sleep(random.Random(signum).uniform(0, 2))
    stopped_at = time.monotonic()
    if signum == signal.SIGINT:
        os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C: the terminal signals every process of the group
    else:
        launcher.send_signal(signal.SIGTERM)  # kill, Docker, Slurm: the launcher passes it on
    _, stderr = launcher.communicate(timeout=120)
    stopping_seconds = time.monotonic() - stopped_at
    name = signal.Signals(signum).name
    main_steps = [int(step) for step in re.findall(rf"interrupted \({name}\) at step (\d+): state saved", stderr)]
    other_steps = [int(step) for step in re.findall(r"process 1 of 2 stopped at step (\d+)", stderr)]
    assert len(main_steps) == 1 and other_steps == main_steps, stderr[-3000:]
    # No traceback from the training processes (the launcher reports the signal in its own way).
    assert not any(f"train/{name}" in stderr
                   for name in ("trainer.py", "stop_signals.py", "dcgan.py", "run_folder.py")), stderr[-3000:]
    step = main_steps[0]
    assert torch.load(out / "state.pt", weights_only=True)["step"] == step
    assert stopping_seconds < 30, stderr[-3000:]  # before the launcher's 30 s grace ends in SIGKILL
    train(image_folder, out, "--resume", "--iters", str(step + 2))
    assert torch.load(out / "state.pt", weights_only=True)["step"] == step + 2


def test_report_to_tensorboard_logs_every_loss_and_the_sample_grids(image_folder, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import IMAGES, SCALARS, EventAccumulator

    out = tmp_path / "run"
    train(image_folder, out, "--iters", "4", "--sample-every", "2", "--report-to", "tensorboard")
    events = EventAccumulator(str(out / "logs" / "dcgan"), size_guidance={SCALARS: 0, IMAGES: 0}).Reload()
    assert set(events.Tags()["scalars"]) >= {"loss/d_real", "loss/d_fake", "loss/g"}
    logged = [(event.step, event.value) for event in events.Scalars("loss/g")]
    written = [(int(row[0]), float(row[3])) for row in
               (line.split(",") for line in (out / "losses.csv").read_text().splitlines()[1:])]
    assert [step for step, _ in logged] == [1, 2, 3, 4]
    assert all(abs(value - written_value) <= 1e-5 * max(1, abs(value))
               for (_, value), (_, written_value) in zip(logged, written, strict=True))
    grids = events.Images("samples")
    assert [grid.step for grid in grids] == [2, 4]
    with Image.open(out / "samples" / "step-000004.png") as sample:
        assert (grids[-1].width, grids[-1].height) == sample.size
