"""The discriminators gan-demo trains against: they live here, with the rest of training, because
they travel in state.pt and never in an exported model.

- `DCDiscriminator`: one realness score per image (DCGAN; `--disc dc` for CycleGAN).
- `PatchDiscriminator` (`--disc patch`): the course's patch D, the DC discriminator without its last
  layer, so it gives a 4x4 map of scores at 64 px. Each score sees 46x46 px: at 64 px that is 72 % of
  the image, near-global; it becomes local only on larger images.
- `PatchGAN` (`--disc patchgan`): pix2pix's N-layer discriminator; at 3 layers each score sees 70x70 px,
  the patch size of the CycleGAN paper. Meant for images of 128 px and more.
- `GlobalPatchDiscriminator` (`--disc global+patch`): a DC and a patch D side by side.

Shapes in comments are for a 64x64 input and conv_dim 32 (written c).
"""

import math

import torch
from torch import nn

from gan_demo.models.dcgan import check_power_of_two, init_weights

DISCRIMINATORS = ("patch", "dc", "global+patch", "patchgan")


def down_block(in_channels: int, out_channels: int, normalize: bool = True, stride: int = 2) -> nn.Sequential:
    """A kernel-4 convolution (stride 2 halves the size), instance norm, LeakyReLU(0.2). A normalised
    block's convolution has no bias: instance norm subtracts the per-channel mean, which cancels it."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=stride, padding=1,
                                         bias=not normalize)]
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


class DCDiscriminator(nn.Module):
    """image (B, 3, image_size, image_size) -> one unbounded realness score per image, (B,)."""

    def __init__(self, conv_dim: int = 32, image_size: int = 64):
        super().__init__()
        check_power_of_two(image_size)
        # (B, 3, 64, 64) -> (B, c, 32, 32) -> (B, 2c, 16, 16) -> (B, 4c, 8, 8) -> (B, 8c, 4, 4)
        self.features, channels = downsampling_stack(conv_dim, n_layers=int(math.log2(image_size // 4)))
        self.score = nn.Conv2d(channels, 1, kernel_size=4, stride=1, padding=0)  # (B, 1, 1, 1)
        self.apply(init_weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(images)).flatten()  # (B,)


class PatchDiscriminator(nn.Module):
    """image (B, 3, H, W) -> realness map (B, 1, H/16, W/16); each score sees 46x46 px."""

    def __init__(self, conv_dim: int = 32):
        super().__init__()
        # (B, 3, 64, 64) -> (B, c, 32, 32) -> (B, 2c, 16, 16) -> (B, 4c, 8, 8)
        self.features, channels = downsampling_stack(conv_dim, n_layers=3)
        self.score = nn.Conv2d(channels, 1, kernel_size=4, stride=2, padding=1)  # (B, 1, 4, 4)
        self.apply(init_weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(images))


class PatchGAN(nn.Module):
    """pix2pix's N-layer PatchGAN: image (B, 3, H, W) -> realness map (B, 1, H/2^n - 2, W/2^n - 2).
    `n_layers` stride-2 blocks, then two stride-1 kernel-4 convolutions; at n_layers 3 each score
    sees 70x70 px (receptive_field(3) == 70)."""

    def __init__(self, conv_dim: int = 32, n_layers: int = 3):
        super().__init__()
        self.n_layers = n_layers
        layers, channels = [down_block(3, conv_dim, normalize=False)], conv_dim  # (B, c, 32, 32)
        for index in range(1, n_layers):
            wider = conv_dim * min(2 ** index, 8)
            layers.append(down_block(channels, wider))  # (B, 2c, 16, 16) -> (B, 4c, 8, 8)
            channels = wider
        wider = conv_dim * min(2 ** n_layers, 8)
        layers.append(down_block(channels, wider, stride=1))  # (B, 8c, 7, 7)
        self.features = nn.Sequential(*layers)
        self.score = nn.Conv2d(wider, 1, kernel_size=4, stride=1, padding=1)  # (B, 1, 6, 6)
        self.apply(init_weights)

    @staticmethod
    def receptive_field(n_layers: int) -> int:
        """Input pixels each score sees: kernel 4 everywhere, n_layers of stride 2, then two of stride 1."""
        size, jump = 1, 1
        strides = [2] * n_layers + [1, 1]
        for stride in strides:
            size += 3 * jump
            jump *= stride
        return size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(images))


class GlobalPatchDiscriminator(nn.Module):
    """A DC (whole-image) and a patch discriminator side by side; the losses of both are added.
    The global score catches wrong layouts on wide images that a patch-only D cannot see."""

    def __init__(self, conv_dim: int = 32, image_size: int = 64):
        super().__init__()
        self.global_disc = DCDiscriminator(conv_dim=conv_dim, image_size=image_size)
        self.patch_disc = PatchDiscriminator(conv_dim=conv_dim)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.global_disc(images), self.patch_disc(images)  # (B,), (B, 1, H/16, W/16)


def build_discriminator(kind: str, conv_dim: int, image_size: int, patch_layers: int = 3) -> nn.Module:
    """The discriminator of one domain for `--disc dc|patch|global+patch|patchgan`."""
    if kind == "dc":
        return DCDiscriminator(conv_dim=conv_dim, image_size=image_size)
    if kind == "patch":
        return PatchDiscriminator(conv_dim=conv_dim)
    if kind == "global+patch":
        return GlobalPatchDiscriminator(conv_dim=conv_dim, image_size=image_size)
    if kind == "patchgan":
        return PatchGAN(conv_dim=conv_dim, n_layers=patch_layers)
    raise ValueError(f"unknown discriminator {kind!r}: choose {', '.join(DISCRIMINATORS)}")
