"""CycleGAN generators: a fully convolutional ResNet-style generator translating one image domain
into another, and `CycleGAN`, the exported pair of generators (one Hub repo or checkpoints/ folder is
one model). The discriminators are training-only and live in train/discriminators.py.

paper (Zhu et al. 2017): G = gen_a2b, F = gen_b2a.
The generator's `skips` option (SKIP_OPTIONS) says what, besides the 16x16 bottleneck, reaches the decoder;
its `first_block_norm` (FIRST_BLOCK_NORMS), whether the first encoder block normalises away the input's overall colour;
its `output_block` (OUTPUT_BLOCKS), whether the decoder works at the full resolution before its colours.
Shapes in comments are for a 64x64 input and conv_dim 32 (written c); any H and W divisible by 4 work.
"""

import torch
from torch import nn

from gan_demo.models.dcgan import init_weights, up_block
from gan_demo.models.export_format import FORMAT_VERSION, HUB_METADATA, VersionedHubMixin


class ResidualBlock(nn.Module):
    """x + branch(x), branch = conv-IN-ReLU-conv-IN with reflection padding (the CycleGAN reference).
    The branch ends without an activation, so it can add and subtract; with its convolutions at zero
    it adds nothing, so a deep stack starts close to the identity."""

    def __init__(self, channels: int):
        super().__init__()
        self.branch = nn.Sequential(
            nn.ReflectionPad2d(1),  # reflection, not zeros: no dark frame for the network to learn around
            nn.Conv2d(channels, channels, kernel_size=3, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, kernel_size=3, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
        )  # (B, channels, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


# The first encoder block's normalisation. Instance norm sets each channel of each image to mean 0
# and deviation 1, so a photo made brighter, darker or tinted gives the same features: nothing after
# it can know the input's overall colour, and a round trip cannot bring it back. "none" keeps it, as
# pix2pix's U-Net does (its outermost layer has no norm; the features it passes on are skipped across).
FIRST_BLOCK_NORMS = ("instance", "none")


def encoder_block(in_channels: int, out_channels: int, norm: str = "instance") -> nn.Sequential:
    """Halve the spatial size: a kernel-4, stride-2 convolution, instance norm (unless `norm` is
    "none"), ReLU. Before instance norm the convolution has no bias: the norm would cancel it."""
    if norm not in FIRST_BLOCK_NORMS:
        raise ValueError(f"norm must be one of {', '.join(FIRST_BLOCK_NORMS)}, got {norm!r}")
    normalized = norm == "instance"
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1, bias=not normalized),
        nn.InstanceNorm2d(out_channels, affine=True) if normalized else nn.Identity(),
        nn.ReLU(inplace=True),
    )


# What reaches the decoder besides the bottleneck: nothing; the encoder's half-resolution features
# (a U-Net skip, as pix2pix's generator has at every level but the outermost); or those and the input
# itself, joined to the last convolution, a direct input-to-output path no reference generator has.
SKIP_OPTIONS = ("none", "features", "features+input")
# config.json of exports from before the three options said `skips: true` or `false`.
LEGACY_SKIPS = {False: "none", True: "features+input"}


def skip_option(skips: str | bool) -> str:
    """One of SKIP_OPTIONS, from itself or from the boolean that older exports carry."""
    if isinstance(skips, bool):
        return LEGACY_SKIPS[skips]
    if skips not in SKIP_OPTIONS:
        raise ValueError(f"skips must be one of {', '.join(SKIP_OPTIONS)}, got {skips!r}")
    return skips


# How the decoder ends. "upsampled": its 32x32 features are repeated 2x2 (nearest upsampling) and one
# 3x3 convolution makes the colours, so each 2x2 block of the output comes from one feature vector
# and shows it, a dotted, checkered texture. "full-resolution": as the reference generator ends, a
# 3x3 convolution with instance norm and ReLU at the full resolution after the upsampling, then a
# 7x7 convolution to the colours, so neighbouring output pixels can differ as an image's do.
OUTPUT_BLOCKS = ("upsampled", "full-resolution")


def output_layers(in_channels: int, conv_dim: int, output_block: str) -> nn.Module:
    """(B, in_channels, H, W) upsampled features -> (B, 3, H, W) colours before the tanh."""
    if output_block not in OUTPUT_BLOCKS:
        raise ValueError(f"output_block must be one of {', '.join(OUTPUT_BLOCKS)}, got {output_block!r}")
    if output_block == "upsampled":
        return nn.Conv2d(in_channels, 3, kernel_size=3, padding=1)
    return nn.Sequential(
        nn.ReflectionPad2d(1),
        nn.Conv2d(in_channels, conv_dim, kernel_size=3, bias=False),  # (B, c, H, W)
        nn.InstanceNorm2d(conv_dim, affine=True),
        nn.ReLU(inplace=True),
        nn.ReflectionPad2d(3),
        nn.Conv2d(conv_dim, 3, kernel_size=7),  # (B, 3, H, W)
    )


class CycleGenerator(nn.Module, VersionedHubMixin, **HUB_METADATA, tags=["gan", "cyclegan", "pytorch"]):
    """image (B, 3, H, W) in [-1, 1] -> translated image (B, 3, H, W) in [-1, 1]; H, W divisible by 4.

    `skips` (SKIP_OPTIONS; true and false are older exports' "features+input" and "none"):
    - "none": everything passes through the 16x16 bottleneck.
    - "features": the encoder's 32x32 features join the decoder's, a U-Net skip connection like
      pix2pix's inner ones, so detail the bottleneck drops can still reach the output.
    - "features+input": those, and the input image itself joins the decoder's features before the
      last convolution. The reference U-Net never joins the input at the outermost level: this is a
      direct path by which the output can copy the input, one convolution away.

    `first_block_norm` (FIRST_BLOCK_NORMS): "instance" normalises the first encoder block like every
    other; "none" leaves it unnormalised, so the input's overall colour and brightness survive into
    the features (and, with skips, reach the decoder).

    `output_block` (OUTPUT_BLOCKS): "upsampled" makes the colours with one convolution of the
    upsampled half-resolution features; "full-resolution" adds a convolution at the full resolution
    before a 7x7 one to the colours, as the reference generator ends."""

    def __init__(self, conv_dim: int = 32, n_res_blocks: int = 3, skips: str | bool = "none",
                 first_block_norm: str = "instance", output_block: str = "upsampled",
                 format_version: int = FORMAT_VERSION):
        super().__init__()
        self.conv_dim, self.n_res_blocks, self.skips = conv_dim, n_res_blocks, skip_option(skips)
        self.first_block_norm, self.output_block, self.format_version = first_block_norm, output_block, format_version
        # Encoder: extract features at a quarter of the resolution.
        self.encoder = nn.Sequential(
            encoder_block(3, conv_dim, first_block_norm),  # (B, c, 32, 32)
            encoder_block(conv_dim, conv_dim * 2),  # (B, 2c, 16, 16)
        )
        # Transformer: residual blocks keep the shape and change the content.
        self.transformer = nn.Sequential(*[ResidualBlock(conv_dim * 2) for _ in range(n_res_blocks)])  # (B, 2c, 16, 16)
        # Decoder: back to the input size. With skips, the encoder's (B, c, 32, 32) features join the
        # decoder's before the upsampling; with "features+input", the input joins before the output layers.
        output_channels = {"none": conv_dim, "features": conv_dim * 2, "features+input": conv_dim * 2 + 3}
        self.decoder = nn.Sequential(
            up_block(conv_dim * 2, conv_dim),  # (B, c, 32, 32)
            nn.Upsample(scale_factor=2, mode="nearest"),  # (B, c, 64, 64); with skips (B, 2c, 64, 64)
            output_layers(output_channels[self.skips], conv_dim, output_block),  # (B, 3, 64, 64)
            nn.Tanh(),
        )  # (B, 3, 64, 64)
        self.apply(init_weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        if height % 4 or width % 4:
            raise ValueError(f"image height and width must be divisible by 4, got {height}x{width}")
        if self.skips == "none":
            return self.decoder(self.transformer(self.encoder(images)))
        to_half, to_quarter = self.encoder
        up_to_half, upsample, to_colours, tanh = self.decoder
        half = to_half(images)  # (B, c, 32, 32)
        features = up_to_half(self.transformer(to_quarter(half)))  # (B, c, 32, 32)
        features = upsample(torch.cat([features, half], dim=1))  # (B, 2c, 64, 64)
        if self.skips == "features+input":
            features = torch.cat([features, images], dim=1)  # (B, 2c + 3, 64, 64)
        return tanh(to_colours(features))  # (B, 3, 64, 64)

    def first_output_convolution(self) -> nn.Conv2d:
        """The decoder's first convolution after the upsampling: where "features+input" joins the input."""
        to_colours = self.decoder[2]
        return to_colours if isinstance(to_colours, nn.Conv2d) else to_colours[1]


class CycleGAN(nn.Module, VersionedHubMixin, **HUB_METADATA, pipeline_tag="image-to-image",
               tags=["gan", "cyclegan", "pytorch", "image-to-image"]):
    """The exported translation model: gen_a2b and gen_b2a, plus the domain names and the image size
    the pair was trained at. `forward` runs one full cycle in both directions, which lets one DDP
    wrapper cover both generators during training."""

    def __init__(self, domain_a: str = "a", domain_b: str = "b", image_size: int = 64, conv_dim: int = 32,
                 n_res_blocks: int = 3, skips: str | bool = "none", first_block_norm: str = "instance",
                 output_block: str = "upsampled", format_version: int = FORMAT_VERSION):
        super().__init__()
        self.domain_a, self.domain_b, self.image_size = domain_a, domain_b, image_size
        self.format_version = format_version
        generator = dict(conv_dim=conv_dim, n_res_blocks=n_res_blocks, skips=skips, first_block_norm=first_block_norm,
                         output_block=output_block)
        self.gen_a2b = CycleGenerator(**generator)  # paper: G
        self.gen_b2a = CycleGenerator(**generator)  # paper: F

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
