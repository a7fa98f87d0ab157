"""Latent vectors: seed -> z, the truncation trick and interpolation paths. A seed always gives
the same z on every machine, because z is drawn from its own CPU `torch.Generator`."""

import torch


def z_from_seed(seed: int, latent_dim: int = 100, truncation: float = 1.0) -> torch.Tensor:
    """z ~ N(0, I) of shape (latent_dim,) for one seed, pulled towards the mean by `truncation`
    (1 = unchanged, 0 = the mean latent): a smaller value trades variety for typical samples."""
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
