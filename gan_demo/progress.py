"""How a model learned, read back from the folder training wrote: the frames of its progress GIF and
the iteration each one shows, its loss curves as a long table for an interactive plot, and its
training settings (an export's model card, or a run folder's config.json). The app's "Training
progress" tab is built on this, for bundled models, models added from the Hub and local runs alike;
training writes these files (train/run_folder.py, train/model_card.py).

Those files may be broken or hostile (a corrupt GIF, a GIF of a few kB that decodes to gigabytes, a
FIFO, a sparse losses.csv of a gigabyte, a config.json nested thousands deep), so every file is read
only when it is a regular file within its size limit (gan_demo.files), a GIF only when its frames
are bounded (render.read_gif_frames), a long losses.csv as evenly spaced stretches of its rows, and
JSON within the export format's bounds on bytes, nesting and numbers. A folder without readable frames
raises ProgressError with one line; one whose frames read but whose losses or settings do not lists
that in `problems`. Reads are cached per version of every file read (gan_demo.files.version), so a
poll that finds nothing new costs a few lstat calls, and a refused file is not read again until it
changes."""

import bisect
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from gan_demo.files import latest_version_cache, open_regular, read_regular, size_of, version, why_unreadable
from gan_demo.models.export_format import MAX_CONFIG_BYTES, parse_config
from gan_demo.render import read_gif_frames

CARD, RUN_CONFIG = "README.md", "config.json"  # where the training settings are: an export's, a run folder's
MAX_CARD_BYTES = 1_000_000  # a model card is a few kB
# losses.csv as the app reads it: a larger file is read as LOSS_STRETCHES evenly spaced stretches of
# whole rows, MAX_LOSS_BYTES in all (its first and last rows included), so a plot of 300 points per
# term costs the same for any length of run.
MAX_LOSS_BYTES = 4 * 2**20
LOSS_STRETCHES = 256
MAX_LOSS_HEADER_BYTES = 4096
MAX_LOSS_COLUMNS = 32
SETTINGS_BLOCK = re.compile(r"## Training settings\s+```json\s*(\{.*?\})\s*```", re.DOTALL)


class ProgressError(ValueError):
    """A run whose progress cannot be shown; the message is one line naming the file and why."""


@dataclass(frozen=True)
class RunProgress:
    """One run as the app shows it. `steps[i]` is the iteration of `frames[i]`; `problems` says
    what could not be read (its losses, its settings) while the frames could."""

    folder: Path
    frames: tuple[Image.Image, ...]
    steps: tuple[int, ...]
    losses: dict[str, list[float]]
    settings: dict
    problems: tuple[str, ...] = ()

    @property
    def gif_path(self) -> Path:
        return self.folder / "progress.gif"

    @property
    def shown_settings(self) -> dict:
        """The settings as the app shows them: with a "problems" entry saying what could not be read."""
        return {**self.settings, "problems": list(self.problems)} if self.problems else self.settings

    def frame_at(self, iteration: float) -> tuple[Image.Image, int]:
        """The frame for the last sample written at or before `iteration` (the first one before
        that), and its iteration."""
        index = max(0, bisect.bisect_right(self.steps, iteration) - 1)
        return self.frames[index], self.steps[index]


def has_progress(folder: "str | Path") -> bool:
    return (Path(folder) / "progress.gif").is_file()


def load_run(folder: "str | Path", settings_file: str = CARD) -> RunProgress:
    """Read a folder with progress.gif, losses.csv, progress.json and its settings in `settings_file`
    (CARD: an export or checkpoints/<name>/; RUN_CONFIG: a run folder train/ writes into), or raise
    ProgressError. Cached per version of those files, so a model copied in or a run that goes on
    while the app runs shows up, and a poll that finds nothing new reads nothing."""
    folder = Path(folder)
    versions = tuple(version(folder / name) for name in ("progress.gif", "losses.csv", "progress.json", settings_file))
    if versions[0] is None:
        raise ProgressError("progress.gif: missing")
    outcome = read_run((str(folder), settings_file), versions)
    if isinstance(outcome, str):
        raise ProgressError(outcome)
    return outcome


@latest_version_cache(maxsize=16)  # the bundled models, those added from the Hub, a few local runs
def read_run(where: tuple[str, str], versions: tuple) -> "RunProgress | str":
    """The run in folder `where[0]` with its settings in `where[1]`, or the one line saying why its
    frames cannot be shown; `versions` (of the files read) is for the cache only."""
    folder, settings_file = where
    path = Path(folder)
    try:
        frames = tuple(read_gif_frames(path / "progress.gif"))
    except FileNotFoundError:
        return "progress.gif: missing"
    except (OSError, ValueError) as error:
        return f"progress.gif: {why_unreadable(error)}"
    settings, problems = read_settings(path, settings_file)
    losses = {}
    try:
        losses = read_losses(path / "losses.csv", max_bytes=MAX_LOSS_BYTES)
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as error:  # UnicodeDecodeError is a ValueError
        problems.append(f"losses.csv: {why_unreadable(error)}")
    return RunProgress(path, frames, steps_of(path, len(frames), settings, losses), losses, settings, tuple(problems))


def steps_of(folder: Path, count: int, settings: dict, losses: dict[str, list[float]]) -> tuple[int, ...]:
    """The step of each of a folder's `count` frames: as training recorded them, else derived."""
    return recorded_steps(folder, count) or frame_steps(count, settings, losses)


def recorded_steps(folder: Path, count: int) -> tuple[int, ...] | None:
    """The real step of every frame as training recorded it (progress.json, right after a resume that
    extended the run too), or None when the file is missing, broken or does not match the GIF."""
    try:
        steps = parse_config(read_regular(folder / "progress.json", MAX_CONFIG_BYTES)).get("frame_steps")
    except (OSError, ValueError):  # ExportFormatError and UnreadableFile are ValueErrors
        return None
    if isinstance(steps, list) and len(steps) == count and all(positive_integer(step) for step in steps):
        return tuple(steps)
    return None


class LossLogError(ValueError):
    """A losses.csv that a strict read (resuming its run) cannot trust; the message names the line."""


def read_losses(path: "str | Path", header: "list[str] | None" = None,
                max_bytes: int | None = None) -> dict[str, list[float]]:
    """losses.csv -> {column: values}, `step` first: the one reader of that file (the app, the loss
    plot, the model card, the bundle table, resuming). Only a regular file is read (gan_demo.files).
    A last line without its newline is an append that a kill cut short: always left out.

    Tolerant by default, for showing a run that may be mid-write: a row with the wrong number of
    fields or a value that is not a number is skipped; {} for a file without a header; more than
    MAX_LOSS_COLUMNS columns is a ValueError. With `max_bytes` (the app), a larger file is read as
    evenly spaced stretches of rows (`sampled_lines`), `max_bytes` in all.
    Strict when `header` names the run's columns (resuming, where a bad row would silently become
    part of the run's history): the whole file is read; it must have that header and rows of whole,
    increasing steps; anything else raises LossLogError."""
    bounded = header is None and max_bytes is not None
    with open_regular(path) as handle:
        if bounded and size_of(handle) > max_bytes:
            lines = sampled_lines(handle, max_bytes)
        else:  # the last piece is b"", the line a kill cut short, or one cut at max_bytes
            lines = handle.read(max_bytes if bounded else -1).split(b"\n")[:-1]
    if not lines:
        return {name: [] for name in header or []}
    names = lines[0].decode("utf-8").split(",")
    if header is not None and names != header:
        raise LossLogError(f"its header is not {','.join(header)}; it belongs to another kind of run")
    if len(names) > MAX_LOSS_COLUMNS:
        raise ValueError(f"{len(names)} columns, more than {MAX_LOSS_COLUMNS}")
    columns: dict[str, list[float]] = {name: [] for name in names}
    steps = columns.get("step", [])
    for number, line in enumerate(lines[1:], start=2):
        text = line.decode("utf-8")
        try:
            values = [float(value) for value in text.split(",")]
        except ValueError:
            values = []
        usable = len(values) == len(names) and (
            header is None or (values[0].is_integer() and not (steps and values[0] <= steps[-1])))
        if not usable:
            if header is None:
                continue
            raise LossLogError(f"line {number} is not a row of increasing step and {len(names) - 1} losses "
                               f"({text[:60]!r})")
        for name, value in zip(names, values, strict=True):
            columns[name].append(value)
    return columns


def sampled_lines(handle: BinaryIO, max_bytes: int) -> list[bytes]:
    """The header line of a CSV file larger than `max_bytes`, then the whole rows within
    LOSS_STRETCHES evenly spaced stretches of the rest, `max_bytes` in all, the first starting right
    after the header and the last ending at the end of the file: every part of a long run is on the
    plot, its first and last rows too. A row cut by a stretch's edge is left out. [] when the first
    MAX_LOSS_HEADER_BYTES hold no line."""
    header = handle.readline(MAX_LOSS_HEADER_BYTES)
    if not header.endswith(b"\n"):
        return []
    start, size = len(header), size_of(handle)
    stretch = min(max(1, max_bytes // LOSS_STRETCHES), size - start)
    lines, previous_end = [header[:-1]], start
    for index in range(LOSS_STRETCHES):
        offset = start + (size - start - stretch) * index // (LOSS_STRETCHES - 1)
        begin, end = max(offset, previous_end), offset + stretch  # stretches never overlap
        if begin >= end:
            continue
        handle.seek(begin)
        rows = handle.read(end - begin).split(b"\n")
        lines.extend(rows[:-1] if begin == start else rows[1:-1])  # a row begins right after the header
        previous_end = end
    return lines


def smooth(values: list[float], window: int) -> np.ndarray:
    """Moving average (valid part only), so the trend shows through GAN loss noise. Linear in the
    number of values (differences of running sums); a window holding a value that is not finite
    averages to NaN, as a convolution would give."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) < window:
        return values
    finite = np.isfinite(values)
    sums = np.concatenate(([0.0], np.cumsum(np.where(finite, values, 0.0))))
    not_finite = np.concatenate(([0], np.cumsum(~finite)))
    averages = (sums[window:] - sums[:-window]) / window
    averages[not_finite[window:] > not_finite[:-window]] = np.nan
    return averages


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
    return read_settings(Path(folder), CARD)[0]


def read_settings(folder: Path, settings_file: str) -> tuple[dict, list[str]]:
    """(settings, problems): a run folder's config.json (RUN_CONFIG), whose problems are listed, or
    the "Training settings" block of an export's model card (CARD), which may lack one: {} and no
    problem when the card, its block or the block's JSON is missing or not readable."""
    path = folder / settings_file
    try:
        data = read_regular(path, MAX_CARD_BYTES if settings_file == CARD else MAX_CONFIG_BYTES)
    except FileNotFoundError:
        return {}, []
    except (OSError, ValueError) as error:
        return {}, [f"{settings_file}: {why_unreadable(error)}"]
    if settings_file == RUN_CONFIG:
        try:
            return parse_config(data), []
        except ValueError as error:  # the message starts "config.json ..."
            return {}, [str(error)]
    match = SETTINGS_BLOCK.search(data.decode("utf-8", errors="replace"))
    try:
        return (parse_config(match.group(1).encode()) if match else {}), []
    except ValueError:
        return {}, []


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
