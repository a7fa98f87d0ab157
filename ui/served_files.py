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
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

from gan_demo import files

MAX_HANDED_OUT_BYTES = 64 * 1024 * 1024  # a progress GIF or loss CSV larger than this is not offered
MAX_AGE_SECONDS = 3600  # Gradio has its own copy by then
MAX_REMEMBERED_COPIES = 64  # sources whose latest copy is known without reading them again


class FileRefused(OSError):
    """A file that is not handed out: not a regular file, too large, or gone."""


class ServedFiles:
    """The app's folder of handed-out files."""

    def __init__(self, max_bytes: int = MAX_HANDED_OUT_BYTES) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="gan-demo-served-"))
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._copies: OrderedDict[tuple, Path] = OrderedDict()  # (source, its version) -> its copy
        atexit.register(shutil.rmtree, self.folder, ignore_errors=True)

    def copy_of(self, source: Path) -> Path:
        """A copy of the regular file `source` in the served folder (read as gan_demo.files reads a
        stranger's file: no link followed, no FIFO waited on, size checked first); FileRefused otherwise.
        A source unchanged since its last copy is not read again (scrubbing a run's iterations asks for
        its GIF on every step)."""
        key = (str(source), files.version(source))
        with self._lock:
            known = self._copies.get(key)
        if known is not None and known.is_file():
            os.utime(known)  # handed out again: young again
            return known
        try:
            data = files.read_regular(source, self.max_bytes)
        except (OSError, ValueError) as error:  # UnreadableFile is a ValueError
            raise FileRefused(f"{source.name}: {files.why_unreadable(error)}") from None
        path = self.write(data, source.name)
        with self._lock:
            self._copies[key] = path
            while len(self._copies) > MAX_REMEMBERED_COPIES:
                self._copies.popitem(last=False)
        return path

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
