"""CycleGAN, bottom to top: network invariants (shapes, gradients), the cycle loss, the image pool,
translation of any PIL image, and the training command line (every --disc kind, the run-folder
contract, exact resume, the export, two processes, bad input). Data are tiny seeded synthetic
images; networks run at 16 px with 4 channels so the whole file stays fast on two CPU cores."""

import csv
import json
import math
import os
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from gan_demo.inference import translate
from gan_demo.models import CycleGAN, CycleGenerator
from gan_demo.models.cyclegan import SKIP_OPTIONS
from gan_demo.render import read_gif_frames
from tests.conftest import make_images, run_cli, run_main
from train import losses
from train.cyclegan import parse_and_train, parse_args
from train.discriminators import build_discriminator
from train.errors import UserError
from train.image_pool import ImagePool

LOSS_HEADER = ["step", "d_a", "d_b", "g_a2b", "g_b2a", "cycle_a", "cycle_b", "identity_a", "identity_b"]
TINY = ["--image-size", "16", "--conv-dim", "4", "--n-res-blocks", "1", "--batch-size", "2"]


def tiny_model() -> CycleGAN:
    torch.manual_seed(0)
    return CycleGAN(domain_a="apple", domain_b="orange", image_size=16, conv_dim=4, n_res_blocks=1)


# -- networks and losses ---------------------------------------------------------------------


@pytest.mark.parametrize("skips", SKIP_OPTIONS)
@pytest.mark.parametrize("height, width", [(16, 16), (32, 32), (16, 64), (48, 20)])
def test_generator_output_has_the_input_shape(height, width, skips):
    generator = CycleGenerator(conv_dim=4, n_res_blocks=1, skips=skips)
    images = torch.rand(2, 3, height, width) * 2 - 1
    out = generator(images)
    assert out.shape == images.shape
    assert torch.isfinite(out).all() and not torch.equal(out[0], out[1])  # each output follows its own input


@pytest.mark.parametrize("encoder_block, reaches_the_output", [
    (1, {"none": False, "features": True, "features+input": True}),  # the bottleneck's way in
    (0, {"none": False, "features": False, "features+input": True}),  # all the encoder sees
])
def test_each_skip_option_lets_through_what_its_name_says(encoder_block, reaches_the_output):
    """Zero a convolution of the encoder and see whether the input still reaches the output: past the
    16x16 bottleneck only through a skip; past the whole encoder only through the input's own path."""
    for skips, reaches in reaches_the_output.items():
        torch.manual_seed(0)
        generator = CycleGenerator(conv_dim=4, n_res_blocks=1, skips=skips).eval()
        torch.nn.init.zeros_(generator.encoder[encoder_block][0].weight)  # its convolution
        with torch.no_grad():
            first, second = generator(torch.randn(2, 3, 16, 16)).unbind()
        assert bool((first - second).abs().max() > 1e-3) is reaches, skips


def test_older_exports_boolean_skips_load_as_the_networks_they_were(tmp_path):
    """`skips: true` was the encoder's features and the input; `false` no skips. New exports name the option."""
    assert CycleGenerator(conv_dim=4, skips=True).skips == "features+input"
    assert CycleGenerator(conv_dim=4, skips=False).skips == "none"
    CycleGAN(conv_dim=4, n_res_blocks=1, image_size=16, skips="features").save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["skips"] == "features"
    assert CycleGAN.from_pretrained(tmp_path).gen_b2a.skips == "features"
    with pytest.raises(ValueError, match="skips must be one of none, features, features\\+input"):
        CycleGenerator(conv_dim=4, skips="input")


@pytest.mark.parametrize("first_block_norm, sees_contrast", [("instance", False), ("none", True)])
def test_only_an_unnormalised_first_block_lets_the_input_contrast_reach_the_output(first_block_norm, sees_contrast):
    """Instance norm divides out each channel's deviation: a photo at half its contrast gives the
    same features, so a generator normalised throughout cannot give it back in a round trip."""
    torch.manual_seed(0)
    generator = CycleGenerator(conv_dim=4, n_res_blocks=1, skips="features", first_block_norm=first_block_norm).eval()
    images = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        difference = (generator(images) - generator(0.5 * images)).abs().max()
    assert bool(difference > 1e-2) is sees_contrast, difference


def export_from_before(folder, option: str):
    """A small CycleGAN export whose config.json lacks `option`, as exports from before it did."""
    CycleGAN(conv_dim=4, n_res_blocks=1, image_size=16).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    del config[option]
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_exports_name_the_first_block_norm_and_older_ones_load_normalised(tmp_path):
    CycleGAN(conv_dim=4, n_res_blocks=1, image_size=16, first_block_norm="none").save_pretrained(tmp_path / "new")
    config = json.loads((tmp_path / "new" / "config.json").read_text())
    assert config["first_block_norm"] == "none"
    assert CycleGAN.from_pretrained(tmp_path / "new", strict=True).gen_a2b.first_block_norm == "none"
    old = export_from_before(tmp_path / "old", "first_block_norm")
    assert CycleGAN.from_pretrained(old, strict=True).gen_b2a.first_block_norm == "instance"
    with pytest.raises(ValueError, match="norm must be one of instance, none"):
        CycleGenerator(conv_dim=4, first_block_norm="batch")


@pytest.mark.parametrize("output_block, blocky", [("upsampled", True), ("full-resolution", False)])
def test_only_the_full_resolution_output_block_lets_neighbouring_pixels_differ_freely(output_block, blocky):
    """With "upsampled" every 2x2 block of the output comes from one feature vector through one 3x3
    convolution: set that convolution to average its neighbours and each 2x2 block stays nearly flat.
    The full-resolution block works on the upsampled features before the colours, so it need not."""
    torch.manual_seed(0)
    generator = CycleGenerator(conv_dim=4, n_res_blocks=1, output_block=output_block).eval()
    if output_block == "upsampled":
        torch.nn.init.constant_(generator.decoder[2].weight, 1 / (9 * 4))  # a box filter over the 4 channels
    with torch.no_grad():
        image = generator(torch.rand(1, 3, 16, 16) * 2 - 1)[0]  # (3, 16, 16)
    blocks = image.unfold(1, 2, 2).unfold(2, 2, 2)  # (3, 8, 8, 2, 2): the 2x2 blocks of the upsampling
    within = (blocks - blocks.mean(dim=(-1, -2), keepdim=True)).abs().mean()
    across = (image - image.mean(dim=(-1, -2), keepdim=True)).abs().mean()
    assert bool(within < 0.5 * across) is blocky, (within, across)


def test_exports_name_the_output_block_and_older_ones_load_upsampled(tmp_path):
    model = CycleGAN(conv_dim=4, n_res_blocks=1, image_size=16, skips="features+input", output_block="full-resolution")
    model.save_pretrained(tmp_path / "new")
    assert json.loads((tmp_path / "new" / "config.json").read_text())["output_block"] == "full-resolution"
    loaded = CycleGAN.from_pretrained(tmp_path / "new", strict=True)
    assert loaded.gen_a2b.output_block == "full-resolution"
    # The input joins the first convolution at the full resolution: (c, 2c + 3, 3, 3).
    assert loaded.gen_a2b.first_output_convolution().weight.shape == (4, 11, 3, 3)
    old = export_from_before(tmp_path / "old", "output_block")
    assert CycleGAN.from_pretrained(old, strict=True).gen_b2a.output_block == "upsampled"
    with pytest.raises(ValueError, match="output_block must be one of upsampled, full-resolution"):
        CycleGenerator(conv_dim=4, output_block="transposed")


def test_generator_refuses_sizes_not_divisible_by_4():
    with pytest.raises(ValueError, match="divisible by 4"):
        CycleGenerator(conv_dim=4)(torch.zeros(1, 3, 18, 16))


@pytest.mark.parametrize("kind, skips, option", [
    ("patch", "none", "instance"), ("dc", "none", "instance"), ("global+patch", "none", "instance"),
    ("patchgan", "none", "instance"), ("patch", "features", "instance"), ("patch", "features+input", "instance"),
    ("patch", "features", "none"), ("patch", "features", "full-resolution"),
    ("dc", "features+input", "full-resolution")])
def test_every_parameter_of_both_generators_and_discriminators_gets_a_gradient(kind, skips, option):
    torch.manual_seed(0)
    size = 32 if kind == "patchgan" else 16  # the PatchGAN's map needs 32 px to keep a score
    options = {"output_block": option} if option == "full-resolution" else {"first_block_norm": option}
    model = CycleGAN(image_size=size, conv_dim=4, n_res_blocks=1, skips=skips, **options)
    disc_a, disc_b = build_discriminator(kind, 4, size), build_discriminator(kind, 4, size)
    real_a, real_b = torch.rand(2, 3, size, size) * 2 - 1, torch.rand(2, 3, size, size) * 2 - 1
    out = model(real_a, real_b, with_identity=True)
    loss = (losses.lsgan_real(disc_b(out["fake_b"])) + losses.lsgan_real(disc_a(out["fake_a"]))
            + losses.cycle(real_a, out["rec_a"]) + losses.cycle(real_b, out["rec_b"])
            + losses.identity(real_a, out["same_a"]) + losses.identity(real_b, out["same_b"]))
    loss.backward()
    for network in (model.gen_a2b, model.gen_b2a, disc_a, disc_b):
        for name, parameter in network.named_parameters():
            assert parameter.grad is not None, name
            assert torch.isfinite(parameter.grad).all(), name
            # No bias sits before an InstanceNorm (it would be cancelled): every parameter must move.
            assert parameter.grad.abs().sum() > 1e-6, name


@pytest.mark.parametrize("kind, score_shapes", [
    ("patch", [(2, 1, 4, 4)]), ("dc", [(2,)]), ("global+patch", [(2,), (2, 1, 4, 4)]), ("patchgan", [(2, 1, 6, 6)])])
def test_discriminator_scores(kind, score_shapes):
    scores = build_discriminator(kind, 4, 64)(torch.zeros(2, 3, 64, 64))
    scores = scores if isinstance(scores, tuple) else (scores,)
    assert [tuple(score.shape) for score in scores] == score_shapes


def test_cycle_and_identity_losses_of_identity_generators_are_zero():
    model = tiny_model()
    model.gen_a2b = model.gen_b2a = torch.nn.Identity()
    real_a, real_b = torch.rand(3, 3, 16, 16), torch.rand(3, 3, 16, 16)
    out = model(real_a, real_b, with_identity=True)
    assert losses.cycle(real_a, out["rec_a"]) == 0 and losses.cycle(real_b, out["rec_b"]) == 0
    assert losses.identity(real_a, out["same_a"]) == 0 and losses.identity(real_b, out["same_b"]) == 0
    assert losses.cycle(real_a, real_a + 0.5) == pytest.approx(0.5)


# -- the image pool --------------------------------------------------------------------------


def labelled(first: int, count: int) -> torch.Tensor:
    """`count` constant 1x1 images whose value is their label: first, first + 1, ..."""
    return torch.arange(first, first + count, dtype=torch.float32).view(count, 1, 1, 1).expand(count, 3, 1, 1)


def labels(images: torch.Tensor) -> list[int]:
    return [int(image[0, 0, 0]) for image in images]


def test_pool_fills_up_first_then_returns_a_stored_image_half_of_the_time():
    pool, generator = ImagePool(size=10), torch.Generator().manual_seed(0)
    assert labels(pool.query(labelled(0, 6), generator)) == list(range(6))  # filling: new ones back
    assert labels(pool.query(labelled(6, 4), generator)) == list(range(6, 10))
    assert sorted(labels(pool.images)) == list(range(10))

    ever_stored, returned_stored, total = set(range(10)), 0, 0
    for first in range(100, 100 + 400 * 8, 8):
        before, new = labels(pool.images), labelled(first, 8)
        shown = labels(pool.query(new, generator))
        ever_stored |= set(labels(new))  # a fake stored earlier in the same batch may come back
        for label, new_label in zip(shown, labels(new), strict=True):
            if label != new_label:
                assert label in ever_stored  # a past fake, never an invented image
                returned_stored += 1
            total += 1
        after = labels(pool.images)
        assert len(after) == 10  # never more than its size
        # Nothing is lost or duplicated: what went in (pool + new) is what came out (pool + shown).
        assert sorted(before + labels(new)) == sorted(after + shown)
    # 3200 draws: the standard deviation of the fraction is 0.009, so 0.05 is over five of them.
    assert abs(returned_stored / total - 0.5) < 0.05


def test_pool_overflowing_batch_and_size_zero():
    pool = ImagePool(size=3)
    shown = pool.query(labelled(0, 5), torch.Generator().manual_seed(1))
    assert labels(shown)[:3] == [0, 1, 2] and len(pool.images) == 3
    off = ImagePool(size=0)
    images = labelled(0, 4).requires_grad_()
    assert torch.equal(off.query(images, torch.Generator()), images) and len(off.images) == 0
    assert not off.query(images, torch.Generator()).requires_grad  # D never backpropagates into G


def test_pool_is_reproducible_for_a_given_generator():
    results = []
    for _ in range(2):
        pool, generator = ImagePool(size=4), torch.Generator().manual_seed(7)
        results.append([labels(pool.query(labelled(first, 3), generator)) for first in range(0, 30, 3)])
    assert results[0] == results[1]


# -- translation -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_translate_at_model_size(mode):
    image = Image.new(mode, (40, 28), color=120 if mode == "L" else (200, 120, 40, 128)[:len(mode)])
    result = translate(tiny_model(), image, direction="a2b")
    for picture in (result.input, result.translation, result.reconstruction):
        assert picture.size == (16, 16) and picture.mode == "RGB"


@pytest.mark.parametrize("size, max_side, expected", [((50, 30), 512, (48, 28)), ((200, 96), 64, (64, 28)),
                                                      ((36, 80), 512, (36, 80))])
def test_translate_at_full_size_keeps_the_aspect_ratio(size, max_side, expected):
    image = Image.new("RGBA", size, (10, 200, 30, 255))
    result = translate(tiny_model(), image, direction="b2a", full_size=True, max_side=max_side)
    assert result.input.size == result.translation.size == result.reconstruction.size == expected


def test_translate_refuses_an_unknown_direction():
    with pytest.raises(ValueError, match="direction"):
        translate(tiny_model(), Image.new("RGB", (16, 16)), direction="sideways")


# -- the training command line -----------------------------------------------------------------


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> tuple[Path, Path]:
    """Two small domains of different sizes, counts and tints (unpaired, like the real data)."""
    root = tmp_path_factory.mktemp("domains")
    return (make_images(root / "apple", count=6, seed=1, tint=(55, 0, 0)),
            make_images(root / "orange", count=5, seed=2, size=(36, 52), tint=(55, 30, 0)))


def train(domains: tuple[Path, Path], out: Path, *flags: str, launcher: tuple[str, ...] = ()):
    """`python -m train.cyclegan` at the tiny sizes: in this process (a new interpreter would spend
    longer importing torch than the run takes), or under `launcher` in processes of its own."""
    data_a, data_b = domains
    arguments = ["--data-a", str(data_a), "--data-b", str(data_b), "--out", str(out), *TINY, *flags]
    if not launcher:
        return run_main(parse_and_train, *arguments)
    return run_cli(*launcher, "train.cyclegan", *arguments)


def train_together(*runs: tuple) -> list:
    """`train(*arguments)` for each tuple of arguments, one after the other (in this process)."""
    return [train(*arguments) for arguments in runs]


def assert_ok(result) -> None:
    assert result.returncode == 0, result.stderr[-3000:]


def read_losses(run: Path) -> list[list[str]]:
    with open(run / "losses.csv", newline="") as handle:
        return list(csv.reader(handle))


@pytest.fixture(scope="module")
def smoke_run(domains, tmp_path_factory) -> Path:
    """4 steps with every option on: patch D, deluxe + DiffAugment, pool, identity, lr decay, skips."""
    run = tmp_path_factory.mktemp("smoke") / "run"
    assert_ok(train(domains, run, "--iters", "4", "--sample-every", "2", "--checkpoint-every", "2",
                    "--aug", "deluxe", "--diffaug", "--pool-size", "3", "--lambda-identity", "0.5", "--lr-decay",
                    "--skips", "features+input"))
    return run


def test_smoke_run_writes_the_run_folder_contract(smoke_run):
    for name in ("config.json", "state.pt", "losses.csv", "progress.gif", "losses.png"):
        assert (smoke_run / name).is_file(), name
    for name in ("config.json", "model.safetensors", "README.md", "progress.gif", "losses.csv"):
        assert (smoke_run / "export" / name).is_file(), name
    assert not list(smoke_run.rglob("*.tmp")) and not list(smoke_run.rglob("*.bin"))

    samples = sorted(path.name for path in (smoke_run / "samples").iterdir())
    assert samples == ["step-000002.png", "step-000004.png"]
    with Image.open(smoke_run / "samples" / samples[-1]) as grid:
        # 4 rows of a | G(a) | F(G(a)) | b | F(b) | G(F(b)), 16 px tiles, 2 px padding
        assert grid.size == (6 * 18 + 2, 4 * 18 + 2)
    assert len(read_gif_frames(smoke_run / "progress.gif")) == len(samples)

    rows = read_losses(smoke_run)
    assert rows[0] == LOSS_HEADER
    assert [int(row[0]) for row in rows[1:]] == [1, 2, 3, 4]
    assert all(math.isfinite(float(value)) for row in rows[1:] for value in row)
    assert all(float(row[7]) > 0 for row in rows[1:])  # identity is on, so it is logged

    config = json.loads((smoke_run / "config.json").read_text())
    assert (config["disc"], config["name_a"], config["name_b"], config["pool_size"]) == ("patch", "apple", "orange", 3)
    card = (smoke_run / "export" / "README.md").read_text()
    assert "apple" in card and "orange" in card and "CycleGAN.from_pretrained" in card

    state = torch.load(smoke_run / "state.pt", weights_only=True)
    assert state["step"] == 4
    assert state["pool_a"].shape == (1, 3, 3, 16, 16)  # (processes, pool size, 3, S, S)
    assert state["fixed_a"].dtype == torch.uint8 and state["fixed_a"].shape == (4, 3, 16, 16)


def test_export_is_the_ema_of_both_generators(smoke_run):
    model = CycleGAN.from_pretrained(smoke_run / "export")
    assert (model.domain_a, model.domain_b, model.image_size) == ("apple", "orange", 16)
    assert model.gen_a2b.skips == model.gen_b2a.skips == "features+input"
    state = torch.load(smoke_run / "state.pt", weights_only=True)
    averaged, raw, reloaded = state["model_ema"], state["model"], model.state_dict()
    assert any(key.startswith("gen_a2b.") for key in averaged) and any(key.startswith("gen_b2a.") for key in averaged)
    assert averaged.keys() == reloaded.keys() == raw.keys()
    assert all(torch.equal(averaged[key], reloaded[key]) for key in averaged)
    assert any(not torch.equal(averaged[key], raw[key]) for key in raw)  # state.pt keeps the raw pair too
    result = translate(model, Image.new("RGB", (30, 20), (250, 10, 10)))
    assert result.translation.size == (16, 16)


@pytest.mark.parametrize("kind", ["dc", "global+patch"])  # patch: the smoke run above
def test_each_discriminator_kind_trains(domains, tmp_path, kind):
    assert_ok(train(domains, tmp_path / "run", "--disc", kind, "--iters", "2", "--pool-size", "2"))
    rows = read_losses(tmp_path / "run")
    assert len(rows) == 3 and all(math.isfinite(float(value)) for value in rows[-1])
    assert CycleGAN.from_pretrained(tmp_path / "run" / "export").image_size == 16


def test_resume_gives_the_weights_of_an_uninterrupted_run(domains, tmp_path):
    flags = ["--aug", "deluxe", "--diffaug", "--pool-size", "3", "--lambda-identity", "0.5", "--sample-every", "2"]
    for result in train_together((domains, tmp_path / "straight", *flags, "--iters", "4"),
                                 (domains, tmp_path / "split", *flags, "--iters", "2")):
        assert_ok(result)
    assert_ok(train(domains, tmp_path / "split", *flags, "--iters", "4", "--resume"))
    straight = load_file(tmp_path / "straight" / "export" / "model.safetensors")
    split = load_file(tmp_path / "split" / "export" / "model.safetensors")
    assert straight.keys() == split.keys()
    assert all(torch.equal(straight[key], split[key]) for key in straight)  # the exported EMA
    straight_state, split_state = (torch.load(tmp_path / run / "state.pt", weights_only=True)
                                   for run in ("straight", "split"))
    for network in ("model", "model_ema", "disc_a", "disc_b"):
        for key, value in straight_state[network].items():
            assert torch.equal(value, split_state[network][key]), f"{network}.{key}"
    assert read_losses(tmp_path / "straight") == read_losses(tmp_path / "split")


@pytest.mark.parametrize("held, free", [("a2b", "gen_b2a"), ("b2a", "gen_a2b")])
def test_the_identity_loss_moves_only_the_generators_it_holds(domains, tmp_path, held, free):
    """One step with the identity loss on one generator: the other one's raw weights are those of a run
    without the identity loss, the held one's are not; both terms are logged."""
    runs = {"without": ["--lambda-identity", "0"], "held": ["--lambda-identity", "5", "--identity-generators", held]}
    for name, flags in runs.items():
        assert_ok(train(domains, tmp_path / name, "--iters", "1", *flags))
    without, held_run = (torch.load(tmp_path / name / "state.pt", weights_only=True)["model"] for name in runs)
    moved = {network: any(not torch.equal(value, held_run[key]) for key, value in without.items()
                          if key.startswith(network + "."))
             for network in ("gen_a2b", "gen_b2a")}
    assert moved == {"gen_a2b": free != "gen_a2b", "gen_b2a": free != "gen_b2a"}
    assert all(float(value) > 0 for value in read_losses(tmp_path / "held")[1][7:])


def test_a_run_saved_without_an_ema_resumes_from_its_raw_generators(domains, tmp_path):
    run = tmp_path / "run"
    assert_ok(train(domains, run, "--iters", "2"))
    state = torch.load(run / "state.pt", weights_only=True)
    del state["model_ema"]  # as state.pt was before the CycleGAN trainer kept an EMA
    torch.save(state, run / "state.pt")
    result = train(domains, run, "--iters", "3", "--resume")
    assert_ok(result)
    assert "no EMA of the generators" in result.stderr + result.stdout
    assert CycleGAN.from_pretrained(run / "export").image_size == 16


def test_two_processes_under_accelerate_launch(domains, tmp_path):
    # `--multi_gpu` is Accelerate's torchrun launcher; without a GPU the processes form a gloo group
    # on the CPU. (`--cpu --num_processes 2` would start a single process unless MPI is set up.)
    port = str(30500 + os.getpid() % 1000)  # not the DCGAN test's port: the two may run at once
    launcher = ("accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", port, "-m")
    assert_ok(train(domains, tmp_path / "ddp", "--iters", "2", "--pool-size", "3", launcher=launcher))
    model = CycleGAN.from_pretrained(tmp_path / "ddp" / "export")
    assert model.gen_a2b(torch.zeros(1, 3, 16, 32)).shape == (1, 3, 16, 32)
    state = torch.load(tmp_path / "ddp" / "state.pt", weights_only=True)
    assert state["pool_a"].shape[0] == 2  # both processes' pools are kept
    assert len(read_losses(tmp_path / "ddp")) == 3


BAD_INPUTS = ["missing folder", "empty folder", "image size", "non-empty out"]


@pytest.fixture(scope="module")
def bad_input_results(domains, tmp_path_factory) -> dict:
    """{case: (completed process, what the error line must name)}, the runs started together."""
    root = tmp_path_factory.mktemp("bad")
    data_a, data_b = domains
    (root / "empty").mkdir()
    (root / "full").mkdir()
    (root / "full" / "notes.txt").write_text("mine")
    cases = {
        "missing folder": ((data_a, root / "nowhere"), root / "run1", [], f"--data-b {root / 'nowhere'}"),
        "empty folder": ((root / "empty", data_b), root / "run2", [], f"--data-a {root / 'empty'}"),
        "image size": (domains, root / "run3", ["--image-size", "30"], "divisible by 4"),
        "non-empty out": (domains, root / "full", [], "--resume"),
    }
    # In this process: a refusal prints the same line there, without a new interpreter's start-up.
    results = [run_main(parse_and_train, "--data-a", str(data_a), "--data-b", str(data_b), "--out", str(out), *TINY,
                        "--iters", "1", *flags) for (data_a, data_b), out, flags, _ in cases.values()]
    return {case: (result, cases[case][3]) for case, result in zip(cases, results, strict=True)}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_and_exit_code_2(bad_input_results, case):
    result, expected = bad_input_results[case]
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines


@pytest.mark.parametrize("flags, message", [
    (["--image-size", "48", "--disc", "dc"], "power of two"),
    (["--image-size", "48", "--disc", "global+patch"], "power of two"),
    (["--image-size", "8"], "at least 16"),
    (["--pool-size", "-1"], "--pool-size"),
    (["--lambda-cycle", "-1"], "--lambda-cycle"),
    (["--data-b", "elsewhere/apple"], "--name-a"),
])
def test_bad_flags_are_refused_before_anything_runs(flags, message):
    with pytest.raises(UserError, match=message):
        parse_args(["--data-a", "here/apple", "--data-b", "there/orange", "--out", "run", *flags])


def test_image_size_48_is_fine_for_the_patch_discriminator():
    args = parse_args(["--data-a", "a/apple", "--data-b", "b/orange", "--out", "run", "--image-size", "48"])
    assert (args.disc, args.image_size, args.name_a, args.name_b) == ("patch", 48, "apple", "orange")
