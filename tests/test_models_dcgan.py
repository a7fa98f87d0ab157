"""DCGAN network invariants: shapes at every supported size, gradients reach every parameter,
and the Hub mixin round-trips weights and architecture config."""

import pytest
import torch

from gan_demo.models import DCGenerator
from train.discriminators import DCDiscriminator


@pytest.mark.parametrize("image_size", [32, 64, 128])
def test_generator_and_discriminator_shapes(image_size):
    generator = DCGenerator(latent_dim=20, conv_dim=8, image_size=image_size)
    discriminator = DCDiscriminator(conv_dim=8, image_size=image_size)
    images = generator(torch.randn(3, 20))
    assert images.shape == (3, 3, image_size, image_size)
    assert torch.isfinite(images).all() and not torch.equal(images[0], images[1])  # one cat per latent
    assert generator(torch.randn(3, 20, 1, 1)).shape == images.shape  # both latent layouts
    assert discriminator(images).shape == (3,)


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    generator, discriminator = DCGenerator(latent_dim=16, conv_dim=8), DCDiscriminator(conv_dim=8)
    discriminator(generator(torch.randn(4, 16))).square().mean().backward()
    for name, parameter in [*generator.named_parameters(), *discriminator.named_parameters()]:
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("bad_size", [48, 4, 100])
def test_sizes_that_are_not_powers_of_two_are_refused(bad_size):
    with pytest.raises(ValueError, match="power of two"):
        DCGenerator(image_size=bad_size)


def test_save_and_load_round_trip(tmp_path):
    generator = DCGenerator(latent_dim=12, conv_dim=8, image_size=32)
    generator.save_pretrained(tmp_path)
    assert {"config.json", "model.safetensors"} <= {path.name for path in tmp_path.iterdir()}
    loaded = DCGenerator.from_pretrained(tmp_path)
    assert (loaded.latent_dim, loaded.conv_dim, loaded.image_size) == (12, 8, 32)
    for (name, expected), actual in zip(generator.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(expected, actual), name
