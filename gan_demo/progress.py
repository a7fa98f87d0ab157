"""How a bundled model learned, read back from its exported folder: the frames of its progress GIF
and the iteration each one shows, its loss curves as a long table for an interactive plot, and its
training settings (from the model card). The app's "Training progress" tab is built on this;
training writes these files (train/run_folder.py, train/model_card.py). Those files may be broken
or hostile (an empty or corrupt GIF, a GIF whose header claims 65535x65535, a non-numeric losses.csv,
a card that is not UTF-8 or holds odd values): a run without readable frames raises ProgressError
with one line, and a run whose frames read but whose losses do not lists that in `problems`."""

import bisect
import csv
import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from gan_demo.render import read_gif_frames

MAX_CARD_BYTES = 1_000_000  # a model card is a few kB; a larger one is read only this far
SETTINGS_BLOCK = re.compile(r"## Training settings\s+```json\s*(\{.*?\})\s*```", re.DOTALL)


class ProgressError(ValueError):
    """A run whose progress cannot be shown; the message is one line naming the file and why."""


@dataclass(frozen=True)
class RunProgress:
    """One run as the app shows it. `steps[i]` is the iteration of `frames[i]`; `problems` says
    what could not be read (its losses) while the frames could."""

    folder: Path
    frames: tuple[Image.Image, ...]
    steps: tuple[int, ...]
    losses: dict[str, list[float]]
    settings: dict
    problems: tuple[str, ...] = ()

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
    cached until its progress.gif changes, so a model copied in while the app runs shows up.
    ProgressError when its progress.gif is missing or unreadable."""
    folder = Path(folder)
    try:
        modified = (folder / "progress.gif").stat().st_mtime_ns
    except OSError:
        raise ProgressError("progress.gif: missing") from None
    return load_run_cached(str(folder), modified)


@functools.lru_cache(maxsize=16)
def load_run_cached(folder: str, gif_mtime: int) -> RunProgress:
    path = Path(folder)
    try:
        frames = tuple(read_gif_frames(path / "progress.gif"))
    except (OSError, ValueError) as error:
        raise ProgressError(f"progress.gif: {error}") from None
    settings = training_settings(path)
    losses, problems = {}, []
    if (path / "losses.csv").is_file():
        try:
            losses = read_losses(path / "losses.csv")
        except (OSError, ValueError, csv.Error) as error:  # UnicodeDecodeError is a ValueError
            problems.append(f"losses.csv: {str(error).splitlines()[0]}")
    return RunProgress(path, frames, steps_of(path, len(frames), settings, losses), losses, settings, tuple(problems))


def steps_of(folder: Path, count: int, settings: dict, losses: dict[str, list[float]]) -> tuple[int, ...]:
    """The step of each of a folder's `count` frames: as training recorded them, else derived."""
    return recorded_steps(folder, count) or frame_steps(count, settings, losses)


def recorded_steps(folder: Path, count: int) -> tuple[int, ...] | None:
    """The real step of every frame as training recorded it (progress.json, right after a resume that
    extended the run too), or None when the file is missing, broken or does not match the GIF."""
    try:
        with open(folder / "progress.json", "rb") as handle:
            steps = json.loads(handle.read(MAX_CARD_BYTES)).get("frame_steps")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(steps, list) and len(steps) == count and all(positive_integer(step) for step in steps):
        return tuple(steps)
    return None


class LossLogError(ValueError):
    """A losses.csv that a strict read (resuming its run) cannot trust; the message names the line."""


def read_losses(path: "str | Path", header: "list[str] | None" = None) -> dict[str, list[float]]:
    """losses.csv -> {column: values}, `step` first: the one reader of that file (the app, the loss
    plot, the model card, the bundle table, resuming). A last line without its newline is an append
    that a kill cut short: always left out.

    Tolerant by default, for showing a run that may be mid-write: a row with the wrong number of
    fields or a value that is not a number is skipped; {} for a file without a header.
    Strict when `header` names the run's columns (resuming, where a bad row would silently become
    part of the run's history): the file must have that header and rows of whole, increasing steps;
    anything else raises LossLogError."""
    with open(path, newline="", encoding="utf-8") as handle:
        lines = handle.read().split("\n")[:-1]  # the last piece is "" or the line a kill cut short
    if not lines:
        return {name: [] for name in header or []}
    names = lines[0].split(",")
    if header is not None and names != header:
        raise LossLogError(f"its header is not {','.join(header)}; it belongs to another kind of run")
    columns: dict[str, list[float]] = {name: [] for name in names}
    for number, line in enumerate(lines[1:], start=2):
        try:
            values = [float(value) for value in next(csv.reader([line]), [])]
        except ValueError:
            values = []
        steps = columns.get("step", [])
        usable = len(values) == len(names) and (
            header is None or (values[0].is_integer() and not (steps and values[0] <= steps[-1])))
        if not usable:
            if header is None:
                continue
            raise LossLogError(f"line {number} is not a row of increasing step and {len(names) - 1} losses "
                               f"({line[:60]!r})")
        for name, value in zip(names, values, strict=True):
            columns[name].append(value)
    return columns


def smooth(values: list[float], window: int) -> np.ndarray:
    """Moving average (valid part only), so the trend shows through GAN loss noise."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) < window:
        return values
    return np.convolve(values, np.ones(window) / window, mode="valid")


def frame_steps(count: int, settings: dict, losses: dict[str, list[float]]) -> tuple[int, ...]:
    """The frames' steps for an export without progress.json. Training writes a frame every
    `sample_every` steps and one at the last step, so frame i shows iteration
    min(sample_every * (i + 1), iters). Without usable settings (positive whole numbers), frames are
    spread evenly over the logged steps."""
    every, total = settings.get("sample_every"), settings.get("iters")
    if positive_integer(every) and positive_integer(total):
        return tuple(min(every * (index + 1), total) for index in range(count))
    logged = losses.get("step", [])
    last = int(logged[-1]) if logged and math.isfinite(logged[-1]) and logged[-1] >= 1 else count
    return tuple(round(last * (index + 1) / count) for index in range(count))


def positive_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def training_settings(folder: "str | Path") -> dict:
    """The training settings a model card records (its "Training settings" JSON block), or {}."""
    card = Path(folder) / "README.md"
    try:
        with open(card, "rb") as handle:
            text = handle.read(MAX_CARD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return {}
    match = SETTINGS_BLOCK.search(text)
    try:
        settings = json.loads(match.group(1)) if match else {}
    except (json.JSONDecodeError, RecursionError):
        return {}
    return settings if isinstance(settings, dict) else {}


def loss_table(losses: dict[str, list[float]], max_points: int = 300) -> dict[str, list]:
    """Long format {"iteration", "loss", "term"} for a line plot, one series per loss term: a
    moving average (GAN losses are noisy step to step) thinned to at most `max_points` per term,
    so a 6400-step run stays light in the browser."""
    steps = losses.get("step", [])
    table: dict[str, list] = {"iteration": [], "loss": [], "term": []}
    if not steps:  # nothing to put on the x axis
        return table
    window = max(1, len(steps) // 100)
    for term, values in losses.items():
        if term == "step":
            continue
        curve = smooth(values, window)
        curve_steps = steps[len(steps) - len(curve):]
        stride = max(1, -(-len(curve) // max_points))  # ceiling division
        for index in range(0, len(curve), stride):
            if not (math.isfinite(curve[index]) and math.isfinite(curve_steps[index])):  # nor in JSON
                continue
            table["iteration"].append(int(curve_steps[index]))
            table["loss"].append(float(curve[index]))
            table["term"].append(term)
    return table
