"""The networks against their reference designs: residual blocks that start as the identity, no conv
bias before instance norm, the N(0, 0.02) initialisation, the EMA generator, the PatchGAN's receptive
field, and the export format version (older exports converted or refused in one line)."""

import json

import pytest
import torch
from torch import nn

from gan_demo.models import FORMAT_VERSION, CycleGAN, CycleGenerator, DCGenerator, ExportFormatError
from gan_demo.models.cyclegan import ResidualBlock
from gan_demo.models.dcgan import PixelNorm
from train.discriminators import DCDiscriminator, PatchDiscriminator, PatchGAN, build_discriminator
from train.ema import EMA, ema_decay_at


def every_network() -> list[nn.Module]:
    torch.manual_seed(0)
    return [DCGenerator(latent_dim=16, conv_dim=8), DCGenerator(latent_dim=16, conv_dim=8, norm="pixel"),
            CycleGenerator(conv_dim=8, n_res_blocks=2),
            CycleGenerator(conv_dim=8, n_res_blocks=2, skips=True),
            DCDiscriminator(conv_dim=8), PatchDiscriminator(conv_dim=8), PatchGAN(conv_dim=8),
            build_discriminator("global+patch", 8, 64)]


def test_residual_block_with_zero_convolutions_is_the_identity():
    block = ResidualBlock(8)
    for module in block.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.zeros_(module.weight)
    x = torch.randn(2, 8, 16, 16)
    assert torch.equal(block(x), x)


def test_residual_branch_can_subtract():
    """The branch ends in instance norm, not ReLU: it must be able to lower values, not only raise them."""
    torch.manual_seed(0)
    block = ResidualBlock(8)
    x = torch.randn(2, 8, 16, 16)
    assert (block(x) - x).min() < -0.1


def network_name(network: nn.Module) -> str:
    return (type(network).__name__ + ("-skips" if getattr(network, "skips", False) else "")
            + ("-pixel-norm" if getattr(network, "norm", None) == "pixel" else ""))


@pytest.mark.parametrize("network", every_network(), ids=network_name)
def test_no_convolution_bias_before_instance_norm(network):
    for module in network.modules():
        children = list(module.children())
        for layer, following in zip(children, children[1:], strict=False):
            if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d) and isinstance(following, nn.InstanceNorm2d):
                assert layer.bias is None, f"{type(network).__name__}: {layer} feeds {following}"


@pytest.mark.parametrize("network", every_network(), ids=network_name)
def test_initialisation_is_normal_0_002(network):
    conv_weights = torch.cat([module.weight.flatten() for module in network.modules()
                              if isinstance(module, nn.Conv2d | nn.ConvTranspose2d)])
    assert conv_weights.mean().abs() < 0.002
    assert conv_weights.std().item() == pytest.approx(0.02, rel=0.05)
    for module in network.modules():
        if isinstance(module, nn.InstanceNorm2d) and module.affine:
            assert (module.weight - 1).abs().max() < 0.1 and torch.equal(module.bias, torch.zeros_like(module.bias))
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d) and module.bias is not None:
            assert torch.equal(module.bias, torch.zeros_like(module.bias))


def test_ema_update_follows_the_formula_with_warm_up():
    model = nn.Linear(3, 2)
    ema = EMA(model, decay=0.999)
    before = [parameter.detach().clone() for parameter in ema.model.parameters()]
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    ema.update(model, step=1)
    decay = ema_decay_at(0.999, 1)
    assert decay == pytest.approx(2 / 11)  # warm-up: far below 0.999 at the first step
    for old, new, current in zip(before, ema.model.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(new, decay * old + (1 - decay) * current)
    assert ema_decay_at(0.999, 100_000) == 0.999
    assert not any(parameter.requires_grad for parameter in ema.model.parameters())


def test_ema_with_decay_zero_is_the_model():
    model = nn.Linear(3, 2)
    ema = EMA(model, decay=0.0)
    with torch.no_grad():
        model.weight.mul_(3)
    ema.update(model, step=5)
    assert torch.equal(ema.model.weight, model.weight)


def receptive_field_by_gradient(network: nn.Module, size: int) -> int:
    """Width of the input region that the centre score depends on, found by backpropagation. Instance
    norm is swapped for the identity first: its mean over the whole map would link every pixel."""
    for module in network.modules():
        for name, child in module.named_children():
            if isinstance(child, nn.InstanceNorm2d):
                setattr(module, name, nn.Identity())
    images = torch.randn(1, 3, size, size, requires_grad=True)
    scores = network(images)
    scores[0, 0, scores.shape[2] // 2, scores.shape[3] // 2].backward()
    columns = images.grad.abs().sum(dim=(0, 1, 2)).nonzero().flatten()
    return int(columns.max() - columns.min() + 1)


@pytest.mark.parametrize("skips", [False, True])
def test_skips_carry_the_input_past_the_bottleneck(skips):
    """Cut the path through the 16x16 bottleneck (its convolution at zero): without skips the output
    no longer depends on the input; with them it still does, through the encoder's half-resolution
    features and the input itself."""
    torch.manual_seed(0)
    generator = CycleGenerator(conv_dim=4, n_res_blocks=1, skips=skips).eval()
    nn.init.zeros_(generator.encoder[1][0].weight)
    first, second = generator(torch.randn(2, 3, 16, 16)).unbind()
    assert (first - second).abs().max() > 1e-3 if skips else torch.equal(first, second)


def test_patchgan_receptive_field_is_70_at_3_layers():
    assert PatchGAN.receptive_field(3) == 70
    assert PatchGAN.receptive_field(4) == 142
    torch.manual_seed(0)
    assert receptive_field_by_gradient(PatchGAN(conv_dim=4, n_layers=3), 256) == 70


def test_course_patch_discriminator_sees_46_pixels():
    torch.manual_seed(0)
    assert receptive_field_by_gradient(PatchDiscriminator(conv_dim=4), 256) == 46


def test_every_export_carries_the_format_version(tmp_path):
    CycleGAN(conv_dim=4, n_res_blocks=1, image_size=16).save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["format_version"] == FORMAT_VERSION


def write_export(folder, model: nn.Module, **config_changes) -> None:
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(config_changes)
    for key in [key for key, value in config_changes.items() if value is None]:
        del config[key]
    (folder / "config.json").write_text(json.dumps(config))


def test_format_1_dcgan_is_converted_on_load(tmp_path):
    generator = DCGenerator(latent_dim=8, conv_dim=4, image_size=16)
    write_export(tmp_path, generator, format_version=None)  # format 1 had no format_version key
    loaded = DCGenerator.from_pretrained(tmp_path, strict=True)
    assert loaded.format_version == FORMAT_VERSION
    z = torch.randn(2, 8)
    assert torch.equal(loaded(z), generator.eval()(z))


def test_skips_travel_in_the_export_and_an_export_from_before_them_loads_without(tmp_path):
    torch.manual_seed(0)
    images = torch.randn(1, 3, 16, 16)
    for skips in (True, False):
        model = CycleGAN(conv_dim=4, n_res_blocks=1, image_size=16, skips=skips).eval()
        folder = tmp_path / str(skips)
        # A format-2 export from before the option has no `skips` key: it is a generator without them.
        write_export(folder, model, **({} if skips else {"skips": None}))
        loaded = CycleGAN.from_pretrained(folder, strict=True)
        expected = "features+input" if skips else "none"  # what `skips: true` / no key always built
        assert loaded.gen_a2b.skips == expected and loaded.gen_b2a.skips == expected
        assert torch.equal(loaded.gen_a2b(images), model.gen_a2b(images))


def test_pixel_norm_gives_every_pixel_unit_root_mean_square():
    features = torch.randn(2, 8, 5, 5) * torch.rand(2, 1, 5, 5) * 10
    normalised = PixelNorm()(features)
    assert torch.allclose(normalised.pow(2).mean(dim=1), torch.ones(2, 5, 5), atol=1e-5)


@pytest.mark.parametrize("norm", ["instance", "pixel"])
def test_only_pixel_norm_lets_a_channel_offset_reach_the_image(norm):
    """Instance norm removes whatever each image adds to a whole channel, and with it the image's
    overall colour and brightness; pixel norm passes it on."""
    torch.manual_seed(0)
    generator = DCGenerator(latent_dim=16, conv_dim=8, image_size=16, norm=norm).eval()
    z = torch.randn(2, 16)
    plain = generator(z)
    offset = torch.zeros(1, generator.stem[0].out_channels, 1, 1)
    offset[0, :4] = 3.0  # a constant added over the whole 4x4 map of four stem channels
    generator.stem[0].register_forward_hook(lambda module, inputs, output: output + offset)
    moved = generator(z)
    if norm == "instance":
        torch.testing.assert_close(moved, plain, atol=1e-4, rtol=0)
    else:
        assert (moved - plain).abs().mean() > 1e-2


@pytest.mark.parametrize("norm", ["instance", "pixel"])
def test_only_the_pixel_norm_generator_depends_on_the_latent_scale(norm):
    """With instance norm G(c z) == G(z) for c > 0, so truncation alone changes nothing; the biases
    of the pixel-norm generator make z's length matter."""
    torch.manual_seed(0)
    generator = DCGenerator(latent_dim=16, conv_dim=8, image_size=16, norm=norm).eval()
    for module in generator.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d) and module.bias is not None:
            nn.init.normal_(module.bias, 0.0, 0.1)  # trained biases are not the initial zeros
    z = torch.randn(3, 16)
    difference = (generator(0.5 * z) - generator(z)).abs().max()
    assert difference < 1e-3 if norm == "instance" else difference > 1e-2  # 1e-3: the norms' epsilon


def test_norm_travels_in_the_export_and_an_export_from_before_it_loads_with_instance_norm(tmp_path):
    torch.manual_seed(0)
    z = torch.randn(2, 8)
    for norm in ("pixel", "instance"):
        generator = DCGenerator(latent_dim=8, conv_dim=4, image_size=16, norm=norm).eval()
        folder = tmp_path / norm
        # A format-2 export from before the option has no `norm` key: its generator used instance norm.
        write_export(folder, generator, **({} if norm == "pixel" else {"norm": None}))
        loaded = DCGenerator.from_pretrained(folder, strict=True)
        assert loaded.norm == norm
        assert torch.equal(loaded(z), generator(z))


def test_an_unknown_norm_is_refused():
    with pytest.raises(ValueError, match="norm must be one of pixel, instance"):
        DCGenerator(norm="batch")


def test_format_1_cyclegan_is_refused_in_one_line(tmp_path):
    write_export(tmp_path, CycleGAN(conv_dim=4, n_res_blocks=1, image_size=16), format_version=None)
    with pytest.raises(ExportFormatError, match=r"format 1, whose networks differ .* retrain it") as raised:
        CycleGAN.from_pretrained(tmp_path, strict=True)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("version, message", [(FORMAT_VERSION + 1, "newer than this gan-demo"),
                                               ("2", "invalid format_version"), (0, "invalid format_version")])
def test_unknown_format_versions_are_refused(tmp_path, version, message):
    write_export(tmp_path, DCGenerator(latent_dim=8, conv_dim=4, image_size=16), format_version=version)
    with pytest.raises(ExportFormatError, match=message):
        DCGenerator.from_pretrained(tmp_path, strict=True)
