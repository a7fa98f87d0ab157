"""Photo -> latent + tuned generator: the "your cat" feature. GAN inversion finds where a person's
photo sits in a DCGAN's latent space, so that the Sample tab's direction sliders, truncation and
interpolation GIFs can edit *their* cat.

The person picks the square the model sees (`crop_square`; the centred square by default); it is
resized to the generator's size. `project` then works in two stages, after pivotal tuning (PTI, Roich
et al. 2021):
1. the pivot: a latent z whose image is as close as the generator gets, by Adam on the L1 distance
   of the pixels from a seeded start, with a cosine-decaying step size; after every step z is put
   back on the sphere of radius sqrt(latent_dim), where nearly all of N(0, I)'s mass lies, so the
   pivot stays a latent the generator was trained on;
2. the tuning: a copy of the generator is trained for a few steps to draw the photo itself from the
   pivot and, at the pivot moved along one of the principal directions (each in turn, by up to the
   sliders' range), the photo changed the way the model's own image of the pivot changes there. So
   a slider edits *your* cat: it adds what the direction adds (a paler face, a darker mask) and keeps
   the rest of the photo, rather than pulling the photo towards one of the model's cats. (PTI's own
   regulariser, which asks the copy to draw the model's images half-way to random latents, did
   the latter: on a tabby, direction 1 painted the grumpy cat's blaze over it; checkpoints/README.md.)
   The copy shares the original's first block (frozen), and with it the average cat and the
   principal directions (gan_demo/latents.py); only the later layers are copied and tuned, so the
   original is never touched. Away from the photo (truncation, the GIF to another seed) `blend`
   moves the copy's weights back to the original's, so those images end at the model's own cats.
A generator that cannot draw the photo (a dog, a landscape, a collapsed model) puts its pivot far
from it: `Projection.verdict` says so in plain words. The networks run in the precision the
inference functions draw in (`runtime.draw`): the app's bfloat16, where the CPU has it, tunes faster
at the same distance. The measured figures are in checkpoints/README.md.
"""

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from PIL import Image

from gan_demo import latents, runtime
from gan_demo.imaging import ImageError, open_rgb, pil_to_signed, signed_to_pil
from gan_demo.models import DCGenerator

PIVOT_STEPS = 50
PIVOT_LEARNING_RATE = 1.0  # Adam's first step size for z, decayed to 0 over the steps
TUNING_STEPS = 150
TUNING_LEARNING_RATE = 1e-3  # Adam's step size for the copy's weights
EDIT_WEIGHT = 0.5  # the edited photo's share of the tuning loss
FAR_PIVOT_DISTANCE = 0.26  # a pivot further than this: the model draws nothing like the photo (checkpoints/README.md)
MIN_SQUARE_SIDE = 8  # a smaller crop has too few pixels to say anything about a cat

Box = tuple[int, int, int]  # (left, top, side) in pixels of the photo as uploaded (after EXIF rotation)
ProgressCallback = Callable[[int, int], None]  # (steps done, steps in all)


@dataclass(frozen=True)
class Projection:
    """The square the model saw, the tuned copy's image of the pivot (the reconstruction), the pivot
    latent (latent_dim,), the tuned copy (the original itself when nothing was tuned), the mean
    absolute differences from the square on the [-1, 1] scale of the original's image of the pivot
    and of the reconstruction, and the seconds it took."""

    square: Image.Image
    reconstruction: Image.Image
    latent: torch.Tensor
    generator: DCGenerator
    pivot_distance: float
    distance: float
    seconds: float

    @property
    def verdict(self) -> str:
        """One plain sentence: can this model draw the photo? Tuning brings any photo close, so the
        answer comes from the pivot: how close the model's own nearest image is."""
        if self.pivot_distance > FAR_PIVOT_DISTANCE:
            return (f"This model cannot draw this photo: the nearest image it draws is {self.pivot_distance:.3f} "
                    f"from it (mean L1 on the [-1, 1] scale; above {FAR_PIVOT_DISTANCE}), so the reconstruction "
                    f"({self.distance:.3f}) comes from tuning alone and the sliders will not edit it the way they "
                    "edit the model's own cats.")
        return (f"The model draws an image {self.pivot_distance:.3f} from this photo (mean L1 on the [-1, 1] "
                f"scale); the reconstruction is {self.distance:.3f} from it.")


def centre_box(width: int, height: int) -> Box:
    """The largest centred square of a width x height image."""
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side


def crop_square(image: "Image.Image | str", size: int, box: Box | None = None) -> Image.Image:
    """The square `box` of `image` (the centred square when None) resized to size x size. A box
    reaching past the image is shifted inside it and shrunk to fit; ImageError when less than
    MIN_SQUARE_SIDE pixels remain."""
    image = open_rgb(image)
    left, top, side = box if box is not None else centre_box(*image.size)
    side = min(int(side), image.width, image.height)
    if side < MIN_SQUARE_SIDE:
        raise ImageError(f"the square to project is {side} px; choose one of at least {MIN_SQUARE_SIDE} px")
    left = min(max(0, int(left)), image.width - side)
    top = min(max(0, int(top)), image.height - side)
    return image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC)


def pixel_l1(images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per image (B,): mean |images - target|, the distance the projection reports."""
    return (images - target).abs().flatten(1).mean(1)


def onto_typical_shell(z: torch.Tensor) -> torch.Tensor:
    """z (B, d) rescaled to norm sqrt(d): where a draw of N(0, I) almost surely lies."""
    return z * (math.sqrt(z.shape[1]) / z.norm(dim=1, keepdim=True).clamp_min(1e-8))


def find_pivot(generator: DCGenerator, target: torch.Tensor, steps: int, random: torch.Generator,
               progress: Callable[[], None]) -> torch.Tensor:
    """(1, latent_dim): the latent whose image is closest to `target` (1, 3, S, S), from a seeded start."""
    device = target.device
    z = onto_typical_shell(torch.randn(1, generator.latent_dim, generator=random)).to(device).requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=PIVOT_LEARNING_RATE)
    for step in range(steps):
        # Cosine decay: large steps to cross between basins early, small ones to settle at the end.
        optimizer.param_groups[0]["lr"] = PIVOT_LEARNING_RATE * 0.5 * (1 + math.cos(math.pi * step / steps))
        loss = pixel_l1(runtime.draw(generator, z), target).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=[z])  # z only: the caller's generator may have trainable weights
        optimizer.step()
        with torch.no_grad():
            z.copy_(onto_typical_shell(z))
        progress()
    return z.detach()


def tunable_copy(generator: DCGenerator) -> DCGenerator:
    """A copy of `generator` whose layers after the first block are its own and trainable; the first
    block is the original's (shared, so the copy costs only the later layers' memory and shares the
    original's feature space)."""
    tuned = copy.deepcopy(generator, memo={id(generator.stem): generator.stem})
    for module in (tuned.blocks, tuned.to_rgb):
        module.requires_grad_(True)
    return tuned


def tune(generator: DCGenerator, pivot: torch.Tensor, target: torch.Tensor, steps: int,
         random: torch.Generator, progress: Callable[[], None]) -> DCGenerator:
    """Pivotal tuning: a `tunable_copy` of `generator` trained to draw `target` from `pivot`, and
    `target` plus `generator`'s own change at the pivot moved along a principal direction (see the
    module docstring)."""
    tuned = tunable_copy(generator)
    optimizer = torch.optim.Adam([parameter for parameter in tuned.parameters() if parameter.requires_grad],
                                 lr=TUNING_LEARNING_RATE)
    space = latents.feature_space(generator)
    with torch.no_grad():
        pivot_features = generator.first_features(pivot)  # (1, 8c, 4, 4)
        pivot_image = generator.from_first_features(pivot_features)  # (1, 3, S, S)
    for step in range(steps):
        with torch.no_grad():
            weights = [0.0] * len(space.directions)  # one direction per step, in turn, at a random strength
            weights[step % len(weights)] = latents.DIRECTION_RANGE * (2 * torch.rand(1, generator=random).item() - 1)
            edited_features = latents.move_along(pivot_features, space, weights)  # (1, 8c, 4, 4)
            change = generator.from_first_features(edited_features) - pivot_image  # (1, 3, S, S)
            edited_target = (target + change).clamp(-1, 1)
        drawn = runtime.draw(tuned.from_first_features, torch.cat([pivot_features, edited_features]))  # (2, 3, S, S)
        loss = pixel_l1(drawn[:1], target).sum() + EDIT_WEIGHT * pixel_l1(drawn[1:], edited_target).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        progress()
    return tuned.eval().requires_grad_(False)


def blend(tuned: DCGenerator, original: DCGenerator, fraction: float) -> DCGenerator:
    """A generator whose later layers' weights lie `fraction` of the way from `original`'s to `tuned`'s
    (`tuned` itself at 1 or more, `original` itself at 0 or less); both share `original`'s first block.
    Truncation and the GIF to another seed take a tuned cat away from its photo: the weights follow,
    so truncation 0 gives the model's average cat and the GIF ends at the model's own cat."""
    if not math.isfinite(fraction):
        raise ValueError(f"a blend needs a finite fraction, got {fraction}")
    if fraction >= 1:
        return tuned
    if fraction <= 0:
        return original
    mixed = copy.deepcopy(original, memo={id(original.stem): original.stem})
    with torch.no_grad():
        for mixed_layers, tuned_layers in ((mixed.blocks, tuned.blocks), (mixed.to_rgb, tuned.to_rgb)):
            for mixed_weight, tuned_weight in zip(mixed_layers.parameters(), tuned_layers.parameters(), strict=True):
                mixed_weight.lerp_(tuned_weight, fraction)
    return mixed


def project(generator: DCGenerator, image: "Image.Image | str", box: Box | None = None,
            pivot_steps: int = PIVOT_STEPS, tuning_steps: int = TUNING_STEPS, seed: int = 0,
            progress: ProgressCallback | None = None) -> Projection:
    """Find the pivot latent of the `box` square of `image` and tune a copy of `generator` to draw
    the square from it (see the module docstring). The same arguments give the same latent and
    weights; `progress` is called after every step of either stage. `generator` is left unchanged."""
    started = time.perf_counter()
    device = next(generator.parameters()).device
    square = crop_square(image, generator.image_size, box)
    random = torch.Generator().manual_seed(int(seed))
    done, total = 0, pivot_steps + tuning_steps

    def step_done() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    # Callers may hold inference or no-grad mode (the app's handlers do); the optimisation needs autograd.
    with torch.inference_mode(False), torch.enable_grad():
        target = pil_to_signed(square).to(device)  # (1, 3, S, S) in [-1, 1]
        pivot = find_pivot(generator, target, pivot_steps, random, step_done)
        tuned = tune(generator, pivot, target, tuning_steps, random, step_done) if tuning_steps else generator
    with torch.no_grad():
        pivot_distance = pixel_l1(runtime.draw(generator, pivot), target).item()
        reconstruction = runtime.draw(tuned, pivot)  # (1, 3, S, S)
        distance = pixel_l1(reconstruction, target).item()
    return Projection(square, signed_to_pil(reconstruction[0]), pivot.squeeze(0).cpu(), tuned, pivot_distance,
                      distance, time.perf_counter() - started)


def parse_latent(text: str | None, latent_dim: int) -> torch.Tensor | None:
    """A latent typed or pasted as a JSON list of `latent_dim` finite numbers -> (latent_dim,);
    None for empty text (the app's "use seeds"); ValueError with one line otherwise."""
    if text is None or not text.strip():
        return None
    try:
        values = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, nested past the parser's depth, or a 5000-digit integer
        raise ValueError("the latent is not a JSON list of numbers") from None
    if not isinstance(values, list) or not all(isinstance(value, int | float) and not isinstance(value, bool)
                                               for value in values):
        raise ValueError("the latent is not a JSON list of numbers")
    if len(values) != latent_dim:
        raise ValueError(f"the latent has {len(values)} numbers; this model takes {latent_dim}")
    try:
        latent = torch.tensor([float(value) for value in values], dtype=torch.float32)
    except OverflowError:  # an integer beyond any float
        raise ValueError("the latent holds a number too large for float32") from None
    if not torch.isfinite(latent).all():
        raise ValueError("the latent holds a number too large for float32")
    return latent


def latent_text(latent: torch.Tensor) -> str:
    """(latent_dim,) -> the JSON list `parse_latent` reads back, 5 significant digits per number."""
    return json.dumps([float(f"{value:.5g}") for value in latent.tolist()])
