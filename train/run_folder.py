"""The run folder (`--out RUN_DIR`) and everything written into it:

    config.json   resolved config        state.pt     resume state (atomic, weights_only loads)
    samples/      step-000200.png ...    losses.csv   step and every loss term
    progress.gif  labelled sample frames losses.png   loss curves
    export/       the exported model (config.json, model.safetensors, README.md, progress.gif,
                  losses.csv, losses.png), refreshed at every checkpoint and at the end

Every file is written to a temporary name and moved into place with `os.replace`, so a run
killed at any moment leaves either the old or the new version of each file, never half of one.
"""

import csv
import io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch
from PIL import Image

from gan_demo import render
from gan_demo.hub import EXPORT_FILES  # the exported-model format, shared with publishing and pulling
from gan_demo.progress import read_losses
from train.errors import UserError
from train.plots import plot_losses

STEP_FILE = re.compile(r"step-(\d+)\.png$")


def write_atomic(path: Path, data: "bytes | str") -> None:
    """Write `data` to `path` via a temporary file in the same folder and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data.encode() if isinstance(data, str) else data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class RunFolder:
    """One training run on disk. Only the main process writes; other processes only read state."""

    def __init__(self, root: "str | Path", loss_names: list[str]):
        self.root = Path(root)
        self.loss_names = loss_names
        self.samples = self.root / "samples"
        self.export = self.root / "export"
        self.state_path = self.root / "state.pt"
        self.losses_path = self.root / "losses.csv"
        self._pending_losses: list[list[float]] = []

    # -- starting and resuming ---------------------------------------------------------------

    def check_can_start(self, resume: bool) -> None:
        """A fresh run needs an empty or missing folder; a non-empty one needs --resume."""
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"--out {self.root}: exists and is not a folder")
        if not resume and self.root.exists() and any(self.root.iterdir()):
            raise UserError(f"--out {self.root}: folder is not empty; pass --resume to continue that run "
                            "or choose a new folder")

    def saved_config(self) -> dict | None:
        path = self.root / "config.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            raise UserError(f"{path}: not valid JSON; fix or delete it") from None

    def write_config(self, config: dict) -> None:
        write_atomic(self.root / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")

    def load_state(self) -> dict | None:
        """The resume state, or None when the run has not reached its first checkpoint."""
        if not self.state_path.exists():
            return None
        try:
            return torch.load(self.state_path, map_location="cpu", weights_only=True)
        except Exception as error:  # a truncated or foreign file: say so, do not guess
            raise UserError(f"{self.state_path}: cannot be loaded ({type(error).__name__}); "
                            "delete it to restart the run from scratch") from None

    def save_state(self, state: dict) -> None:
        """Flush pending losses first, so losses.csv always covers the saved step."""
        self.flush_losses()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        write_atomic(self.state_path, buffer.getvalue())

    def rewind_to(self, step: int) -> None:
        """Forget what a killed run wrote after its last checkpoint `step`: losses rows and
        sample grids beyond it are recomputed identically when training continues, and the
        temporary files of a write that a kill cut short are removed."""
        for leftover in self.root.rglob(".*.tmp"):
            leftover.unlink()
        for staging in self.root.glob(".export-*"):
            shutil.rmtree(staging)
        if self.losses_path.exists():
            rows = self._read_loss_rows()
            self._write_loss_rows([row for row in rows if int(float(row[0])) <= step])
        for path in self.sample_paths():
            if self.sample_step(path) > step:
                path.unlink()

    # -- losses ------------------------------------------------------------------------------

    def log_losses(self, step: int, values: list[float]) -> None:
        self._pending_losses.append([step, *values])

    def flush_losses(self) -> None:
        if not self._pending_losses:
            return
        rows = self._read_loss_rows() if self.losses_path.exists() else []
        self._write_loss_rows(rows + [[str(value) for value in row] for row in self._pending_losses])
        self._pending_losses.clear()

    def loss_rows(self) -> list[list[float]]:
        """Every logged row (step first), the pending ones included."""
        self.flush_losses()
        if not self.losses_path.exists():
            return []
        return [[float(value) for value in row] for row in self._read_loss_rows()]

    def _read_loss_rows(self) -> list[list[float]]:
        columns = read_losses(self.losses_path)
        return [list(row) for row in zip(*(columns.get(name, []) for name in ["step", *self.loss_names]), strict=True)]

    def _write_loss_rows(self, rows: list[list]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["step", *self.loss_names])
        for row in rows:
            step, *values = row
            writer.writerow([int(float(step)), *(f"{float(value):.6g}" for value in values)])
        write_atomic(self.losses_path, buffer.getvalue())

    # -- samples, GIF and plot ---------------------------------------------------------------

    def sample_paths(self) -> list[Path]:
        if not self.samples.exists():
            return []
        return sorted((path for path in self.samples.iterdir() if STEP_FILE.search(path.name)), key=self.sample_step)

    @staticmethod
    def sample_step(path: Path) -> int:
        return int(STEP_FILE.search(path.name).group(1))

    def save_sample(self, step: int, grid: Image.Image) -> None:
        """Store one sample grid and rebuild progress.gif from every grid so far."""
        write_atomic(self.samples / f"step-{step:06d}.png", png_bytes(grid))
        frames = []
        for path in self.sample_paths():
            with Image.open(path) as image:
                frames.append(render.label_frame(image, render.step_label(self.sample_step(path))))
        write_atomic(self.root / "progress.gif", render.gif_bytes(frames))

    def plot_losses(self, title: str) -> None:
        self.flush_losses()
        if self.losses_path.exists():
            buffer = io.BytesIO()
            plot_losses(read_losses(self.losses_path), buffer, title=title)
            write_atomic(self.root / "losses.png", buffer.getvalue())

    # -- export ------------------------------------------------------------------------------

    def write_export(self, model: torch.nn.Module, model_card: str) -> None:
        """Refresh export/: weights + config via the Hub mixin, the model card, and copies of
        the GIF, losses and plot. Each file is replaced atomically."""
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".export-") as staging:
            staging = Path(staging)
            model.save_pretrained(staging)
            (staging / "README.md").write_text(model_card)
            for name in ("progress.gif", "losses.csv", "losses.png"):
                if (self.root / name).exists():
                    shutil.copyfile(self.root / name, staging / name)
            self.export.mkdir(exist_ok=True)
            for name in EXPORT_FILES:
                if (staging / name).exists():
                    os.replace(staging / name, self.export / name)
