"""The DCGAN generator: a latent vector z ~ N(0, I) in, an image in [-1, 1] out, and the pieces the
other networks reuse: the N(0, 0.02) initialisation and the upsampling block of the CycleGAN decoder.
(The discriminators are training-only and live in train/discriminators.py.)

Normalisation (`norm`): the course's generator normalises every layer with instance norm, which
gives each channel of each layer the same mean and spread in every image. Its cats then all share
nearly one overall colour and brightness: across 512 samples the per-image mean colour varied with
a standard deviation of 0.02 per channel, where the real grumpy cats vary by 0.15 (on the [-1, 1]
scale). Pixel norm (ProGAN's) scales each pixel's feature vector instead and keeps those per-image
statistics; the convolutions before it keep their biases, which instance norm would cancel. In
2000-step trials this made the spread six times as wide and brought held-out photos closer when
projected (checkpoints/README.md, "Experiments"). The biases also make the generator depend on z's length
(a little); with instance norm G(c z) = G(z) for every c > 0.
Exports from before the option use instance norm.

Shapes in comments are for the defaults: image_size 64, conv_dim 32 (written c), latent_dim 100.
"""

import math

import torch
from torch import nn

from gan_demo.models.export_format import FORMAT_VERSION, HUB_METADATA, VersionedHubMixin


def check_power_of_two(image_size: int, smallest: int = 8) -> None:
    """Raise ValueError unless image_size is a power of two, at least `smallest`."""
    if image_size < smallest or image_size & (image_size - 1):
        raise ValueError(f"image size must be a power of two >= {smallest}, got {image_size}")


def init_weights(module: nn.Module) -> None:
    """The DCGAN paper's initialisation, also the CycleGAN reference's: convolution weights from
    N(0, 0.02), normalisation scales from N(1, 0.02), every bias 0. Use with `network.apply`."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.InstanceNorm2d | nn.BatchNorm2d) and module.affine:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class PixelNorm(nn.Module):
    """(B, C, H, W) -> same shape: each pixel's C features divided by their root mean square."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features * torch.rsqrt(features.pow(2).mean(dim=1, keepdim=True) + 1e-8)


NORMS = ("pixel", "instance")


def normalization(norm: str, channels: int) -> nn.Module:
    """The generator's normalisation layer for `channels` channels: "pixel" or "instance"."""
    if norm == "pixel":
        return PixelNorm()
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")


def up_block(in_channels: int, out_channels: int, norm: str = "instance") -> nn.Sequential:
    """Double the spatial size: nearest-neighbour upsampling, then a 3x3 convolution, normalisation
    and ReLU. (Upsample + conv avoids the checkerboard artefacts of strided transposed convs.) Before
    instance norm the convolution has no bias: the norm subtracts the per-channel mean, which would
    cancel it; pixel norm keeps it."""
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=norm != "instance"),
        normalization(norm, out_channels),
        nn.ReLU(inplace=True),
    )


class DCGenerator(nn.Module, VersionedHubMixin, **HUB_METADATA, pipeline_tag="unconditional-image-generation",
                  tags=["gan", "dcgan", "pytorch", "image-generation"]):
    """z (B, latent_dim) or (B, latent_dim, 1, 1) -> image (B, 3, image_size, image_size) in [-1, 1]."""

    def __init__(self, latent_dim: int = 100, conv_dim: int = 32, image_size: int = 64, norm: str = "instance",
                 format_version: int = FORMAT_VERSION):
        super().__init__()
        check_power_of_two(image_size)
        self.latent_dim, self.conv_dim, self.image_size, self.norm = latent_dim, conv_dim, image_size, norm
        self.format_version = format_version
        n_up = int(math.log2(image_size // 4))  # 4 up blocks take 4x4 to 64x64
        channels = conv_dim * 2 ** (n_up - 1)  # 8c at 64 px: the widest layer is the smallest

        # 1x1 -> 4x4 needs a transposed convolution: a plain conv has nothing to slide over at 1x1.
        self.stem = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, channels, kernel_size=4, stride=1, padding=0, bias=norm != "instance"),
            normalization(norm, channels),
            nn.ReLU(inplace=True),
        )  # (B, 8c, 4, 4)
        blocks = []
        for _ in range(n_up - 1):
            blocks.append(up_block(channels, channels // 2, norm))
            channels //= 2
        self.blocks = nn.Sequential(*blocks)  # (B, 4c, 8, 8) -> (B, 2c, 16, 16) -> (B, c, 32, 32)
        self.to_rgb = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(channels, 3, kernel_size=3, padding=1),
            nn.Tanh(),
        )  # (B, 3, 64, 64) in [-1, 1]
        self.apply(init_weights)

    def first_features(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) or (B, latent_dim, 1, 1) -> the first block's output (B, 8c, 4, 4): the
        space where truncation and the direction sliders act (gan_demo/latents.py), as StyleGAN's w."""
        return self.stem(z.reshape(z.shape[0], self.latent_dim, 1, 1))

    def from_first_features(self, features: torch.Tensor) -> torch.Tensor:
        """The rest of the generator: the first block's output (B, 8c, 4, 4) -> image (B, 3, S, S)."""
        return self.to_rgb(self.blocks(features))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.from_first_features(self.first_features(z))
