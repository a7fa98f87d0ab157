"""The inference helpers the app calls, on tiny seeded models: samples are a pure function of their
arguments, sizes are what the UI expects, every latent-direction slider visibly moves the output,
interpolations have the asked number of frames and end on the two seeds, uploads and data: URLs are
checked (size from the header, regular files only), NaN and infinite numbers are refused."""

import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_demo import inference, latents, runtime
from gan_demo.imaging import ImageError, open_rgb
from gan_demo.models import CycleGAN, DCGenerator
from gan_demo.render import read_gif_frames


@pytest.fixture(scope="module")
def generator() -> DCGenerator:
    torch.manual_seed(0)  # initialises the tiny weights only
    return DCGenerator(latent_dim=16, conv_dim=4, image_size=32).eval()


def pixels(images: list[Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(image, dtype=np.float32) for image in images])


def test_sample_is_deterministic_for_a_seed(generator):
    first = pixels(inference.sample(generator, [3, 4], truncation=0.8, direction_weights=[1.0, -2.0]))
    again = pixels(inference.sample(generator, [3, 4], truncation=0.8, direction_weights=[1.0, -2.0]))
    other = pixels(inference.sample(generator, [5, 6], truncation=0.8, direction_weights=[1.0, -2.0]))
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).mean() > 1.0


def test_sample_sizes(generator):
    images = inference.sample(generator, [0, 1, 2])
    assert [image.size for image in images] == [(32, 32)] * 3 and all(image.mode == "RGB" for image in images)
    grid = inference.sample_grid(generator, range(5))  # 3 columns x 2 rows, 2 px padding
    assert grid.size == (3 * 34 + 2, 2 * 34 + 2)
    assert inference.sample_grid(generator, range(16)).size == (4 * 34 + 2, 4 * 34 + 2)


def test_each_direction_slider_changes_the_output(generator):
    base = pixels(inference.sample(generator, range(4)))
    for index in range(6):
        weights = [0.0] * 6
        weights[index] = 2.0
        moved = pixels(inference.sample(generator, range(4), direction_weights=weights))
        # mean change of at least 2 grey levels out of 255 over every pixel of every sample
        assert np.abs(moved - base).mean() > 2.0, f"direction {index + 1} barely changes the images"


def test_seeds_and_given_latents_take_one_path(generator):
    z = latents.z_batch([7, 8], 16)
    for truncation, weights in [(1.0, ()), (0.5, (0.0, 2.0))]:
        from_seeds = pixels(inference.sample(generator, [7, 8], truncation, weights))
        np.testing.assert_array_equal(pixels(inference.sample(generator, z, truncation, weights)), from_seeds)
        np.testing.assert_array_equal(pixels(inference.sample(generator, z[1], truncation, weights)), from_seeds[1:])
    from_latent = inference.interpolation_frames(generator, z[0], 9, frames=4, truncation=0.5)
    np.testing.assert_array_equal(pixels(from_latent), pixels(inference.interpolation_frames(generator, 7, 9, 4, 0.5)))


def test_interpolation_frame_count_and_ends(generator, tmp_path: Path):
    frames = inference.interpolation_frames(generator, 1, 2, frames=7)
    assert len(frames) == 7 and all(frame.size == (32, 32) for frame in frames)
    np.testing.assert_allclose(pixels(frames[:1]), pixels(inference.sample(generator, [1])), atol=1)
    np.testing.assert_allclose(pixels(frames[-1:]), pixels(inference.sample(generator, [2])), atol=1)
    gif = tmp_path / "path.gif"
    gif.write_bytes(inference.interpolation_gif(generator, 1, 2, frames=7))
    assert len(read_gif_frames(gif)) == 7
    with pytest.raises(ValueError, match="at least 2 frames"):
        inference.interpolation_frames(generator, 1, 2, frames=1)


def test_compare_variants_follows_the_direction_sliders(generator):
    weights = (0.0, 2.0, -1.0)
    grids = inference.compare_variants({"a": generator}, range(4), 0.9, weights, seed_captions=True)
    same = inference.sample_grid(generator, range(4), 0.9, weights, seed_captions=True)
    unmoved = inference.sample_grid(generator, range(4), 0.9, seed_captions=True)
    assert np.array_equal(pixels([grids["a"]]), pixels([same]))
    assert not np.array_equal(pixels([grids["a"]]), pixels([unmoved]))


def test_seed_captions_sit_under_each_sample(generator):
    plain = inference.sample_grid(generator, range(4))
    captioned = inference.sample_grid(generator, range(4), seed_captions=True)
    assert captioned.width == plain.width and captioned.height == plain.height + 2 * 9  # a 9 px strip per row
    strip = np.asarray(captioned)[2 + 32: 2 + 32 + 9, 2: 2 + 32]  # under the first sample
    assert (strip < 128).any() and (strip == 255).any()  # dark text on white


def test_compare_variants_gives_one_grid_per_model(generator):
    torch.manual_seed(1)
    other = DCGenerator(latent_dim=16, conv_dim=4, image_size=32).eval()
    grids = inference.compare_variants({"a": generator, "b": other}, range(4))
    assert list(grids) == ["a", "b"] and grids["a"].size == grids["b"].size == (70, 70)
    assert np.abs(pixels([grids["a"]]) - pixels([grids["b"]])).mean() > 1.0


def test_translate_full_image_handles_tiny_and_narrow_inputs():
    torch.manual_seed(0)
    model = CycleGAN(image_size=32, conv_dim=4, n_res_blocks=1).eval()
    tiny = inference.translate(model, Image.new("RGB", (1, 1), "red"), "a2b", full_size=True)
    assert tiny.input.size == tiny.translation.size == tiny.reconstruction.size == (32, 32)
    wide = inference.translate(model, Image.new("RGB", (1000, 300), "red"), "b2a", full_size=True)
    assert wide.translation.size == (512, 152)
    with pytest.raises(ImageError, match="too narrow"):
        inference.translate(model, Image.new("RGB", (2000, 3), "red"), "a2b", full_size=True)


def test_open_upload_refuses_large_files_and_names_the_file(tmp_path: Path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(path)
    assert inference.open_upload(path).size == (8, 8)
    with pytest.raises(ImageError, match=r"photo.png: more than"):
        inference.open_upload(path, max_bytes=10)
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ImageError) as error:
        inference.open_upload(tmp_path / "notes.txt")
    assert str(error.value).startswith("notes.txt: ") and str(tmp_path) not in str(error.value)


def test_open_upload_reads_only_regular_files_and_says_the_same_for_anything_else(tmp_path: Path):
    Image.new("RGB", (8, 8)).save(tmp_path / "photo.png")
    os.mkfifo(tmp_path / "fifo.png")  # would block a plain open() until someone writes to it
    (tmp_path / "link.png").symlink_to(tmp_path / "photo.png")
    (tmp_path / "folder.png").mkdir()
    for name in ("fifo.png", "link.png", "folder.png", "missing.png", "nul\0.png"):
        with pytest.raises(ImageError) as error:
            inference.open_upload(str(tmp_path / name))
        assert str(error.value) == inference.NOT_UPLOADED


def test_open_data_url_checks_size_before_decoding():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), "red").save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    assert inference.open_data_url(url).size == (8, 6)
    with pytest.raises(ImageError, match="^pasted image: more than 0 MB$"):
        inference.open_data_url(url, max_bytes=40)
    for bad, reason in [("data:image/png,abc", "not a base64 data: URL"),
                        ("data:image/png;base64,@@", "not valid base64"),
                        ("data:text/plain;base64,aGVsbG8=", "not a readable image")]:
        with pytest.raises(ImageError, match=f"^pasted image: {reason}$"):
            inference.open_data_url(bad)


def test_decompression_bombs_are_too_large_and_messages_quote_no_object(tmp_path: Path):
    Image.new("1", (15_000, 15_000)).save(tmp_path / "bomb.png")  # 225 megapixels: past Pillow's own bomb limit
    with pytest.raises(ImageError, match="^bomb.png: too large"):
        inference.open_upload(tmp_path / "bomb.png")
    with pytest.raises(ImageError, match="^image: 6000x5000 is too large"):
        open_rgb(Image.new("1", (6000, 5000)))


def test_non_finite_truncation_and_weights_are_refused(generator):
    for truncation, weights in [(float("nan"), ()), (float("inf"), ()), (1.0, (0.0, float("nan")))]:
        with pytest.raises(ValueError, match="must be (a )?finite"):
            inference.sample_grid(generator, [1], truncation, weights)
    with pytest.raises(ValueError, match="truncation must be a finite number"):
        inference.interpolation_frames(generator, 1, 2, 4, truncation=float("nan"))


def test_drawing_in_bf16_is_opt_in_and_stays_within_a_few_levels_of_float32(generator):
    model = CycleGAN(conv_dim=4, n_res_blocks=1, image_size=16).eval()
    photo = Image.new("RGB", (16, 16), (200, 80, 40))
    exact_cats, exact_translation = pixels(inference.sample(generator, range(8))), inference.translate(model, photo)
    runtime.set_drawing_precision("bf16")
    try:
        cats, translation = pixels(inference.sample(generator, range(8))), inference.translate(model, photo)
    finally:
        runtime.set_drawing_precision("fp32")
    assert 0 < np.abs(cats - exact_cats).max() <= 8  # bf16 was used, and changed pixels by a few levels at most
    for exact, fast in [(exact_translation.translation, translation.translation),
                        (exact_translation.reconstruction, translation.reconstruction)]:
        assert np.abs(pixels([fast]) - pixels([exact])).max() <= 8
    assert np.array_equal(pixels(inference.sample(generator, range(8))), exact_cats)  # off again: float32
