"""Load exported models and run them: sample cats from a DCGAN, translate an image with a
CycleGAN. Used by the app and by anyone scripting the models; no gradio here. Everything runs
under `torch.inference_mode` in float32 on the CPU unless a device is given."""

import functools
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from gan_demo.imaging import center_crop_resize, fit_within, open_rgb, pil_to_signed, signed_to_pil
from gan_demo.latents import z_batch
from gan_demo.models import CycleGAN, DCGenerator

FULL_SIZE_MAX_SIDE = 512
DIRECTIONS = ("a2b", "b2a")


class ModelLoadError(RuntimeError):
    """An exported model folder that is missing, incomplete or corrupt; the message is one line."""


@functools.lru_cache(maxsize=16)
def load_folder(model_class: type, folder: str) -> torch.nn.Module:
    """`model_class.from_pretrained(folder)`, loaded once per process, in eval mode."""
    path = Path(folder)
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise ModelLoadError(f"{folder}: not an exported model (needs config.json and model.safetensors)")
    try:
        model = model_class.from_pretrained(str(path))
    except Exception as error:  # safetensors / json / shape errors all mean the same to a user
        raise ModelLoadError(f"{folder}: cannot load {model_class.__name__} ({type(error).__name__}: {error})") from None
    return model.eval().requires_grad_(False)


def load_generator(folder: "str | Path") -> DCGenerator:
    return load_folder(DCGenerator, str(folder))


def load_cyclegan(folder: "str | Path") -> CycleGAN:
    return load_folder(CycleGAN, str(folder))


@torch.inference_mode()
def generate(generator: DCGenerator, z: torch.Tensor) -> list[Image.Image]:
    """Latents (B, latent_dim) -> B PIL images."""
    images = generator(z.to(next(generator.parameters()).device))  # (B, 3, S, S) in [-1, 1]
    return [signed_to_pil(image) for image in images]


def sample(generator: DCGenerator, seeds: list[int], truncation: float = 1.0) -> list[Image.Image]:
    """One image per seed; the same seed always gives the same image."""
    return generate(generator, z_batch(seeds, generator.latent_dim, truncation))


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
    image scaled to at most `max_side` with sides divisible by 4 (the generator is fully convolutional)."""
    image = open_rgb(image)
    return fit_within(image, max_side) if full_size else center_crop_resize(image, image_size)


@torch.inference_mode()
def translate(model: CycleGAN, image: "Image.Image | str | Path", direction: str = "a2b",
              full_size: bool = False, max_side: int = FULL_SIZE_MAX_SIDE) -> Translation:
    """Translate in `direction` ("a2b" or "b2a") and cycle back."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    forward, backward = (model.gen_a2b, model.gen_b2a) if direction == "a2b" else (model.gen_b2a, model.gen_a2b)
    seen = prepare_input(image, model.image_size, full_size, max_side)
    source = pil_to_signed(seen).to(next(model.parameters()).device)  # (1, 3, H, W)
    translated = forward(source)
    return Translation(seen, signed_to_pil(translated), signed_to_pil(backward(translated)))
