"""Loss terms, as small pure functions of discriminator scores and images.

Least-squares GAN (Mao et al. 2017): D pushes scores of real images to 1 and of fakes to 0;
G pushes the scores of its fakes to 1. A discriminator may return one score tensor or several
(global+patch); the loss of several is the sum of their losses.
"""

import torch
import torch.nn.functional as F

Scores = torch.Tensor | tuple[torch.Tensor, ...]


def _as_tuple(scores: Scores) -> tuple[torch.Tensor, ...]:
    return scores if isinstance(scores, tuple) else (scores,)


def lsgan_real(scores: Scores) -> torch.Tensor:
    """mean (D(x) - 1)^2: how far D is from calling real images real."""
    return sum(((score.float() - 1) ** 2).mean() for score in _as_tuple(scores))


def lsgan_fake(scores: Scores) -> torch.Tensor:
    """mean D(G(z))^2: how far D is from calling fakes fake."""
    return sum((score.float() ** 2).mean() for score in _as_tuple(scores))


def split_scores(scores: Scores, count: int) -> tuple[Scores, Scores]:
    """Split the scores of a concatenated [real; fake] batch into (real, fake)."""
    if isinstance(scores, tuple):
        return tuple(score[:count] for score in scores), tuple(score[count:] for score in scores)
    return scores[:count], scores[count:]


def cycle(real: torch.Tensor, reconstructed: torch.Tensor) -> torch.Tensor:
    """L1 between an image and its round trip a -> b -> a: the cycle-consistency loss."""
    return F.l1_loss(reconstructed.float(), real.float())


def identity(real: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """L1 between an image and what the generator INTO its own domain makes of it (F(a) vs a):
    the identity loss, which keeps colours when the translation need not change them."""
    return F.l1_loss(same.float(), real.float())
