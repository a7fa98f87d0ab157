"""Latent vectors: seed -> z, the truncation trick, principal latent directions (what the app's
sliders move along) and interpolation paths. A seed always gives the same z on every machine,
because z is drawn from its own CPU `torch.Generator`."""

import functools
import math

import torch

from gan_demo.models import DCGenerator


def z_from_seed(seed: int, latent_dim: int = 100, truncation: float = 1.0) -> torch.Tensor:
    """z ~ N(0, I) of shape (latent_dim,) for one seed, pulled towards the mean by `truncation`
    (1 = unchanged, 0 = the mean latent): a smaller value trades variety for typical samples.
    A NaN or infinite truncation is a ValueError rather than a latent that draws a black image."""
    if not math.isfinite(truncation):
        raise ValueError(f"truncation must be a finite number, got {truncation}")
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(latent_dim, generator=generator) * truncation


def z_batch(seeds: list[int], latent_dim: int = 100, truncation: float = 1.0) -> torch.Tensor:
    """(len(seeds), latent_dim): one z per seed."""
    return torch.stack([z_from_seed(seed, latent_dim, truncation) for seed in seeds])


def slerp(start: torch.Tensor, end: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between two latents (latent_dim,) at `fractions` (T,) in [0, 1]
    -> (T, latent_dim). Gaussian latents live near a sphere; a straight line would cut through
    its low-density inside and give washed-out frames mid-way."""
    cos_angle = torch.dot(start / start.norm(), end / end.norm()).clamp(-1.0, 1.0)
    angle = torch.arccos(cos_angle)
    fractions = fractions.reshape(-1, 1)
    if angle.abs() < 1e-4:  # (nearly) parallel: fall back to a straight line
        return start + fractions * (end - start)
    return (torch.sin((1 - fractions) * angle) * start + torch.sin(fractions * angle) * end) / torch.sin(angle)


# -- principal latent directions (GANSpace, Härkönen et al. 2020) ---------------------------------
# A DCGAN has no mapping network whose outputs we could run PCA on, so we follow GANSpace's recipe
# for BigGAN: (1) sample many z and record the generator's first-block (stem) activations, (2) find
# the principal components of those activations, (3) map each component back to z space by least
# squares: regress z on the PCA coefficients, so that direction i is the change in z that moves
# the features along component i. Directions are unit vectors in z space; since z ~ N(0, I), a
# step of 1 along one of them is one standard deviation of z in that direction.


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


@functools.lru_cache(maxsize=8)
@torch.inference_mode()
def principal_directions(generator: DCGenerator, count: int = 8, samples: int = 2000,
                         seed: int = 0) -> torch.Tensor:
    """(count, latent_dim) unit directions in z space, strongest first, for a `DCGenerator`; computed
    once per model and kept in memory (a fraction of a second on a CPU)."""
    random = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, generator.latent_dim, generator=random)  # (N, latent_dim)
    device = next(generator.parameters()).device
    features = generator.stem(z.reshape(samples, -1, 1, 1).to(device)).flatten(1).float().cpu()  # (N, 8c*4*4)
    components = principal_components(features, count, random)  # (count, F)
    coefficients = (features - features.mean(dim=0)) @ components.T  # (N, count)
    # Least squares z ~ coefficients @ mapping: row i of `mapping` is the z-space direction of component i.
    mapping = torch.linalg.lstsq(coefficients, z - z.mean(dim=0)).solution  # (count, latent_dim)
    return mapping / mapping.norm(dim=1, keepdim=True)


def move_along(z: torch.Tensor, directions: torch.Tensor, weights: "list[float] | tuple[float, ...]") -> torch.Tensor:
    """z (B, latent_dim) moved by weights[i] standard deviations along directions[i]; missing
    weights count as 0; a NaN or infinite weight is a ValueError."""
    if not all(math.isfinite(weight) for weight in weights):
        raise ValueError(f"direction weights must be finite numbers, got {list(weights)}")
    if not any(weights):
        return z
    weights = torch.as_tensor(list(weights), dtype=z.dtype)
    return z + weights @ directions[: len(weights)].to(z.dtype)  # (latent_dim,) broadcast over the batch


def interpolation_path(start: torch.Tensor, end: torch.Tensor, frames: int) -> torch.Tensor:
    """(frames, latent_dim): `frames` evenly spaced points on the great circle from `start` to `end`,
    both ends included."""
    if frames < 2:
        raise ValueError(f"an interpolation needs at least 2 frames, got {frames}")
    return slerp(start, end, torch.linspace(0.0, 1.0, frames))
