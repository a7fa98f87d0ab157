"""PyTorch settings that make the project's networks run faster without changing their maths, shared
by training (train/) and serving (gan_demo.inference): how many CPU threads to use, the memory
format the convolutions prefer, and cuDNN autotuning. Training and the app call `configure` once at
start; everything here is a setting, no computation. Measured effects are in the README's
Performance section (`python -m benchmarks.train_speed`, `python -m benchmarks.serve_speed`).
"""

import contextlib
import os

import torch
from torch import nn


def available_cores() -> int:
    """CPU cores this process may run on: its affinity mask (narrowed by taskset, cpusets and
    most container runtimes), not the machine's core count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        return os.cpu_count() or 1


def configure(device: "torch.device | str" = "cpu", concurrent_calls: int = 1) -> None:
    """Thread, denormal and cuDNN settings for `device`; idempotent, process-wide. `concurrent_calls`
    is how many model calls run at once (the app's queue concurrency): each gets its share of the
    cores, because more OpenMP threads than cores make every call wait for the others' threads.
    OMP_NUM_THREADS, when set, wins."""
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, available_cores() // concurrent_calls))
    with contextlib.suppress(RuntimeError):  # settable only before the first parallel op of the process
        torch.set_num_interop_threads(1)  # these networks are chains of ops: nothing runs side by side
    # Values below 1e-38 become 0: CPUs handle such denormals ~100x slower, and as training goes on
    # some gradients and Adam statistics decay into them (bf16 DCGAN training fell from 93 to 13-30 images/s).
    torch.set_flush_denormal(True)
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: find the fastest convolution once, reuse it


def channels_last(module: nn.Module) -> nn.Module:
    """`module` with its convolution weights in channels_last (NHWC) layout, in place: oneDNN on CPUs
    and cuDNN on GPUs (tensor cores) run NHWC convolutions without the layout shuffles NCHW costs.
    The values, the state_dict keys and the saved files (written contiguous) stay the same."""
    return module.to(memory_format=torch.channels_last)

