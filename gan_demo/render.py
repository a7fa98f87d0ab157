"""Labelled frames and progress GIFs: training writes them into run folders, the app reads them
back and draws interpolation GIFs. Sample grids are `imaging.make_grid`; loss plots are training's
(train/plots.py)."""

import io
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FRAME_SECONDS = 0.25


def label_frame(image: Image.Image, text: str) -> Image.Image:
    """Copy of `image` with `text` drawn in its top-left corner, white on a dark box."""
    frame = image.convert("RGB").copy()
    draw = ImageDraw.Draw(frame)
    font = ImageFont.load_default(size=max(10, frame.height // 22))
    left, top, right, bottom = draw.textbbox((4, 2), text, font=font)
    draw.rectangle((0, 0, right + 4, bottom + 3), fill=(20, 20, 20))
    draw.text((4, 2), text, fill=(255, 255, 255), font=font)
    return frame


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


def read_gif_frames(path: Path) -> list[Image.Image]:
    """Every frame of a GIF as RGB images."""
    return [Image.fromarray(frame).convert("RGB") for frame in iio.imread(path, index=None, extension=".gif")]
