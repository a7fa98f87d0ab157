"""The app end to end over real HTTP: `python app.py` in a subprocess on 127.0.0.1, offline, serving
tiny bundled models (one left out, as a missing download would), driven with gradio_client. Only
the four public endpoints exist; each returns a valid image or GIF of the right size; every kind of
bad upload gets a clear message or a valid result, and the server keeps answering."""

import json
import os
import sys
import types
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from gan_demo.catalog import build_registry
from tests.app_server import TINY_IMAGE_SIZE, make_tiny_checkpoints, serve_app
from ui.demo import build_demo
from ui.sample_tab import DIRECTION_SLIDERS, SampleHandlers
from ui.state import AppState
from ui.translate_tab import TranslateHandlers

# 2 x 2 samples with 2 px padding, each with its seed written in a 9 px strip under it
GRID_4 = (2 * (TINY_IMAGE_SIZE + 2) + 2, 2 * (TINY_IMAGE_SIZE + 9 + 2) + 2)


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Client:
    checkpoints = make_tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"), leave_out=("cyclegan-cats-nocycle",))
    with serve_app(checkpoints) as url:
        yield Client(url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def sample(client: Client, seed: int = 3, count: int = 4, weights=(0,) * 6) -> tuple[str, str]:
    return client.predict("dcgan-grumpy-basic", seed, 1.0, count, *weights, api_name="/sample")


def test_only_the_public_endpoints(client):
    api = client.view_api(return_format="dict", print_info=False)
    assert sorted(api["named_endpoints"]) == ["/add_model", "/interpolate", "/progress", "/project", "/sample",
                                              "/translate"]
    assert api["unnamed_endpoints"] == {}


def test_sample_returns_a_grid_and_its_source(client):
    path, note = sample(client)
    with Image.open(path) as grid:
        assert grid.format == "PNG" and grid.size == GRID_4
    assert "Seeds 3 to 6, each under its cat" in note and "dcgan-grumpy-basic" in note and "bundled" in note
    again, _ = sample(client)
    moved, _ = sample(client, weights=(0, 2.5, 0, 0, 0, 0))
    assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(again)))
    assert not np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(moved)))


def test_interpolate_returns_a_gif_with_the_asked_frames(client):
    path = client.predict("dcgan-grumpy-diffaug", 1, 2, 6, 0.9, api_name="/interpolate")
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 6 and gif.size == (TINY_IMAGE_SIZE, TINY_IMAGE_SIZE)


def test_translate_model_size_and_full_image(client, tmp_path):
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (300, 200), (120, 90, 60)).save(photo)
    seen, translated, cycled, note = client.predict(handle_file(photo), "Russian Blue -> Grumpy", "model size",
                                                    api_name="/translate")
    assert [Image.open(path).size for path in (seen, translated, cycled)] == [(TINY_IMAGE_SIZE,) * 2] * 3
    assert "cyclegan-cats" in note
    seen, translated, cycled, _ = client.predict(handle_file(photo), "orange -> apple", "full image",
                                                 api_name="/translate")
    assert [Image.open(path).size for path in (seen, translated, cycled)] == [(300, 200)] * 3


def test_progress_returns_gif_frame_losses_settings_and_variants(client):
    gif, frame, losses, settings, variants = client.predict("dcgan-grumpy-deluxe", 200, api_name="/progress")
    with Image.open(gif) as animation:
        assert animation.format == "GIF" and animation.n_frames == 3
        size = animation.size
    assert Image.open(frame).size == size
    assert set(losses["columns"]) >= {"iteration", "loss", "term"} and losses["data"]
    assert settings["sample_every"] == 100
    assert len(variants) == 4 and all("iteration 200" in item["caption"] for item in variants)


def test_unavailable_model_is_refused_with_its_reason(client, tmp_path):
    Image.new("RGB", (40, 40), "grey").save(tmp_path / "cat.png")
    with pytest.raises(AppError, match="cyclegan-cats-nocycle is not available: .* not an exported model"):
        client.predict(handle_file(tmp_path / "cat.png"), "Russian Blue -> Grumpy (no cycle loss)", "model size",
                       api_name="/translate")


def write_uploads(folder: Path) -> dict[str, Path]:
    """Every awkward upload the issue lists, keyed by what it is."""
    paths = {name: folder / name for name in ("corrupt.png", "notes.txt", "one-pixel.png", "sixteen-bit.png",
                                              "transparent.png", "animated.gif", "huge.png")}
    Image.new("RGB", (64, 64), "red").save(folder / "whole.png")
    data = (folder / "whole.png").read_bytes()
    paths["corrupt.png"].write_bytes(data[: len(data) // 2])
    paths["notes.txt"].write_text("a text file, not an image")
    Image.new("RGB", (1, 1), "blue").save(paths["one-pixel.png"])
    Image.fromarray((np.arange(48 * 40).reshape(40, 48) * 30).astype(np.uint16)).save(paths["sixteen-bit.png"])
    Image.new("RGBA", (48, 40), (255, 0, 0, 90)).save(paths["transparent.png"])
    frames = [Image.new("RGB", (40, 40), colour) for colour in ("red", "green", "blue")]
    frames[0].save(paths["animated.gif"], save_all=True, append_images=frames[1:], duration=100, loop=0)
    Image.new("L", (5001, 5001)).save(paths["huge.png"])  # 25.01 megapixels, a few kB of PNG
    return paths


@pytest.mark.parametrize("resolution", ["model size", "full image"])
def test_awkward_uploads_get_a_message_or_a_result_and_the_server_keeps_serving(client, tmp_path, resolution):
    paths = write_uploads(tmp_path)
    expected_errors = {"corrupt.png": "corrupt or unreadable", "notes.txt": "not a readable image",
                       "huge.png": "more than 25 megapixels"}
    for name, path in paths.items():
        if name in expected_errors:
            with pytest.raises(AppError, match=expected_errors[name]) as error:
                client.predict(handle_file(path), "Grumpy -> Russian Blue", resolution, api_name="/translate")
            assert name in str(error.value)  # names the file as the person knows it
            continue
        seen, translated, cycled, _ = client.predict(handle_file(path), "Grumpy -> Russian Blue", resolution,
                                                     api_name="/translate")
        for output in (seen, translated, cycled):
            with Image.open(output) as image:
                assert image.mode == "RGB" and min(image.size) >= TINY_IMAGE_SIZE // 2, name
    assert Image.open(sample(client)[0]).size == GRID_4


def test_files_over_20_mb_are_refused(client, tmp_path):
    big = tmp_path / "big.png"
    Image.new("RGB", (8, 8)).save(big)
    with open(big, "ab") as handle:
        handle.write(os.urandom(21 * 2**20))
    # The server announces its limit (launch's max_file_size), so the client refuses before uploading; the
    # server's own check of a file that gets through is test_inference's open_upload test.
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {20 * 2**20} bytes"):
        client.predict(handle_file(big), "Grumpy -> Russian Blue", "model size", api_name="/translate")
    assert Image.open(sample(client)[0]).size == GRID_4


def test_empty_translate_says_what_to_do(client):
    *images, note = client.predict(None, "Grumpy -> Russian Blue", "model size", api_name="/translate")
    assert images == [None, None, None] and "Upload" in note


def test_page_config_lists_the_models_and_their_sources(client):
    config = json.dumps(client.config)
    assert "dcgan-grumpy-basic" in config and "unavailable" in config and "cyclegan-cats-nocycle" in config


def test_app_builds_with_no_model_at_all(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DEMO_CHECKPOINTS", str(tmp_path))
    state = AppState.build()
    demo = build_demo(state=state)
    assert isinstance(demo, gr.Blocks)
    assert state.registry.names() == [] and len(state.registry.names(available=False)) == 7
    with pytest.raises(gr.Error, match="not available"):
        SampleHandlers(state).sample("dcgan-grumpy-basic", 0, 1.0, 4, *[0.0] * DIRECTION_SLIDERS, "")


def test_on_zero_gpu_the_drawing_handlers_hold_a_lent_gpu(tmp_path, monkeypatch):
    """With ZeroGPU's flag and a stand-in `spaces` module, every drawing handler runs under spaces.GPU."""
    calls = []

    def GPU(duration):  # noqa: N802 (spaces.GPU's name)
        def decorate(function):
            def lent(*arguments, **options):
                calls.append(function.__name__)
                return function(*arguments, **options)
            return lent
        return decorate

    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=GPU))
    state = AppState(build_registry(make_tiny_checkpoints(tmp_path)))  # no GPU here: the models stay put
    SampleHandlers(state).sample("dcgan-grumpy-basic", 0, 1.0, 4, *[0.0] * DIRECTION_SLIDERS, "")
    SampleHandlers(state).interpolate("dcgan-grumpy-basic", 0, 1, 4, 1.0, "")
    photo = Image.new("RGB", (TINY_IMAGE_SIZE, TINY_IMAGE_SIZE), "orange")
    TranslateHandlers(state).translate(photo, state.registry.translation_choices()[0].label, "model size")
    assert calls == ["sample", "interpolate", "translate"]
