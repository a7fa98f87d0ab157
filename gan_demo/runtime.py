"""PyTorch settings that make the project's networks run faster without changing their maths, shared
by training (train/) and the app: how many CPU threads to use, denormals, the memory format the
convolutions prefer, and cuDNN autotuning. Training and the app call `configure` once at start;
everything here is a setting, no computation. (The OpenMP wait policy is set in gan_demo/__init__.py,
because it must precede the import of torch.) Measured effects are in the README's Performance
section (`python -m benchmarks.train_speed`, `python -m benchmarks.serve_speed`).
"""

import contextlib
import os
import time
from pathlib import Path

import torch
from torch import nn


def available_cores() -> int:
    """CPU cores this process may run on: its affinity mask (narrowed by taskset, cpusets and
    most container runtimes), not the machine's core count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        return os.cpu_count() or 1


def busy_elsewhere(samples: int = 5, interval_seconds: float = 0.02) -> int:
    """Threads of other processes running right now: the median of a few readings of the kernel's
    count of runnable threads, minus this one. (Not the load average: it lags by a minute, so a
    training run would count the one that just finished before it.) 0 where /proc/stat is missing."""
    counts = []
    for _ in range(samples):
        try:
            text = Path("/proc/stat").read_text()
        except OSError:
            return 0
        counts.append(next(int(line.split()[1]) for line in text.splitlines() if line.startswith("procs_running")))
        time.sleep(interval_seconds)
    return max(0, sorted(counts)[len(counts) // 2] - 1)


def idle_cores() -> int:
    """Usable cores minus those other processes are busy on right now, at least 1."""
    return max(1, available_cores() - busy_elsewhere())


def configure(device: "torch.device | str" = "cpu") -> None:
    """Thread, denormal and cuDNN settings for `device`; idempotent, process-wide. Intra-op threads:
    the idle cores, because more OpenMP threads than free cores make every op wait for its slowest,
    descheduled thread (DCGAN training next to two other jobs on 2 cores: 120 images/s with 1
    thread, 75 with 2). The app's two concurrent requests each get them all too: with passive
    OpenMP threads that measured faster than one core each (16 users: 11.9 calls/s against 7.8).
    OMP_NUM_THREADS, when set, wins."""
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(idle_cores())
    with contextlib.suppress(RuntimeError):  # settable only before the first parallel op of the process
        torch.set_num_interop_threads(1)  # these networks are chains of ops: nothing runs side by side
    # Values below 1e-38 become 0: CPUs handle such denormals many times slower, and in a long training
    # some gradients and Adam statistics decay into them.
    torch.set_flush_denormal(True)
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: find the fastest convolution once, reuse it


def channels_last(module: nn.Module) -> nn.Module:
    """`module` with its convolution weights in channels_last (NHWC) layout, in place: oneDNN on CPUs
    and cuDNN on GPUs (tensor cores) run NHWC convolutions without the layout shuffles NCHW costs.
    The values, the state_dict keys and the saved files (written contiguous) stay the same."""
    return module.to(memory_format=torch.channels_last)

