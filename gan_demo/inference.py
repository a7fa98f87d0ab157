"""Load exported models and run them: sample cats from a DCGAN (as grids, through several variants
at once, or as an interpolation GIF), translate an image with a CycleGAN. A DCGAN draws from seeds
or from given latents (a projected photo's, through the generator copy tuned for it) along one path:
z -> the first block's output -> truncation and direction offsets there (gan_demo/latents.py) ->
the image. Used by the app and by anyone scripting the models; no gradio here. Everything runs
under `torch.inference_mode` on the CPU unless a device is given, in float32 unless
`runtime.set_drawing_precision` chose bfloat16 (the app does where the CPU has native bfloat16)."""

import base64
import binascii
import io
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from gan_demo import runtime
from gan_demo.imaging import (
    ImageError,
    center_crop_resize,
    fit_within,
    make_grid,
    open_rgb,
    pil_to_signed,
    signed_to_pil,
)
from gan_demo.latents import feature_space, interpolation_path, move_along, truncate, z_batch, z_from_seed
from gan_demo.models import CycleGAN, DCGenerator
from gan_demo.projection import blend
from gan_demo.render import captioned_grid, gif_bytes

FULL_SIZE_MAX_SIDE = 512
MIN_FULL_SIZE_SIDE = 16
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
DIRECTIONS = ("a2b", "b2a")
NOT_UPLOADED = "This image was not uploaded with the request; only uploaded images are read."


class ModelLoadError(RuntimeError):
    """An exported model folder that is missing, incomplete or corrupt; the message is one line."""


def load_folder(model_class: type, folder: str) -> torch.nn.Module:
    """`model_class.from_pretrained(folder)` in eval mode. The app loads each model once, into its
    registry (gan_demo.catalog)."""
    path = Path(folder)
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise ModelLoadError(f"{folder}: not an exported model (needs config.json and model.safetensors)")
    try:
        model = model_class.from_pretrained(str(path), strict=True)
    except Exception as error:  # safetensors / json / shape errors all mean the same to a user
        raise ModelLoadError(
            f"{folder}: cannot load {model_class.__name__} ({type(error).__name__}: "
            f"{str(error).strip().splitlines()[0]})") from None
    return model.eval().requires_grad_(False)


def load_generator(folder: "str | Path") -> DCGenerator:
    return load_folder(DCGenerator, str(folder))


def load_cyclegan(folder: "str | Path") -> CycleGAN:
    return load_folder(CycleGAN, str(folder))


SeedsOrLatents = Sequence[int] | torch.Tensor  # seeds, or latents (latent_dim,) or (B, latent_dim)


def latents(generator: DCGenerator, seeds: SeedsOrLatents) -> torch.Tensor:
    """(B, latent_dim): one z per seed, or the latents given as a tensor."""
    if isinstance(seeds, torch.Tensor):
        return seeds.reshape(-1, generator.latent_dim).float()
    return z_batch(list(seeds), generator.latent_dim)


@torch.inference_mode()
def draw(generator: DCGenerator, seeds: SeedsOrLatents, truncation: float = 1.0,
         direction_weights: Sequence[float] = ()) -> torch.Tensor:
    """The images (B, 3, S, S) in [-1, 1] of `seeds` (or of latents given as a tensor), with the
    first block's output pulled towards the model's average by `truncation` (1: unchanged, 0: the
    average cat) and moved `direction_weights[i]` standard deviations along its i-th principal axis."""
    z = latents(generator, seeds).to(next(generator.parameters()).device)
    features = runtime.draw(generator.first_features, z)  # (B, 8c, 4, 4)
    if truncation != 1 or any(direction_weights):
        space = feature_space(generator)
        features = move_along(truncate(features, space, truncation), space, direction_weights)
    return runtime.draw(generator.from_first_features, features)


def sample(generator: DCGenerator, seeds: SeedsOrLatents, truncation: float = 1.0,
           direction_weights: Sequence[float] = ()) -> list[Image.Image]:
    """One image per seed or latent (see `draw`); the same arguments always give the same images."""
    return [signed_to_pil(image) for image in draw(generator, seeds, truncation, direction_weights)]


@torch.inference_mode()
def sample_grid(generator: DCGenerator, seeds: Sequence[int], truncation: float = 1.0,
                direction_weights: Sequence[float] = (), columns: int | None = None,
                seed_captions: bool = False) -> Image.Image:
    """The samples of `sample` as one grid image (square-ish unless `columns` is given), with each
    sample's seed written under it if asked."""
    images = draw(generator, seeds, truncation, direction_weights)  # (B, 3, S, S) in [-1, 1]
    if seed_captions:
        return captioned_grid(images, [str(seed) for seed in seeds], columns)
    return make_grid(images, columns)


def compare_variants(generators: Mapping[str, DCGenerator], seeds: Sequence[int], truncation: float = 1.0,
                     direction_weights: Sequence[float] = (), seed_captions: bool = False) -> dict[str, Image.Image]:
    """The same seeds through every generator: {name: grid}. Direction weights move each model along
    its own principal directions (the same slider settings, each model's own strongest directions)."""
    return {name: sample_grid(generator, seeds, truncation, direction_weights, seed_captions=seed_captions)
            for name, generator in generators.items()}


def interpolation_frames(generator: DCGenerator, start: "int | torch.Tensor", end: "int | torch.Tensor",
                         frames: int = 16, truncation: float = 1.0,
                         end_generator: DCGenerator | None = None) -> list[Image.Image]:
    """`frames` images along the great circle between two latents, each a seed or a latent (latent_dim,).
    With `end_generator` (a projected photo's GIF: `generator` is the copy tuned to the photo, the end
    generator the model), the weights move from one to the other along the way too
    (`projection.blend`), so the GIF goes from the photo to the model's own cat."""
    ends = [subject if isinstance(subject, torch.Tensor) else z_from_seed(subject, generator.latent_dim)
            for subject in (start, end)]
    path = interpolation_path(*ends, frames)  # (frames, latent_dim)
    if end_generator is None:
        return sample(generator, path, truncation)
    fractions = torch.linspace(1.0, 0.0, frames).tolist()  # how much of `generator` each frame keeps
    return [sample(blend(generator, end_generator, fraction), latent, truncation)[0]
            for fraction, latent in zip(fractions, path, strict=True)]


def interpolation_gif(generator: DCGenerator, start: "int | torch.Tensor", end: "int | torch.Tensor",
                      frames: int = 16, truncation: float = 1.0, seconds_per_frame: float = 0.12,
                      end_generator: DCGenerator | None = None) -> bytes:
    """`interpolation_frames` as a looping GIF; the end frame is held a moment."""
    return gif_bytes(interpolation_frames(generator, start, end, frames, truncation, end_generator),
                     seconds_per_frame)


def open_upload(path: "str | Path", max_bytes: int = MAX_UPLOAD_BYTES) -> Image.Image:
    """An uploaded file as RGB, or ImageError with a one-line reason: more than `max_bytes`, more
    than 25 megapixels, not an image, corrupt (the checks of `imaging.open_rgb` plus the file size).
    Only a regular file is read, opened without following a symbolic link and without waiting on a
    FIFO or a device; anything else, or nothing at `path`, is refused with NOT_UPLOADED and nothing
    else, so the refusal tells nothing about what is there."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        descriptor = os.open(path, flags)
    except (OSError, ValueError):  # ValueError: a NUL in the path
        raise ImageError(NOT_UPLOADED) from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise ImageError(NOT_UPLOADED)
    with os.fdopen(descriptor, "rb") as handle:
        data = handle.read(max_bytes + 1)  # the size as read, not as stat()ed: a file may grow meanwhile
    return open_image_bytes(data, Path(path).name, max_bytes)


def open_data_url(url: str, max_bytes: int = MAX_UPLOAD_BYTES, name: str = "pasted image") -> Image.Image:
    """A base64 `data:` URL (what a pasted image or an API call may send instead of an upload) as RGB,
    with the checks of `open_upload`; its length is checked before it is decoded."""
    header, _, encoded = url.partition(",")
    if not header.startswith("data:") or not header.endswith(";base64"):
        raise ImageError(f"{name}: not a base64 data: URL")
    if len(encoded) > 4 * (max_bytes // 3 + 1):  # base64 carries 3 bytes in 4 characters
        raise ImageError(f"{name}: more than {max_bytes / 2**20:.0f} MB")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError(f"{name}: not valid base64") from None
    return open_image_bytes(data, name, max_bytes)


def open_image_bytes(data: bytes, name: str, max_bytes: int = MAX_UPLOAD_BYTES) -> Image.Image:
    """Image file bytes as RGB: at most `max_bytes`, then `imaging.open_rgb`'s checks."""
    if len(data) > max_bytes:
        raise ImageError(f"{name}: more than {max_bytes / 2**20:.0f} MB")
    return open_rgb(io.BytesIO(data), name=name)


@dataclass
class Translation:
    """What one translation shows: the input as the model saw it, its translation, and the
    translation mapped back (the cycle reconstruction)."""

    input: Image.Image
    translation: Image.Image
    reconstruction: Image.Image


def prepare_input(image: "Image.Image | str | Path", image_size: int, full_size: bool,
                  max_side: int = FULL_SIZE_MAX_SIDE) -> Image.Image:
    """Any image -> what the generator gets: the centred square at the training size, or the whole
    image scaled to at most `max_side` with sides divisible by 4 (the generator is fully convolutional).
    A whole image smaller than the training size is scaled up to it first: the generator's instance
    norms need a few pixels left after its two downsamplings."""
    image = open_rgb(image)
    if not full_size:
        return center_crop_resize(image, image_size)
    if min(image.size) < image_size:
        scale = min(image_size / min(image.size), max_side / max(image.size))
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.BICUBIC)
    fitted = fit_within(image, max_side)
    if min(fitted.size) < MIN_FULL_SIZE_SIDE:
        raise ImageError(f"{image.width}x{image.height} is too narrow to translate whole; use the model size instead")
    return fitted


@torch.inference_mode()
def translate(model: CycleGAN, image: "Image.Image | str | Path", direction: str = "a2b",
              full_size: bool = False, max_side: int = FULL_SIZE_MAX_SIDE) -> Translation:
    """Translate in `direction` ("a2b" or "b2a") and cycle back."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    forward, backward = (model.gen_a2b, model.gen_b2a) if direction == "a2b" else (model.gen_b2a, model.gen_a2b)
    seen = prepare_input(image, model.image_size, full_size, max_side)
    translated = runtime.draw(forward, pil_to_signed(seen).to(next(model.parameters()).device))  # (1, 3, H, W)
    return Translation(seen, signed_to_pil(translated), signed_to_pil(runtime.draw(backward, translated)))
