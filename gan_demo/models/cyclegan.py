"""CycleGAN networks: a fully convolutional ResNet-style generator translating one image domain
into another, the patch discriminator (a spatial map of realness scores), a global+patch pair, and
`CycleGAN`, the exported pair of generators (one Hub repo or checkpoints/ folder is one model).

paper (Zhu et al. 2017): G = gen_a2b, F = gen_b2a, D_Y = disc_b, D_X = disc_a.
Shapes in comments are for a 64x64 input and conv_dim 32 (written c); any H and W divisible by 4 work.
"""

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from gan_demo.models.dcgan import HUB_METADATA, DCDiscriminator, down_block, downsampling_stack, up_block


class ResidualBlock(nn.Module):
    """x + conv(x): the block learns a correction to its input, so a deep stack starts near identity."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


class CycleGenerator(nn.Module, PyTorchModelHubMixin, **HUB_METADATA, tags=["gan", "cyclegan", "pytorch"]):
    """image (B, 3, H, W) in [-1, 1] -> translated image (B, 3, H, W) in [-1, 1]; H, W divisible by 4."""

    def __init__(self, conv_dim: int = 32, n_res_blocks: int = 3):
        super().__init__()
        self.conv_dim, self.n_res_blocks = conv_dim, n_res_blocks
        # Encoder: extract features at a quarter of the resolution.
        self.encoder = nn.Sequential(
            down_block(3, conv_dim, normalize=True),  # (B, c, 32, 32)
            down_block(conv_dim, conv_dim * 2, normalize=True),  # (B, 2c, 16, 16)
        )
        # Transformer: residual blocks keep the shape and change the content.
        self.transformer = nn.Sequential(*[ResidualBlock(conv_dim * 2) for _ in range(n_res_blocks)])  # (B, 2c, 16, 16)
        # Decoder: back to the input size.
        self.decoder = nn.Sequential(
            up_block(conv_dim * 2, conv_dim),  # (B, c, 32, 32)
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(conv_dim, 3, kernel_size=3, padding=1),
            nn.Tanh(),
        )  # (B, 3, 64, 64)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        if height % 4 or width % 4:
            raise ValueError(f"image height and width must be divisible by 4, got {height}x{width}")
        return self.decoder(self.transformer(self.encoder(images)))


class PatchDiscriminator(nn.Module, PyTorchModelHubMixin, **HUB_METADATA, tags=["gan", "cyclegan", "pytorch"]):
    """image (B, 3, H, W) -> realness map (B, 1, H/16, W/16): each score judges one receptive field
    (a patch), so the discriminator cares about texture everywhere rather than global layout."""

    def __init__(self, conv_dim: int = 32):
        super().__init__()
        self.conv_dim = conv_dim
        # (B, 3, 64, 64) -> (B, c, 32, 32) -> (B, 2c, 16, 16) -> (B, 4c, 8, 8)
        self.features, channels = downsampling_stack(conv_dim, n_layers=3)
        self.score = nn.Conv2d(channels, 1, kernel_size=4, stride=2, padding=1)  # (B, 1, 4, 4)

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


def build_discriminator(kind: str, conv_dim: int, image_size: int) -> nn.Module:
    """The discriminator of one domain for `--disc dc|patch|global+patch`."""
    if kind == "dc":
        return DCDiscriminator(conv_dim=conv_dim, image_size=image_size)
    if kind == "patch":
        return PatchDiscriminator(conv_dim=conv_dim)
    if kind == "global+patch":
        return GlobalPatchDiscriminator(conv_dim=conv_dim, image_size=image_size)
    raise ValueError(f"unknown discriminator {kind!r}: choose dc, patch or global+patch")


class CycleGAN(nn.Module, PyTorchModelHubMixin, **HUB_METADATA, pipeline_tag="image-to-image",
               tags=["gan", "cyclegan", "pytorch", "image-to-image"]):
    """The exported translation model: gen_a2b and gen_b2a, plus the domain names and the image size
    the pair was trained at. `forward` runs one full cycle in both directions, which lets one DDP
    wrapper cover both generators during training."""

    def __init__(self, domain_a: str = "a", domain_b: str = "b", image_size: int = 64, conv_dim: int = 32,
                 n_res_blocks: int = 3):
        super().__init__()
        self.domain_a, self.domain_b, self.image_size = domain_a, domain_b, image_size
        self.gen_a2b = CycleGenerator(conv_dim=conv_dim, n_res_blocks=n_res_blocks)  # paper: G
        self.gen_b2a = CycleGenerator(conv_dim=conv_dim, n_res_blocks=n_res_blocks)  # paper: F

    def forward(self, real_a: torch.Tensor, real_b: torch.Tensor,
                with_identity: bool = False) -> dict[str, torch.Tensor]:
        fake_b = self.gen_a2b(real_a)  # G(a)
        fake_a = self.gen_b2a(real_b)  # F(b)
        out = {"fake_b": fake_b, "fake_a": fake_a,
               "rec_a": self.gen_b2a(fake_b),  # F(G(a)) ~ a
               "rec_b": self.gen_a2b(fake_a)}  # G(F(b)) ~ b
        if with_identity:
            out["same_b"] = self.gen_a2b(real_b)  # G(b) ~ b
            out["same_a"] = self.gen_b2a(real_a)  # F(a) ~ a
        return out

