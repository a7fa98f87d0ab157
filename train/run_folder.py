"""The run folder (`--out RUN_DIR`) and everything written into it:

    config.json   resolved config        state.pt       resume state (atomic, weights_only loads)
    samples/      step-000200.png ...    losses.csv     step and every loss term, appended
    progress.gif  labelled sample frames progress.json  {"frame_steps": the real step of every frame}
                  (at most MAX_PROGRESS_FRAMES of samples/, evenly spaced)
    losses.png    loss curves            logs/          experiment tracker files (--report-to)
    export/       the exported model (config.json, model.safetensors, README.md, progress.gif,
                  progress.json, losses.csv, losses.png), refreshed at every checkpoint and at the end
    .lock         who trains in the folder ("pid 1234 on host"), locked while they do

One trainer at a time: the main process holds an exclusive flock on .lock from before it reads
state.pt until it stops, so a second trainer on the same folder refuses, naming the holder. The
kernel drops the lock when its process ends however it ends (kill -9 included), so a lock left by a
killed run never blocks the next one; the file itself stays.

Every file but losses.csv is written to a temporary name and moved into place with `os.replace`,
so a run killed at any moment leaves either the old or the new version of each file, never half
of one. losses.csv only grows between checkpoints (rows are appended, never rewritten): a row cut
short by a kill, and rows past the saved step, are dropped when the run resumes. The GIF and its
steps are rebuilt at checkpoints from the sample grids, not at every sample.
"""

import csv
import fcntl
import io
import json
import os
import re
import shutil
import socket
import stat
import tempfile
from pathlib import Path

import torch
from PIL import Image

from gan_demo import render
from gan_demo.hub import EXPORT_FILES  # the exported-model format, shared with publishing and pulling
from gan_demo.progress import LossLogError, read_losses
from train.errors import UserError, describe_os_error
from train.plots import plot_losses

STEP_FILE = re.compile(r"step-(\d+)\.png$")
LOCK_NAME = ".lock"
HOLDER_LENGTH = 200  # what is read of another trainer's lock file to name it
# progress.gif shows at most this many of the sample grids, evenly spaced, the first and the last
# included: a long run's GIF stays a few MB (under the bundle's 3 MB per file) and quick to rewrite.
MAX_PROGRESS_FRAMES = 30


def sample_name(step: int) -> str:
    """The file name of the sample grid of step `step` in samples/ (matches STEP_FILE)."""
    return f"step-{step:06d}.png"


def write_atomic(path: Path, data: "bytes | str") -> None:
    """Write `data` to `path` via a temporary file in the same folder and os.replace; on failure
    (a full disk) the temporary file is removed, `path` keeps its old content, and the OSError
    names `path`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path)) from None
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data.encode() if isinstance(data, str) else data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise OSError(error.errno, error.strerror, str(path)) from None
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
        self.logs = self.root / "logs"
        self._pending_losses: list[list[float]] = []
        self._frames: dict[int, Image.Image] = {}  # labelled GIF frames by step, read or drawn once
        self._lock: io.TextIOWrapper | None = None  # the open .lock while this process holds it

    # -- starting and resuming ---------------------------------------------------------------

    def check_can_start(self, resume: bool) -> None:
        """A fresh run needs an empty or missing folder; a non-empty one needs --resume. Either way
        the folder must be writable: found out now (creating it), not at the first checkpoint."""
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"--out {self.root}: exists and is not a folder")
        if not resume and self.root.exists() and any(path.name != LOCK_NAME for path in self.root.iterdir()):
            raise UserError(f"--out {self.root}: folder is not empty; pass --resume to continue that run "
                            "or choose a new folder")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root):
                pass
        except OSError as error:
            raise UserError(f"--out {self.root}: cannot write there ({error.strerror or describe_os_error(error)})") \
                from None

    def lock(self) -> None:
        """Take the run folder for this process, or stop with one line naming the trainer that has it."""
        path = self.root / LOCK_NAME
        try:  # never through a link, never truncated before the lock is ours
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as error:
            raise UserError(f"--out {self.root}: cannot lock {LOCK_NAME} ({describe_os_error(error)})") from None
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.close(descriptor)
            raise UserError(f"--out {self.root}: {LOCK_NAME} is not a regular file; delete it")
        handle = open(descriptor, "r+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = " ".join(handle.read(HOLDER_LENGTH).split()).encode("ascii", "replace").decode()
            handle.close()
            raise UserError(f"--out {self.root}: another trainer is using this run folder ({holder or 'starting'}); "
                            "wait for it to finish or stop it, or choose another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._lock = handle

    def unlock(self) -> None:
        """Let the next trainer in (a process that ends lets it in anyway)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

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
        self.remove_unfinished_writes()
        if self.losses_path.exists():
            rows = self.read_loss_rows()
            kept = [row for row in rows if row[0] <= step]
            cut_short = not self.losses_path.read_bytes().endswith(b"\n")
            if len(kept) < len(rows) or cut_short:
                self._write_loss_rows(kept)
        for path in self.sample_paths():
            if self.sample_step(path) > step:
                path.unlink()

    def remove_unfinished_writes(self) -> None:
        """Delete the temporary files and export staging folders of writes that never finished."""
        for leftover in self.root.rglob(".*.tmp"):
            leftover.unlink(missing_ok=True)
        for staging in self.root.glob(".export-*"):
            shutil.rmtree(staging, ignore_errors=True)

    # -- losses ------------------------------------------------------------------------------

    def log_losses(self, step: int, values: list[float]) -> None:
        self._pending_losses.append([step, *values])

    def flush_losses(self) -> None:
        """Append the pending rows (with the header, in a new file)."""
        if not self._pending_losses:
            return
        new = not self.losses_path.exists() or self.losses_path.stat().st_size == 0
        with open(self.losses_path, "a", encoding="utf-8") as handle:
            handle.write(self._csv(self._pending_losses, header=new))
            handle.flush()
            os.fsync(handle.fileno())
        self._pending_losses.clear()

    def loss_rows(self) -> list[list[float]]:
        """Every logged row (step first), the pending ones included."""
        self.flush_losses()
        return self.read_loss_rows() if self.losses_path.exists() else []

    def check_losses(self, step: int) -> None:
        """On resume, before anything is written: losses.csv must be this run's, rows of numbers."""
        if self.losses_path.exists():
            self.read_loss_rows()

    def read_loss_rows(self) -> list[list[float]]:
        """The logged rows, step first, read strictly (gan_demo.progress.read_losses): a malformed
        file is a UserError, since resuming on it would continue a wrong history."""
        try:
            columns = read_losses(self.losses_path, header=["step", *self.loss_names])
        except UnicodeDecodeError:
            raise UserError(f"{self.losses_path}: not a text file; fix or delete it") from None
        except LossLogError as error:
            raise UserError(f"{self.losses_path}: {error}; fix or delete the file") from None
        return [[int(row[0]), *row[1:]] for row in zip(*columns.values(), strict=True)]

    def _csv(self, rows: list[list], header: bool) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if header:
            writer.writerow(["step", *self.loss_names])
        for step, *values in rows:
            writer.writerow([int(step), *(f"{float(value):.6g}" for value in values)])
        return buffer.getvalue()

    def _write_loss_rows(self, rows: list[list]) -> None:
        write_atomic(self.losses_path, self._csv(rows, header=True))

    # -- samples, GIF and plot ---------------------------------------------------------------

    def sample_paths(self) -> list[Path]:
        if not self.samples.exists():
            return []
        return sorted((path for path in self.samples.iterdir() if STEP_FILE.search(path.name)), key=self.sample_step)

    @staticmethod
    def sample_step(path: Path) -> int:
        return int(STEP_FILE.search(path.name).group(1))

    def save_sample(self, step: int, grid: Image.Image) -> None:
        """Store one sample grid; the GIF picks it up at the next checkpoint (write_progress)."""
        write_atomic(self.samples / sample_name(step), png_bytes(grid))
        self._frames[step] = render.label_frame(grid, render.step_label(step))

    def write_progress(self, title: str) -> None:
        """progress.gif from the sample grids so far (at most MAX_PROGRESS_FRAMES of them, evenly
        spaced), progress.json with the step of each frame, and losses.png. Grids come from memory,
        or from samples/ once for those of before a resume."""
        paths = evenly_spaced(self.sample_paths(), MAX_PROGRESS_FRAMES)
        steps = []
        for path in paths:
            step = self.sample_step(path)
            if step not in self._frames:
                with Image.open(path) as image:
                    self._frames[step] = render.label_frame(image, render.step_label(step))
            steps.append(step)
        if steps:
            write_atomic(self.root / "progress.gif", render.gif_bytes([self._frames[step] for step in steps]))
            self._frames = {step: self._frames[step] for step in steps}  # others are read again if chosen later
            write_atomic(self.root / "progress.json", json.dumps({"frame_steps": steps}) + "\n")
        self.flush_losses()
        if self.losses_path.exists():
            buffer = io.BytesIO()
            plot_losses(read_losses(self.losses_path), buffer, title=title)
            write_atomic(self.root / "losses.png", buffer.getvalue())

    # -- export ------------------------------------------------------------------------------

    def write_export(self, model: torch.nn.Module, model_card: str) -> None:
        """Refresh export/: weights + config via the Hub mixin, the model card, and copies of
        the GIF, losses and plot. Each file is replaced atomically, once all of them were written
        (a failed write leaves export/ as it was)."""
        try:
            self._write_export(model, model_card)
        except OSError as error:
            raise OSError(error.errno, error.strerror, str(self.export)) from None

    def _write_export(self, model: torch.nn.Module, model_card: str) -> None:
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".export-") as staging:
            staging = Path(staging)
            model.save_pretrained(staging)
            (staging / "README.md").write_text(model_card)
            for name in ("progress.gif", "progress.json", "losses.csv", "losses.png"):
                if (self.root / name).exists():
                    shutil.copyfile(self.root / name, staging / name)
            self.export.mkdir(exist_ok=True)
            for name in EXPORT_FILES:
                if (staging / name).exists():
                    os.replace(staging / name, self.export / name)


def evenly_spaced(items: list, count: int) -> list:
    """At most `count` (at least 2) of `items`, evenly spaced, the first and the last always among them."""
    count = max(count, 2)
    if len(items) <= count:
        return items
    return [items[round(index * (len(items) - 1) / (count - 1))] for index in range(count)]
