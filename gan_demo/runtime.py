"""PyTorch settings that make the project's networks run faster, shared by training (train/) and the
app: the CPU thread count, denormals, the memory format the convolutions prefer and cuDNN autotuning
(none of which changes the maths), and the precision the inference functions draw in (float32
unless the caller asks for bfloat16). Entry points (app.py's launch(), the training loop, the
benchmarks) call `configure` once at start; importing this module sets nothing.

Threads are PyTorch's default (OMP_NUM_THREADS when set, else one per physical core) unless the
caller passes a count (the benchmarks' `--threads`, the app's `serving_threads`). The OpenMP wait
policy cannot be set here: OpenMP reads OMP_WAIT_POLICY once, when `import torch` loads it, so the
entry points set it before their first import (see docs/performance.md for what it changes).
"""

import contextlib
import os

import torch
from torch import nn

_draw_in_bf16 = False  # see set_drawing_precision: library callers get float32, the exact maths
DRAWING_PRECISIONS = ("auto", "fp32", "bf16")


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


def serving_threads() -> int | None:
    """Intra-op threads for a server (the app, and the serving benchmark that stands for it): one,
    unless OMP_NUM_THREADS says otherwise. The app's queue runs two requests at once, and the event
    loop needs a core too: a request's OpenMP threads then wait on each other for a core that is busy
    elsewhere, which costs more than the second thread saves (docs/performance.md has the figures)."""
    return None if "OMP_NUM_THREADS" in os.environ else 1


def channels_last(module: nn.Module) -> nn.Module:
    """`module` with its convolution weights in channels_last (NHWC) layout, in place: oneDNN on CPUs
    and cuDNN on GPUs (tensor cores) run NHWC convolutions without the layout shuffles NCHW costs.
    The values, the state_dict keys and the saved files (written contiguous) stay the same."""
    return module.to(memory_format=torch.channels_last)


def native_bf16() -> bool:
    """Whether this CPU has AMX tiles, on which oneDNN runs bfloat16 convolutions several times faster
    than float32 (torch.cpu has no public query for it)."""
    return bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())


def set_drawing_precision(precision: str) -> str:
    """Process-wide: what `draw` runs the networks in, "fp32", "bf16" or "auto" (bf16 where
    `native_bf16`, as the app does by default); returns the one now used. In bf16 a drawn pixel
    differs from float32's by a few of 255 levels."""
    global _draw_in_bf16
    if precision not in DRAWING_PRECISIONS:
        raise ValueError(f"precision must be one of {DRAWING_PRECISIONS}, got {precision!r}")
    _draw_in_bf16 = precision == "bf16" or (precision == "auto" and native_bf16())
    return "bf16" if _draw_in_bf16 else "fp32"


def draw(network: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """`network(inputs)` as gan_demo's inference functions run it: under bfloat16 autocast when
    `set_drawing_precision` chose it, else in float32; the result is float32 either way."""
    with torch.autocast(inputs.device.type, dtype=torch.bfloat16, enabled=_draw_in_bf16):
        return network(inputs).float()
