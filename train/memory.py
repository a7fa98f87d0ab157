"""How much memory a training configuration needs, estimated before anything is allocated, so an
absurd `--image-size`, `--conv-dim`, `--latent-dim` or `--batch-size` stops with one line instead
of growing until the kernel kills the process without a word. The networks are built and run once
on PyTorch's `meta` device, which computes every shape and allocates nothing."""

from collections.abc import Callable, Sequence

import psutil
import torch
from torch import nn

from train.errors import UserError

# Every parameter lives four times in training: the weights, their gradients and Adam's two moments.
COPIES_PER_PARAMETER = 4
# Every module output of the forward pass is kept for the backward pass, which makes a gradient of
# about the same size for each.
COPIES_PER_ACTIVATION = 2
GIGABYTE = 1024**3


def training_bytes(build: Callable[[], Sequence[nn.Module]],
                   forward: Callable[..., object]) -> float:
    """Bytes one training step needs: `build()` makes the networks and `forward(*networks)` runs one
    step's forward passes on zero inputs (both on the meta device). A configuration too large for
    PyTorch to even describe (sizes past 2^63) needs infinitely much."""
    activation_bytes = 0

    def count(module: nn.Module, inputs, output) -> None:
        nonlocal activation_bytes
        if isinstance(output, torch.Tensor):
            activation_bytes += output.numel() * output.element_size()

    try:
        with torch.device("meta"):
            networks = build()
            leaves = [module for network in networks for module in network.modules() if not list(module.children())]
            hooks = [module.register_forward_hook(count) for module in leaves]
            try:
                forward(*networks)
            finally:
                for hook in hooks:
                    hook.remove()
    except (RuntimeError, TypeError, OverflowError, ValueError):  # sizes that overflow PyTorch's int64 shapes
        return float("inf")
    parameter_bytes = sum(parameter.numel() * parameter.element_size()
                          for network in networks for parameter in network.parameters())
    return COPIES_PER_PARAMETER * parameter_bytes + COPIES_PER_ACTIVATION * activation_bytes


def available_bytes(device: torch.device) -> int:
    """Free memory where training runs: the GPU's free memory, or the RAM the system can give."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return psutil.virtual_memory().available


def refuse_if_too_large(needed: float, device: torch.device, settings: str) -> None:
    """UserError when `needed` bytes exceed what `device` has free; `settings` names the flags behind it."""
    available = available_bytes(device)
    if needed > available:
        amount = ("more memory than PyTorch can describe" if needed == float("inf")
                  else f"about {needed / GIGABYTE:,.1f} GB of memory")
        raise UserError(f"{settings} needs {amount} to train (networks, optimiser, one batch and the images kept "
                        f"in memory), more than the {available / GIGABYTE:,.1f} GB free on {device.type}; lower them")
