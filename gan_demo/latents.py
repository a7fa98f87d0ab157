"""Latent vectors and the space the Sample tab's controls act in. A seed always gives the same z on
every machine, because z is drawn from its own CPU `torch.Generator`; interpolation paths are great
circles in z.

Truncation and the direction sliders act on the generator's first-block output
(`DCGenerator.first_features`, the DCGAN analogue of StyleGAN's w), not on z: every later layer of a
pixel-norm or instance-norm generator divides out the length of its input, so shortening z towards
its mean (0) changes almost nothing until the image collapses into a grey box. The first block's
output is non-negative (it ends in a ReLU), so its mean over many z is a feature map of its own, and
the rest of the generator draws it as the model's average cat. `truncate` pulls a sample's features
towards that mean; the directions are the principal axes of the same features (GANSpace, Härkönen et
al. 2020), and `move_along` moves in standard deviations of the samples along each axis. Both are
computed once per first block and kept in memory (`feature_space`): a tuned copy of a generator that
shares its first block (gan_demo/projection.py) shares them too.
"""

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from gan_demo.models import DCGenerator

DIRECTION_COUNT = 8  # principal axes computed per model; the app shows the first six
DIRECTION_RANGE = 3.0  # the sliders' range, in standard deviations: within it edited cats stay the model's cats
SPACE_SAMPLES = 2000  # latents drawn to estimate the mean and the axes


def z_from_seed(seed: int, latent_dim: int = 100) -> torch.Tensor:
    """z ~ N(0, I) of shape (latent_dim,) for one seed."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(latent_dim, generator=generator)


def z_batch(seeds: Sequence[int], latent_dim: int = 100) -> torch.Tensor:
    """(len(seeds), latent_dim): one z per seed."""
    return torch.stack([z_from_seed(seed, latent_dim) for seed in seeds])


def slerp(start: torch.Tensor, end: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between two latents (latent_dim,) at `fractions` (T,) in [0, 1]
    -> (T, latent_dim). Gaussian latents live near a sphere; a straight line would cut through
    its low-density inside and give washed-out frames mid-way."""
    fractions = fractions.reshape(-1, 1)
    if min(start.norm(), end.norm()) < 1e-6:  # a zero latent has no direction to turn from: a straight line
        return start + fractions * (end - start)
    cos_angle = torch.dot(start / start.norm(), end / end.norm()).clamp(-1.0, 1.0)
    angle = torch.arccos(cos_angle)
    if angle.abs() < 1e-4:  # (nearly) parallel: fall back to a straight line
        return start + fractions * (end - start)
    return (torch.sin((1 - fractions) * angle) * start + torch.sin(fractions * angle) * end) / torch.sin(angle)


def interpolation_path(start: torch.Tensor, end: torch.Tensor, frames: int) -> torch.Tensor:
    """(frames, latent_dim): `frames` evenly spaced points on the great circle from `start` to `end`,
    both ends included."""
    if frames < 2:
        raise ValueError(f"an interpolation needs at least 2 frames, got {frames}")
    return slerp(start, end, torch.linspace(0.0, 1.0, frames))


# -- the first block's output: its mean and principal axes ----------------------------------------


@dataclass(frozen=True)
class FeatureSpace:
    """The statistics of one generator's first-block output over many z: its mean (the model's
    average cat), its principal axes (unit vectors, strongest first) and the standard deviation of
    the samples along each axis. Feature maps are (8c, 4, 4), as `DCGenerator.first_features` gives."""

    mean: torch.Tensor  # (8c, 4, 4)
    directions: torch.Tensor  # (count, 8c, 4, 4)
    spreads: torch.Tensor  # (count,)


def principal_components(features: torch.Tensor, count: int, generator: torch.Generator,
                         oversample: int = 10, power_iterations: int = 4) -> torch.Tensor:
    """The top `count` principal axes (count, F) of `features` (N, F), by randomized SVD (Halko et al.
    2011): a full SVD of a 2000 x 4096 matrix takes seconds on a small CPU, this takes milliseconds.
    The random probe comes from `generator`, so the result is reproducible."""
    centered = features - features.mean(dim=0)
    probe = torch.randn(centered.shape[1], count + oversample, generator=generator)
    basis = torch.linalg.qr(centered @ probe).Q  # (N, count + oversample), spans the top components
    for _ in range(power_iterations):  # sharpen the basis towards the leading singular vectors
        basis = torch.linalg.qr(centered @ (centered.T @ basis)).Q
    _, _, right = torch.linalg.svd(basis.T @ centered, full_matrices=False)
    return right[:count]


def feature_space(generator: DCGenerator) -> FeatureSpace:
    """The `FeatureSpace` of `generator`'s first block, computed once per first block (a fraction of a
    second on a CPU) and kept in memory; copies that share the block share the result."""
    return first_block_space(generator.stem, generator.latent_dim)


@functools.lru_cache(maxsize=8)
@torch.inference_mode()
def first_block_space(stem: nn.Module, latent_dim: int) -> FeatureSpace:
    """`feature_space` of a first block taking `latent_dim` inputs, from SPACE_SAMPLES seeded latents."""
    random = torch.Generator().manual_seed(0)
    z = torch.randn(SPACE_SAMPLES, latent_dim, 1, 1, generator=random)
    device = next(stem.parameters()).device
    features = stem(z.to(device)).float().cpu()  # (N, 8c, 4, 4)
    flat = features.flatten(1)  # (N, F)
    directions = principal_components(flat, DIRECTION_COUNT, random)  # (count, F)
    spreads = ((flat - flat.mean(dim=0)) @ directions.T).std(dim=0)  # (count,)
    shape = features.shape[1:]
    return FeatureSpace(features.mean(dim=0).to(device), directions.reshape(-1, *shape).to(device), spreads.to(device))


def truncate(features: torch.Tensor, space: FeatureSpace, truncation: float) -> torch.Tensor:
    """First-block features (B, 8c, 4, 4) pulled towards the model's average: 1 leaves them, 0 gives
    every sample the average cat. A NaN or infinite truncation is a ValueError rather than a black image."""
    if not math.isfinite(truncation):
        raise ValueError(f"truncation must be a finite number, got {truncation}")
    if truncation == 1:
        return features
    return space.mean + truncation * (features - space.mean)


def move_along(features: torch.Tensor, space: FeatureSpace, weights: Sequence[float]) -> torch.Tensor:
    """First-block features (B, 8c, 4, 4) moved weights[i] standard deviations of the samples along
    the i-th principal axis; missing weights count as 0; a NaN or infinite weight is a ValueError. The
    result is clipped at 0, the floor of the block's ReLU, so the next layer sees values it was
    trained on."""
    if not all(math.isfinite(weight) for weight in weights):
        raise ValueError(f"direction weights must be finite numbers, got {list(weights)}")
    if not any(weights):
        return features
    if len(weights) > len(space.directions):
        raise ValueError(f"there are {len(space.directions)} directions, got {len(weights)} weights")
    steps = torch.as_tensor(list(weights), dtype=features.dtype, device=features.device) * space.spreads[:len(weights)]
    offset = torch.einsum("k,kchw->chw", steps, space.directions[:len(weights)])  # (8c, 4, 4)
    return (features + offset).clamp_min(0)
