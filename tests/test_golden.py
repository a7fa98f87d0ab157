"""Golden values of every bundled model: a few output numbers for fixed seeds and a fixed input,
pinned here (as diffusers pins slices of its pipelines' outputs), so that any change that alters
what a bundled model draws (a retrain, a network or pixel-convention change) is noticed and made on
purpose. The CycleGANs' are what a user gets: `inference.translate`'s uint8 translation and round trip
of a fixed image, both ways. After such a change, print the new values with `python -m tests.test_golden`
and paste them.
"""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gan_demo.imaging import signed_to_pil
from gan_demo.inference import translate
from gan_demo.latents import z_batch
from gan_demo.models import CycleGAN, DCGenerator
from tests.conftest import ROOT

CHECKPOINTS = ROOT / "checkpoints"
SEEDS = [0, 1]
PIXELS = [(0, 32, 32), (1, 10, 50), (2, 50, 10)]  # (channel, row, column) read from every output image


def fixed_input() -> Image.Image:
    """A reproducible 64 px RGB image for the CycleGANs: smooth colour gradients plus noise."""
    ramp = torch.linspace(-1, 1, 64)
    noise = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0)) * 0.4 - 0.2
    across, down = ramp.view(1, 64).expand(64, 64), ramp.view(64, 1).expand(64, 64)
    image = torch.stack([across, down, -0.5 * across])
    return signed_to_pil((image + noise).clamp(-1, 1))


def uint8_readout(images: list[Image.Image]) -> list[float]:
    """The mean of the images' uint8 values (2 decimals), then the PIXELS of each image as integers."""
    arrays = [np.asarray(image) for image in images]  # (H, W, 3) uint8 each
    return [round(float(np.mean(arrays)), 2)] + [int(array[y, x, c]) for array in arrays for c, y, x in PIXELS]


def readout(images: torch.Tensor) -> list[float]:
    """The mean of a batch of images, then the PIXELS of each image, rounded to 4 decimals."""
    values = [images.mean().item()] + [images[index, c, y, x].item()
                                       for index in range(len(images)) for c, y, x in PIXELS]
    return [round(value, 4) for value in values]


@torch.inference_mode()
def golden_values(folder) -> list[float]:
    config = json.loads((folder / "config.json").read_text())
    if "latent_dim" in config:
        generator = DCGenerator.from_pretrained(str(folder), strict=True)
        return readout(generator(z_batch(SEEDS, generator.latent_dim)))
    model = CycleGAN.from_pretrained(str(folder), strict=True)
    results = [translate(model, fixed_input(), direction) for direction in ("a2b", "b2a")]
    return uint8_readout([image for result in results for image in (result.translation, result.reconstruction)])


GOLDEN = {
    'cyclegan-apple2orange': [125.11, 116, 147, 153, 123, 54, 194, 126, 13, 219, 122, 73, 186],
    'cyclegan-cats': [133.9, 130, 32, 203, 126, 80, 228, 124, 83, 208, 128, 106, 228],
    'cyclegan-cats-nocycle': [109.69, 106, 194, 178, 98, 103, 120, 108, 94, 137, 193, 86, 89],
    'dcgan-grumpy-basic': [-0.0614, 0.8244, 0.2218, 0.0825, 0.8295, 0.2403, -0.1859],
    'dcgan-grumpy-deluxe': [-0.1916, 0.8125, -0.2921, -0.2185, 0.8348, -0.3418, -0.3724],
    'dcgan-grumpy-deluxe-diffaug': [-0.0849, 0.8393, -0.6455, -0.4138, 0.7603, 0.4503, 0.2368],
    'dcgan-grumpy-diffaug': [0.0176, 0.9022, 0.3125, 0.6949, 0.8754, 0.2021, 0.5674],
}


def test_every_bundled_model_has_golden_values():
    bundled = {folder.name for folder in CHECKPOINTS.iterdir() if (folder / "config.json").is_file()}
    assert bundled == set(GOLDEN)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_bundled_model_outputs_are_unchanged(name):
    # A uint8 value may move by one where a float lands on a rounding boundary on another CPU.
    tolerance = 1 if name.startswith("cyclegan") else 2e-4
    assert golden_values(CHECKPOINTS / name) == pytest.approx(GOLDEN[name], abs=tolerance)


if __name__ == "__main__":
    for folder in sorted(CHECKPOINTS.iterdir()):
        if (folder / "config.json").is_file():
            print(f"    {folder.name!r}: {golden_values(folder)},")
