"""Everything the project draws: labelled frames, progress GIFs and loss plots. Training writes
them into run folders; the app reads them back. Sample grids themselves are `imaging.make_grid`."""

import csv
import io
from pathlib import Path

import imageio.v3 as iio
import matplotlib

matplotlib.use("Agg")  # no display on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

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


def read_losses(path: Path) -> dict[str, list[float]]:
    """losses.csv -> {column: values}; the first column is `step`."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return {}
    return {column: [float(row[column]) for row in rows] for column in rows[0]}


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
