"""Labelled frames and progress GIFs: training writes them into run folders, the app reads them
back and draws interpolation GIFs. Sample grids are `imaging.make_grid`; loss plots are training's
(train/plots.py)."""

import io
import math
import struct
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageSequence

from gan_demo.files import read_regular
from gan_demo.imaging import make_grid

FRAME_SECONDS = 0.25
# A progress GIF is read back only within these bounds (docs/security.md compares them with the bundled GIFs).
MAX_GIF_BYTES = 16 * 2**20
MAX_GIF_FRAMES = 1000
MAX_FRAME_PIXELS = 2048 * 2048  # one frame's canvas: a 4x4 grid of 512-pixel samples
MAX_GIF_PIXELS = 16_000_000  # all frames together: 48 MB once decoded to RGB, kept while the run is shown
TRAILER, EXTENSION, IMAGE = 0x3B, 0x21, 0x2C  # the bytes that start a GIF's blocks


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


def read_gif_frames(path: "str | Path", max_pixels: int = MAX_GIF_PIXELS) -> list[Image.Image]:
    """Every frame of a progress GIF as RGB images. The file is read only if it is a regular file of
    at most MAX_GIF_BYTES (gan_demo.files), and decoded only if its blocks (`gif_layout`) show at most
    MAX_GIF_FRAMES frames on a canvas of at most MAX_FRAME_PIXELS, `max_pixels` in all. Anything else
    is a ValueError with one line; a missing file is FileNotFoundError."""
    data = read_regular(path, MAX_GIF_BYTES)
    width, height, count = gif_layout(data)
    if width * height > MAX_FRAME_PIXELS or width * height * count > max_pixels:
        raise ValueError(f"too large to show ({width}x{height}, {count} frames)")
    try:
        with Image.open(io.BytesIO(data), formats=["GIF"]) as gif:
            return [frame.convert("RGB") for frame in ImageSequence.Iterator(gif)]
    except (OSError, SyntaxError, EOFError, ValueError) as error:
        raise ValueError(f"corrupt GIF ({(str(error) or type(error).__name__).splitlines()[0]})") from None


def gif_layout(data: bytes) -> tuple[int, int, int]:
    """(width, height, frames) of a GIF from its blocks alone, nothing decoded, in time linear in its
    bytes. The canvas is the logical screen grown to the extent of every frame, as Pillow grows it
    while decoding (a GIF may declare a 1x1 screen and hold a 5000x5000 frame). ValueError with one
    line for a file that is not a GIF, is cut short, or has more than MAX_GIF_FRAMES frames."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise ValueError("empty, or not a GIF")
    width, height, flags = struct.unpack_from("<HHB", data, 6)
    position = 13 + colour_table_bytes(flags)
    frames = 0
    try:
        while position < len(data) and data[position] != TRAILER:  # Pillow also stops at the end of the data
            block = data[position]
            if block == EXTENSION:  # introducer, label, then sub-blocks
                position = after_sub_blocks(data, position + 2)
            elif block == IMAGE:  # descriptor, its colour table, the LZW code size, then sub-blocks
                left, top, frame_width, frame_height, flags = struct.unpack_from("<HHHHB", data, position + 1)
                width, height = max(width, left + frame_width), max(height, top + frame_height)
                frames += 1
                if frames > MAX_GIF_FRAMES:
                    raise ValueError(f"too large to show (more than {MAX_GIF_FRAMES} frames)")
                position = after_sub_blocks(data, position + 10 + colour_table_bytes(flags) + 1)
            else:
                raise ValueError(f"corrupt GIF (an unknown block 0x{block:02x} at byte {position})")
    except (IndexError, struct.error):
        raise ValueError("corrupt GIF (it ends inside a block)") from None
    if frames == 0:
        raise ValueError("corrupt GIF (no frames)")
    return width, height, frames


def colour_table_bytes(flags: int) -> int:
    """The size of the colour table that a screen or image descriptor's flags announce."""
    return 3 << ((flags & 0x07) + 1) if flags & 0x80 else 0


def after_sub_blocks(data: bytes, position: int) -> int:
    """The position after a chain of sub-blocks (each a length byte and that many bytes, ending at a
    zero length); IndexError when the data ends first."""
    while (length := data[position]) != 0:
        position += 1 + length
    return position + 1
