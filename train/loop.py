"""What every training script shares: the common command-line flags and their checks (a resumed
run's config.json is checked like the flags), the Accelerate setup, and `GANTrainer`, the outer
loop (progress bar, sample grids, checkpoints, export, experiment trackers, stopping on Ctrl-C,
SIGTERM or a diverged loss, resume). A concrete trainer (train/dcgan.py, train/cyclegan.py) only
says how to build its networks, how one step goes, and what its samples and exported model are.

Runs unchanged under `accelerate launch` (DDP over processes, GPUs or nodes; gloo on CPU): every
process trains on its own batches, gradients are averaged by DDP, and only the main process
writes files. Whether to stop is agreed by all processes at every step boundary, so they all stop
after the same step. Plain `python -m train.<script>` needs no Accelerate config.
"""

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.tracking import get_available_trackers
from accelerate.utils import LoggerType
from PIL import Image
from tqdm import tqdm

from gan_demo import hub, runtime
from train.augment import AUGMENTATIONS
from train.errors import STOP_SIGNALS, UserError, describe_os_error, exit_interrupted, quoted
from train.model_card import device_description, model_card
from train.publish import check_repo_id, publish_folder, require_token
from train.run_folder import RunFolder

# Flags whose new value is honoured on --resume; every other setting comes from the saved config.
# (`out` is where the config was read from: a run folder may have been moved or copied.)
CHANGEABLE_ON_RESUME = ("out", "iters", "resume", "push_to_hub", "private", "report_to", "cpu")
DATA_FLAGS = ("data", "data_a", "data_b")  # the image folders of either script
SEED_LIMIT = 2**63  # seeds are stored as signed 64-bit integers (torch, config.json readers)
LEARNING_RATE_LIMIT = 1.0  # Adam steps of the order of the weights themselves: certain divergence
TRACKERS = ("none", *LoggerType.list())
TRAINERS = ("dcgan", "cyclegan")  # the kinds of state.pt
STEP_LIMIT = 2**63  # steps are counted in signed 64-bit integers
DEVICES_LIMIT = 1000  # the devices of a run as state.pt lists them: far more than a run meets
DESCRIPTION_LIMIT = 200


def add_common_arguments(parser: argparse.ArgumentParser, sample_every: int, checkpoint_every: int) -> None:
    parser.add_argument("--out", required=True, type=Path,
                        help="run folder (created; must be empty unless --resume; never inside a data folder)")
    parser.add_argument("--aug", choices=AUGMENTATIONS, default="basic",
                        help="real-image augmentation: basic (resize) or deluxe (crop, flip, colour jitter)")
    parser.add_argument("--diffaug", action="store_true",
                        help="DiffAugment (colour, translation, cutout) on real and fake images")
    parser.add_argument("--holdout", type=float, default=0.0,
                        help="share of each image folder kept out of training for evaluation, the same files "
                             "in every run (chosen by a hash of their names); train.evaluate tests on them")
    parser.add_argument("--image-size", type=int, default=64, help="training resolution in pixels")
    parser.add_argument("--conv-dim", type=int, default=32, help="channel width of the first/last conv layers")
    parser.add_argument("--sample-every", type=int, default=sample_every, help="write a sample grid every N steps")
    parser.add_argument("--checkpoint-every", type=int, default=checkpoint_every,
                        help="write state.pt and refresh export/ every N steps")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of initialisation, data order and noise, 0 to 2^63-1")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its state.pt")
    parser.add_argument("--ema-decay", type=float, default=0.999,
                        help="decay of the generators' exponential moving average, which is sampled and exported "
                             "(warms up over the first steps; 0: the raw generators)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16 autocast for the forward passes (weights and optimiser stay fp32)")
    parser.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is available")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", default=None,
                        help="publish export/ to this Hugging Face Hub model repo when training ends")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo as private")
    parser.add_argument("--report-to", choices=TRACKERS, default="none",
                        help="experiment tracker for losses and sample grids, through Accelerate (tensorboard "
                             "writes to RUN_DIR/logs/; the tracker's package must be installed)")


def flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def check_finite(value, name: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{flag(name)} must be a finite number, got {value}")


def check_positive(args: argparse.Namespace, *names: str, or_zero: bool = False) -> None:
    """One clear line for the first numeric flag out of range (`or_zero`: 0 is allowed too); NaN
    and infinities are out of range."""
    for name in names:
        value = getattr(args, name)
        check_finite(value, name)
        if value < 0 or (value == 0 and not or_zero):
            raise UserError(f"{flag(name)} must be {'0 or ' if or_zero else ''}positive, got {value}")


def check_at_most(args: argparse.Namespace, **limits: float) -> None:
    """One clear line for the first flag above its limit."""
    for name, limit in limits.items():
        if getattr(args, name) > limit:
            raise UserError(f"{flag(name)} must be at most {limit}, got {getattr(args, name)}")


def check_fraction(args: argparse.Namespace, *names: str) -> None:
    """One clear line for the first flag outside [0, 1) (NaN included)."""
    for name in names:
        value = getattr(args, name)
        if not 0 <= value < 1:
            raise UserError(f"{flag(name)} must be at least 0 and below 1, got {value}")


def check_common(args: argparse.Namespace) -> None:
    """The checks of the flags that add_common_arguments defines."""
    check_positive(args, "conv_dim", "sample_every", "checkpoint_every")
    check_fraction(args, "holdout", "ema_decay")
    if not 0 <= args.seed < SEED_LIMIT:
        raise UserError(f"--seed must be between 0 and 2^63-1, got {args.seed}")
    check_out_outside_data(args)
    if args.push_to_hub is not None:
        check_repo_id(args.push_to_hub, "--push-to-hub")


def check_out_outside_data(args: argparse.Namespace) -> None:
    """A run folder inside a data folder would feed its own sample grids back in as training images
    on the next start: refused."""
    out = args.out.resolve()
    for name in DATA_FLAGS:
        folder = getattr(args, name, None)
        if folder is not None and out.is_relative_to(folder.resolve()):
            raise UserError(f"--out {args.out} is inside {flag(name)} {folder}: its sample grids would become "
                            "training images; choose a run folder outside the data")


def saved_settings(parser: argparse.ArgumentParser, args: argparse.Namespace,
                   before_flags: dict | None = None) -> dict:
    """With --resume, the settings in RUN_DIR/config.json that win over the command line (all but
    CHANGEABLE_ON_RESUME), each checked to have its flag's type; {} for a fresh run. `before_flags`
    names the setting a run had when its config.json predates a flag (its value then, not the
    flag's default today)."""
    path = args.out / "config.json"
    if not args.resume or not path.is_file():
        return {}
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UserError(f"{path}: not valid JSON; fix or delete it") from None
    except OSError as error:
        raise UserError(f"cannot read {describe_os_error(error)}") from None
    if not isinstance(saved, dict):
        raise UserError(f"{path}: not a JSON object of settings; fix or delete it")
    settings = {dest: value for dest, value in (before_flags or {}).items() if dest not in saved}
    for action in parser._actions:
        if action.dest not in saved or action.dest in CHANGEABLE_ON_RESUME:
            continue
        value = saved[action.dest]
        if not has_flag_type(action, value):
            raise UserError(f"{path}: {action.dest!r} is {json.dumps(value)}, not a value of "
                            f"{action.option_strings[0]}; fix or delete the file")
        settings[action.dest] = Path(value) if action.type is Path and value is not None else value
    return settings


def has_flag_type(action: argparse.Action, value) -> bool:
    """Whether a config.json value could have come from the flag of `action`."""
    if isinstance(action, argparse._StoreTrueAction):
        return isinstance(value, bool)
    if value is None:
        return action.default is None and not action.required
    if isinstance(value, bool):
        return False
    if action.type is int:
        return isinstance(value, int)
    if action.type is float:
        return isinstance(value, (int, float))
    if not isinstance(value, str):
        return False
    return action.choices is None or value in action.choices


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str], check: Callable[[argparse.Namespace], None],
                    before_flags: dict | None = None) -> argparse.Namespace:
    """Parse `argv` and `check` the flags; with --resume, merge the saved config.json over them
    (see saved_settings) and check the result again (a hand-edited file gets the same checks,
    naming the file)."""
    args = parser.parse_args(argv)
    check(args)
    saved = saved_settings(parser, args, before_flags)
    if not saved:
        return args
    merged = argparse.Namespace(**{**vars(args), **saved})
    try:
        check(merged)
    except UserError as error:
        raise UserError(f"{args.out / 'config.json'}: {error}") from None
    return merged


def check_tracker_available(name: str) -> None:
    """Accelerate quietly skips a tracker whose package is missing; say so instead."""
    available = [str(tracker) for tracker in get_available_trackers()]
    if name not in ("none", "all") and name not in available:
        raise UserError(f"--report-to {name}: its package is not installed (installed trackers: "
                        f"{', '.join(available) or 'none'})")


def adam(parameters, lr: float, betas: tuple[float, float], device: torch.device) -> torch.optim.Adam:
    """Adam, fused into one kernel per step on CPUs and GPUs instead of a loop of small ops per
    parameter (the same update to float rounding); foreach (batched ops) elsewhere."""
    fused = device.type in ("cpu", "cuda")
    return torch.optim.Adam(parameters, lr=lr, betas=betas, fused=fused or None, foreach=None if fused else True)


def load_optimizer(optimizer: torch.optim.Optimizer, state: dict, name: str) -> None:
    """Load an optimiser's state, checked to fit its parameters: Adam's moments of another shape load
    without complaint and fail only at the next step. ValueError naming `name` when they do not fit."""
    optimizer.load_state_dict(state)
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            for key, value in optimizer.state.get(parameter, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() and value.shape != parameter.shape:
                    raise ValueError(f"{name}: {key} of shape {tuple(value.shape)} for a parameter of shape "
                                     f"{tuple(parameter.shape)}")


def checked_tensor(value: object, name: str, shape: tuple[int | None, ...], dtype: torch.dtype) -> torch.Tensor:
    """`value`, checked to be a `dtype` tensor of `shape` (None: any size); ValueError naming `name`."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} is not a tensor")
    if value.dtype != dtype or value.dim() != len(shape) or any(
            expected not in (None, size) for expected, size in zip(shape, value.shape, strict=True)):
        wanted = ", ".join("any" if size is None else str(size) for size in shape)
        raise ValueError(f"{name} is {value.dtype} of shape {tuple(value.shape)}, not {dtype} of shape ({wanted})")
    return value


@contextlib.contextmanager
def frozen(module: torch.nn.Module):
    """Turn off gradients of `module`'s parameters for a block: in the G step, D only passes
    gradients through to the images and its own weight gradients would be wasted work."""
    parameters = [parameter for parameter in module.parameters() if parameter.requires_grad]
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        yield module
    finally:
        for parameter in parameters:
            parameter.requires_grad_(True)


class StopSignals:
    """Ctrl-C (SIGINT) and SIGTERM become a request to stop, checked between steps, so a stopped run
    never saves the state of a half-finished step. A second signal means "stop now": exit at once
    with one line, leaving the last saved state (the temporary files of a write it cut short are
    removed first; each file is replaced atomically, so the saved ones stay whole). Under a launcher
    (torchrun, `accelerate launch`) a repeated signal is the launcher passing on the one the terminal
    already sent; the launcher itself kills the processes if they do not finish, so a repeat is
    ignored there."""

    def __init__(self, saved_step: Callable[[], int], remove_unfinished_writes: Callable[[], None]):
        self.received: int | None = None
        self.saved_step = saved_step
        self.remove_unfinished_writes = remove_unfinished_writes
        self.under_launcher = "TORCHELASTIC_RUN_ID" in os.environ
        self.previous: dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        for signum in STOP_SIGNALS:
            self.previous[signum] = signal.signal(signum, self.remember)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def remember(self, signum: int, frame) -> None:
        if self.received is None:
            self.received = signum
        elif not self.under_launcher:
            saved = self.saved_step()
            self.remove_unfinished_writes()
            # The leading newline ends the progress bar's line, which has none of its own.
            exit_interrupted(signum, f"\ninterrupted again ({signal.Signals(signum).name}): stopped at once; "
                                     + (f"state.pt and export/ keep step {saved}" if saved else "nothing was saved"))


def warn_if_cpu_launch_is_single_process() -> None:
    """`accelerate launch --cpu --num_processes N` starts N processes only through MPI
    (--mpirun_hostfile); otherwise it quietly starts one. Say so instead of training alone."""
    asked_for_several = os.environ.get("ACCELERATE_USE_CPU", "").lower() == "true" and "MASTER_ADDR" in os.environ
    launched = any(name in os.environ for name in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE"))
    if asked_for_several and not launched:
        print("warning: `accelerate launch --cpu` started a single process (it needs MPI for several); "
              "use `accelerate launch --multi_gpu --num_processes N` for N CPU processes over gloo", file=sys.stderr)


def all_finite(state) -> bool:
    """Whether every floating-point tensor in a (nested) state dict is free of NaN and infinities."""
    if isinstance(state, torch.Tensor):
        return not state.is_floating_point() or bool(torch.isfinite(state).all())
    if isinstance(state, dict):
        return all(all_finite(value) for value in state.values())
    if isinstance(state, (list, tuple)):
        return all(all_finite(value) for value in state)
    return not isinstance(state, float) or math.isfinite(state)


class GANTrainer(ABC):
    """The outer training loop shared by the DCGAN and CycleGAN scripts."""

    loss_names: list[str]
    title: str

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.run = RunFolder(args.out, self.loss_names)
        warn_if_cpu_launch_is_single_process()
        check_tracker_available(args.report_to)
        # Without a GPU, cpu=True lets torchrun-style launches (accelerate launch --multi_gpu) form a gloo group.
        # Mixed precision is the trainer's own `autocast`, not Accelerate's: Accelerate keeps it in
        # process-wide state, so an fp32 and a bf16 trainer could not live in one process (benchmarks, tests).
        # Trackers (--report-to) write under RUN_DIR/logs/.
        self.accelerator = Accelerator(cpu=args.cpu or not torch.cuda.is_available(), mixed_precision="no",
                                       log_with=None if args.report_to == "none" else args.report_to,
                                       project_dir=str(self.run.logs))
        self.device = self.accelerator.device
        self.rank = self.accelerator.process_index
        self.is_main = self.accelerator.is_main_process
        runtime.configure(self.device)
        if self.device.type == "cpu":
            self.log(f"{torch.get_num_threads()} CPU thread(s), PyTorch's default; OMP_NUM_THREADS=N sets it")
        if self.is_main:  # the other processes wait here; if this one stops, the launcher stops them
            self.run.check_can_start(args.resume)
            if args.push_to_hub:  # find out now, not after hours of training
                try:
                    require_token()
                except hub.HubError as error:
                    raise UserError(f"--push-to-hub {args.push_to_hub}: {error}") from None
        self.accelerator.wait_for_everyone()
        self.step = 0
        self.saved_step = 0  # the step of the state.pt and export/ on disk (0: none yet)
        self.train_seconds = 0.0
        self.devices: list[str] = []  # every device that ran steps of this run, for the model card

    def config(self) -> dict:
        """config.json: every flag, resolved. (Tokens are never flags, so none can land here.)"""
        return {key: str(value) if isinstance(value, Path) else value for key, value in vars(self.args).items()}

    def autocast(self) -> torch.autocast:
        """bf16 autocast of the forward passes with --precision bf16 (weights, gradients and Adam stay
        fp32; bf16 needs no loss scaling); a no-op with fp32."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.args.precision == "bf16")

    def log(self, message: str) -> None:
        if self.is_main:
            tqdm.write(message)

    # -- what a concrete trainer provides ----------------------------------------------------

    @abstractmethod
    def train_step(self, step: int) -> list[float]:
        """One optimisation step (1-based); returns the loss terms named in `loss_names`."""

    @abstractmethod
    def sample_grid(self) -> Image.Image:
        """The fixed-input sample grid of the current weights."""

    @abstractmethod
    def state_dict(self) -> dict:
        """Everything besides step and wall time that resuming needs (nets, optimisers, ...).
        Called on every process at each checkpoint, so it may gather across processes."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None: ...

    @abstractmethod
    def export_model(self) -> torch.nn.Module:
        """The module written to export/ with save_pretrained."""

    @abstractmethod
    def data_facts(self) -> dict:
        """What the model card says about the data: image counts, domain names."""

    def model_card(self) -> str:
        facts = {**self.data_facts(), "step": self.step, "train_seconds": self.train_seconds,
                 "device": "; ".join(self.devices) or device_description(self.device),
                 "world_size": self.accelerator.num_processes}
        return model_card(self.title, self.config(), facts, self.run.loss_rows(), self.loss_names)

    # -- agreeing across processes -----------------------------------------------------------

    def agree(self, *flags: bool) -> list[bool]:
        """Each flag, true if it is true on any process: one all-reduce, so every process takes the
        same branch at the same step (a process that stopped alone would leave the others waiting
        in a collective for ever). A no-op for a single process."""
        if self.accelerator.num_processes == 1:
            return list(flags)
        counts = self.accelerator.reduce(torch.tensor(flags, dtype=torch.int32, device=self.device), "sum")
        return [bool(count) for count in counts.tolist()]

    # -- the loop ----------------------------------------------------------------------------

    def restore(self) -> None:
        """Take the run folder's lock (main process), then write config.json for a new run, or load
        state.pt and rewind the folder on --resume. A trainer calls this once its networks and
        optimisers exist, before accelerator.prepare. Everything is checked before anything in the
        folder changes; a refusal lets go of the lock (fit lets go of it when training ends)."""
        if self.is_main:
            self.run.lock()
        try:
            self.load_and_rewind()
        except BaseException:
            self.run.unlock()
            raise

    def load_and_rewind(self) -> None:
        state = self.run.load_state() if self.args.resume else None
        if state is not None:
            self.load_checked(state)
            self.log(f"resuming {self.run.root} at step {self.step} of {self.args.iters}")
        if self.is_main:
            self.run.check_losses(self.step)
            self.run.root.mkdir(parents=True, exist_ok=True)
            self.run.rewind_to(self.step)
            self.run.write_config(self.config())
        self.accelerator.wait_for_everyone()
        tracker_config = {key: "" if value is None else value for key, value in self.config().items()}
        self.accelerator.init_trackers(self.title, config=tracker_config)

    def load_checked(self, state: object) -> None:
        """Load a resume state, or stop with one line when it is not a whole state of this kind of
        run: its kind, step, time and devices, the shapes of every tensor, every key present."""
        path = self.run.state_path
        delete = "delete it to restart the run from scratch"
        if not isinstance(state, dict):
            raise UserError(f"{path}: not a train.{self.title} state (a {type(state).__name__}); {delete}")
        kind = state.get("kind", self.title)
        if kind != self.title:
            if kind not in TRAINERS:
                raise UserError(f"{path}: not a train.{self.title} state (kind {quoted(kind)}); {delete}")
            raise UserError(f"{path}: written by train.{kind}, not train.{self.title}; resume it with "
                            f"`python -m train.{kind}`, or choose another --out")
        step, seconds, devices = state.get("step", 0), state.get("train_seconds", 0.0), state.get("devices", [])
        if type(step) is not int or not 1 <= step < STEP_LIMIT:
            raise UserError(f"{path}: step is {quoted(step)}, not a number of steps done; {delete}")
        if type(seconds) not in (int, float) or not 0 <= seconds < math.inf:
            raise UserError(f"{path}: train_seconds is {quoted(seconds)}, not a duration; {delete}")
        if not (isinstance(devices, list) and len(devices) <= DEVICES_LIMIT
                and all(isinstance(device, str) and len(device) <= DESCRIPTION_LIMIT for device in devices)):
            raise UserError(f"{path}: devices is {quoted(devices)}, not a list of device names; {delete}")
        try:
            self.load_state_dict(state)
            self.step, self.train_seconds = state["step"], float(state["train_seconds"])
        except KeyError as error:
            raise UserError(f"{path}: not a complete train.{self.title} state (no {error.args[0]!r}); "
                            "delete it to restart the run from scratch") from None
        except (RuntimeError, ValueError, TypeError) as error:  # shapes or optimiser groups that do not fit
            reason = " ".join(str(error).split())[:200]
            raise UserError(f"{path}: does not fit this run's networks ({reason}); "
                            "delete it to restart the run from scratch") from None
        self.saved_step = self.step
        self.devices = list(devices)

    def checkpoint(self) -> None:
        """Save state.pt and refresh export/, or stop with one line: when the weights are no longer
        finite (the files on disk are kept) or a write fails (the disk is full: each file is
        replaced atomically, so the previous state stays whole)."""
        state = self.state_dict()  # on every process: a trainer may gather per-process state into it
        diverged = not all_finite(state)
        failure = None
        if self.is_main and not diverged:
            try:
                self.run.save_state({**state, "kind": self.title, "step": self.step,
                                     "train_seconds": self.train_seconds, "devices": self.devices})
                self.run.write_progress(self.title)
                self.run.write_export(self.export_model(), self.model_card())
            except OSError as error:
                failure = describe_os_error(error)
        diverged, failed = self.agree(diverged, failure is not None)
        if diverged:
            raise UserError(f"the weights are no longer finite at step {self.step}: stopped; {self.kept()}")
        if failed:
            raise UserError(f"cannot write {failure or 'the run folder (on the main process)'}: stopped at step "
                            f"{self.step}; {self.kept()}")
        self.saved_step = self.step

    def kept(self) -> str:
        """What a run that stops without saving leaves, for its last line."""
        if not self.saved_step:
            return "nothing was saved"
        return f"state.pt and export/ keep step {self.saved_step}; continue with --resume"

    def report(self, losses: list[float]) -> None:
        """Log one step's losses to the run folder, the progress bar and the trackers; write its
        sample grid on a sample step (main process only)."""
        args = self.args
        self.run.log_losses(self.step, losses)
        named = dict(zip(self.loss_names, losses, strict=True))
        if self.step % 10 == 0 or self.step == args.iters:
            self.progress.set_postfix({name: f"{value:.3f}" for name, value in named.items()}, refresh=False)
        self.accelerator.log({f"loss/{name}": value for name, value in named.items()}, step=self.step)
        if self.step % args.sample_every == 0 or self.step == args.iters:
            grid = self.sample_grid()
            self.run.save_sample(self.step, grid)
            for tracker in self.accelerator.trackers:
                if hasattr(tracker, "log_images"):
                    # TensorBoard takes a batch of HWC arrays when told so; other trackers take images.
                    options = {"dataformats": "NHWC"} if tracker.name == "tensorboard" else {}
                    tracker.log_images({"samples": np.asarray(grid)[None]}, step=self.step, **options)

    def fit(self) -> None:
        """Train up to --iters (or a stop signal), save, export and publish; then let go of the run folder."""
        try:
            self.train_to_the_end()
        finally:
            self.run.unlock()

    def train_to_the_end(self) -> None:
        args = self.args
        self.progress = tqdm(total=args.iters, initial=self.step, disable=not self.is_main, unit="it",
                             dynamic_ncols=True, desc=self.title)
        if self.step < args.iters and device_description(self.device) not in self.devices:
            self.devices.append(device_description(self.device))
        interrupted = False
        with StopSignals(lambda: self.saved_step, self.run.remove_unfinished_writes) as signals:
            while self.step < args.iters and not interrupted:
                started = time.perf_counter()
                losses = self.train_step(self.step + 1)
                self.step += 1
                self.train_seconds += time.perf_counter() - started
                not_finite = [name for name, value in zip(self.loss_names, losses, strict=True)
                              if not math.isfinite(value)]
                interrupted, diverged = self.agree(signals.received is not None, bool(not_finite))
                if diverged:
                    self.progress.close()
                    which = f"loss {not_finite[0]} is {losses[self.loss_names.index(not_finite[0])]}" if not_finite \
                        else "a loss is not finite on another process"
                    raise UserError(f"{which} at step {self.step}: training diverged and stopped; {self.kept()} "
                                    "(a lower learning rate may help)")
                if self.is_main:
                    self.report(losses)
                self.progress.update(1)
                if not interrupted and self.step % args.checkpoint_every == 0 and self.step < args.iters:
                    self.checkpoint()
            self.progress.close()
            self.checkpoint()
        if interrupted:
            self.accelerator.end_training()
            name = signal.Signals(signals.received or signal.SIGINT).name
            if self.is_main:
                message = f"interrupted ({name}) at step {self.step}: state saved; continue with --resume"
            else:  # so that every process says where it stopped
                message = f"process {self.rank} of {self.accelerator.num_processes} stopped at step {self.step}"
            sys.stderr.write(message + "\n")  # one write: processes sharing the terminal do not split lines
            # Everything is saved and closed: skip the interpreter's teardown of torch, which on a busy
            # machine outlasts the 30 s a launcher grants before it kills the processes.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(128 + (signals.received or signal.SIGINT))
        if self.is_main:
            self.log(f"done: {self.step} steps in {self.train_seconds:.0f} s of training; model in {self.run.export}")
        if args.push_to_hub and self.is_main:
            publish_folder(self.run.root, args.push_to_hub, private=args.private)
        self.accelerator.end_training()
