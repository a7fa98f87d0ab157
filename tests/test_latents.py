"""Truncation and the direction sliders (gan_demo/latents.py) on tiny seeded generators of the bundled
architecture, with pixel norm (the bundled models) and instance norm (older exports): truncation
shrinks the variety of the samples step by step and gives every seed one detailed image at 0;
directions move in standard deviations of the samples; edits at the sliders' ends stay among what
the model draws. A slow test checks the bundled default model against the same criteria."""

import pytest
import torch

from gan_demo import catalog, inference, latents
from gan_demo.models import DCGenerator

SLIDER_END = 3.0  # the app's direction sliders run from -3 to +3 standard deviations
TRUNCATIONS = (1.0, 0.75, 0.5, 0.25, 0.0)


@pytest.fixture(scope="module", params=["pixel", "instance"])
def generator(request) -> DCGenerator:
    torch.manual_seed(0)  # initialises the tiny weights only
    return DCGenerator(latent_dim=16, conv_dim=8, image_size=16, norm=request.param).eval().requires_grad_(False)


def variety(images: torch.Tensor) -> float:
    """The mean L1 distance between two different images of the batch (B, 3, S, S)."""
    distances = torch.cdist(images.flatten(1), images.flatten(1), p=1) / images[0].numel()
    return distances.sum().item() / (len(images) * (len(images) - 1))


def detail(images: torch.Tensor) -> float:
    """The mean over images and channels of the spread of the pixel values: 0 for a flat box."""
    return images.flatten(2).std(dim=2).mean().item()


def nearest_sample_distance(items: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """(B,): each item's mean L1 distance to the nearest item of `bank` (N, ...)."""
    return (torch.cdist(items.flatten(1), bank.flatten(1), p=1) / bank[0].numel()).min(dim=1).values


def edited_cats(generator: DCGenerator, weights: list[float], in_pixels: bool) -> torch.Tensor:
    """Cats 0-15 edited by `weights`: their images, or their first-block features."""
    if in_pixels:
        return inference.draw(generator, range(16), 1.0, weights)
    features = generator.first_features(latents.z_batch(range(16), generator.latent_dim))
    return latents.move_along(features, latents.feature_space(generator), weights)


def edits_stay_among_samples(generator: DCGenerator, bank_size: int, in_pixels: bool) -> None:
    """Every direction at -SLIDER_END and +SLIDER_END on 16 cats: they stay cats of this model, by
    two measures against the unedited cats: their median distance to the nearest of `bank_size`
    samples of the model is at most 1.25 times as large (they look like what the model draws), and
    they keep at least 0.6 of their variety (no edit turns every cat into the same face). A step
    ten times as long fails (the criterion can fail)."""
    seeds = range(10_000, 10_000 + bank_size)
    bank = (inference.draw(generator, seeds) if in_pixels
            else generator.first_features(latents.z_batch(seeds, generator.latent_dim)))
    cats = edited_cats(generator, [], in_pixels)
    typical, spread = nearest_sample_distance(cats, bank).median().item(), variety(cats)

    def measures(weights: list[float]) -> tuple[float, float]:
        edited = edited_cats(generator, weights, in_pixels)
        return nearest_sample_distance(edited, bank).median().item() / typical, variety(edited) / spread

    distance, kept = measures([10 * SLIDER_END])
    assert distance > 1.25 or kept < 0.6, (distance, kept)
    for index in range(6):
        for end in (-SLIDER_END, SLIDER_END):
            distance, kept = measures([0.0] * index + [end])
            assert distance <= 1.25 and kept >= 0.6, f"direction {index + 1} at {end:+}: {distance:.2f}, {kept:.2f}"


def test_a_path_from_the_zero_latent_is_a_straight_line_not_nan():
    end = torch.randn(8, generator=torch.Generator().manual_seed(0))
    path = latents.interpolation_path(torch.zeros(8), end, 5)
    assert torch.isfinite(path).all() and torch.allclose(path[2], end / 2) and torch.equal(path[-1], end)


def test_a_gif_from_the_zero_latent_moves_and_is_not_black(generator):
    frames = inference.interpolation_frames(generator, torch.zeros(generator.latent_dim), 3, 5)
    pixels = [list(frame.get_flattened_data()) for frame in frames]
    assert pixels[-1] == list(inference.sample(generator, [3])[0].get_flattened_data())  # it ends at seed 3's cat
    assert pixels[0] != pixels[-1]  # not every frame the same black one (a NaN path)


def test_truncation_shrinks_variety_step_by_step_and_gives_the_average_cat_at_0(generator):
    spreads = [variety(inference.draw(generator, range(32), truncation)) for truncation in TRUNCATIONS]
    assert all(later < earlier for earlier, later in zip(spreads, spreads[1:], strict=False)), spreads
    assert spreads[-1] < 1e-6  # at 0 every seed gives one image...
    average = inference.draw(generator, range(4), 0.0)
    mean = latents.feature_space(generator).mean
    torch.testing.assert_close(average[0], generator.from_first_features(mean[None])[0])
    # ...and a detailed one, where z = 0 (what shortening z ends in) gives a nearly flat box.
    samples = inference.draw(generator, range(32))
    assert detail(average) > 0.3 * detail(samples) > 3 * detail(generator(torch.zeros(1, 16)))


def test_truncation_1_is_the_plain_generator_and_odd_values_are_refused(generator):
    torch.testing.assert_close(inference.draw(generator, range(3)), generator(latents.z_batch(range(3), 16)))
    with pytest.raises(ValueError, match="truncation must be a finite number"):
        inference.draw(generator, range(3), float("nan"))
    with pytest.raises(ValueError, match="there are 8 directions, got 9 weights"):
        inference.draw(generator, range(3), 1.0, [1.0] * 9)


def test_feature_space_is_computed_once_per_first_block_and_reproducibly(generator):
    space = latents.feature_space(generator)
    assert space.mean.shape == space.directions.shape[1:] == (16, 4, 4)  # 2c channels at 16 px
    assert space.directions.shape[0] == space.spreads.shape[0] == latents.DIRECTION_COUNT
    flat = space.directions.flatten(1)
    torch.testing.assert_close(flat @ flat.T, torch.eye(latents.DIRECTION_COUNT), atol=1e-4, rtol=0)
    assert latents.feature_space(generator) is space
    latents.first_block_space.cache_clear()
    torch.testing.assert_close(latents.feature_space(generator).directions, space.directions)


def test_a_direction_step_is_one_standard_deviation_of_the_samples_along_it(generator):
    space = latents.feature_space(generator)
    # The spreads hold on samples the space was not estimated from.
    features = generator.first_features(latents.z_batch(range(10_000, 12_000), 16))
    coefficients = (features - space.mean).flatten(1) @ space.directions.flatten(1).T  # (N, count)
    torch.testing.assert_close(coefficients.std(dim=0), space.spreads, rtol=0.1, atol=0)
    assert (space.spreads[:-1] >= space.spreads[1:]).all()  # strongest first
    # Away from the ReLU's floor (where the result is clipped), a weight w moves w standard deviations.
    lifted = space.mean[None] + 10.0
    moved = latents.move_along(lifted, space, [0.0, 2.0, -1.0])
    expected = lifted + 2.0 * space.spreads[1] * space.directions[1] - space.spreads[2] * space.directions[2]
    torch.testing.assert_close(moved, expected)
    assert (latents.move_along(space.mean[None], space, [SLIDER_END]) >= 0).all()


def test_edits_at_the_ends_of_the_sliders_stay_among_what_the_model_draws(generator):
    """In the first block's space, where the edits are made (a tiny random model's images say little)."""
    edits_stay_among_samples(generator, bank_size=2000, in_pixels=False)


@pytest.mark.slow
def test_the_default_bundled_model_truncates_and_edits_as_the_app_promises():
    """Truncation 0.5 cuts the variety of 64 cats by at least 30 %; edited cats at the sliders' ends
    stay cats of this model, measured in pixels (checkpoints/README.md)."""
    generator = inference.load_generator(catalog.DEFAULT_CHECKPOINTS / catalog.DEFAULT_DCGAN)
    full, half = (variety(inference.draw(generator, range(64), truncation)) for truncation in (1.0, 0.5))
    assert half <= 0.7 * full
    edits_stay_among_samples(generator, bank_size=1000, in_pixels=True)
