"""Everything the project draws: labelled frames, progress GIFs and loss plots. Training writes
them into run folders; the app reads them back. Sample grids themselves are `imaging.make_grid`."""

import csv
import io
import math
import warnings
from pathlib import Path

import imageio.v3 as iio
import matplotlib

matplotlib.use("Agg")  # no display on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw, ImageFont, ImageSequence, UnidentifiedImageError  # noqa: E402

from gan_demo.imaging import MAX_PIXELS, make_grid  # noqa: E402

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


def read_losses(path: Path) -> dict[str, list[float]]:
    """losses.csv -> {column: values}; the first column is `step`. A missing or non-numeric value is
    a ValueError naming its line and column."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return {}
    table: dict[str, list[float]] = {column: [] for column in rows[0]}
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        for column, values in table.items():
            try:
                values.append(float(row[column]))
            except (TypeError, ValueError):
                shown = "missing" if row[column] is None else f"{row[column][:20]!r}, not a number"
                raise ValueError(f"line {line}: {column[:40]} is {shown}") from None
    return table


def smooth(values: list[float], window: int) -> np.ndarray:
    """Moving average (valid part only), so the trend shows through GAN loss noise."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) < window:
        return values
    return np.convolve(values, np.ones(window) / window, mode="valid")


def plot_losses(losses: dict[str, list[float]], path: "Path | io.BytesIO", title: str = "") -> None:
    """Loss curves, one per column besides `step`, lightly smoothed, written as a PNG."""
    steps = losses.get("step", [])
    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=100)
    window = max(1, len(steps) // 100)
    for name, values in losses.items():
        if name == "step":
            continue
        curve = smooth(values, window)
        axes.plot(steps[len(steps) - len(curve):], curve, label=name, linewidth=1.2)
    axes.set_xlabel("iteration")
    axes.set_ylabel(f"loss (moving average of {window})" if window > 1 else "loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right", fontsize=8, ncols=2)
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
