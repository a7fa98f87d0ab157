"""Reading a file that someone else may have put in a folder the app reads (a run folder, an export,
a downloaded model): it is read only when it is a regular file, opened without following a symbolic
link and without waiting on a FIFO or a device, and only when its size, checked before a byte is
read, is within the limit its reader gives. A refusal is an UnreadableFile (a ValueError) with a
one-line reason; a missing file is the usual FileNotFoundError. What is read from such files is
cached by their `version`, one entry per folder (`latest_version_cache`)."""

import errno
import functools
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import BinaryIO, TypeVar

Result = TypeVar("Result")

FileVersion = tuple[int, int, int, int, int]  # device, inode, size, modification and change times (ns)


class UnreadableFile(ValueError):
    """A file that is not read: a link, not a regular file, or larger than its reader's limit."""


def open_regular(path: "str | Path") -> BinaryIO:
    """`path` opened for reading in binary, if it is a regular file: a symbolic link is not followed,
    and a FIFO or a device is refused from its fstat without ever being read (it could block)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:  # what O_NOFOLLOW gives for a link
            raise UnreadableFile("a symbolic link, not followed") from None
        raise
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise UnreadableFile("not a regular file")
    return os.fdopen(descriptor, "rb")


def size_of(handle: BinaryIO) -> int:
    return os.fstat(handle.fileno()).st_size


def read_regular(path: "str | Path", max_bytes: int) -> bytes:
    """The whole of the regular file `path` (see `open_regular`), if it holds at most `max_bytes`."""
    with open_regular(path) as handle:
        size = size_of(handle)
        data = handle.read(max_bytes + 1) if size <= max_bytes else b""
    if size > max_bytes or len(data) > max_bytes:  # the second: it grew while being read
        raise UnreadableFile(f"{max(size, len(data)):,} bytes, over the limit of {max_bytes:,}")
    return data


def why_unreadable(error: Exception) -> str:
    """One line saying why a file could not be read, without the path an OSError's text names (a
    visitor is told why, never where)."""
    if isinstance(error, OSError) and not isinstance(error, UnreadableFile):
        return (error.strerror or type(error).__name__).lower()
    return (str(error) or type(error).__name__).splitlines()[0]


def version(path: "str | Path") -> FileVersion | None:
    """The version of what is at `path` (a link itself, not its target), or None when nothing is:
    an append, an edit or a replacement (a new inode, a new change time) gives a new version."""
    try:
        status = os.lstat(path)
    except (OSError, ValueError):  # ValueError: a NUL in the path
        return None
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns


def latest_version_cache(maxsize: int) -> Callable[[Callable[[Hashable, Hashable], Result]],
                                                   Callable[[Hashable, Hashable], Result]]:
    """A cache for `function(key, version)`, like functools.lru_cache over `maxsize` keys, that keeps
    one result per key: the one for the version last asked. A run folder whose files change while it
    is watched holds one entry, not one per change. An exception is not cached."""
    def decorate(function: Callable[[Hashable, Hashable], Result]) -> Callable[[Hashable, Hashable], Result]:
        entries: OrderedDict[Hashable, tuple[Hashable, Result]] = OrderedDict()
        lock = threading.Lock()  # the app answers requests in threads

        @functools.wraps(function)
        def cached(key: Hashable, version: Hashable) -> Result:
            with lock:
                if key in entries and entries[key][0] == version:
                    entries.move_to_end(key)
                    return entries[key][1]
            result = function(key, version)
            with lock:
                entries[key] = (version, result)
                entries.move_to_end(key)
                while len(entries) > maxsize:
                    entries.popitem(last=False)
            return result

        return cached
    return decorate
