"""The training and publishing command lines against hostile and careless input: every failure is
one line and a non-zero exit, no traceback, and nothing that was on disk is overwritten. They run
in this process (their entry points through train.errors.main, which prints the line) unless only a
new process proves the point: signals and kills, a process's own peak memory, a Hub endpoint set in
the environment. Flags out of range, absurd network sizes (refused from an estimate
before anything is allocated), unwritable and full run folders, foreign resume files, a run
folder inside the data, a diverging loss, a Hub that never answers or echoes the token, and
Ctrl-C / SIGTERM at every stage."""

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, SUBPROCESS_ENV, make_images, run_cli, run_main
from tests.hub_server import SilentHub, StandInHub
from train import cyclegan, dcgan, publish
from train.errors import UserError
from train.run_folder import LOCK_NAME

TINY_DCGAN = ["--image-size", "32", "--conv-dim", "8", "--latent-dim", "16", "--batch-size", "4"]
TINY_CYCLEGAN = ["--image-size", "16", "--conv-dim", "4", "--n-res-blocks", "1", "--batch-size", "2"]
TOKEN = "hf_hostileTestToken_mustNeverShow_9917"


def error_line(result: subprocess.CompletedProcess, exit_code: int = 2) -> str:
    """The one line a failed run printed (tqdm's progress bar aside), checked to be alone."""
    assert result.returncode == exit_code, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.replace("\r", "\n").splitlines()
             if line.strip() and not line.startswith(("dcgan:", "cyclegan:"))]
    messages = [line for line in lines if line.startswith(("error:", "interrupted"))]
    assert len(messages) == 1, result.stderr[-3000:]
    return messages[0]


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative path -> sha256), to show that nothing changed; but the
    run folder's lock, which names whichever trainer opened the folder last."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file() and path.name != LOCK_NAME}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    return {"images": make_images(root / "images", count=8, seed=0),
            "apple": make_images(root / "apple", count=4, seed=1, tint=(60, 0, 0)),
            "orange": make_images(root / "orange", count=4, seed=2, tint=(60, 30, 0))}


@pytest.fixture(scope="module")
def dcgan_run(data, tmp_path_factory) -> Path:
    """A finished 4-step DCGAN run with a checkpoint at its end, to copy and resume."""
    out = tmp_path_factory.mktemp("dcgan") / "run"
    dcgan.parse_and_train(["--data", str(data["images"]), "--out", str(out), *TINY_DCGAN, "--iters", "4",
                           "--sample-every", "2", "--checkpoint-every", "2"])
    return out


@pytest.fixture(scope="module")
def cyclegan_run(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cyclegan") / "run"
    cyclegan.parse_and_train(["--data-a", str(data["apple"]), "--data-b", str(data["orange"]), "--out", str(out),
                              *TINY_CYCLEGAN, "--iters", "2", "--pool-size", "0"])
    return out


def copy_run(run: Path, to: Path) -> Path:
    subprocess.run(["cp", "-a", str(run), str(to)], check=True)
    return to


# -- refused at start: flags ---------------------------------------------------------------------

# (script flags, what the one line must say).
REFUSED_AT_START = {
    "lr inf": (["--lr", "inf"], "--lr must be a finite number, got inf"),
    "lr nan": (["--lr", "nan"], "--lr must be a finite number, got nan"),
    "lr 5": (["--lr", "5"], "--lr must be at most 1.0, got 5.0"),
    "ema nan": (["--ema-decay", "nan"], "--ema-decay must be at least 0 and below 1, got nan"),
    "holdout -inf": (["--holdout=-inf"], "--holdout must be at least 0 and below 1"),
    "seed 2^63": (["--seed", str(2**63)], f"--seed must be between 0 and 2^63-1, got {2**63}"),
    "seed -1": (["--seed", "-1"], "--seed must be between 0 and 2^63-1, got -1"),
    "lambda nan": (["--lambda-cycle", "nan"], "--lambda-cycle must be a finite number, got nan"),
    "lambda inf": (["--lambda-identity", "inf"], "--lambda-identity must be a finite number, got inf"),
    "lr-d -inf": (["--lr-d=-inf"], "--lr-d must be a finite number, got -inf"),
    "res blocks": (["--n-res-blocks", str(10**12)], "--n-res-blocks must be at most 64"),
}
CYCLEGAN_CASES = {"lambda nan", "lambda inf", "lr-d -inf", "res blocks"}


@pytest.mark.parametrize("case", REFUSED_AT_START)
def test_flags_out_of_range_are_refused_before_anything_runs(case):
    flags, message = REFUSED_AT_START[case]
    if case in CYCLEGAN_CASES:
        parse, argv = cyclegan.parse_args, ["--data-a", "a/apple", "--data-b", "b/orange", "--out", "run"]
    else:
        parse, argv = dcgan.parse_args, ["--data", "images", "--out", "run"]
    with pytest.raises(UserError) as refused:
        parse([*argv, *flags])
    assert message in str(refused.value)


def test_a_refused_flag_is_one_line_before_anything_is_written(data, tmp_path):
    dcgan_result = run_main(dcgan.parse_and_train, "--data", str(data["images"]), "--out", str(tmp_path / "dcgan"),
                            "--lr", "nan")
    cyclegan_result = run_main(cyclegan.parse_and_train, "--data-a", str(data["apple"]), "--data-b",
                               str(data["orange"]), "--out", str(tmp_path / "cyclegan"), "--seed", str(2**64))
    assert error_line(dcgan_result) == "error: --lr must be a finite number, got nan"
    assert error_line(cyclegan_result) == f"error: --seed must be between 0 and 2^63-1, got {2**64}"
    assert not list(tmp_path.iterdir())


# -- refused at start: absurd sizes, the run folder -------------------------------------------------


# (flags, how the one line names them)
ABSURD_SIZES = [
    (["--image-size", "65536"], "--image-size 65536"),
    (["--conv-dim", str(10**9)], f"--conv-dim {10**9}"),
    (["--latent-dim", str(10**30)], f"--latent-dim {10**30}"),
    (["--batch-size", str(10**8)], f"--batch-size {10**8}"),
]


# A fresh process refuses every one of them in turn and reports each exit code and stderr.
REFUSE_EACH = """
import json, sys
from tests.conftest import run_main
from train import dcgan
results = [run_main(dcgan.parse_and_train, *json.loads(argv)) for argv in sys.argv[1:]]
print(json.dumps([[result.returncode, result.stderr] for result in results]))
"""


def test_absurd_sizes_are_refused_from_an_estimate_before_allocating(data, tmp_path):
    argvs = [["--data", str(data["images"]), "--out", str(tmp_path / f"run-{index}"), *TINY_DCGAN, *flags]
             for index, (flags, _) in enumerate(ABSURD_SIZES)]
    with open(tmp_path / "stderr", "w") as stderr:  # a file, not a pipe: nothing waits on its reader
        process = subprocess.Popen([sys.executable, "-c", REFUSE_EACH, *map(json.dumps, argvs)], cwd=ROOT,
                                   env=SUBPROCESS_ENV, stdout=subprocess.PIPE, stderr=stderr, text=True)
        stdout = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)  # the child's own peak memory, not other tests'
    assert os.waitstatus_to_exitcode(status) == 0, (tmp_path / "stderr").read_text()[-3000:]
    for (code, errors), (_, named), argv in zip(json.loads(stdout.splitlines()[-1]), ABSURD_SIZES, argvs, strict=True):
        line = error_line(subprocess.CompletedProcess(argv, code, "", errors))
        assert named in line and " to train (networks, optimiser, one batch and the images" in line, line
        assert line.endswith("GB free on cpu; lower them"), line
        assert not list(Path(argv[3]).iterdir()), named  # created to check it is writable, and left empty
    # Importing torch and four estimates: nothing of any of the networks.
    assert usage.ru_maxrss * 1024 < 2 * 1024**3, usage.ru_maxrss


def test_unwritable_run_folders_are_one_line(data, tmp_path):
    immutable = tmp_path / "immutable"
    immutable.mkdir()
    if subprocess.run(["chattr", "+i", str(immutable)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not permitted here")
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("a file")
    try:
        results = [run_main(dcgan.parse_and_train, "--data", str(data["images"]), "--out", out, *TINY_DCGAN)
                   for out in (str(immutable), "/proc/gan-demo-run", str(not_a_folder / "run"))]
    finally:
        subprocess.run(["chattr", "-i", str(immutable)], check=True)
    immutable_line, proc_line, file_line = (error_line(result) for result in results)
    assert immutable_line == f"error: --out {immutable}: cannot write there (Operation not permitted)"
    assert proc_line.startswith("error: --out /proc/gan-demo-run: cannot write there (")
    assert file_line == f"error: --out {not_a_folder / 'run'}: cannot write there (Not a directory)"
    assert not list(immutable.iterdir()) and not_a_folder.read_text() == "a file"


def test_out_inside_the_data_is_refused(data, tmp_path):
    images = make_images(tmp_path / "images", count=4, seed=3)
    apple = make_images(tmp_path / "apple", count=4, seed=4)
    dcgan_result = run_main(dcgan.parse_and_train, "--data", str(images), "--out", str(images / "runs" / "one"),
                            *TINY_DCGAN)
    cyclegan_result = run_main(cyclegan.parse_and_train, "--data-a", str(apple), "--data-b", str(tmp_path), "--out",
                               str(tmp_path / "run"), *TINY_CYCLEGAN)
    assert error_line(dcgan_result) == (f"error: --out {images / 'runs' / 'one'} is inside --data {images}: its "
                                        "sample grids would become training images; choose a run folder outside the "
                                        "data")
    assert f"is inside --data-b {tmp_path}" in error_line(cyclegan_result)
    assert not (images / "runs").exists() and not (tmp_path / "run").exists()


# -- resuming from foreign or damaged files -----------------------------------------------------------


def damaged_state(run: Path, to: Path, damage) -> Path:
    """A copy of `run` whose state.pt went through `damage` (a function changing the loaded dict)."""
    copy = copy_run(run, to)
    state = torch.load(copy / "state.pt", weights_only=True)
    damage(state)
    torch.save(state, copy / "state.pt")
    return copy


def test_resume_refuses_foreign_and_damaged_files_and_changes_nothing(data, dcgan_run, cyclegan_run, tmp_path):
    other_kind = copy_run(dcgan_run, tmp_path / "other-kind")
    (other_kind / "state.pt").write_bytes((cyclegan_run / "state.pt").read_bytes())
    # A state from before `kind` was recorded, and incomplete.
    missing_key = damaged_state(dcgan_run, tmp_path / "missing-key", lambda state: [state.pop(key) for key in
                                                                                    ("opt_d", "kind")])
    negative_step = damaged_state(dcgan_run, tmp_path / "negative-step", lambda state: state.update(step=-5))
    no_step = damaged_state(dcgan_run, tmp_path / "no-step", lambda state: state.pop("step"))
    endless = damaged_state(dcgan_run, tmp_path / "endless", lambda state: state.update(train_seconds=float("inf")))
    wrong_latents = damaged_state(dcgan_run, tmp_path / "wrong-latents",
                                  lambda state: state.update(fixed_z=torch.zeros(16, 17)))
    wrong_moments = damaged_state(dcgan_run, tmp_path / "wrong-moments",
                                  lambda state: state["opt_g"]["state"][0].update(exp_avg=torch.zeros(3)))
    not_a_dict = copy_run(dcgan_run, tmp_path / "not-a-dict")
    torch.save([1, 2, 3], not_a_dict / "state.pt")
    wrong_type = copy_run(dcgan_run, tmp_path / "wrong-type")
    config = json.loads((wrong_type / "config.json").read_text())
    (wrong_type / "config.json").write_text(json.dumps({**config, "lr": "fast"}))
    bad_value = copy_run(dcgan_run, tmp_path / "bad-value")
    (bad_value / "config.json").write_text(json.dumps({**config, "image_size": 48}))
    bad_losses = copy_run(dcgan_run, tmp_path / "bad-losses")
    lines = (bad_losses / "losses.csv").read_text().splitlines()
    lines[2] = "2,0.5,abc,0.7"
    (bad_losses / "losses.csv").write_text("\n".join(lines) + "\n")
    runs = [other_kind, missing_key, negative_step, no_step, endless, wrong_latents, wrong_moments, not_a_dict,
            wrong_type, bad_value, bad_losses]
    before = [fingerprint(run) for run in runs]

    lines = [error_line(run_main(dcgan.parse_and_train, "--data", str(data["images"]), "--out", str(run), "--resume",
                                 "--iters", "6")) for run in runs]
    assert lines[:8] == [
        (f"error: {other_kind / 'state.pt'}: written by train.cyclegan, not train.dcgan; "
         "resume it with `python -m train.cyclegan`, or choose another --out"),
        (f"error: {missing_key / 'state.pt'}: not a complete train.dcgan state (no 'opt_d'); "
         "delete it to restart the run from scratch"),
        (f"error: {negative_step / 'state.pt'}: step is -5, not a number of steps done; "
         "delete it to restart the run from scratch"),
        (f"error: {no_step / 'state.pt'}: not a complete train.dcgan state (no 'step'); "
         "delete it to restart the run from scratch"),
        (f"error: {endless / 'state.pt'}: train_seconds is inf, not a duration; "
         "delete it to restart the run from scratch"),
        (f"error: {wrong_latents / 'state.pt'}: does not fit this run's networks (fixed_z is torch.float32 of shape "
         "(16, 17), not torch.float32 of shape (16, 16)); delete it to restart the run from scratch"),
        (f"error: {wrong_moments / 'state.pt'}: does not fit this run's networks (opt_g: exp_avg of shape (3,) for a "
         "parameter of shape (16, 32, 4, 4)); delete it to restart the run from scratch"),
        (f"error: {not_a_dict / 'state.pt'}: not a train.dcgan state (a list); "
         "delete it to restart the run from scratch"),
    ]
    wrong_type_line, bad_value_line, bad_losses_line = lines[8:]
    assert wrong_type_line == (f"error: {wrong_type / 'config.json'}: 'lr' is \"fast\", not a value of --lr; "
                               "fix or delete the file")
    assert bad_value_line == (f"error: {bad_value / 'config.json'}: --image-size must be a power of two such as "
                              "32, 64 or 128, got 48")
    assert bad_losses_line.startswith(f"error: {bad_losses / 'losses.csv'}: line 3 is not a row of increasing step")
    assert [fingerprint(run) for run in runs] == before


def test_a_second_trainer_on_a_run_folder_is_refused_naming_the_first_and_a_killed_one_blocks_nothing(
        data, tmp_path):
    out = tmp_path / "run"
    first = start_training(data, out, "--iters", "100000", "--sample-every", "1", "--checkpoint-every", "2")
    try:
        wait_for_training(first, out)
        second = run_main(dcgan.parse_and_train, "--data", str(data["images"]), "--out", str(out), "--resume",
                          *TINY_DCGAN)
        assert error_line(second) == (f"error: --out {out}: another trainer is using this run folder (pid {first.pid} "
                                      f"on {socket.gethostname()}); wait for it to finish or stop it, or choose "
                                      "another --out")
        while not (out / "state.pt").exists():
            time.sleep(0.05)
    finally:
        first.kill()  # SIGKILL: no handler of its own runs, the lock file stays behind
        first.communicate()
    step = torch.load(out / "state.pt", weights_only=True)["step"]
    resumed = run_main(dcgan.parse_and_train, "--data", str(data["images"]), "--out", str(out), "--resume",
                       *TINY_DCGAN, "--iters", str(step + 2), "--sample-every", "1")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert torch.load(out / "state.pt", weights_only=True)["step"] == step + 2


def test_a_planted_lock_file_is_never_followed_or_waited_on(data, dcgan_run, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("not the trainer's")
    linked, fifo = copy_run(dcgan_run, tmp_path / "linked"), copy_run(dcgan_run, tmp_path / "fifo")
    (linked / LOCK_NAME).unlink()
    (linked / LOCK_NAME).symlink_to(outside)
    (fifo / LOCK_NAME).unlink()
    os.mkfifo(fifo / LOCK_NAME)
    linked_line, fifo_line = (error_line(run_main(dcgan.parse_and_train, "--data", str(data["images"]), "--out",
                                                  str(run), "--resume")) for run in (linked, fifo))
    assert linked_line.startswith(f"error: --out {linked}: cannot lock {LOCK_NAME} (")
    assert fifo_line == f"error: --out {fifo}: {LOCK_NAME} is not a regular file; delete it"
    assert outside.read_text() == "not the trainer's"


# -- a diverging loss ------------------------------------------------------------------------------


def test_a_loss_turning_nan_stops_with_the_step_and_keeps_the_last_good_files(data, dcgan_run, tmp_path):
    run = copy_run(dcgan_run, tmp_path / "run")
    state = torch.load(run / "state.pt", weights_only=True)
    first = next(iter(state["disc"]))
    state["disc"][first] = torch.full_like(state["disc"][first], float("inf"))  # what an lr too high ends in
    torch.save(state, run / "state.pt")
    before = fingerprint(run)
    result = run_main(dcgan.parse_and_train, "--data", str(data["images"]), "--out", str(run), "--resume", "--iters",
                      "8")
    assert error_line(result) == ("error: loss d_real is nan at step 5: training diverged and stopped; state.pt and "
                                  "export/ keep step 4; continue with --resume (a lower learning rate may help)")
    after = fingerprint(run)
    del before["config.json"], after["config.json"]  # it records the new --iters at the start of the resume
    assert after == before


# -- a full disk -----------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (root only; skipped where mounting is not permitted)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_disk_stops_with_one_line_and_the_previous_state_intact(data, dcgan_run, small_disk):
    run = copy_run(dcgan_run, small_disk / "run")
    before = fingerprint(run)
    # Fill the disk but for half a state.pt: the first write of the next checkpoint cannot finish.
    statistics = os.statvfs(small_disk)
    free = statistics.f_bavail * statistics.f_frsize
    with open(small_disk / "filler", "wb") as filler:
        filler.write(b"\0" * (free - (run / "state.pt").stat().st_size // 2))
    result = run_main(dcgan.parse_and_train, "--data", str(data["images"]), "--out", str(run), "--resume", "--iters",
                      "6")
    line = error_line(result)
    assert line.startswith("error: cannot write ") and "No space left on device" in line
    assert line.endswith("stopped at step 6; state.pt and export/ keep step 4; continue with --resume")
    # losses.csv may have grown by rows past step 4 (dropped on resume); config.json records the new --iters.
    after = fingerprint(run)
    assert {name: after[name] for name in before if name not in ("losses.csv", "config.json")} == {
        name: digest for name, digest in before.items() if name not in ("losses.csv", "config.json")}
    assert not list(run.rglob("*.tmp")) and not list(run.glob(".export-*"))
    (small_disk / "filler").unlink()
    dcgan.parse_and_train(["--data", str(data["images"]), "--out", str(run), "--resume", "--iters", "6"])
    steps = [int(line.split(",")[0]) for line in (run / "losses.csv").read_text().splitlines()[1:]]
    assert steps == [1, 2, 3, 4, 5, 6]


# -- publishing ---------------------------------------------------------------------------------


def hub_env(url: str, hf_home: Path) -> dict:
    env = {key: value for key, value in SUBPROCESS_ENV.items() if key not in ("HF_HUB_OFFLINE", "HF_HUB_CACHE")}
    return {**env, "HF_ENDPOINT": url, "HF_HOME": str(hf_home), "HF_TOKEN": TOKEN}


def test_publishing_to_a_hub_that_echoes_the_token_or_never_answers_fails_in_one_line(dcgan_run, tmp_path):
    with StandInHub() as echoing:
        echoing.echo_headers = True
        started = time.monotonic()
        echoed = run_cli("train.publish", str(dcgan_run), "--repo", "someone/model",
                         env=hub_env(echoing.url, tmp_path / "hf-home"))
        start_up = time.monotonic() - started  # an answer at once: what starting the command takes here, now
    line = error_line(echoed)
    assert "the Hub answered 400" in line and "Bearer hf_***" in line
    assert TOKEN not in echoed.stdout + echoed.stderr

    with SilentHub() as silent:
        started = time.monotonic()
        result = run_cli("train.publish", str(dcgan_run), "--repo", "someone/model",
                         env=hub_env(silent.url, tmp_path / "hf-home"), timeout=120 + 2 * start_up)
        waited = time.monotonic() - started - start_up
    assert waited < 60  # the client's timeouts (10 s to connect, 30 s per read), not a hang
    assert error_line(result) == (f"error: cannot reach the Hugging Face Hub at {silent.url} (ReadTimeout); "
                                  "check the network or HF_ENDPOINT, then retry (nothing was published to "
                                  "someone/model)")


def test_a_published_model_card_never_names_this_machines_data_folders(data, dcgan_run, cyclegan_run, tmp_path):
    with StandInHub() as hub:
        result = run_cli("train.publish", str(cyclegan_run), "--repo", "someone/fruit",
                         env=hub_env(hub.url, tmp_path / "hf-home"))
        assert result.returncode == 0, result.stderr[-3000:]
        published = hub.history("someone/fruit")[-1].files["README.md"].decode()
    # The runs were trained on absolute paths (tmp folders); the cards name the folders alone. Publishing
    # changes only the load snippet of a card, so the DCGAN's is read from its export.
    dcgan_card = (dcgan_run / "export" / "README.md").read_text()
    for card, folders in ((dcgan_card, ["images"]), (published, ["apple", "orange"])):
        assert str(data["images"].parent) not in card
        for folder in folders:
            assert f"| `{folder}` |" in card and f'"{folder}"' in card


def test_shown_paths_are_relative_as_given_and_absolute_ones_by_name():
    from train.model_card import shown_path

    assert shown_path("../shared/data/cat/grumpy") == "../shared/data/cat/grumpy"
    assert shown_path("/home/someone/private/cats") == "cats"


def test_a_repo_id_or_branch_of_any_length_is_refused_in_one_short_line(data, dcgan_run, tmp_path):
    huge = "a" * 10_000
    lines = [error_line(run_main(publish.parse_and_publish, str(dcgan_run), "--repo", huge)),
             error_line(run_main(publish.parse_and_publish, str(dcgan_run), "--repo", "someone/model", "--revision",
                                 huge)),
             error_line(run_main(dcgan.parse_and_train, "--data", str(data["images"]), "--out", str(tmp_path / "run"),
                                 "--push-to-hub", f"someone/{huge}"))]
    assert lines[0].startswith(f"error: --repo '{'a' * 39}... (10000 characters): not a Hub repo id (")
    assert lines[1].startswith(f"error: --revision '{'a' * 39}... (10000 characters): not a branch name (")
    assert lines[2].startswith(f"error: --push-to-hub 'someone/{'a' * 31}... (10008 characters): not a Hub repo id")
    assert all(len(line) < 250 for line in lines)
    assert not (tmp_path / "run").exists()


# -- Ctrl-C and SIGTERM ----------------------------------------------------------------------------


def start_training(data: dict, out: Path, *flags: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "train.dcgan", "--data", str(data["images"]), "--out", str(out),
                             *TINY_DCGAN, *flags], cwd=ROOT, env=SUBPROCESS_ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_training(process: subprocess.Popen, out: Path, timeout: float = 120) -> None:
    """Until the run wrote its first sample grid (training is under way)."""
    deadline = time.monotonic() + timeout
    while not list((out / "samples").glob("step-*.png")):
        assert process.poll() is None and time.monotonic() < deadline, "training never started"
        time.sleep(0.05)


def finished(process: subprocess.Popen) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_while_training_saves_and_resume_completes(data, tmp_path, signum):
    out = tmp_path / "run"
    process = start_training(data, out, "--iters", "100000", "--sample-every", "1", "--checkpoint-every", "100000")
    wait_for_training(process, out)
    process.send_signal(signum)
    result = finished(process)
    line = error_line(result, exit_code=128 + signum)
    name = signal.Signals(signum).name
    assert line.startswith(f"interrupted ({name}) at step ") and line.endswith(": state saved; continue with --resume")
    step = int(line.split("at step ")[1].split(":")[0])
    assert torch.load(out / "state.pt", weights_only=True)["step"] == step
    dcgan.parse_and_train(["--data", str(data["images"]), "--out", str(out), "--resume", "--iters", str(step + 2)])
    steps = [int(line.split(",")[0]) for line in (out / "losses.csv").read_text().splitlines()[1:]]
    assert steps == list(range(1, step + 3))


def catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler of its own for SIGTERM (Python itself only catches SIGINT):
    the scripts install theirs as the first thing the `train` package does."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("delay", [0.0, 2.0])
def test_ctrl_c_during_start_up_exits_quietly(data, tmp_path, delay):
    process = start_training(data, tmp_path / "run", "--iters", "100000")
    # Before the interpreter reaches the `train` package, nothing of the project runs: from there on,
    # importing torch, reading the images, building the networks.
    while not catches_sigterm(process.pid):
        time.sleep(0.01)
    time.sleep(delay)
    assert not (tmp_path / "run" / "samples").exists()
    process.send_signal(signal.SIGINT)
    result = finished(process)
    assert error_line(result, exit_code=130) == "interrupted (SIGINT) during start-up; nothing was saved"


def test_a_second_ctrl_c_stops_at_once_without_a_traceback(data, tmp_path):
    out = tmp_path / "run"
    process = start_training(data, out, "--iters", "100000", "--sample-every", "1", "--checkpoint-every", "1",
                             "--conv-dim", "32", "--image-size", "64")  # big enough that saving takes a while
    wait_for_training(process, out)
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)  # a signal sent while the same one is still pending is merged into it by the kernel
    process.send_signal(signal.SIGINT)
    result = finished(process)
    line = error_line(result, exit_code=130)
    assert re.fullmatch(r"interrupted again \(SIGINT\): stopped at once; "
                        r"(state.pt and export/ keep step \d+|nothing was saved)", line)
    assert not list(out.rglob("*.tmp")) and not list(out.glob(".export-*"))
    if (out / "state.pt").exists():
        torch.load(out / "state.pt", weights_only=True)  # whole: the last checkpoint, or the one before
