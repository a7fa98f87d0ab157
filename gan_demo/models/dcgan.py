"""DCGAN networks: a generator mapping a latent vector z ~ N(0, I) to an image in [-1, 1], and a
discriminator giving one realness score per image. The building blocks (`up_block`,
`down_block`, `downsampling_stack`) are shared with the CycleGAN networks in `cyclegan.py`.

Shapes in comments are for the defaults: image_size 64, conv_dim 32 (written c), latent_dim 100.
"""

import math

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

HUB_METADATA = dict(library_name="gan-demo", license="mit")


def check_power_of_two(image_size: int, smallest: int = 8) -> None:
    """Raise ValueError unless image_size is a power of two, at least `smallest`."""
    if image_size < smallest or image_size & (image_size - 1):
        raise ValueError(f"image size must be a power of two >= {smallest}, got {image_size}")


def up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Double the spatial size: nearest-neighbour upsampling, then a 3x3 convolution, instance norm
    and ReLU. (Upsample + conv avoids the checkerboard artefacts of strided transposed convs.)"""
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.InstanceNorm2d(out_channels, affine=True),
        nn.ReLU(inplace=True),
    )


def down_block(in_channels: int, out_channels: int, normalize: bool = True) -> nn.Sequential:
    """Halve the spatial size: a kernel-4, stride-2, padding-1 convolution, instance norm, LeakyReLU(0.2)."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1)]
    if normalize:
        layers.append(nn.InstanceNorm2d(out_channels, affine=True))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def downsampling_stack(conv_dim: int, n_layers: int) -> tuple[nn.Sequential, int]:
    """`n_layers` down blocks from RGB, doubling the channels each time (no norm on the first,
    as in the DCGAN paper). Returns the stack and its number of output channels."""
    layers, channels = [down_block(3, conv_dim, normalize=False)], conv_dim
    for _ in range(n_layers - 1):
        layers.append(down_block(channels, channels * 2))
        channels *= 2
    return nn.Sequential(*layers), channels


class DCGenerator(nn.Module, PyTorchModelHubMixin, **HUB_METADATA, pipeline_tag="unconditional-image-generation",
                  tags=["gan", "dcgan", "pytorch", "image-generation"]):
    """z (B, latent_dim) or (B, latent_dim, 1, 1) -> image (B, 3, image_size, image_size) in [-1, 1]."""

    def __init__(self, latent_dim: int = 100, conv_dim: int = 32, image_size: int = 64):
        super().__init__()
        check_power_of_two(image_size)
        self.latent_dim, self.conv_dim, self.image_size = latent_dim, conv_dim, image_size
        n_up = int(math.log2(image_size // 4))  # 4 up blocks take 4x4 to 64x64
        channels = conv_dim * 2 ** (n_up - 1)  # 8c at 64 px: the widest layer is the smallest

        # 1x1 -> 4x4 needs a transposed convolution: a plain conv has nothing to slide over at 1x1.
        self.stem = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, channels, kernel_size=4, stride=1, padding=0, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(inplace=True),
        )  # (B, 8c, 4, 4)
        blocks = []
        for _ in range(n_up - 1):
            blocks.append(up_block(channels, channels // 2))
            channels //= 2
        self.blocks = nn.Sequential(*blocks)  # (B, 4c, 8, 8) -> (B, 2c, 16, 16) -> (B, c, 32, 32)
        self.to_rgb = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(channels, 3, kernel_size=3, padding=1),
            nn.Tanh(),
        )  # (B, 3, 64, 64) in [-1, 1]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.reshape(z.shape[0], self.latent_dim, 1, 1)  # (B, latent_dim, 1, 1)
        return self.to_rgb(self.blocks(self.stem(z)))


class DCDiscriminator(nn.Module, PyTorchModelHubMixin, **HUB_METADATA, tags=["gan", "dcgan", "pytorch"]):
    """image (B, 3, image_size, image_size) -> one unbounded realness score per image, (B,)."""

    def __init__(self, conv_dim: int = 32, image_size: int = 64):
        super().__init__()
        check_power_of_two(image_size)
        self.conv_dim, self.image_size = conv_dim, image_size
        # (B, 3, 64, 64) -> (B, c, 32, 32) -> (B, 2c, 16, 16) -> (B, 4c, 8, 8) -> (B, 8c, 4, 4)
        self.features, channels = downsampling_stack(conv_dim, n_layers=int(math.log2(image_size // 4)))
        self.score = nn.Conv2d(channels, 1, kernel_size=4, stride=1, padding=0)  # (B, 1, 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(images)).flatten()  # (B,)
