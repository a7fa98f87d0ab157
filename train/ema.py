"""The exponential moving average (EMA) of the generator's weights, which the DCGAN trainer samples
from and exports (as StyleGAN2-ADA and lightweight-gan do): averaging the last few thousand steps'
weights smooths out the oscillation of GAN training, a cheap gain on small data sets. The raw
generator keeps training; the average only follows it.
"""

import copy

import torch
from torch import nn


def ema_decay_at(decay: float, step: int) -> float:
    """The decay used after step `step` (1-based): warms up as (1 + step) / (10 + step) so the early
    average is not dominated by the random initial weights, and never exceeds `decay`."""
    return min(decay, (1 + step) / (10 + step))


class EMA:
    """A frozen copy of `model` whose parameters follow the model's: ema = d * ema + (1 - d) * model.
    Buffers are copied as they are. `decay` 0 makes the copy the model itself, step by step."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        weight = 1.0 - ema_decay_at(self.decay, step)
        for averaged, current in zip(self.model.parameters(), model.parameters(), strict=True):
            averaged.lerp_(current, weight)  # averaged += weight * (current - averaged)
        for averaged, current in zip(self.model.buffers(), model.buffers(), strict=True):
            averaged.copy_(current)
