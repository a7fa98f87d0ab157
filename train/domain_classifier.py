"""A small CNN that tells two image domains apart (Russian Blue vs Grumpy, apple vs orange), trained
on real images only. `train.evaluate` asks it whether a CycleGAN's translations land in the target
domain, and measures in its features how far the translations lie from real images of that domain:
an independent judge, since it never saw a generated image and shares no weights with the
discriminators the generators were trained against.

Shapes in comments are for 64x64 inputs.
"""

import contextlib

import torch
from torch import nn

from gan_demo.models.dcgan import init_weights
from train.augment import basic


class DomainClassifier(nn.Module):
    """image (B, 3, 64, 64) in [-1, 1] -> logit (B,) of "domain b"."""

    def __init__(self, width: int = 16):
        super().__init__()

        def block(in_channels: int, out_channels: int) -> list[nn.Module]:
            return [nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2, inplace=True)]

        self.features = nn.Sequential(
            *block(3, width),  # (B, w, 32, 32)
            *block(width, width * 2),  # (B, 2w, 16, 16)
            *block(width * 2, width * 4),  # (B, 4w, 8, 8)
            *block(width * 4, width * 4),  # (B, 4w, 4, 4)
            nn.AdaptiveAvgPool2d(1),  # (B, 4w, 1, 1): any input size works
            nn.Flatten(),
            nn.Dropout(0.3),
        )
        self.logit = nn.Linear(width * 4, 1)
        self.apply(init_weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logit(self.features(images)).flatten()  # (B,)


def flip_and_shift(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and shifts of up to 1/8 of the side (wrapping around): the classifier
    learns what the domains look like, not where the training images put things."""
    flipped = torch.rand(len(images), generator=generator) < 0.5
    images = torch.where(flipped.view(-1, 1, 1, 1), images.flip(-1), images)
    limit = images.shape[-1] // 8
    dy, dx = torch.randint(-limit, limit + 1, (2,), generator=generator).tolist()
    return images.roll((dy, dx), dims=(-2, -1))


@contextlib.contextmanager
def one_thread():
    """Run the enclosed torch work on one thread, then give the caller back its thread count. Threads
    split each convolution's sums differently; over hundreds of optimiser steps those last-bit
    differences grow into a different classifier, and figures measured in its features would then
    depend on how many threads the caller had."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_domain_classifier(data_a: torch.Tensor, data_b: torch.Tensor, steps: int = 600, batch_size: int = 16,
                            seed: int = 0) -> DomainClassifier:
    """Train on uint8 (N, 3, S, S) real images of both domains, each batch half a, half b (the
    domains are balanced whatever their sizes), on one thread: the same images and seed give the same
    classifier whatever the caller's thread count. Returns the classifier in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    classifier = DomainClassifier()
    optimizer = torch.optim.Adam(classifier.parameters(), lr=1e-3)
    labels = torch.cat([torch.zeros(batch_size), torch.ones(batch_size)])
    with one_thread():
        for _ in range(steps):
            picks_a = torch.randint(0, len(data_a), (batch_size,), generator=generator)
            picks_b = torch.randint(0, len(data_b), (batch_size,), generator=generator)
            images = flip_and_shift(basic(torch.cat([data_a[picks_a], data_b[picks_b]])), generator)
            loss = nn.functional.binary_cross_entropy_with_logits(classifier(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return classifier.eval()


@torch.inference_mode()
def classifier_features(classifier: DomainClassifier, images: torch.Tensor) -> torch.Tensor:
    """Float images (N, 3, S, S) in [-1, 1] -> (N, 4w): the pooled features its logit reads, where
    `train.evaluate` measures how far translations lie from real images (KID)."""
    return torch.cat([classifier.features(batch) for batch in images.split(64)])


@torch.inference_mode()
def classified_as_b(classifier: DomainClassifier, images: torch.Tensor) -> torch.Tensor:
    """Float images (N, 3, S, S) in [-1, 1] -> (N,) booleans: which the classifier calls domain b."""
    return torch.cat([classifier(batch) for batch in images.split(64)]) > 0


def share_classified_as_b(classifier: DomainClassifier, images: torch.Tensor) -> float:
    """Share of float images (N, 3, S, S) in [-1, 1] that the classifier calls domain b."""
    return classified_as_b(classifier, images).float().mean().item()
