"""ONNX export (train/export_onnx.py): onnxruntime gives what PyTorch gives, within 1e-4, for a tiny
CycleGAN trained by the project's command at odd sizes (multiples of 4, not square, not the training
size), for the bundled models (one of each architecture by default, all seven under -m slow: the
DCGANs share one architecture, the CycleGANs another), and for every option value the exporter
claims (those the other tests do not export, by default); any other option is refused in one line
and writes nothing. `--push-to-hub` lands the model and its ONNX files in one commit of the stand-in
Hub, and the card's five lines run against it."""

import json
import shutil
import subprocess
import sys

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image

from gan_demo.catalog import DEFAULT_CHECKPOINTS, ENTRIES
from gan_demo.inference import load_folder
from gan_demo.models import CycleGAN, DCGenerator
from tests.conftest import make_images, run_cli
from tests.hub_server import INITIAL_FILES, StandInHub
from tests.test_hub import NAMESPACE, TOKEN, client_env, commit_id_printed
from train.errors import UserError
from train.export_onnx import CONVENTIONS_FILE, EXPORTABLE_OPTIONS, OPSET, TOLERANCE, export_onnx

ODD_SHAPES = ((1, 12, 20), (2, 44, 28), (1, 8, 12), (3, 100, 36))  # (batch, height, width)
FAST_BUNDLED = ("dcgan-grumpy-deluxe-diffaug", "cyclegan-cats")
TINY_CYCLEGAN = ["--iters", "4", "--sample-every", "2", "--checkpoint-every", "4", "--image-size", "32",
                 "--conv-dim", "8", "--n-res-blocks", "1", "--batch-size", "2", "--pool-size", "0",
                 "--skips", "features"]


def largest_difference(session: onnxruntime.InferenceSession, module: torch.nn.Module,
                       inputs: list[torch.Tensor]) -> float:
    """Largest |onnxruntime - PyTorch| over `inputs`; each output must have PyTorch's shape."""
    largest = 0.0
    (input_name,) = [entry.name for entry in session.get_inputs()]
    for batch in inputs:
        with torch.no_grad():
            expected = module(batch).numpy()
        (produced,) = session.run(None, {input_name: batch.numpy()})
        assert produced.shape == expected.shape
        largest = max(largest, float(np.abs(produced - expected).max()))
    return largest


def images_of(shapes, seed: int = 1) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(batch, 3, height, width, generator=generator) * 2 - 1 for batch, height, width in shapes]


def check_folder(model: torch.nn.Module, onnx_folder, shapes=ODD_SHAPES) -> dict[str, float]:
    """Run every ONNX file of `onnx_folder` against `model`'s own networks on fresh inputs."""
    conventions = json.loads((onnx_folder / CONVENTIONS_FILE).read_text())
    assert conventions["opset"] == OPSET and conventions["layout"] == "NCHW" and conventions["pixel_range"] == [-1, 1]
    differences = {}
    if isinstance(model, DCGenerator):
        assert conventions["latent_dim"] == model.latent_dim
        session = onnxruntime.InferenceSession(str(onnx_folder / "generator.onnx"))
        latents = [torch.randn(batch, model.latent_dim, generator=torch.Generator().manual_seed(batch))
                   for batch in (1, 7)]
        differences["generator.onnx"] = largest_difference(session, model, latents)
    else:
        for name in ("gen_a2b", "gen_b2a"):
            session = onnxruntime.InferenceSession(str(onnx_folder / f"{name}.onnx"))
            differences[f"{name}.onnx"] = largest_difference(session, getattr(model, name), images_of(shapes))
    assert set(differences) == set(conventions["networks"])
    assert all(0 <= value <= TOLERANCE for value in conventions["check"]["max_abs_difference"].values())
    return differences


@pytest.fixture(scope="module")
def tiny_trained_cyclegan(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx-cyclegan")
    data_a = make_images(root / "a", count=4, seed=1, tint=(60, 0, 0))
    data_b = make_images(root / "b", count=4, seed=2, tint=(0, 0, 60))
    result = run_cli("train.cyclegan", "--data-a", str(data_a), "--data-b", str(data_b), "--out", str(root / "run"),
                     *TINY_CYCLEGAN)
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "run"


def test_a_tiny_trained_cyclegan_matches_pytorch_at_odd_sizes(tiny_trained_cyclegan, tmp_path):
    export_onnx(tiny_trained_cyclegan, tmp_path / "onnx")  # a run folder: its export/ is exported
    model = load_folder(CycleGAN, str(tiny_trained_cyclegan / "export"))
    differences = check_folder(model, tmp_path / "onnx")
    assert max(differences.values()) <= TOLERANCE, differences
    # Trained weights, not the initialisation: the two directions are different networks.
    photo = images_of([(1, 12, 20)])[0].numpy()
    a2b, b2a = (onnxruntime.InferenceSession(str(tmp_path / "onnx" / f"{name}.onnx")).run(None, {"images": photo})[0]
                for name in ("gen_a2b", "gen_b2a"))
    assert np.abs(a2b - b2a).max() > 1e-3


@pytest.mark.parametrize("name", [pytest.param(entry.name, marks=[] if entry.name in FAST_BUNDLED else
                                               [pytest.mark.slow]) for entry in ENTRIES])
def test_every_bundled_model_matches_pytorch(name, tmp_path):
    entry = next(entry for entry in ENTRIES if entry.name == name)
    conventions = export_onnx(DEFAULT_CHECKPOINTS / name, tmp_path)
    model = load_folder(entry.model_class, str(DEFAULT_CHECKPOINTS / name))
    differences = check_folder(model, tmp_path, shapes=((1, 64, 64), (2, 28, 60)))
    assert max(differences.values()) <= TOLERANCE, differences
    assert conventions["kind"] == entry.kind


def tiny_export(folder, **options):
    torch.manual_seed(0)
    if "norm" in options:
        model = DCGenerator(latent_dim=8, conv_dim=4, image_size=16, **options)
    else:
        model = CycleGAN(image_size=16, conv_dim=4, n_res_blocks=1, **options)
    model.save_pretrained(folder)
    return model


# Structures exported by the other tests: pixel norm (the bundled DCGANs), skips "features" (the tiny
# trained CycleGAN), "features+input" (the bundled CycleGANs, whose config says true). The rest runs here;
# all of them under -m slow.
COVERED_ELSEWHERE = {("norm", "pixel"), ("skips", "features"), ("skips", "features+input"), ("skips", True),
                     ("skips", False)}


@pytest.mark.parametrize("key, value", [
    pytest.param(key, value, marks=[pytest.mark.slow] if (key, value) in COVERED_ELSEWHERE else [])
    for key, values in EXPORTABLE_OPTIONS.items() for value in values])
def test_every_option_value_the_exporter_claims_exports_exactly(key, value, tmp_path):
    model = tiny_export(tmp_path / "export", **{key: value})
    export_onnx(tmp_path / "export", tmp_path / "onnx")
    differences = check_folder(model.eval(), tmp_path / "onnx", shapes=((2, 16, 16), (1, 8, 20)))
    assert max(differences.values()) <= TOLERANCE, differences


@pytest.mark.parametrize("change, named", [
    ({"norm": "batch"}, 'norm="batch"'),
    ({"skips": "everything"}, 'skips="everything"'),
    ({"skips": 1}, "skips=1"),  # not the boolean true: a value nobody checked
    ({"upsample": "bilinear"}, 'option upsample="bilinear"'),
])
def test_an_option_the_exporter_was_not_checked_on_is_refused_in_one_line(change, named, tmp_path):
    tiny_export(tmp_path / "export", **({"norm": "pixel"} if "norm" in change else {}))
    config_path = tmp_path / "export" / "config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), **change}))
    with pytest.raises(UserError) as refused:
        export_onnx(tmp_path / "export", tmp_path / "onnx")
    message = str(refused.value)
    assert named in message and "ONNX" in message and "nothing was written" in message and "\n" not in message
    assert not (tmp_path / "onnx").exists()


def test_the_command_refuses_with_one_error_line_and_exit_code_2(tmp_path):
    tiny_export(tmp_path / "export")
    config_path = tmp_path / "export" / "config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "skips": "everything"}))
    result = run_cli("train.export_onnx", str(tmp_path / "export"), "--out", str(tmp_path / "onnx"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: ") and 'skips="everything"' in result.stderr
    assert not (tmp_path / "onnx").exists()


def test_push_to_hub_publishes_the_model_and_its_onnx_files_in_one_commit_and_the_card_runs(tmp_path):
    source = tmp_path / "export"
    shutil.copytree(DEFAULT_CHECKPOINTS / "dcgan-grumpy-basic", source)
    repo_id = f"{NAMESPACE}/onnx-cats"
    with StandInHub() as hub:
        env = client_env(hub.url, tmp_path / "hf-home")
        result = run_cli("train.export_onnx", str(source), "--out", str(tmp_path / "onnx"), "--push-to-hub", repo_id,
                         env=env)
        initial, commit = hub.history(repo_id)
        assert commit_id_printed(result) == commit.oid
        onnx_files = {"onnx/generator.onnx", "onnx/onnx.json"}
        assert onnx_files <= commit.changed and "model.safetensors" in commit.changed
        assert commit.files["onnx/generator.onnx"] == (tmp_path / "onnx" / "generator.onnx").read_bytes()
        assert set(commit.files) - set(INITIAL_FILES) - onnx_files == {
            path.name for path in source.iterdir()}
        card = commit.files["README.md"].decode()
        assert f'DCGenerator.from_pretrained("{repo_id}")' in card and "## ONNX" in card
        snippet = card.split("## ONNX", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
        assert len(snippet.strip().splitlines()) == 5
        # The five lines, as a reader pastes them, against the stand-in Hub: no torch, no gan-demo.
        ran = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=120)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert Image.open(tmp_path / "cat.png").size == (64, 64)
    assert TOKEN not in result.stdout + result.stderr + ran.stdout + ran.stderr


@pytest.mark.slow  # three exports in a fresh process: a minute on two busy cores
def test_the_onnx_speed_benchmark_quick_runs_end_to_end(tmp_path):
    result = run_cli("benchmarks.onnx_speed", "--quick", "--threads", "1", "--json", str(tmp_path / "onnx.json"),
                     timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads((tmp_path / "onnx.json").read_text())
    assert set(measured["latency_ms"]["1"]) == {"16-cat grid, PyTorch", "16-cat grid, onnxruntime",
                                                "256 px translation, PyTorch", "256 px translation, onnxruntime"}
    assert all(0 < value <= TOLERANCE for files in measured["max_abs_difference"].values() for value in files.values())
