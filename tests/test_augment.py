"""Augmentations: deluxe keeps range and shape and is random per image; DiffAugment keeps
shapes, passes gradients, is reproducible for a given generator and actually changes images."""

import torch

from train import augment


def uint8_batch(count: int = 6, size: int = 35) -> torch.Tensor:
    return torch.randint(0, 256, (count, 3, size, size), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def test_stored_size_is_larger_for_deluxe():
    assert augment.stored_size("basic", 64) == 64
    assert augment.stored_size("deluxe", 64) == 70


def test_deluxe_output_range_shape_and_reproducibility():
    images = uint8_batch()
    out = augment.deluxe(images, 32, torch.Generator().manual_seed(1))
    assert out.shape == (6, 3, 32, 32) and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1
    assert torch.equal(out, augment.deluxe(images, 32, torch.Generator().manual_seed(1)))
    assert not torch.equal(out, augment.deluxe(images, 32, torch.Generator().manual_seed(2)))


def test_basic_only_normalises():
    images = uint8_batch(size=32)
    out = augment.real_batch(images, "basic", 32, torch.Generator())
    assert torch.allclose((out + 1) * 127.5, images.float())


def test_diff_augment_shapes_gradients_reproducibility_and_effect():
    images = (torch.rand(5, 3, 32, 32) * 2 - 1).requires_grad_()
    out = augment.diff_augment(images, torch.Generator().manual_seed(3))
    assert out.shape == images.shape
    assert torch.equal(out, augment.diff_augment(images, torch.Generator().manual_seed(3)))
    assert not torch.allclose(out, images)
    out.square().sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_diff_cutout_blanks_a_quarter_and_translation_shifts():
    images = torch.ones(4, 3, 32, 32)
    cut = augment.diff_cutout(images, torch.Generator().manual_seed(0))
    zero_fraction = (cut == 0).float().mean(dim=(1, 2, 3))
    assert ((zero_fraction > 0.05) & (zero_fraction <= 0.25 + 1e-6)).all()  # a half-size square, maybe clipped
    shifted = augment.diff_translation(images, torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape
    assert ((shifted == 0).float().mean() > 0)  # some rows/columns moved in from the zero padding
