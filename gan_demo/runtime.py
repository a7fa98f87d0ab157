"""PyTorch settings that make the project's networks run faster without changing their maths, shared
by training (train/) and the app: the CPU thread count, denormals, the memory format the
convolutions prefer, and cuDNN autotuning. Entry points (app.py's launch(), the training loop,
the benchmarks) call `configure` once at start; importing this module sets nothing.

Threads are PyTorch's default (OMP_NUM_THREADS when set, else one per physical core) unless the
caller passes a count (the benchmarks' `--threads`). The OpenMP wait policy cannot be set here:
OpenMP reads OMP_WAIT_POLICY once, when `import torch` loads it, so the entry points set it before
their first import (see docs/performance.md for what it changes).
"""

import contextlib

import torch
from torch import nn


def configure(device: "torch.device | str" = "cpu", threads: int | None = None) -> None:
    """Thread, denormal and cuDNN settings for `device`; idempotent, process-wide. `threads`: intra-op
    CPU threads, or None to keep PyTorch's choice."""
    if threads is not None:
        torch.set_num_threads(threads)
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
