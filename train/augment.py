"""Augmentations for GAN training, as small pure functions on batched tensors.

Two families, used at different places of the training step:
- "basic" and "deluxe" act on REAL images only, before the discriminator sees them. Deluxe is
  the classic recipe (resize to ~1.1x, random crop, horizontal flip, mild colour jitter), written
  with torchvision's transforms v2 functional ops so every random choice comes from an explicit
  `torch.Generator`.
- DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training")
  acts on real AND fake images, in both the D and the G step. It is differentiable, so G learns
  through it; D never sees an un-augmented image and cannot simply memorise the small data set.
"""

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from gan_demo.imaging import uint8_to_signed

AUGMENTATIONS = ("basic", "deluxe")
DELUXE_SCALE = 1.1  # deluxe stores images this much larger than image_size and crops them back
JITTER = 0.1  # deluxe colour jitter: brightness, contrast and saturation factors in [0.9, 1.1]


def stored_size(aug: str, image_size: int) -> int:
    """Side length at which a data set is decoded and kept in memory for this augmentation."""
    return round(image_size * DELUXE_SCALE) if aug == "deluxe" else image_size


def _uniform(count: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(count, generator=generator, device=generator.device) * (high - low) + low


def basic(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, S, S), already at image_size -> float (B, 3, S, S) in [-1, 1]."""
    return uint8_to_signed(images)


def deluxe(images: torch.Tensor, image_size: int, generator: torch.Generator) -> torch.Tensor:
    """uint8 (B, 3, L, L) stored at ~1.1x -> float (B, 3, image_size, image_size) in [-1, 1]:
    a random crop, a horizontal flip half of the time and a mild colour jitter, per image."""
    count, stored = images.shape[0], images.shape[-1]
    tops = torch.randint(0, stored - image_size + 1, (count,), generator=generator, device=generator.device).tolist()
    lefts = torch.randint(0, stored - image_size + 1, (count,), generator=generator, device=generator.device).tolist()
    flips = (torch.rand(count, generator=generator, device=generator.device) < 0.5).tolist()
    brightness, contrast, saturation = (_uniform(count, 1 - JITTER, 1 + JITTER, generator).tolist() for _ in range(3))
    out = []
    for index in range(count):
        image = TF.crop(images[index], tops[index], lefts[index], image_size, image_size)  # (3, S, S)
        if flips[index]:
            image = TF.horizontal_flip(image)
        image = TF.adjust_brightness(image, brightness[index])
        image = TF.adjust_contrast(image, contrast[index])
        image = TF.adjust_saturation(image, saturation[index])
        out.append(image)
    return uint8_to_signed(torch.stack(out))


def real_batch(images: torch.Tensor, aug: str, image_size: int, generator: torch.Generator) -> torch.Tensor:
    """Apply the `--aug` transform to a uint8 batch of real images."""
    return deluxe(images, image_size, generator) if aug == "deluxe" else basic(images)


# ---------------------------------------------------------------------------------------------
# DiffAugment: differentiable, random per sample, on float images in [-1, 1] (B, 3, H, W).


def _per_sample(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One uniform [0, 1) number per sample, shaped (B, 1, 1, 1) for broadcasting."""
    return torch.rand(images.shape[0], 1, 1, 1, generator=generator, device=generator.device).to(images.device)


def diff_color(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Brightness shift in [-0.5, 0.5], saturation x[0, 2], contrast x[0.5, 1.5], each per sample."""
    images = images + (_per_sample(images, generator) - 0.5)
    grey = images.mean(dim=1, keepdim=True)
    images = (images - grey) * (_per_sample(images, generator) * 2) + grey
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * (_per_sample(images, generator) + 0.5) + mean


def diff_translation(images: torch.Tensor, generator: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to `ratio` of its size in x and y, filling with zeros."""
    count, _, height, width = images.shape
    max_dy, max_dx = int(height * ratio + 0.5), int(width * ratio + 0.5)
    shift_y = torch.randint(-max_dy, max_dy + 1, (count, 1, 1), generator=generator, device=generator.device)
    shift_x = torch.randint(-max_dx, max_dx + 1, (count, 1, 1), generator=generator, device=generator.device)
    shift_y, shift_x = shift_y.to(images.device), shift_x.to(images.device)
    batch, rows, cols = torch.meshgrid(torch.arange(count, device=images.device),
                                       torch.arange(height, device=images.device),
                                       torch.arange(width, device=images.device), indexing="ij")
    # Index into a copy padded by one zero pixel; out-of-range positions land on the padding.
    rows = torch.clamp(rows + shift_y + 1, 0, height + 1)
    cols = torch.clamp(cols + shift_x + 1, 0, width + 1)
    padded = F.pad(images, [1, 1, 1, 1]).permute(0, 2, 3, 1)  # (B, H+2, W+2, 3)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)  # (B, 3, H, W)


def diff_cutout(images: torch.Tensor, generator: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Zero a square of `ratio` times the image size at a random place in each image."""
    count, _, height, width = images.shape
    cut_h, cut_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
    centre_y = torch.randint(0, height + (1 - cut_h % 2), (count, 1, 1), generator=generator, device=generator.device)
    centre_x = torch.randint(0, width + (1 - cut_w % 2), (count, 1, 1), generator=generator, device=generator.device)
    rows = torch.arange(height, device=images.device).view(1, height, 1)
    cols = torch.arange(width, device=images.device).view(1, 1, width)
    top, left = centre_y.to(images.device) - cut_h // 2, centre_x.to(images.device) - cut_w // 2
    inside = (rows >= top) & (rows < top + cut_h) & (cols >= left) & (cols < left + cut_w)  # (B, H, W)
    return images * (~inside).unsqueeze(1).to(images.dtype)


def diff_augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """colour -> translation -> cutout, the policy the DiffAugment paper uses for small data sets."""
    return diff_cutout(diff_translation(diff_color(images, generator), generator), generator)
