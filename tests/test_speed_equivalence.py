"""The optimised training loop against the plain reference loop of benchmarks/plain_loops.py: for the
same starting weights, seed and batch they compute the same losses and the same updated weights (to
float rounding: fused Adam and channels_last convolutions round differently); bf16 autocast still
trains; both benchmarks run end to end in their quick mode, so they cannot rot; and the app's
output images survive concurrent identical requests (what the load benchmark found). Plus the
thread setting of gan_demo.runtime."""

import json
import math
from pathlib import Path

import pytest
import torch
from gradio import processing_utils
from PIL import Image

from benchmarks.plain_loops import PlainCycleGAN, PlainDCGAN
from gan_demo import runtime
from tests.conftest import make_images, run_cli
from train import cyclegan, dcgan
from train.data import step_generator
from ui import gradio_fixes

TINY = ["--image-size", "32", "--conv-dim", "8", "--batch-size", "4", "--iters", "10"]
STEPS = 3


def copy_of(generator: torch.Generator) -> torch.Generator:
    return torch.Generator().set_state(generator.get_state())


def assert_close(project: list[float], plain: list[float]) -> None:
    assert project == pytest.approx(plain, rel=1e-4, abs=1e-6)


def assert_same_function(project: torch.nn.Module, plain: torch.nn.Module, inputs: torch.Tensor) -> None:
    """The updated networks compute the same outputs. (Weights are not compared one by one: a conv
    bias right before an instance norm has a gradient of 0 up to rounding noise, which Adam scales
    up to full steps in arbitrary directions; the norm removes the bias again, so outputs agree.)"""
    with torch.no_grad():
        torch.testing.assert_close(project(inputs), plain(inputs), rtol=1e-3, atol=1e-4)


def count_calls(*modules: torch.nn.Module) -> list[int]:
    """A one-item list counting forward calls of `modules` from now on."""
    calls = [0]
    for module in modules:
        module.register_forward_hook(lambda *arguments: calls.__setitem__(0, calls[0] + 1))
    return calls


def dcgan_trainer(data, out, *extra: str) -> dcgan.DCGANTrainer:
    return dcgan.DCGANTrainer(dcgan.parse_args(["--data", str(data), "--out", str(out), "--latent-dim", "16",
                                                *TINY, *extra]))


def test_dcgan_step_matches_the_plain_loop(image_folder, tmp_path):
    trainer = dcgan_trainer(image_folder, tmp_path / "run")
    plain = PlainDCGAN(image_folder, batch_size=4, image_size=32, conv_dim=8, latent_dim=16)
    plain.gen.load_state_dict(trainer.gen.state_dict())
    plain.disc.load_state_dict(trainer.disc.state_dict())
    generator_calls = count_calls(plain.gen)
    for step in range(1, STEPS + 1):
        real, z, rng = trainer.draw_batch(step)
        assert_close(trainer.update(real, z, rng), plain.update(real.clone(), z.clone()))
    assert generator_calls == [STEPS]  # pytorch/examples style: G runs once per step, the G step reuses its fake
    assert_same_function(trainer.gen, plain.gen, torch.randn(4, 16))
    assert_same_function(trainer.disc, plain.disc, real)


def test_cyclegan_step_matches_the_plain_loop(tmp_path):
    data_a = make_images(tmp_path / "a", count=8, seed=1)
    data_b = make_images(tmp_path / "b", count=8, seed=2, tint=(50, 0, 0))
    trainer = cyclegan.CycleGANTrainer(cyclegan.parse_args(
        ["--data-a", str(data_a), "--data-b", str(data_b), "--out", str(tmp_path / "run"), "--n-res-blocks", "1",
         "--pool-size", "6", *TINY]))
    plain = PlainCycleGAN(data_a, data_b, batch_size=4, image_size=32, conv_dim=8, n_res_blocks=1, pool_size=6)
    plain.model.load_state_dict(trainer.model.state_dict())
    plain.disc_a.load_state_dict(trainer.disc_a.state_dict())
    plain.disc_b.load_state_dict(trainer.disc_b.state_dict())
    generator_calls = count_calls(plain.gen_a2b, plain.gen_b2a)
    for step in range(1, STEPS + 1):  # the pool fills in step 1 and 2 and swaps in step 3
        rng = step_generator(0, step)
        real_a = trainer.real_batch(trainer.data_a, trainer.seed_a, step, rng)
        real_b = trainer.real_batch(trainer.data_b, trainer.seed_b, step, rng)
        plain_losses = plain.update(real_a.clone(), real_b.clone(), copy_of(rng))
        assert_close(trainer.update(real_a, real_b, rng, identity_weight=0.0)[:len(plain_losses)], plain_losses)
    assert generator_calls == [4 * STEPS]  # G(a), F(b) and the two cycles back, once per step
    assert_same_function(trainer.model.gen_a2b, plain.gen_a2b, real_a)
    assert_same_function(trainer.disc_b, plain.disc_b, real_b)


def test_bf16_trains_losses_finite_and_samples_change(image_folder, tmp_path):
    fp32 = dcgan_trainer(image_folder, tmp_path / "fp32")  # an fp32 trainer in the same process must stay fp32
    trainer = dcgan_trainer(image_folder, tmp_path / "bf16", "--precision", "bf16", "--diffaug")
    before = trainer.sample_grid()
    for step in range(1, STEPS + 1):
        losses = trainer.train_step(step)
        assert all(math.isfinite(value) for value in losses)
    assert before.tobytes() != trainer.sample_grid().tobytes()
    assert all(parameter.dtype == torch.float32 for parameter in trainer.gen.parameters())
    with fp32.autocast():
        assert fp32.gen(torch.randn(2, 16)).dtype == torch.float32
    with trainer.autocast():
        assert trainer.gen(torch.randn(2, 16)).dtype == torch.bfloat16


def test_cyclegan_bf16_step_is_finite(tmp_path):
    data_a = make_images(tmp_path / "a", count=4, seed=1)
    data_b = make_images(tmp_path / "b", count=4, seed=2)
    trainer = cyclegan.CycleGANTrainer(cyclegan.parse_args(
        ["--data-a", str(data_a), "--data-b", str(data_b), "--out", str(tmp_path / "run"), "--n-res-blocks", "1",
         "--precision", "bf16", "--lambda-identity", "1", *TINY]))
    assert all(math.isfinite(value) for value in trainer.train_step(1))


def test_train_speed_quick_runs_end_to_end(tmp_path):
    result = run_cli("benchmarks.train_speed", "--quick", "--json", str(tmp_path / "train.json"), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "train.json").read_text())
    assert report["quick"] is True and report["conditions_at_start"]["cpu"]
    assert set(report["matmul_peak_gflop_per_second"]) == {"fp32", "bf16"}
    assert all(peak > 0 for peak in report["matmul_peak_gflop_per_second"].values())
    for model in ("dcgan", "cyclegan"):
        loops = report["models"][model]["loops"]
        names = ["plain loop (reference)", "project loop, fp32", "project loop, bf16"]
        assert [loop["loop"] for loop in loops] == names
        assert all(loop["images_per_second"] > 0 and loop["ratio_to_plain"] > 0 for loop in loops)
        assert all(0 < loop["share_of_matmul_peak"] < 1 for loop in loops)
        plain, fp32, bf16 = (loop["gflop_per_step"] for loop in loops)
        # The same networks and batch: the same work, less the D weight gradients the project's frozen D skips.
        assert 0.8 * plain < fp32 < plain and bf16 == fp32
    assert "| dcgan | project loop, fp32 |" in result.stdout and "GFLOP/s" in result.stdout


def test_serve_speed_quick_runs_end_to_end(tmp_path):
    result = run_cli("benchmarks.serve_speed", "--quick", "--json", str(tmp_path / "serve.json"), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "serve.json").read_text())
    assert set(report["inference_ms"]) == {"sample 1 cat", "sample 16 cats", "translate 64 px",
                                           "translate 256 px (full image)"}
    assert all(entry["p90"] >= entry["median"] for entry in report["inference_ms"].values())
    assert set(report["round_trip_ms"]) == {"app /sample", "app /translate", "floor /sample", "floor /translate"}
    assert set(report["cold_start_s"]) >= {"app", "floor"}
    load = report["load"]
    calls_per_user = report["plan"]["samples_per_user"] + report["plan"]["translations_per_user"]
    assert load["errors"] == 0 and load["calls"] == report["plan"]["users"] * calls_per_user
    assert load["latency_ms"]["p99"] >= load["latency_ms"]["median"]
    assert load["server_memory_mb"]["peak"] >= load["server_memory_mb"]["idle"]


def test_app_replaces_gradios_image_cache_writer_at_launch_on_affected_versions_only(monkeypatch):
    def original(*arguments):
        raise AssertionError("stands for gradio's own writer")

    monkeypatch.setattr(processing_utils, "save_pil_to_cache", original)  # put back after the test
    monkeypatch.setattr(gradio_fixes.gr, "__version__", "7.0.0")
    assert not gradio_fixes.write_output_images_atomically() and processing_utils.save_pil_to_cache is original
    monkeypatch.setattr(gradio_fixes.gr, "__version__", "6.31.0")
    assert gradio_fixes.write_output_images_atomically()
    assert processing_utils.save_pil_to_cache is gradio_fixes.save_pil_to_cache_atomically


def test_app_writes_an_output_image_once_and_never_in_place(tmp_path):
    image = Image.new("RGB", (8, 8), "red")
    first = Path(gradio_fixes.save_pil_to_cache_atomically(image, str(tmp_path), format="png"))
    inode = first.stat().st_ino
    again = Path(gradio_fixes.save_pil_to_cache_atomically(image, str(tmp_path), format="png"))
    assert again == first and first.stat().st_ino == inode  # not rewritten: a download in flight stays whole
    assert Image.open(first).getpixel((0, 0)) == (255, 0, 0)
    assert [path.name for path in first.parent.iterdir()] == [first.name]  # no staging file left behind


def test_threads_are_pytorchs_unless_asked_for():
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        runtime.configure()
        assert torch.get_num_threads() == 3  # no count asked for: PyTorch's (OMP_NUM_THREADS or the cores) stays
        runtime.configure(threads=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
