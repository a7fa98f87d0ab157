"""`GANTrainer`, the outer training loop both scripts share: progress bar, sample grids,
checkpoints, export, experiment trackers, stopping on Ctrl-C, SIGTERM or a diverged loss, resume
(state.pt checked whole before anything is loaded), the run folder's lock. A concrete trainer
(train/dcgan.py, train/cyclegan.py) only says how to build its networks, how one step goes, and
what its samples and exported model are. Its settings come from train/settings.py, its processes
from train/accelerate_setup.py. Also the small pieces both trainers' steps use: Adam, freezing D
for the G step, loading optimiser and tensor state checked to fit.
"""

import contextlib
import math
import os
import signal
import sys
import time
from abc import ABC, abstractmethod

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from gan_demo import hub, runtime
from train.accelerate_setup import agree, make_accelerator
from train.errors import UserError, describe_os_error, quoted
from train.model_card import device_description, model_card
from train.publish import publish_folder, require_token
from train.run_folder import RunFolder
from train.settings import TrainingSettings
from train.stop_signals import StopSignals

TRAINERS = ("dcgan", "cyclegan")  # the kinds of state.pt
STEP_LIMIT = 2**63  # steps are counted in signed 64-bit integers
DEVICES_LIMIT = 1000  # the devices of a run as state.pt lists them: far more than a run meets
DESCRIPTION_LIMIT = 200


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

    def __init__(self, settings: TrainingSettings):
        self.settings = settings
        self.run = RunFolder(settings.out, self.loss_names)
        self.accelerator = make_accelerator(settings.cpu, settings.report_to, self.run.logs)
        self.device = self.accelerator.device
        self.rank = self.accelerator.process_index
        self.is_main = self.accelerator.is_main_process
        runtime.configure(self.device)
        if self.device.type == "cpu":
            self.log(f"{torch.get_num_threads()} CPU thread(s), PyTorch's default; OMP_NUM_THREADS=N sets it")
        if self.is_main:  # the other processes wait here; if this one stops, the launcher stops them
            self.run.check_can_start(settings.resume)
            if settings.push_to_hub:  # find out now, not after hours of training
                try:
                    require_token()
                except hub.HubError as error:
                    raise UserError(f"--push-to-hub {settings.push_to_hub}: {error}") from None
        self.accelerator.wait_for_everyone()
        self.step = 0
        self.saved_step = 0  # the step of the state.pt and export/ on disk (0: none yet)
        self.train_seconds = 0.0
        self.devices: list[str] = []  # every device that ran steps of this run, for the model card

    def autocast(self) -> torch.autocast:
        """bf16 autocast of the forward passes with --precision bf16 (weights, gradients and Adam stay
        fp32; bf16 needs no loss scaling); a no-op with fp32."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.settings.precision == "bf16")

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
        return model_card(self.title, self.settings.to_json(), facts, self.run.loss_rows(), self.loss_names)

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
        state = self.run.load_state() if self.settings.resume else None
        if state is not None:
            self.load_checked(state)
            self.log(f"resuming {self.run.root} at step {self.step} of {self.settings.iters}")
        if self.is_main:
            self.run.check_losses(self.step)
            self.run.root.mkdir(parents=True, exist_ok=True)
            self.run.rewind_to(self.step)
            self.run.write_config(self.settings.to_json())
        self.accelerator.wait_for_everyone()
        tracker_config = {key: "" if value is None else value for key, value in self.settings.to_json().items()}
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
        missing = [key for key in ("step", "train_seconds") if key not in state]
        if missing:
            raise UserError(f"{path}: not a complete train.{self.title} state (no {missing[0]!r}); {delete}")
        step, seconds, devices = state["step"], state["train_seconds"], state.get("devices", [])
        if type(step) is not int or not 1 <= step < STEP_LIMIT:
            raise UserError(f"{path}: step is {quoted(step)}, not a number of steps done; {delete}")
        if type(seconds) not in (int, float) or not 0 <= seconds < math.inf:
            raise UserError(f"{path}: train_seconds is {quoted(seconds)}, not a duration; {delete}")
        if not (isinstance(devices, list) and len(devices) <= DEVICES_LIMIT
                and all(isinstance(device, str) and len(device) <= DESCRIPTION_LIMIT for device in devices)):
            raise UserError(f"{path}: devices is {quoted(devices)}, not a list of device names; {delete}")
        try:
            self.load_state_dict(state)
        except KeyError as error:
            raise UserError(f"{path}: not a complete train.{self.title} state (no {error.args[0]!r}); {delete}") \
                from None
        except (RuntimeError, ValueError, TypeError) as error:  # shapes or optimiser groups that do not fit
            reason = " ".join(str(error).split())[:200]
            raise UserError(f"{path}: does not fit this run's networks ({reason}); {delete}") from None
        self.step, self.train_seconds = step, float(seconds)
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
        diverged, failed = agree(self.accelerator, diverged, failure is not None)
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
        settings = self.settings
        self.run.log_losses(self.step, losses)
        named = dict(zip(self.loss_names, losses, strict=True))
        if self.step % 10 == 0 or self.step == settings.iters:
            self.progress.set_postfix({name: f"{value:.3f}" for name, value in named.items()}, refresh=False)
        self.accelerator.log({f"loss/{name}": value for name, value in named.items()}, step=self.step)
        if self.step % settings.sample_every == 0 or self.step == settings.iters:
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
        settings = self.settings
        self.progress = tqdm(total=settings.iters, initial=self.step, disable=not self.is_main, unit="it",
                             dynamic_ncols=True, desc=self.title)
        if self.step < settings.iters and device_description(self.device) not in self.devices:
            self.devices.append(device_description(self.device))
        interrupted = False
        with StopSignals(lambda: self.saved_step, self.run.remove_unfinished_writes) as signals:
            while self.step < settings.iters and not interrupted:
                started = time.perf_counter()
                losses = self.train_step(self.step + 1)
                self.step += 1
                self.train_seconds += time.perf_counter() - started
                not_finite = [name for name, value in zip(self.loss_names, losses, strict=True)
                              if not math.isfinite(value)]
                interrupted, diverged = agree(self.accelerator, signals.received is not None, bool(not_finite))
                if diverged:
                    self.progress.close()
                    which = f"loss {not_finite[0]} is {losses[self.loss_names.index(not_finite[0])]}" if not_finite \
                        else "a loss is not finite on another process"
                    raise UserError(f"{which} at step {self.step}: training diverged and stopped; {self.kept()} "
                                    "(a lower learning rate may help)")
                if self.is_main:
                    self.report(losses)
                self.progress.update(1)
                if not interrupted and self.step % settings.checkpoint_every == 0 and self.step < settings.iters:
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
        if settings.push_to_hub and self.is_main:
            publish_folder(self.run.root, settings.push_to_hub, private=settings.private)
        self.accelerator.end_training()
