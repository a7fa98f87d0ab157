"""How a bundled model learned, read back from its exported folder: the frames of its progress GIF
and the iteration each one shows, its loss curves as a long table for an interactive plot, and its
training settings (from the model card). The app's "Training progress" tab is built on this;
training writes these files (train/run_folder.py, train/model_card.py)."""

import bisect
import csv
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from gan_demo.render import read_gif_frames

SETTINGS_BLOCK = re.compile(r"## Training settings\s+```json\s*(\{.*?\})\s*```", re.DOTALL)


@dataclass(frozen=True)
class RunProgress:
    """One run as the app shows it. `steps[i]` is the iteration of `frames[i]`."""

    folder: Path
    frames: tuple[Image.Image, ...]
    steps: tuple[int, ...]
    losses: dict[str, list[float]]
    settings: dict

    @property
    def gif_path(self) -> Path:
        return self.folder / "progress.gif"

    def frame_at(self, iteration: float) -> tuple[Image.Image, int]:
        """The frame for the last sample written at or before `iteration` (the first one before
        that), and its iteration."""
        index = max(0, bisect.bisect_right(self.steps, iteration) - 1)
        return self.frames[index], self.steps[index]


def has_progress(folder: "str | Path") -> bool:
    return (Path(folder) / "progress.gif").is_file()


def load_run(folder: "str | Path") -> RunProgress:
    """Read a run folder (an export or checkpoints/<name>/ with progress.gif, losses.csv and README.md);
    cached until its progress.gif changes, so a model copied in while the app runs shows up."""
    folder = Path(folder)
    return load_run_cached(str(folder), (folder / "progress.gif").stat().st_mtime_ns)


@functools.lru_cache(maxsize=16)
def load_run_cached(folder: str, gif_mtime: int) -> RunProgress:
    path = Path(folder)
    frames = tuple(read_gif_frames(path / "progress.gif"))
    settings = training_settings(path)
    losses = read_losses(path / "losses.csv") if (path / "losses.csv").is_file() else {}
    return RunProgress(path, frames, frame_steps(len(frames), settings, losses), losses, settings)


def read_losses(path: "str | Path") -> dict[str, list[float]]:
    """losses.csv -> {column: values}, `step` first: the one reader of that file (the app, the loss
    plot, the model card, the bundle table, resuming). A row with the wrong number of fields or a
    value that is not a number (the tail of a file cut off mid-write) is skipped; {} for a file
    without a header."""
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        columns: dict[str, list[float]] = {name: [] for name in header}
        for row in reader:
            try:
                values = [float(value) for value in row]
            except ValueError:
                continue
            if len(values) != len(header):
                continue
            for name, value in zip(header, values, strict=True):
                columns[name].append(value)
    return columns


def smooth(values: list[float], window: int) -> np.ndarray:
    """Moving average (valid part only), so the trend shows through GAN loss noise."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) < window:
        return values
    return np.convolve(values, np.ones(window) / window, mode="valid")


def frame_steps(count: int, settings: dict, losses: dict[str, list[float]]) -> tuple[int, ...]:
    """Training writes a frame every `sample_every` steps and one at the last step, so frame i shows
    iteration min(sample_every * (i + 1), iters). Without settings, frames are spread evenly over
    the logged steps."""
    every, total = settings.get("sample_every"), settings.get("iters")
    if every and total:
        return tuple(min(every * (index + 1), total) for index in range(count))
    last = int(losses["step"][-1]) if losses.get("step") else count
    return tuple(round(last * (index + 1) / count) for index in range(count))


def training_settings(folder: "str | Path") -> dict:
    """The training settings a model card records (its "Training settings" JSON block), or {}."""
    card = Path(folder) / "README.md"
    match = SETTINGS_BLOCK.search(card.read_text(encoding="utf-8")) if card.is_file() else None
    if not match:
        return {}
    try:
        return json.loads(match.group(1))
    except json.JSONDecodeError:
        return {}


def loss_table(losses: dict[str, list[float]], max_points: int = 300) -> dict[str, list]:
    """Long format {"iteration", "loss", "term"} for a line plot, one series per loss term: a
    moving average (GAN losses are noisy step to step) thinned to at most `max_points` per term,
    so a 6400-step run stays light in the browser."""
    steps = losses.get("step", [])
    table: dict[str, list] = {"iteration": [], "loss": [], "term": []}
    window = max(1, len(steps) // 100)
    for term, values in losses.items():
        if term == "step":
            continue
        curve = smooth(values, window)
        curve_steps = steps[len(steps) - len(curve):]
        stride = max(1, -(-len(curve) // max_points))  # ceiling division
        for index in range(0, len(curve), stride):
            table["iteration"].append(int(curve_steps[index]))
            table["loss"].append(float(curve[index]))
            table["term"].append(term)
    return table
