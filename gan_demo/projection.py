"""Photo -> latent: find the z whose DCGAN sample looks like a person's photo (GAN inversion), so
that the app's latent-direction sliders, truncation and interpolation GIFs can edit *their* cat.

The person picks the square the model sees (`crop_square`; the centred square by default); it is
resized to the generator's size. `project` then (1) starts from the best of many random latents,
judged by the same loss in batched forward passes, and (2) optimises z with Adam against the L1
distance of the pixels, with a cosine-decaying step size. The first steps are large (1.0 per
coordinate of a z whose coordinates have spread 1), so the search leaves the start's basin while
the step size is high; tuned on 18 photos the model trained on (mean L1 0.177, 0.172, 0.169 and
0.171 at 0.1, 0.4, 1 and 2), it gained 0.007 on the held-out photos (docs/performance.md).
Adding L1 on 2x, 4x and 8x average-pooled copies, a multi-scale loss, measured worse on held-out
grumpy cats: mean L1 0.2017 with weight 1 and 0.1990 with weight 0.3 against 0.1969 without.

The prior: after every step z is put back on the sphere of radius sqrt(latent_dim), the shell
where nearly all of N(0, I)'s mass lies, so the latent stays one the generator was trained on and
the sliders and interpolation (which assume such latents) keep working. For an instance-norm
generator it costs no fit, since G(c z) = G(z) for every c > 0 there (gan_demo/models/dcgan.py).

The generator runs in the precision the inference functions draw in (`runtime.draw`): the app's
bf16, where the CPU has it, makes projection faster at the same distance (docs/performance.md).
"""

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from PIL import Image

from gan_demo import inference, runtime
from gan_demo.imaging import ImageError, open_rgb, pil_to_signed, signed_to_pil
from gan_demo.latents import interpolation_path, move_along, principal_directions, z_from_seed
from gan_demo.models import DCGenerator
from gan_demo.render import gif_bytes

DEFAULT_STEPS = 200
DEFAULT_CANDIDATES = 256
LEARNING_RATE = 1.0  # Adam's first step size, decayed to 0 over the steps
CANDIDATE_BATCH = 64  # candidates per forward pass: bounds the memory of the start search
MIN_SQUARE_SIDE = 8  # a smaller crop has too few pixels to say anything about a cat

Box = tuple[int, int, int]  # (left, top, side) in pixels of the photo as uploaded (after EXIF rotation)
ProgressCallback = Callable[[int, int], None]  # (steps done, steps in all)


@dataclass(frozen=True)
class Projection:
    """The square the model saw, the generator's image of the found latent, the latent itself
    (latent_dim,), their mean absolute difference on the [-1, 1] scale and the seconds it took."""

    square: Image.Image
    reconstruction: Image.Image
    latent: torch.Tensor
    distance: float
    seconds: float


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


@torch.no_grad()
def best_start(generator: DCGenerator, target: torch.Tensor, candidates: int,
               random: torch.Generator) -> torch.Tensor:
    """(1, d): the candidate z ~ N(0, I) whose image is closest to `target` (1, 3, S, S)."""
    z = torch.randn(candidates, generator.latent_dim, generator=random)
    losses = torch.cat([pixel_l1(runtime.draw(generator, chunk.to(target.device)), target).cpu()
                        for chunk in z.split(CANDIDATE_BATCH)])
    return z[losses.argmin()].unsqueeze(0)


def project(generator: DCGenerator, image: "Image.Image | str", box: Box | None = None,
            steps: int = DEFAULT_STEPS, candidates: int = DEFAULT_CANDIDATES, seed: int = 0,
            progress: ProgressCallback | None = None) -> Projection:
    """Find z with generator(z) close to the `box` square of `image` (see the module docstring).
    The same arguments always give the same latent; `progress` is called after every step."""
    started = time.perf_counter()
    device = next(generator.parameters()).device
    square = crop_square(image, generator.image_size, box)
    random = torch.Generator().manual_seed(int(seed))
    # Callers may hold inference or no-grad mode (the app's handlers do); the optimisation needs autograd.
    with torch.inference_mode(False), torch.enable_grad():
        target = pil_to_signed(square).to(device)  # (1, 3, S, S) in [-1, 1]
        z = onto_typical_shell(best_start(generator, target, candidates, random)).to(device).requires_grad_(True)
        optimizer = torch.optim.Adam([z], lr=LEARNING_RATE)
        for step in range(steps):
            # Cosine decay: large steps to cross between basins early, small ones to settle at the end.
            optimizer.param_groups[0]["lr"] = LEARNING_RATE * 0.5 * (1 + math.cos(math.pi * step / steps))
            loss = pixel_l1(runtime.draw(generator, z), target).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward(inputs=[z])  # z only: the caller's generator may have trainable weights
            optimizer.step()
            with torch.no_grad():
                z.copy_(onto_typical_shell(z))
            if progress is not None:
                progress(step + 1, steps)
        with torch.no_grad():
            reconstruction = runtime.draw(generator, z)  # (1, 3, S, S)
            distance = (reconstruction - target).abs().mean().item()
    return Projection(square, signed_to_pil(reconstruction), z.detach().squeeze(0).cpu(), distance,
                      time.perf_counter() - started)


def parse_latent(text: str | None, latent_dim: int) -> torch.Tensor | None:
    """A latent typed or pasted as a JSON list of `latent_dim` finite numbers -> (latent_dim,);
    None for empty text (the app's "use seeds"); ValueError with one line otherwise."""
    if text is None or not text.strip():
        return None
    try:
        values = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("the latent is not a JSON list of numbers") from None
    if not isinstance(values, list) or not all(isinstance(value, int | float) and not isinstance(value, bool)
                                               for value in values):
        raise ValueError("the latent is not a JSON list of numbers")
    if len(values) != latent_dim:
        raise ValueError(f"the latent has {len(values)} numbers; this model takes {latent_dim}")
    latent = torch.tensor(values, dtype=torch.float32)
    if not torch.isfinite(latent).all():
        raise ValueError("the latent holds a number too large for float32")
    return latent


def latent_text(latent: torch.Tensor) -> str:
    """(latent_dim,) -> the JSON list `parse_latent` reads back, 5 significant digits per number."""
    return json.dumps([float(f"{value:.5g}") for value in latent.tolist()])


# -- editing a projected cat: what the Sample tab's sliders, truncation and GIF do to seeds ------


@torch.inference_mode()
def edited(generator: DCGenerator, latent: torch.Tensor, truncation: float = 1.0,
           direction_weights: "list[float] | tuple[float, ...]" = ()) -> Image.Image:
    """G of `latent` scaled by `truncation` and moved along the principal directions, as
    `inference.latents` moves a seed's z."""
    z = latent.reshape(1, -1) * truncation
    if any(direction_weights):
        count = max(inference.DIRECTION_COUNT, len(direction_weights))  # the directions the seeds use
        z = move_along(z, principal_directions(generator, count=count), direction_weights)
    return inference.generate(generator, z)[0]


@torch.inference_mode()
def interpolation_gif_from(generator: DCGenerator, latent: torch.Tensor, seed_end: int, frames: int = 16,
                           truncation: float = 1.0) -> bytes:
    """A GIF along the great circle from `latent` (scaled by `truncation`) to the latent of `seed_end`."""
    path = interpolation_path(latent * truncation, z_from_seed(seed_end, generator.latent_dim, truncation), frames)
    return gif_bytes(inference.generate(generator, path))
