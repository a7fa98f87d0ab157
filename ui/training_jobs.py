"""The Train tab's training job: the project's own command line (`python -m train.dcgan` or
`train.cyclegan`) run as a subprocess into a run folder of the app's runs folder, one job at a time
per app. A run starts from a preset (a bundled recipe of train/bundle.py, scaled to a short run) with
the few settings a person changes, checked by the command line's own parser before anything is
stored; Stop sends SIGINT, so the run saves its state as it does on Ctrl-C (a second Stop stops at
once, keeping the last checkpoint); Resume runs the same command with --resume. The job dies with
the app: on Linux the kernel sends it SIGINT when the app is killed (PR_SET_PDEATHSIG), and the app
stops it the same way when it exits, so a run is always left resumable. What the tab made for a
run, its data folder and a job.json naming its kind and data, lives in RUNS/.training-data/<name>/
(the leading dot keeps it out of the list of runs) and is removed with the run.

This module imports neither gradio nor train at import time: the command line's checks are
imported when a run is planned, only in an app that allows training."""

import atexit
import collections
import ctypes
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from gan_demo import runs as local_runs
from gan_demo.progress import ProgressError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ALLOW_VARIABLE = "GAN_DEMO_ALLOW_TRAINING"
DEFAULT_RUNS = Path("runs") / "browser"  # where runs go when the app is given no runs folder
DATA_FOLDER = ".training-data"
JOB_FILE = "job.json"
KINDS = ("dcgan", "cyclegan")
# The bundled recipe each preset starts from; the flags the tab sets itself are taken out of it.
RECIPES = {"dcgan": "dcgan-grumpy-basic", "cyclegan": "cyclegan-cats"}
# --precision is left out: bf16 is the bundle's choice for one CPU with native bfloat16, slower on others.
SET_BY_THE_TAB = ("--data", "--data-a", "--data-b", "--iters", "--image-size", "--aug", "--diffaug", "--seed",
                  "--sample-every", "--checkpoint-every", "--holdout", "--precision", "--out")
DEFAULT_ITERS = {"dcgan": 400, "cyclegan": 200}
MAX_ITERS = 5000
IMAGE_SIZES = (32, 64, 128)
GIF_FRAMES = 20  # samples per run, whatever its length
CHECKPOINTS = 10  # the live view refreshes at each: losses.csv and the GIF are written then
OUTPUT_LINES = 30
OUTPUT_LINE_CHARACTERS = 300
STOPPED_CODES = (128 + signal.SIGINT, 128 + signal.SIGTERM)  # the command's exit after a saved stop
STOP_AT_EXIT_SECONDS = 30
JOB_FILE_BYTES = 64 * 1024
PR_SET_PDEATHSIG = 1
DOMAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9 _-]{0,39}")


class TrainingRefused(ValueError):
    """A job that cannot start, resume or be removed; the message is one line for the page."""


def training_allowed(flag: bool = False) -> bool:
    """--allow-training, or GAN_DEMO_ALLOW_TRAINING=1 (what a Space owner sets in its variables)."""
    return flag or os.environ.get(ALLOW_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def runs_folder_for_training(runs_folder: "str | Path | None") -> Path:
    """The runs folder the app shows (--runs or $GAN_DEMO_RUNS), else runs/browser."""
    return local_runs.runs_folder(runs_folder) or DEFAULT_RUNS


def preset(kind: str) -> list[str]:
    """The bundled recipe of `kind` without the flags the tab sets: `--conv-dim 32 --norm pixel ...`."""
    from train.bundle import RUNS

    recipe = RUNS[RECIPES[kind]][2:]  # after "-m train.<kind>"
    kept, index = [], 0
    while index < len(recipe):
        takes_value = index + 1 < len(recipe) and not recipe[index + 1].startswith("--")
        width = 2 if takes_value else 1
        if recipe[index] not in SET_BY_THE_TAB:
            kept += recipe[index:index + width]
        index += width
    return kept


@dataclass(frozen=True, kw_only=True)
class TrainingPlan:
    """What a person chose: the kind of model, the run's name and the settings they may change."""

    kind: str
    name: str
    iters: int
    image_size: int
    aug: str = "basic"
    diffaug: bool = False
    seed: int = 0
    name_a: str = "A"  # a CycleGAN's domains, as its menus name the directions ("A -> B")
    name_b: str = "B"

    def arguments(self, out: Path, data: list[Path]) -> list[str]:
        """The command line after `python`: the preset, then this plan's settings."""
        every = max(1, self.iters // GIF_FRAMES)
        domains = ["--name-a", self.name_a, "--name-b", self.name_b] if self.kind == "cyclegan" else []
        return [*script_and_data(self.kind, data), *domains, *preset(self.kind), "--iters", str(self.iters),
                "--image-size", str(self.image_size), "--aug", self.aug, *(["--diffaug"] if self.diffaug else []),
                "--seed", str(self.seed), "--sample-every", str(every),
                "--checkpoint-every", str(max(every, self.iters // CHECKPOINTS)), "--out", str(out)]


def script_and_data(kind: str, data: list[Path]) -> list[str]:
    if kind == "dcgan":
        return ["-m", "train.dcgan", "--data", str(data[0])]
    return ["-m", "train.cyclegan", "--data-a", str(data[0]), "--data-b", str(data[1])]


def check_with_command_line(arguments: list[str]) -> None:
    """The command line's own parsing and checks of `arguments` (as after `python`), in this process;
    TrainingRefused with its one line. Nothing is run and nothing is written."""
    from train.errors import UserError

    module = importlib.import_module(arguments[1])
    try:
        module.parse_args(arguments[2:])
    except UserError as error:
        raise TrainingRefused(str(error)) from None
    except SystemExit:  # argparse: the page's fields cannot produce this, an API call can
        raise TrainingRefused("the training command refused these settings") from None


@dataclass
class Job:
    """A training subprocess and what it printed last (tqdm's carriage returns end lines too)."""

    name: str
    process: subprocess.Popen
    start_step: int
    output: collections.deque = field(default_factory=lambda: collections.deque(maxlen=OUTPUT_LINES))
    first_seen: tuple[float, int] | None = None  # (losses.csv's mtime, step) at the first new step seen
    stopping: bool = False

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def last_error(self) -> str:
        """The command's one-line error, else its last line."""
        lines = [line for line in self.output if line.strip()]
        errors = [line for line in lines if line.startswith(("error:", "interrupted"))]
        return (errors or lines or ["the training command stopped without a message"])[-1]


@dataclass(frozen=True)
class RunStatus:
    """A run as the tab reports it. `state`: starting, training, stopping, stopped, finished, failed,
    or none (no such run)."""

    name: str
    state: str
    step: int = 0
    iters: int = 0
    rate: float | None = None  # steps per second
    message: str = ""

    @property
    def seconds_left(self) -> float | None:
        return (self.iters - self.step) / self.rate if self.rate else None

    def markdown(self) -> str:
        where = f"step {self.step} of {self.iters}" if self.iters else ""
        if self.state == "training":
            speed = f" · {self.rate:.1f} it/s · about {duration(self.seconds_left)} left" if self.rate else ""
            return f"**Training** `{self.name}`: {where}{speed}"
        lines = {
            "starting": f"**Starting** `{self.name}`: loading the images and building the networks...",
            "stopping": f"**Stopping** `{self.name}` at the end of this step ({where}); its state is being saved.",
            "stopped": f"**Stopped** `{self.name}` at {where}; its state is saved: **Resume** continues it.",
            "finished": f"**Finished** `{self.name}`: {where}. Its model is `run:{self.name}` in the menus of "
                        "Sample cats or Translate, and can be published below.",
            "failed": f"**Failed** `{self.name}`: {self.message}",
            "none": "No run chosen yet: upload images and press **Start training**.",
        }
        return lines[self.state] + (f"\n\n{self.message}" if self.message and self.state != "failed" else "")


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


class TrainingJobs:
    """The app's training jobs, over its runs folder: at most one runs at a time."""

    def __init__(self, runs_root: Path) -> None:
        self.runs_root = Path(runs_root)
        self.data_root = self.runs_root / DATA_FOLDER
        self._lock = threading.Lock()
        self._job: Job | None = None
        atexit.register(self.stop_at_exit)

    # -- starting ----------------------------------------------------------------------------------

    def prepare(self, plan: TrainingPlan) -> list[Path]:
        """Check that `plan` may start now (no job running, a new run name, settings the command line
        accepts) and make its data folder; returns the folders its images go into (images/, or a/ and
        b/). `discard(plan.name)` removes them if the images are then refused."""
        data = self.data_folders(plan.name, plan.kind)
        with self._lock:
            self.refuse_while_busy()
            if plan.kind not in KINDS:
                raise TrainingRefused(f"the kind of model must be one of {', '.join(KINDS)}")
            if not local_runs.RUN_NAME.fullmatch(plan.name or ""):
                raise TrainingRefused("a run name is 1 to 100 letters, digits, '.', '_' or '-', starting with a "
                                      "letter, digit or '_'")
            if (self.runs_root / plan.name).exists() or (self.data_root / plan.name).exists():
                raise TrainingRefused(f"a run named {plan.name} exists already: choose another name, or resume "
                                      "or delete that run")
            if plan.kind == "cyclegan" and not all(DOMAIN_NAME.fullmatch(name) for name in (plan.name_a, plan.name_b)):
                raise TrainingRefused("a domain's name is 1 to 40 letters, digits, spaces, '_' or '-'")
            if not 1 <= plan.iters <= MAX_ITERS:
                raise TrainingRefused(f"iterations must be from 1 to {MAX_ITERS}, not {plan.iters}")
            if plan.image_size not in IMAGE_SIZES:
                raise TrainingRefused(f"the image size must be one of {', '.join(map(str, IMAGE_SIZES))} pixels")
            check_with_command_line(plan.arguments(self.runs_root / plan.name, data))
            (self.data_root / plan.name).mkdir(parents=True)
        return data

    def data_folders(self, name: str, kind: str) -> list[Path]:
        folder = self.data_root / name
        return [folder / "images"] if kind == "dcgan" else [folder / "a", folder / "b"]

    def start(self, plan: TrainingPlan, data: list[Path]) -> None:
        """Run the prepared `plan` on the image folders `data` (the app's own, or folders on this
        machine) and record it in job.json, so it can be resumed after the app restarts."""
        arguments = plan.arguments(self.runs_root / plan.name, [folder.resolve() for folder in data])
        with self._lock:
            self.refuse_while_busy()
            record = {"kind": plan.kind, "arguments": arguments}
            (self.data_root / plan.name / JOB_FILE).write_text(json.dumps(record, indent=2) + "\n")
            self._job = self.spawn(plan.name, arguments, start_step=0)

    def discard(self, name: str) -> None:
        """Remove what `prepare` made for a run that did not start."""
        shutil.rmtree(self.data_root / name, ignore_errors=True)

    def resume(self, name: str) -> None:
        """Continue a run the tab made, from its saved state, with the command it started with."""
        record = self.job_record(name)
        status = self.status(name)
        if status.state == "finished":
            raise TrainingRefused(f"{name} has finished all its {status.iters} iterations")
        # The same command: with --resume, the command line takes the run's settings from its config.json,
        # but for those a resume may change (--iters among them), which must be given again.
        arguments = [*record["arguments"], "--resume"]
        with self._lock:
            self.refuse_while_busy()
            check_with_command_line(arguments)
            self._job = self.spawn(name, arguments, start_step=status.step)

    def refuse_while_busy(self) -> None:
        """Called under the lock: one job at a time."""
        job = self._job
        if job is not None and job.running:
            raise TrainingRefused(f"the run {job.name} is training now and this app trains one model at a time: "
                                  "wait until it ends, or stop it")

    def spawn(self, name: str, arguments: list[str], start_step: int) -> Job:
        """Start `python <arguments>` from a thread that lives as long as the process (the kernel's
        parent-death signal follows the thread that started it), its output pumped into the job."""
        started: collections.deque = collections.deque()
        ready = threading.Event()

        def run() -> None:
            try:
                process = subprocess.Popen([sys.executable, *arguments], cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                                           preexec_fn=die_with_parent if sys.platform == "linux" else None)
            except OSError as error:
                started.append(error)
                ready.set()
                return
            job = Job(name, process, start_step)
            started.append(job)
            ready.set()
            pump_lines(process.stdout, job.output)
            process.wait()

        threading.Thread(target=run, name=f"training {name}", daemon=True).start()
        ready.wait()
        outcome = started[0]
        if isinstance(outcome, OSError):
            raise TrainingRefused(f"the training command could not start ({outcome.strerror or outcome})")
        return outcome

    # -- stopping and removing ---------------------------------------------------------------------

    def stop(self) -> str:
        """SIGINT to the running job: it saves at the end of its step. A second stop stops it at once."""
        with self._lock:
            job = self._job
        if job is None or not job.running:
            return "No training job is running."
        job.process.send_signal(signal.SIGINT)
        if job.stopping:
            return f"Stopping {job.name} at once: it keeps its last checkpoint."
        job.stopping = True
        return f"Stopping {job.name}: it saves its state at the end of this step."

    def stop_at_exit(self) -> None:
        """When the app exits: stop the job as Ctrl-C does and give it time to save."""
        job = self._job
        if job is None or not job.running:
            return
        job.process.send_signal(signal.SIGINT)
        try:
            job.process.wait(STOP_AT_EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            job.process.kill()

    def delete(self, name: str) -> None:
        """Remove a run the tab made: its run folder and its data folder (a folder on this machine
        that it trained on is left alone)."""
        self.job_record(name)
        with self._lock:
            job = self._job
            if job is not None and job.name == name and job.running:
                raise TrainingRefused(f"{name} is training: stop it before deleting it")
            if name in local_runs.run_names(self.runs_root):
                shutil.rmtree(self.runs_root / name)
            shutil.rmtree(self.data_root / name)
            if job is not None and job.name == name:
                self._job = None

    # -- what there is -----------------------------------------------------------------------------

    def tab_runs(self) -> list[str]:
        """The runs this tab made (those with a job.json), newest first."""
        try:
            folders = [entry for entry in self.data_root.iterdir()
                       if local_runs.RUN_NAME.fullmatch(entry.name) and (entry / JOB_FILE).is_file()]
        except OSError:
            return []
        return [folder.name for folder in sorted(folders, key=lambda folder: -folder.stat().st_mtime)]

    def job_record(self, name: str) -> dict:
        """The job.json of a run the tab made: {"kind": ..., "arguments": [its command after `python`]},
        checked to run that kind's training script into that run's folder; TrainingRefused otherwise."""
        if name not in self.tab_runs():
            raise TrainingRefused(f"no run named {str(name)[:100]!r} was made in this tab")
        try:
            with open(self.data_root / name / JOB_FILE, "rb") as handle:
                record = json.loads(handle.read(JOB_FILE_BYTES))
        except (OSError, ValueError, RecursionError):
            raise TrainingRefused(f"{name}: its {JOB_FILE} cannot be read") from None
        kind = record.get("kind") if isinstance(record, dict) else None
        arguments = record.get("arguments") if isinstance(record, dict) else None
        if kind not in KINDS or not isinstance(arguments, list) \
                or not all(isinstance(part, str) for part in arguments) or arguments[:2] != ["-m", f"train.{kind}"] \
                or arguments[-2:] != ["--out", str(self.runs_root / name)]:
            raise TrainingRefused(f"{name}: its {JOB_FILE} is not one this app wrote")
        return record

    def current(self) -> str | None:
        """The name of the run training now, if any."""
        job = self._job
        return job.name if job is not None and job.running else None

    def status(self, name: str | None) -> RunStatus:
        """Where the run `name` stands: from its job when this app runs or ran it, else from its folder."""
        if not name or name not in local_runs.run_names(self.runs_root) and name not in self.tab_runs():
            return RunStatus(name or "", "none")
        step, iters, changed = self.progress_of(name)
        job = self._job if self._job is not None and self._job.name == name else None
        if job is None:
            saved = (self.runs_root / name / "state.pt").is_file()
            if saved and iters and step >= iters:
                return RunStatus(name, "finished", step, iters)
            if saved:
                return RunStatus(name, "stopped", step, iters)
            return RunStatus(name, "stopped", step, iters,
                             "It has no saved state yet: Resume starts it from the beginning.")
        if job.running:
            if step > job.start_step and changed is not None:
                job.first_seen = job.first_seen or (changed, step)
            rate = rate_between(job.first_seen, (changed, step))
            state = "stopping" if job.stopping else ("training" if step > job.start_step else "starting")
            return RunStatus(name, state, step, iters, rate)
        code = job.process.returncode
        if code == 0:
            return RunStatus(name, "finished", step, iters)
        if code in STOPPED_CODES or -code in (signal.SIGINT, signal.SIGTERM):
            return RunStatus(name, "stopped", step, iters, job.last_error())
        return RunStatus(name, "failed", step, iters, job.last_error())

    def progress_of(self, name: str) -> tuple[int, int, float | None]:
        """(the last step in losses.csv, the run's iterations, losses.csv's mtime) from the run folder,
        read as the Training progress tab reads it; zeros before the first sample."""
        try:
            record = local_runs.run_progress(self.runs_root / name)
        except ProgressError:
            record = None
        if record is None:
            return 0, 0, None
        steps = record.losses.get("step") or [0]
        iters = record.settings.get("iters")
        try:
            changed = (self.runs_root / name / "losses.csv").stat().st_mtime
        except OSError:
            changed = None
        return int(steps[-1]), iters if isinstance(iters, int) else 0, changed

    def output(self, name: str | None) -> str:
        """The last lines the job of `name` printed (what the command line would show in a terminal)."""
        job = self._job
        return "\n".join(job.output) if job is not None and job.name == name else ""


def rate_between(first: tuple[float, int] | None, latest: tuple[float | None, int]) -> float | None:
    """Steps per second between two (time, step) observations of losses.csv, when they differ."""
    if first is None or latest[0] is None or latest[0] <= first[0] or latest[1] <= first[1]:
        return None
    return (latest[1] - first[1]) / (latest[0] - first[0])


def pump_lines(stream, lines: collections.deque) -> None:
    """Read `stream` to its end into `lines`: split at newlines and carriage returns (a progress bar
    redraws its line with them), decoded leniently and cut to OUTPUT_LINE_CHARACTERS."""
    pending = b""
    while chunk := stream.read1(4096):
        pending += chunk
        *complete, pending = pending.replace(b"\r", b"\n").split(b"\n")
        for line in complete:
            if line.strip():
                lines.append(line.decode("utf-8", "replace")[:OUTPUT_LINE_CHARACTERS])
        pending = pending[-OUTPUT_LINE_CHARACTERS * 4:]
    if pending.strip():
        lines.append(pending.decode("utf-8", "replace")[:OUTPUT_LINE_CHARACTERS])


def die_with_parent() -> None:
    """In the child, before exec: have the kernel send SIGINT when the thread that started it ends
    (the app killed), so the run saves its state as on Ctrl-C instead of training on unseen."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT)
