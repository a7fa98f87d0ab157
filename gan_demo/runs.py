"""Local training runs the app shows while they train: `python app.py --runs DIR` (or
GAN_DEMO_RUNS=DIR) makes every folder under DIR a run named by its folder, whose progress (GIF
frames, losses, the iteration of every frame) is read from the run folder train/ writes, and whose
latest export (RUN_DIR/export/, refreshed at every checkpoint) is offered as `run:<name>`.

A run is read while another process writes it, so everything here is tolerant: a run without
samples yet, a checkpoint half copied into export/, a foreign or broken file all give None (the run
is listed, with nothing to show yet) or a ModelLoadError with one line, never an exception from
deep inside PIL or safetensors. Reads are cached on the files' modification times, so a poll that
finds nothing new costs a few stat calls.
"""

import functools
import json
import os
from pathlib import Path

import torch

from gan_demo.inference import ModelLoadError
from gan_demo.models import kind_of
from gan_demo.models.export_format import class_of
from gan_demo.progress import RunProgress, read_losses, steps_of
from gan_demo.render import read_gif_frames

RUNS_VARIABLE = "GAN_DEMO_RUNS"
RUN_PREFIX = "run:"


def runs_folder(argument: "str | Path | None" = None) -> Path | None:
    """The folder of local runs: `--runs DIR`, else $GAN_DEMO_RUNS, else None (no local runs)."""
    chosen = argument or os.environ.get(RUNS_VARIABLE)
    return Path(chosen) if chosen else None


def run_names(root: "Path | None") -> list[str]:
    """Every visible folder under `root`, sorted; [] when root is None or not a folder."""
    if root is None or not root.is_dir():
        return []
    return sorted(path.name for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))


def modified(path: Path) -> int:
    """Modification time in ns, 0 for a missing file: part of every cache key here."""
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def run_progress(folder: Path) -> RunProgress | None:
    """The run's progress as the Training progress tab shows it, or None before its first sample
    (or while its files cannot be read)."""
    return progress_cached(str(folder), modified(folder / "progress.gif"), modified(folder / "losses.csv"),
                           modified(folder / "config.json"))


@functools.lru_cache(maxsize=32)
def progress_cached(folder: str, gif_time: int, losses_time: int, config_time: int) -> RunProgress | None:
    path = Path(folder)
    try:
        frames = tuple(read_gif_frames(path / "progress.gif"))
        losses = read_losses(path / "losses.csv") if losses_time else {}
        settings = json.loads((path / "config.json").read_text()) if config_time else {}
    except (OSError, ValueError, SyntaxError, EOFError):  # not written yet, or not a file train/ wrote
        return None
    if not frames or not isinstance(settings, dict):
        return None
    return RunProgress(path, frames, steps_of(path, len(frames), settings, losses), losses, settings)


def export_class(folder: Path) -> type[torch.nn.Module] | None:
    """DCGenerator or CycleGAN for a run whose export/ holds a model, else None."""
    export = folder / "export"
    if not (export / "model.safetensors").is_file():
        return None
    try:
        config = json.loads((export / "config.json").read_text())
        return class_of(config) if isinstance(config, dict) else None
    except (OSError, ValueError):  # ExportFormatError is a ValueError
        return None


def export_kind(folder: Path) -> str | None:
    """"dcgan" or "cyclegan" for a run whose export/ holds a model, else None."""
    model_class = export_class(folder)
    return kind_of(model_class) if model_class else None


def load_export(folder: Path) -> torch.nn.Module:
    """The run's latest export, in eval mode, reloaded when a checkpoint rewrites it; ModelLoadError
    with one line when there is none yet or it cannot be loaded."""
    export = folder / "export"
    return export_cached(str(export), modified(export / "config.json"), modified(export / "model.safetensors"))


@functools.lru_cache(maxsize=8)
def export_cached(export: str, config_time: int, weights_time: int) -> torch.nn.Module:
    name = Path(export).parent.name
    model_class = export_class(Path(export).parent)
    if model_class is None:
        raise ModelLoadError(f"{RUN_PREFIX}{name}: no exported model yet (it appears at the run's first checkpoint)")
    try:
        model = model_class.from_pretrained(export, strict=True)
    except Exception as error:  # a checkpoint caught half copied, or weights that do not fit the config
        raise ModelLoadError(f"{RUN_PREFIX}{name}: its export cannot be loaded right now "
                             f"({type(error).__name__}); it is rewritten at the next checkpoint") from None
    return model.eval().requires_grad_(False)
