"""Projecting a photo into a DCGAN's latent space (gan_demo.projection) on synthetic photos: the
photo is a generator's own sample for a known latent, pasted into a larger noisy canvas, so the
pivot has something it can find and the crop box decides whether it finds it; the tuning then
brings even a square of noise closer, in a copy of the generator that leaves the original alone."""

import copy
import gc
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from gan_demo import inference, latents, projection, runtime
from gan_demo.imaging import ImageError, signed_to_pil
from gan_demo.models import DCGenerator
from gan_demo.projection import blend, centre_box, crop_square, project
from tests.app_server import TINY_IMAGE_SIZE, make_tiny_checkpoints, serve_app
from ui.sample_tab import TunedCat, TunedCopies, drawing_generator

SIZE = 16
STARTUP_TIMEOUT = 600  # importing gradio and torch takes minutes on a 2-core machine busy with training runs


@pytest.fixture(scope="module")
def generator() -> DCGenerator:
    torch.manual_seed(0)
    return DCGenerator(latent_dim=8, conv_dim=8, image_size=SIZE).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def photo(generator) -> tuple[Image.Image, tuple[int, int, int]]:
    """A 120 x 80 noise canvas with the generator's sample of a known latent, scaled to 48 px, at
    (60, 20); and that box."""
    with torch.no_grad():
        sample = signed_to_pil(generator(torch.randn(1, 8, generator=torch.Generator().manual_seed(7))))
    canvas = Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 120, 3), dtype=np.uint8))
    canvas.paste(sample.resize((48, 48), Image.Resampling.BICUBIC), (60, 20))
    return canvas, (60, 20, 48)


def test_crop_square_takes_the_box_or_the_centre_and_keeps_boxes_inside_the_photo(photo):
    canvas, box = photo
    assert centre_box(120, 80) == (20, 0, 80)
    assert np.array_equal(np.asarray(crop_square(canvas, 32)),
                          np.asarray(canvas.crop((20, 0, 100, 80)).resize((32, 32), Image.Resampling.BICUBIC)))
    # A box past the right and bottom edges slides back inside; one larger than the photo shrinks to fit.
    assert np.array_equal(np.asarray(crop_square(canvas, 16, (100, 70, 40))),
                          np.asarray(canvas.crop((80, 40, 120, 80)).resize((16, 16), Image.Resampling.BICUBIC)))
    assert crop_square(canvas, 16, (0, 0, 500)).size == (16, 16)
    with pytest.raises(ImageError, match="the square to project is 4 px; choose one of at least 8 px"):
        crop_square(canvas, 16, (0, 0, 4))


def test_the_pivot_finds_the_sample_in_its_box_with_a_latent_on_the_typical_shell(generator, photo):
    canvas, box = photo
    calls = []
    found = project(generator, canvas, box, pivot_steps=60, tuning_steps=0,
                    progress=lambda done, total: calls.append((done, total)))
    centred = project(generator, canvas, None, pivot_steps=60, tuning_steps=0)

    assert found.square.size == found.reconstruction.size == (SIZE, SIZE)
    assert found.latent.shape == (8,) and math.isclose(found.latent.norm().item(), math.sqrt(8), rel_tol=1e-4)
    # The boxed sample is found far more closely than the centred square of mostly noise.
    assert found.distance == found.pivot_distance < 0.1 and found.distance < centred.distance / 3
    assert found.generator is generator  # nothing tuned
    reconstructed = np.asarray(found.reconstruction, dtype=np.float64) / 127.5 - 1
    with torch.no_grad():
        regenerated = generator(found.latent.unsqueeze(0))[0].permute(1, 2, 0).numpy()
    assert np.abs(reconstructed - regenerated).max() < 0.01  # the reconstruction is G(latent)
    assert calls == [(step, 60) for step in range(1, 61)]
    # The note says the model draws the boxed sample, and cannot draw a black and white checkerboard.
    assert found.verdict.startswith("The model draws an image 0.0") and "the reconstruction is 0.0" in found.verdict
    board = Image.fromarray(((np.indices((64, 64)).sum(0) // 8) % 2 * 255).astype(np.uint8)).convert("RGB")
    far = project(generator, board, pivot_steps=10, tuning_steps=0)
    assert far.verdict.startswith("This model cannot draw this photo: the nearest image it draws is 0.")


def test_each_stage_improves_on_its_start_and_the_same_seed_gives_the_same_result(generator, photo):
    canvas = photo[0]  # the centred square: mostly noise, which the pivot alone cannot reach
    start_only = project(generator, canvas, pivot_steps=0, tuning_steps=0)
    pivot_only = project(generator, canvas, pivot_steps=30, tuning_steps=0)
    tuned = project(generator, canvas, pivot_steps=30, tuning_steps=60)
    again = project(generator, canvas, pivot_steps=30, tuning_steps=60)
    assert pivot_only.distance < start_only.distance
    assert tuned.pivot_distance == pivot_only.distance and tuned.distance < 0.7 * pivot_only.distance
    assert torch.equal(tuned.latent, again.latent) and tuned.distance == again.distance
    assert not torch.equal(tuned.latent, project(generator, canvas, pivot_steps=30, tuning_steps=0, seed=1).latent)


def test_the_tuned_generator_is_a_copy_sharing_the_first_block_and_the_original_is_untouched(generator, photo):
    canvas, box = photo
    before = {key: value.clone() for key, value in generator.state_dict().items()}
    result = project(generator, canvas, box, pivot_steps=20, tuning_steps=20)
    tuned = result.generator
    assert tuned is not generator and tuned.stem is generator.stem
    assert latents.feature_space(tuned) is latents.feature_space(generator)  # the same average cat and axes
    assert all(torch.equal(before[key], value) for key, value in generator.state_dict().items())
    assert not torch.equal(tuned.blocks[0][1].weight, generator.blocks[0][1].weight)
    assert not any(parameter.requires_grad for parameter in tuned.parameters())
    # The reconstruction is what the Sample tab draws from the latent through the tuned copy.
    drawn = np.asarray(inference.sample(tuned, result.latent)[0], dtype=np.int16)
    assert np.abs(drawn - np.asarray(result.reconstruction, dtype=np.int16)).max() <= 1


def test_edits_act_on_the_tuned_copy_about_as_much_as_on_sampled_cats(generator, photo):
    canvas, box = photo
    result = project(generator, canvas, box, pivot_steps=30, tuning_steps=60)
    weights = [2.0]

    def change(model, subject) -> float:
        return (inference.draw(model, subject, 1.0, weights) - inference.draw(model, subject)).abs().mean().item()

    assert change(result.generator, result.latent) >= 0.5 * change(generator, range(16))


def test_the_edit_term_makes_an_edit_of_the_tuned_copy_the_photo_plus_the_models_change(generator, monkeypatch):
    # A black and white checkerboard: far from anything the model draws, so the photo and the model's
    # images differ most and an edit can land near one or the other.
    board = Image.fromarray(((np.indices((64, 64)).sum(0) // 8) % 2 * 255).astype(np.uint8)).convert("RGB")

    def miss(tuned: DCGenerator, latent: torch.Tensor) -> float:
        """How far the copy's edits land from the photo (as the copy draws it) plus the model's change."""
        distances = []
        for weights in ([2.0], [0.0, -2.0], [0.0, 0.0, 3.0]):
            models_change = inference.draw(generator, latent, 1.0, weights) - inference.draw(generator, latent)
            photo_changed = inference.draw(tuned, latent) + models_change
            distances.append((inference.draw(tuned, latent, 1.0, weights) - photo_changed).abs().mean().item())
        return sum(distances) / len(distances)

    with_term = project(generator, board, pivot_steps=30, tuning_steps=120)
    monkeypatch.setattr(projection, "EDIT_WEIGHT", 0.0)
    without_term = project(generator, board, pivot_steps=30, tuning_steps=120)
    assert miss(with_term.generator, with_term.latent) < 0.75 * miss(without_term.generator, without_term.latent)


def test_blend_moves_the_later_layers_from_the_original_to_the_tuned_copy(generator, photo):
    tuned = project(generator, *photo, pivot_steps=5, tuning_steps=20).generator
    assert blend(tuned, generator, 1.0) is tuned and blend(tuned, generator, 1.5) is tuned
    assert blend(tuned, generator, 0.0) is generator and blend(tuned, generator, -1.0) is generator
    half = blend(tuned, generator, 0.25)
    assert half.stem is generator.stem
    for name, weight in half.named_parameters():
        expected = generator.get_parameter(name) + 0.25 * (tuned.get_parameter(name) - generator.get_parameter(name))
        assert torch.allclose(weight, expected, atol=1e-6), name
    with pytest.raises(ValueError, match="a blend needs a finite fraction, got nan"):
        blend(tuned, generator, float("nan"))


def test_a_gif_from_a_tuned_cat_starts_at_the_photo_and_ends_at_the_models_own_cat(generator, photo):
    result = project(generator, *photo, pivot_steps=10, tuning_steps=20)
    frames = inference.interpolation_frames(result.generator, result.latent, 5, 6, end_generator=generator)
    tuned_path = inference.interpolation_frames(result.generator, result.latent, 5, 6)
    models_path = inference.interpolation_frames(generator, result.latent, 5, 6)
    assert np.array_equal(np.asarray(frames[0]), np.asarray(tuned_path[0]))  # the photo
    assert np.array_equal(np.asarray(frames[-1]), np.asarray(models_path[-1]))  # the model's cat of seed 5
    assert not np.array_equal(np.asarray(tuned_path[-1]), np.asarray(models_path[-1]))  # which the copy alone misses


def test_a_tuned_copy_draws_only_for_the_very_model_it_was_tuned_from(generator, photo):
    result = project(generator, *photo, pivot_steps=2, tuning_steps=2)
    latent_json = projection.latent_text(result.latent)
    tuned = TunedCat("dcgan-x", latent_json, result.generator)
    loaded = SimpleNamespace(name="dcgan-x", model=generator)
    assert drawing_generator(loaded, latent_json, tuned, 1.0) is result.generator
    assert drawing_generator(loaded, latent_json + " ", tuned, 1.0) is result.generator  # typed around: the same
    assert drawing_generator(loaded, "[1]", tuned, 1.0) is generator  # another latent
    assert drawing_generator(SimpleNamespace(name="dcgan-y", model=generator), latent_json, tuned, 1.0) is generator
    # The same name loaded again (a run's export that changed): the copy belongs to the old weights.
    reloaded = SimpleNamespace(name="dcgan-x", model=copy.deepcopy(generator))
    assert drawing_generator(reloaded, latent_json, tuned, 1.0) is reloaded.model
    assert drawing_generator(loaded, latent_json, tuned, 0.0) is generator  # truncation 0: the model itself


def test_projection_runs_under_inference_mode_and_leaves_the_generator_untouched(generator, photo):
    canvas, box = photo
    trainable = DCGenerator(latent_dim=8, conv_dim=8, image_size=SIZE).eval()
    before = {key: value.clone() for key, value in trainable.state_dict().items()}
    with torch.inference_mode():
        result = project(trainable, canvas, box, pivot_steps=5, tuning_steps=5)
    assert math.isfinite(result.distance)
    assert all(parameter.grad is None for parameter in trainable.parameters())
    assert all(torch.equal(before[key], value) for key, value in trainable.state_dict().items())


# -- /project, and /sample and /interpolate with the projected latent, over HTTP -------------------


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> str:
    checkpoints = make_tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"))
    with serve_app(checkpoints, startup_timeout=STARTUP_TIMEOUT) as url:
        yield url


@pytest.fixture(scope="module")
def client(url, tmp_path_factory) -> Client:
    return Client(url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def pixels(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_a_projected_photo_becomes_the_subject_of_sample_and_interpolate(client, url, tmp_path):
    photo = tmp_path / "cat.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (60, 90, 3), dtype=np.uint8)).save(photo)
    square, reconstruction, latent_json, note = client.predict(handle_file(str(photo)), "dcgan-grumpy-basic",
                                                                 api_name="/project")
    latent = json.loads(latent_json)
    assert pixels(square).shape == pixels(reconstruction).shape == (TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, 3)
    assert len(latent) == 16 and math.isclose(math.hypot(*latent), 4.0, rel_tol=1e-3)
    assert "the reconstruction" in note and "Model `dcgan-grumpy-basic`" in note

    # This session's /sample draws the latent through the copy tuned to the photo.
    edited, edited_note = client.predict("dcgan-grumpy-basic", 0, 1.0, 4, *(0,) * 6, latent_json, api_name="/sample")
    assert edited_note.startswith("Your latent, by its tuned copy")
    assert np.abs(pixels(edited) - pixels(reconstruction)).max() <= 2  # the latent's JSON keeps 5 digits
    # Another visitor with the same latent gets the model itself: the tuned copy stays in its session.
    stranger = Client(url, verbose=False, download_files=str(tmp_path / "stranger"))
    plain, plain_note = stranger.predict("dcgan-grumpy-basic", 0, 1.0, 4, *(0,) * 6, latent_json, api_name="/sample")
    assert plain_note.startswith("Your latent, by the model itself")
    assert np.abs(pixels(plain) - pixels(reconstruction)).mean() > 2
    moved, _ = client.predict("dcgan-grumpy-basic", 0, 1.0, 4, 3, *(0,) * 5, latent_json, api_name="/sample")
    assert np.abs(pixels(moved) - pixels(reconstruction)).mean() > 2
    seeds, seeds_note = client.predict("dcgan-grumpy-basic", 0, 1.0, 4, *(0,) * 6, "", api_name="/sample")
    assert seeds_note.startswith("Seeds 0 to 3") and pixels(seeds).shape[0] > TINY_IMAGE_SIZE

    # Truncation 0 gives the model's average cat, for the tuned cat as for every seed.
    average, _ = client.predict("dcgan-grumpy-basic", 0, 0.0, 4, *(0,) * 6, latent_json, api_name="/sample")
    models_average, _ = stranger.predict("dcgan-grumpy-basic", 0, 0.0, 4, *(0,) * 6, latent_json, api_name="/sample")
    assert np.array_equal(pixels(average), pixels(models_average))

    def gif_ends(path: str) -> tuple[np.ndarray, np.ndarray]:
        with Image.open(path) as animation:
            assert animation.n_frames == 8
            first = np.asarray(animation.convert("RGB"), dtype=np.int16)
            animation.seek(7)
            return first, np.asarray(animation.convert("RGB"), dtype=np.int16)

    # The GIF goes from the photo to the model's own cat of seed 5 (the stranger's GIF ends there too).
    first, last = gif_ends(client.predict("dcgan-grumpy-basic", 0, 5, 8, 1.0, latent_json, api_name="/interpolate"))
    models_first, models_last = gif_ends(stranger.predict("dcgan-grumpy-basic", 0, 5, 8, 1.0, latent_json,
                                                          api_name="/interpolate"))
    assert np.abs(first - pixels(reconstruction)).mean() < 8  # GIF palette quantisation
    assert np.abs(last - models_last).mean() < 3 < np.abs(first - models_first).mean()


def test_a_latent_that_does_not_fit_is_refused_in_one_line(client):
    with pytest.raises(AppError, match="the latent has 2 numbers; this model takes 16"):
        client.predict("dcgan-grumpy-basic", 0, 1.0, 4, *(0,) * 6, "[1, 2]", api_name="/sample")
    with pytest.raises(AppError, match="the latent is not a JSON list of numbers"):
        client.predict("dcgan-grumpy-basic", 0, 5, 8, 1.0, "{cat}", api_name="/interpolate")


def test_tuned_copies_are_capped_and_stop_counting_once_their_session_drops_them(generator, photo):
    copies = TunedCopies(limit=1)
    assert copies.claim() and not copies.claim()  # a projection under way holds the only place
    tuned = project(generator, *photo, pivot_steps=2, tuning_steps=2).generator
    copies.keep(tuned)
    copies.release(True)
    assert not copies.claim()  # the kept copy holds it now
    del tuned  # what gradio does with the session's state when the page closes or its time runs out
    gc.collect()
    assert copies.claim()


def test_projection_in_bf16_comes_as_close_as_in_float32(generator, photo):
    canvas, box = photo
    exact = project(generator, canvas, box, pivot_steps=30, tuning_steps=30)
    runtime.set_drawing_precision("bf16")
    try:
        fast = project(generator, canvas, box, pivot_steps=30, tuning_steps=30)
    finally:
        runtime.set_drawing_precision("fp32")
    assert fast.distance != exact.distance  # bf16 was used
    assert fast.distance < 1.5 * exact.distance and fast.pivot_distance < 1.5 * exact.pivot_distance
