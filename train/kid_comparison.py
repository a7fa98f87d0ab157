"""Is one CycleGAN's KID really lower than another's? A paired comparison over random halves.

A KID measured on a few dozen held-out images moves with the images it happens to be measured on
(and with the seed a model was trained from) by as much as the differences one wants to read from
it. `train.evaluate --against OTHER` therefore measures both models in the features of the same
domain classifiers and on the same random halves of the held-out images: each half pairs the
translations of half the inputs with half the real images of the target domain, drawn anew for
every half but identical for the two models. The difference of the two KIDs on the full sets says
which model is closer; its spread over the halves says how much of that the images can resolve,
and the share of halves where the sign flips says it in one number. The spread is that of
experiments on half the images, so a full-set difference moves by somewhat less.
"""

import statistics
from dataclasses import dataclass

import torch

from train.fidelity import kernel_distance

HALVES = 40
HALVES_SEED = 0


@dataclass(frozen=True)
class Half:
    """One random half: which translations (rows of the fakes) against which real images."""

    fakes: torch.Tensor  # (N_fake // 2,) indices
    reals: torch.Tensor  # (N_real // 2,) indices


def random_halves(fake_count: int, real_count: int, number: int = HALVES, seed: int = HALVES_SEED) -> list[Half]:
    """`number` pairs of random halves (without replacement within a half), the same for every caller."""
    generator = torch.Generator().manual_seed(seed)
    return [Half(torch.randperm(fake_count, generator=generator)[: fake_count // 2],
                 torch.randperm(real_count, generator=generator)[: real_count // 2]) for _ in range(number)]


def differences_on_halves(mine: torch.Tensor, theirs: torch.Tensor, real: torch.Tensor,
                          halves: list[Half]) -> list[float]:
    """On each half, the KID of one model's (N_fake, D) translation features against (N_real, D) real
    features minus the other model's, both on the same rows."""
    return [kernel_distance(mine[half.fakes], real[half.reals]) - kernel_distance(theirs[half.fakes], real[half.reals])
            for half in halves]


def difference_summary(full_set: list[float], per_half: list[float]) -> dict[str, float | int]:
    """The model's KID minus the other's: `full_set` one per classifier, `per_half` one per half (each
    already averaged over the classifiers) -> mean on the full sets, and mean, standard deviation and
    count below zero over the halves."""
    return {"difference": statistics.fmean(full_set),
            "difference_per_classifier": list(full_set),
            "halves_mean": statistics.fmean(per_half),
            "halves_spread": statistics.stdev(per_half),
            "halves_below_zero": sum(value < 0 for value in per_half),
            "halves": len(per_half)}
