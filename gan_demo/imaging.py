"""Pixel conventions, in one place. Networks see float tensors in [-1, 1], shaped (B, 3, H, W);
people and files see RGB PIL images or uint8 arrays. Everything that crosses that line (reading
an image of any format or mode, crop and resize, tensor <-> PIL, grids) goes through here.
"""

import math
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
MAX_PIXELS = 25_000_000  # larger images are refused rather than decoded (decompression bombs)


class ImageError(ValueError):
    """An image that cannot be used; the message is one line meant for a person."""


def open_rgb(source: "str | Path | Image.Image", max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open any PIL-readable image as RGB: EXIF orientation applied, first frame of an animation,
    transparency flattened onto white, 16-bit and palette modes converted."""
    name = getattr(source, "name", None) or str(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = source if isinstance(source, Image.Image) else Image.open(source)
            if image.width * image.height > max_pixels:
                raise ImageError(f"{name}: {image.width}x{image.height} is more than "
                                 f"{max_pixels // 1_000_000} megapixels")
            image.seek(0)
            image = ImageOps.exif_transpose(image)
            image.load()
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: not a readable image") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"{name}: corrupt or unreadable image ({error})") from None
    return flatten_to_rgb(image)


def flatten_to_rgb(image: Image.Image) -> Image.Image:
    """Any mode -> RGB. Alpha is composited onto white; 16/32-bit greys are scaled to 8 bits."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0, 0, 255).astype(np.uint8), mode="L")
    elif image.mode == "F":
        image = Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def center_crop_resize(image: Image.Image, size: int) -> Image.Image:
    """Largest centred square, resized to size x size (bicubic, antialiased)."""
    return ImageOps.fit(image, (size, size), Image.Resampling.BICUBIC)


def fit_within(image: Image.Image, max_side: int, multiple: int = 4) -> Image.Image:
    """Scale down so the long side is at most max_side, then trim each side to a multiple of
    `multiple` (what a fully convolutional generator with two stride-2 layers needs)."""
    scale = min(1.0, max_side / max(image.size))
    width, height = max(multiple, round(image.width * scale)), max(multiple, round(image.height * scale))
    if (width, height) != image.size:
        image = image.resize((width, height), Image.Resampling.BICUBIC)
    width, height = width - width % multiple, height - height % multiple
    return image.crop((0, 0, width, height))


def pil_to_uint8(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> uint8 tensor (3, H, W)."""
    return torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).contiguous()


def uint8_to_signed(images: torch.Tensor) -> torch.Tensor:
    """uint8 in [0, 255] -> float32 in [-1, 1], any leading shape."""
    return images.float().div(127.5).sub(1.0)


def signed_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] -> uint8 in [0, 255], clamped; any leading shape."""
    return images.detach().float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu()


def pil_to_signed(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> (1, 3, H, W) float tensor in [-1, 1]."""
    return uint8_to_signed(pil_to_uint8(image)).unsqueeze(0)


def signed_to_pil(image: torch.Tensor) -> Image.Image:
    """(3, H, W) or (1, 3, H, W) tensor in [-1, 1] -> RGB PIL image."""
    return Image.fromarray(signed_to_uint8(image.reshape(-1, *image.shape[-3:])[0]).permute(1, 2, 0).numpy())


def make_grid(images: torch.Tensor, columns: int | None = None, padding: int = 2,
              background: int = 255) -> Image.Image:
    """(B, 3, H, W) tensor in [-1, 1] -> one PIL image, `columns` per row (square-ish by default)."""
    count, _, height, width = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    canvas = torch.full((3, rows * (height + padding) + padding, columns * (width + padding) + padding),
                        background, dtype=torch.uint8)
    for index, image in enumerate(signed_to_uint8(images)):
        top = padding + (index // columns) * (height + padding)
        left = padding + (index % columns) * (width + padding)
        canvas[:, top:top + height, left:left + width] = image
    return Image.fromarray(canvas.permute(1, 2, 0).numpy())
