"""The Accelerate set-up of a training run. Runs unchanged under `accelerate launch` (DDP over
processes, GPUs or nodes; gloo on CPU): every process trains on its own share of the data,
gradients are averaged by DDP, and only the main process writes files. `agree` is how the
processes take every decision together (whether to stop, whether a checkpoint failed), so they
all stop after the same step. Plain `python -m train.<script>` needs no Accelerate config.
"""

import os
import sys
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.tracking import get_available_trackers

from train.errors import UserError


def make_accelerator(cpu: bool, report_to: str, logs: Path) -> Accelerator:
    """The run's Accelerator: on the GPU unless `cpu` or there is none; trackers (--report-to)
    writing under `logs`."""
    warn_if_cpu_launch_is_single_process()
    check_tracker_available(report_to)
    # Without a GPU, cpu=True lets torchrun-style launches (accelerate launch --multi_gpu) form a gloo group.
    # Mixed precision is the trainer's own `autocast`, not Accelerate's: Accelerate keeps it in
    # process-wide state, so an fp32 and a bf16 trainer could not live in one process (benchmarks, tests).
    return Accelerator(cpu=cpu or not torch.cuda.is_available(), mixed_precision="no",
                       log_with=None if report_to == "none" else report_to, project_dir=str(logs))


def warn_if_cpu_launch_is_single_process() -> None:
    """`accelerate launch --cpu --num_processes N` starts N processes only through MPI
    (--mpirun_hostfile); otherwise it quietly starts one. Say so instead of training alone."""
    asked_for_several = os.environ.get("ACCELERATE_USE_CPU", "").lower() == "true" and "MASTER_ADDR" in os.environ
    launched = any(name in os.environ for name in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE"))
    if asked_for_several and not launched:
        print("warning: `accelerate launch --cpu` started a single process (it needs MPI for several); "
              "use `accelerate launch --multi_gpu --num_processes N` for N CPU processes over gloo", file=sys.stderr)


def check_tracker_available(name: str) -> None:
    """Accelerate quietly skips a tracker whose package is missing; say so instead."""
    available = [str(tracker) for tracker in get_available_trackers()]
    if name not in ("none", "all") and name not in available:
        raise UserError(f"--report-to {name}: its package is not installed (installed trackers: "
                        f"{', '.join(available) or 'none'})")


def agree(accelerator: Accelerator, *flags: bool) -> list[bool]:
    """Each flag, true if it is true on any process: one all-reduce, so every process takes the
    same branch at the same step (a process that stopped alone would leave the others waiting in a
    collective for ever). A no-op for a single process."""
    if accelerator.num_processes == 1:
        return list(flags)
    counts = accelerator.reduce(torch.tensor(flags, dtype=torch.int32, device=accelerator.device), "sum")
    return [bool(count) for count in counts.tolist()]
