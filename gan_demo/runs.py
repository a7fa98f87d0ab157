"""Local training runs the app shows while they train: `python app.py --runs DIR` (or
GAN_DEMO_RUNS=DIR) makes every folder directly in DIR a run named by its folder, whose progress (GIF
frames, losses, the iteration of every frame, its config.json) is read from the run folder train/
writes, and whose latest export (RUN_DIR/export/, refreshed at every checkpoint) is offered as
`run:<name>`.

A run name comes from a visitor, so it resolves only to what `run_names` lists: a folder (not a
link) directly in DIR with a plain name; the app refuses anything else with one message. A run is
read while another process writes it, and by whoever can write into DIR, so everything here is
tolerant and bounded: the files are read by gan_demo.progress's rules (regular files, size-checked,
links not followed), a run without samples yet gives None, a broken export a ModelLoadError with one
line, never an exception from deep inside PIL, json or safetensors. Reads are cached per version of
the files read, so a poll that finds nothing new costs a few lstat calls.
"""

import os
import re
import stat
from pathlib import Path

import torch

from gan_demo.files import latest_version_cache, read_regular, version, why_unreadable
from gan_demo.inference import ModelLoadError, load_folder
from gan_demo.models import kind_of
from gan_demo.models.export_format import MAX_CONFIG_BYTES, check_config, parse_config
from gan_demo.progress import RUN_CONFIG, RunProgress, load_run

RUNS_VARIABLE = "GAN_DEMO_RUNS"
RUN_PREFIX = "run:"
# A run's name: letters, digits, '.', '_' and '-', not starting with '.' or '-' (so never '.', '..',
# a hidden folder or something read as an option), at most 100 characters.
RUN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")


def runs_folder(argument: "str | Path | None" = None) -> Path | None:
    """The folder of local runs: `--runs DIR`, else $GAN_DEMO_RUNS, else None (no local runs)."""
    chosen = argument or os.environ.get(RUNS_VARIABLE)
    return Path(chosen) if chosen else None


def run_names(root: "Path | None") -> list[str]:
    """The runs under `root`, sorted: its folders whose names match RUN_NAME, a link to a folder
    (which may lead anywhere) left out; [] when root is None or not a folder. These are the only
    names a run name resolves to."""
    if root is None:
        return []
    try:
        with os.scandir(root) as entries:
            return sorted(entry.name for entry in entries
                          if RUN_NAME.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False))
    except OSError:
        return []


def is_folder(path: Path) -> bool:
    """A folder itself, not a link to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def modified(path: Path) -> int:
    """Modification time in ns, 0 for a missing file (a link is not followed)."""
    return (version(path) or (0, 0, 0, 0, 0))[3]


def run_progress(folder: Path) -> RunProgress | None:
    """The run's progress as the Training progress tab shows it, settings from its config.json, or
    None before its first sample. ProgressError with one line when its progress.gif cannot be read."""
    # None too for a run folder swapped for a link since it was listed: nothing is read through the link.
    if not is_folder(folder) or version(folder / "progress.gif") is None:
        return None
    return load_run(folder, RUN_CONFIG)


def export_kind(folder: Path) -> str | None:
    """"dcgan" or "cyclegan" for a run whose export/ holds a model that passes the export format's
    rules (a bounded, flat config.json naming a class, sizes this app serves), else None."""
    try:
        return kind_of(export_class(folder / "export"))
    except (OSError, ValueError):
        return None


def export_class(export: Path) -> type[torch.nn.Module]:
    """The class an export folder's config.json names; FileNotFoundError when it has no config.json
    or weights, UnreadableFile or ExportFormatError (ValueErrors, one line) when they cannot be used."""
    if not stat.S_ISREG(os.lstat(export / "model.safetensors").st_mode):
        raise ValueError("model.safetensors is not a regular file")
    return check_config(parse_config(read_regular(export / "config.json", MAX_CONFIG_BYTES)))


def load_export(folder: Path) -> torch.nn.Module:
    """The run's latest export, in eval mode, reloaded when a checkpoint rewrites it; ModelLoadError
    with one line when there is none yet or it cannot be loaded."""
    export = folder / "export"
    return loaded_export(str(export), (version(export / "config.json"), version(export / "model.safetensors")))


@latest_version_cache(maxsize=8)
def loaded_export(export: str, versions: tuple) -> torch.nn.Module:
    """`load_export`'s work; `versions` (of config.json and the weights) is for the cache only."""
    name = RUN_PREFIX + Path(export).parent.name
    try:
        model_class = export_class(Path(export))
    except FileNotFoundError:
        raise ModelLoadError(f"{name}: no exported model yet (it appears at the run's first checkpoint)") from None
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{name}: its export cannot be used ({why_unreadable(error)})") from None
    try:
        return load_folder(model_class, export)
    except ModelLoadError:  # a checkpoint caught half copied, or weights that do not fit the config
        raise ModelLoadError(f"{name}: its export cannot be loaded right now; it is rewritten at the next "
                             "checkpoint") from None
