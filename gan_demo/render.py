"""Labelled frames and progress GIFs: training writes them into run folders, the app reads them
back and draws interpolation GIFs. Sample grids are `imaging.make_grid`; loss plots are training's
(train/plots.py)."""

import io
import math
import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageSequence, UnidentifiedImageError

from gan_demo.imaging import MAX_PIXELS, make_grid

FRAME_SECONDS = 0.25
MAX_GIF_PIXELS = 100_000_000  # all frames of a progress GIF together: 300 MB once decoded to RGB


def label_frame(image: Image.Image, text: str) -> Image.Image:
    """Copy of `image` with `text` drawn in its top-left corner, white on a dark box."""
    frame = image.convert("RGB").copy()
    draw = ImageDraw.Draw(frame)
    font = ImageFont.load_default(size=max(10, frame.height // 22))
    left, top, right, bottom = draw.textbbox((4, 2), text, font=font)
    draw.rectangle((0, 0, right + 4, bottom + 3), fill=(20, 20, 20))
    draw.text((4, 2), text, fill=(255, 255, 255), font=font)
    return frame


def captioned_grid(images: torch.Tensor, captions: list[str], columns: int | None = None,
                   padding: int = 2) -> Image.Image:
    """`imaging.make_grid` of (B, 3, H, W) images in [-1, 1] with each caption written in a white strip
    under its image (a sample's seed, so a cat can be found again)."""
    count, _, height, width = images.shape
    strip = max(9, height // 5)
    grid = make_grid(torch.nn.functional.pad(images, (0, 0, 0, strip), value=1.0), columns, padding)
    columns = columns or math.ceil(math.sqrt(count))
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default(size=strip - 2)
    for index, caption in enumerate(captions):
        left = padding + (index % columns) * (width + padding)
        top = padding + (index // columns) * (height + strip + padding) + height
        draw.text((left + width / 2, top + strip / 2), caption, fill=(60, 60, 60), font=font, anchor="mm")
    return grid


def step_label(step: int) -> str:
    return f"iter {step}"


def gif_bytes(frames: list[Image.Image], seconds_per_frame: float = FRAME_SECONDS,
              last_frame_hold: float = 1.5) -> bytes:
    """An animated GIF that loops forever, encoded in memory; the last frame stays up longer."""
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    durations = [int(seconds_per_frame * 1000)] * len(frames)
    durations[-1] = int(max(seconds_per_frame, last_frame_hold) * 1000)
    arrays = np.stack([np.asarray(frame.convert("RGB")) for frame in frames])
    buffer = io.BytesIO()
    # Pillow takes one duration for a single frame and a list for several.
    iio.imwrite(buffer, arrays, extension=".gif", duration=durations if len(frames) > 1 else durations[0], loop=0)
    return buffer.getvalue()


def read_gif_frames(path: Path, max_pixels: int = MAX_GIF_PIXELS) -> list[Image.Image]:
    """Every frame of a GIF as RGB images. Frame size and count are read from the headers and checked
    before anything is decoded: a frame over `imaging.MAX_PIXELS` or more than `max_pixels` in all
    is a ValueError (one line), as is a file that is not a readable GIF."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=["GIF"]) as gif:
                frame_pixels = gif.width * gif.height
                if frame_pixels > MAX_PIXELS or frame_pixels * gif.n_frames > max_pixels:
                    raise ValueError(f"too large to show ({gif.width}x{gif.height}, {gif.n_frames} frames)")
                return [frame.convert("RGB") for frame in ImageSequence.Iterator(gif)]
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError("too large to show (its header claims more than Pillow's bomb limit)") from None
    except UnidentifiedImageError:
        raise ValueError("empty, or not a GIF") from None
    except (OSError, SyntaxError, EOFError) as error:
        raise ValueError(f"corrupt GIF ({(str(error) or type(error).__name__).splitlines()[0]})") from None
