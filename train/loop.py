"""What every training script shares: the common command-line flags, the Accelerate setup, and
`GANTrainer`, the outer loop (progress bar, sample grids, checkpoints, export, Ctrl-C, resume).
A concrete trainer (train/dcgan.py, train/cyclegan.py) only says how to build its networks, how
one step goes, and what its samples and exported model are.

Runs unchanged under `accelerate launch` (DDP over processes, GPUs or nodes; gloo on CPU): every
process trains on its own batches, gradients are averaged by DDP, and only the main process
writes files. Plain `python -m train.<script>` needs no Accelerate config.
"""

import argparse
import contextlib
import os
import signal
import sys
import time
from abc import ABC, abstractmethod
from pathlib import Path

import torch
from accelerate import Accelerator
from PIL import Image
from tqdm import tqdm

from gan_demo import hub, runtime
from train.augment import AUGMENTATIONS
from train.errors import UserError
from train.model_card import device_description, model_card
from train.run_folder import RunFolder

# Flags whose new value is honoured on --resume; every other setting comes from the saved config.
CHANGEABLE_ON_RESUME = ("iters", "resume", "push_to_hub", "private")


def add_common_arguments(parser: argparse.ArgumentParser, sample_every: int, checkpoint_every: int) -> None:
    parser.add_argument("--out", required=True, type=Path, help="run folder (created; must be empty unless --resume)")
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
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation, data order and noise")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its state.pt")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16 autocast for the forward passes (weights and optimiser stay fp32)")
    parser.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is available")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", default=None,
                        help="publish export/ to this Hugging Face Hub model repo when training ends")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo as private")


def check_positive(args: argparse.Namespace, *names: str, or_zero: bool = False) -> None:
    """One clear line for the first numeric flag out of range (`or_zero`: 0 is allowed too)."""
    for name in names:
        value = getattr(args, name)
        if value < 0 or (value == 0 and not or_zero):
            raise UserError(f"--{name.replace('_', '-')} must be {'0 or ' if or_zero else ''}positive, got {value}")


def check_fraction(args: argparse.Namespace, *names: str) -> None:
    """One clear line for the first flag outside [0, 1) (NaN included)."""
    for name in names:
        value = getattr(args, name)
        if not 0 <= value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 0 and below 1, got {value}")


def adam(parameters, lr: float, betas: tuple[float, float], device: torch.device) -> torch.optim.Adam:
    """Adam, fused into one kernel per step on CPUs and GPUs instead of a loop of small ops per
    parameter (the same update to float rounding); foreach (batched ops) elsewhere."""
    fused = device.type in ("cpu", "cuda")
    return torch.optim.Adam(parameters, lr=lr, betas=betas, fused=fused or None, foreach=None if fused else True)


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


@contextlib.contextmanager
def deferred_interrupt():
    """Turn Ctrl-C into a flag checked between steps, so an interrupted run never saves the
    state of a half-finished step. Yields a one-item list that becomes [True] on SIGINT."""
    interrupted = [False]

    def remember(signum, frame):
        if interrupted[0]:  # a second Ctrl-C while saving: stop at once
            raise KeyboardInterrupt
        interrupted[0] = True

    previous = signal.signal(signal.SIGINT, remember)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def warn_if_cpu_launch_is_single_process() -> None:
    """`accelerate launch --cpu --num_processes N` starts N processes only through MPI
    (--mpirun_hostfile); otherwise it quietly starts one. Say so instead of training alone."""
    asked_for_several = os.environ.get("ACCELERATE_USE_CPU", "").lower() == "true" and "MASTER_ADDR" in os.environ
    launched = any(name in os.environ for name in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE"))
    if asked_for_several and not launched:
        print("warning: `accelerate launch --cpu` started a single process (it needs MPI for several); "
              "use `accelerate launch --multi_gpu --num_processes N` for N CPU processes over gloo", file=sys.stderr)


class GANTrainer(ABC):
    """The outer training loop shared by the DCGAN and CycleGAN scripts."""

    loss_names: list[str]
    title: str

    def __init__(self, args: argparse.Namespace):
        self.run = RunFolder(args.out, self.loss_names)
        warn_if_cpu_launch_is_single_process()
        # Without a GPU, cpu=True lets torchrun-style launches (accelerate launch --multi_gpu) form a gloo group.
        # Mixed precision is the trainer's own `autocast`, not Accelerate's: Accelerate keeps it in
        # process-wide state, so an fp32 and a bf16 trainer could not live in one process (benchmarks, tests).
        self.accelerator = Accelerator(cpu=args.cpu or not torch.cuda.is_available(), mixed_precision="no")
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
                    hub.require_token()
                except hub.HubError as error:
                    raise UserError(f"--push-to-hub {args.push_to_hub}: {error}") from None
        self.accelerator.wait_for_everyone()
        self.args = self._resolve_config(args)
        self.step = 0
        self.train_seconds = 0.0
        self.devices: list[str] = []  # every device that ran steps of this run, for the model card

    def _resolve_config(self, args: argparse.Namespace) -> argparse.Namespace:
        """On --resume the saved config wins, except for the flags in CHANGEABLE_ON_RESUME."""
        saved = self.run.saved_config() if args.resume else None
        if saved is None:
            return args
        merged = {**vars(args), **{key: value for key, value in saved.items() if key not in CHANGEABLE_ON_RESUME}}
        for key in ("out", "data", "data_a", "data_b"):
            if merged.get(key) is not None:
                merged[key] = Path(merged[key])
        return argparse.Namespace(**merged)

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

    # -- the loop ----------------------------------------------------------------------------

    def restore(self) -> None:
        """Write config.json for a new run, or load state.pt and rewind the folder on --resume.
        A trainer calls this once its networks and optimisers exist, before accelerator.prepare."""
        state = self.run.load_state() if self.args.resume else None
        if state is not None:
            self.load_state_dict(state)
            self.step, self.train_seconds = int(state["step"]), float(state["train_seconds"])
            self.devices = list(state.get("devices", []))
            self.log(f"resuming {self.run.root} at step {self.step} of {self.args.iters}")
        if self.is_main:
            self.run.root.mkdir(parents=True, exist_ok=True)
            self.run.rewind_to(self.step)
            self.run.write_config(self.config())
        self.accelerator.wait_for_everyone()

    def checkpoint(self) -> None:
        state = self.state_dict()  # on every process: a trainer may gather per-process state into it
        if self.is_main:
            self.run.save_state({**state, "step": self.step, "train_seconds": self.train_seconds,
                                 "devices": self.devices})
            self.run.plot_losses(self.title)
            self.run.write_export(self.export_model(), self.model_card())
        self.accelerator.wait_for_everyone()

    def fit(self) -> None:
        args = self.args
        progress = tqdm(total=args.iters, initial=self.step, disable=not self.is_main, unit="it",
                        dynamic_ncols=True, desc=self.title)
        if self.step < args.iters and device_description(self.device) not in self.devices:
            self.devices.append(device_description(self.device))
        with deferred_interrupt() as interrupted:
            while self.step < args.iters and not interrupted[0]:
                started = time.perf_counter()
                losses = self.train_step(self.step + 1)
                self.step += 1
                self.train_seconds += time.perf_counter() - started
                if self.is_main:
                    self.run.log_losses(self.step, losses)
                    if self.step % 10 == 0 or self.step == args.iters:
                        shown = zip(self.loss_names, losses, strict=True)
                        progress.set_postfix({name: f"{value:.3f}" for name, value in shown}, refresh=False)
                    if self.step % args.sample_every == 0 or self.step == args.iters:
                        self.run.save_sample(self.step, self.sample_grid())
                progress.update(1)
                if self.step % args.checkpoint_every == 0 and self.step < args.iters:
                    self.checkpoint()
        if interrupted[0]:
            progress.close()
            self.checkpoint()
            self.log(f"interrupted at step {self.step}: state saved; continue with --resume")
            sys.exit(130)
        progress.close()
        self.checkpoint()
        if self.is_main:
            self.log(f"done: {self.step} steps in {self.train_seconds:.0f} s of training; model in {self.run.export}")
        if args.push_to_hub and self.is_main:
            from train.publish import publish_folder

            publish_folder(self.run.root, args.push_to_hub, private=args.private)
        self.accelerator.end_training()
