"""The only files the app hands to visitors: copies, made when a response needs them, in a folder the app
owns (a fresh mkdtemp folder, mode 0700, removed at exit). Gradio serves a file it handed out from its
own cache, so the app never lists a model cache, a runs folder or a data folder in `allowed_paths`;
what leaves the server is exactly the progress GIF, loss CSV or interpolation GIF a response named.
A source file is copied only when it is a regular file (not a link, FIFO or device) within its size
limit; copies are named by their content, so the same file handed out twice is stored once."""

import atexit
import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
import threading
import time
from pathlib import Path

MAX_HANDED_OUT_BYTES = 64 * 1024 * 1024  # a progress GIF or loss CSV larger than this is not offered
MAX_AGE_SECONDS = 3600  # Gradio has its own copy by then


class FileRefused(OSError):
    """A file that is not handed out: not a regular file, too large, or gone."""


class ServedFiles:
    """The app's folder of handed-out files."""

    def __init__(self, max_bytes: int = MAX_HANDED_OUT_BYTES) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="gan-demo-served-"))
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        atexit.register(shutil.rmtree, self.folder, ignore_errors=True)

    def copy_of(self, source: Path) -> Path:
        """A copy of the regular file `source` in the served folder; FileRefused otherwise. The file is
        opened without following links and never blocks (a FIFO is refused from its fstat)."""
        try:
            descriptor = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as error:
            raise FileRefused(f"{source.name} cannot be read") from error
        with os.fdopen(descriptor, "rb") as handle:
            status = os.fstat(handle.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise FileRefused(f"{source.name} is not a regular file")
            if status.st_size > self.max_bytes:
                raise FileRefused(f"{source.name} is larger than {self.max_bytes // (1024 * 1024)} MB")
            data = handle.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:  # it grew while being read
            raise FileRefused(f"{source.name} is larger than {self.max_bytes // (1024 * 1024)} MB")
        return self.write(data, source.name)

    def write(self, data: bytes, name: str) -> Path:
        """`data` as a served file called `name` (in a folder named by the content's hash), written under a
        temporary name and renamed into place, so a reader never sees it half written."""
        self.forget_old_files()
        folder = self.folder / hashlib.sha256(data).hexdigest()[:32]
        path = folder / Path(name).name
        with self._lock:
            folder.mkdir(exist_ok=True)
            if path.is_file():
                os.utime(path)
                return path
            descriptor, staging = tempfile.mkstemp(dir=folder, prefix=".incoming-")
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.replace(staging, path)
        return path

    def forget_old_files(self) -> None:
        """Remove copies older than MAX_AGE_SECONDS."""
        cutoff = time.time() - MAX_AGE_SECONDS
        for folder in self.folder.iterdir():
            with contextlib.suppress(OSError):  # another request may be removing it too
                if folder.stat().st_mtime < cutoff and all(item.stat().st_mtime < cutoff for item in folder.iterdir()):
                    shutil.rmtree(folder)
