"""The images a visitor hands the Train tab, screened before the training command ever sees them:
uploaded image files and zips end up as plain PNG files in a data folder the app owns (one per run,
removed with the run), or, only when the app serves this machine alone, a folder on the machine is
used where it is. An upload is read only from Gradio's upload folder, as every upload is
(ui/components.py), and decoded through gan_demo with its header-checked size limits. A zip is
checked from its directory before one byte is decompressed (entry count, each entry's and the total
uncompressed size, the compression ratio, names that would leave the folder, links, encryption); its
entries are then read with their declared size as the bound, and none of its names is ever used as a
path: every image is stored under a name the app makes up."""

import os
import re
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gan_demo import inference
from gan_demo.imaging import IMAGE_EXTENSIONS, ImageError
from ui.components import in_upload_folder

MAX_IMAGES = 1000  # per data folder: the trainer keeps every image in memory
STORED_MAX_SIDE = 256  # images are stored at most this large; the tab trains at 128 px or less
MAX_ZIP_ENTRIES = 2000
MAX_ENTRY_BYTES = inference.MAX_UPLOAD_BYTES  # an image in a zip gets the limit of an uploaded one
MAX_ZIP_TOTAL_BYTES = 500 * 1024 * 1024  # all entries, uncompressed
MAX_COMPRESSION_RATIO = 100  # images hardly compress; 1000:1 is what a zip bomb looks like
SKIPPED_IN_ZIPS = ("__MACOSX/",)  # what macOS adds to every zip it makes
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
DRIVE = re.compile(r"^[A-Za-z]:")


class DataRefused(ValueError):
    """Training data that cannot be used; the message is one line for the page."""


@dataclass(frozen=True)
class StoredImages:
    """What a data folder received: how many images, and what was left out and why."""

    folder: Path
    count: int
    skipped: tuple[str, ...] = ()

    def summary(self) -> str:
        left_out = f"; left out: {'; '.join(self.skipped[:3])}" if self.skipped else ""
        more = f" (and {len(self.skipped) - 3} more)" if len(self.skipped) > 3 else ""
        return f"{self.count} images{left_out}{more}"


def store_uploads(paths: list[str], folder: Path, max_images: int = MAX_IMAGES) -> StoredImages:
    """Screen uploaded images and zips of images (paths in Gradio's upload folder) and store every
    image in them as a PNG in the new folder `folder`. DataRefused when an upload is not from the
    upload folder, a zip fails its checks, there are more than `max_images` images or none."""
    if not paths:
        raise DataRefused("no images: upload image files or a zip of images")
    for path in paths:
        if not isinstance(path, str) or not in_upload_folder(path):
            raise DataRefused(inference.NOT_UPLOADED)
    folder.mkdir(parents=True)
    writer = ImageWriter(folder, max_images)
    for path in paths:
        if path.lower().endswith(".zip"):
            for name, data in zip_images(path):
                writer.add(data, name)
        else:
            writer.add_upload(path)
    return writer.finished()


def zip_images(path: str) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each image entry of the uploaded zip at `path`, after `check_zip` passed it."""
    with open_upload_file(path) as handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError):
            raise DataRefused(f"{Path(path).name}: not a readable zip file") from None
        with archive:
            for entry in check_zip(archive, Path(path).name):
                try:
                    with archive.open(entry) as member:  # stops at the declared size; a lie fails the CRC
                        data = member.read(MAX_ENTRY_BYTES + 1)
                except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as error:
                    raise DataRefused(f"{Path(path).name}: {shown_name(entry.filename)} cannot be read "
                                      f"({type(error).__name__})") from None
                yield entry.filename, data


def check_zip(archive: zipfile.ZipFile, label: str = "the zip") -> list[zipfile.ZipInfo]:
    """The image entries of `archive`, from its directory alone; DataRefused in one line for too
    many entries, an entry or a total too large uncompressed, a compression ratio of a zip bomb, a
    name that would leave the folder it is unpacked in, a link, or an encrypted entry."""
    entries = archive.infolist()
    if len(entries) > MAX_ZIP_ENTRIES:
        raise DataRefused(f"{label}: {len(entries):,} entries, more than the {MAX_ZIP_ENTRIES:,} read")
    total = 0
    images = []
    for entry in entries:
        name = shown_name(entry.filename)
        if leaves_folder(entry.filename):
            raise DataRefused(f"{label}: the entry {name} would be unpacked outside its folder")
        if stat.S_ISLNK(entry.external_attr >> 16):
            raise DataRefused(f"{label}: the entry {name} is a link; only files are unpacked")
        if entry.flag_bits & 0x1:
            raise DataRefused(f"{label}: the entry {name} is encrypted")
        if entry.file_size > MAX_ENTRY_BYTES:
            raise DataRefused(f"{label}: the entry {name} is {entry.file_size / 2**20:,.0f} MB uncompressed, "
                              f"more than {MAX_ENTRY_BYTES / 2**20:.0f} MB")
        if entry.file_size > MAX_COMPRESSION_RATIO * max(entry.compress_size, 1):
            raise DataRefused(f"{label}: the entry {name} expands {entry.file_size / max(entry.compress_size, 1):,.0f} "
                              f"times, more than {MAX_COMPRESSION_RATIO} (a zip bomb?)")
        total += entry.file_size
        if total > MAX_ZIP_TOTAL_BYTES:
            raise DataRefused(f"{label}: more than {MAX_ZIP_TOTAL_BYTES / 2**20:.0f} MB uncompressed")
        if not entry.is_dir() and is_image_name(entry.filename):
            images.append(entry)
    return images


def leaves_folder(name: str) -> bool:
    """Whether an archive member name is absolute, has a drive, or climbs out with '..' (in either
    slash style: zips made on Windows may use backslashes)."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or bool(DRIVE.match(name)) or ".." in parts


def is_image_name(name: str) -> bool:
    """An image by its extension, leaving out macOS's metadata entries and hidden files."""
    path = PurePosixPath(name)
    return (path.suffix.lower() in IMAGE_EXTENSIONS and not name.startswith(SKIPPED_IN_ZIPS)
            and not path.name.startswith("."))


def shown_name(name: str, limit: int = 60) -> str:
    """An entry name as a message quotes it: printable and short."""
    printable = "".join(character if character.isprintable() else "?" for character in name)
    return repr(printable if len(printable) <= limit else printable[:limit] + "...")


def open_upload_file(path: str):
    """An uploaded file for reading: a regular file, opened without following a link or waiting on a FIFO."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError):
        raise DataRefused(inference.NOT_UPLOADED) from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise DataRefused(inference.NOT_UPLOADED)
    return os.fdopen(descriptor, "rb")


class ImageWriter:
    """Decodes screened images one at a time and stores each as image-NNNNN.png in `folder`."""

    def __init__(self, folder: Path, max_images: int) -> None:
        self.folder, self.max_images = folder, max_images
        self.count = 0
        self.skipped: list[str] = []

    def add_upload(self, path: str) -> None:
        try:
            self.store(inference.open_upload(path))
        except ImageError as error:
            self.skipped.append(str(error))

    def add(self, data: bytes, name: str) -> None:
        try:
            self.store(inference.open_image_bytes(data, shown_name(name), MAX_ENTRY_BYTES))
        except ImageError as error:
            self.skipped.append(str(error))

    def store(self, image) -> None:
        if self.count >= self.max_images:
            raise DataRefused(f"more than {self.max_images} images; the tab trains on at most {self.max_images}")
        image.thumbnail((STORED_MAX_SIDE, STORED_MAX_SIDE))
        self.count += 1
        image.save(self.folder / f"image-{self.count:05d}.png")

    def finished(self) -> StoredImages:
        if self.count == 0:
            reason = f" ({self.skipped[0]})" if self.skipped else ""
            raise DataRefused(f"none of the uploads is an image this app can read{reason}")
        return StoredImages(self.folder, self.count, tuple(self.skipped))


def local_folders_allowed() -> bool:
    """Whether a folder on this machine may be named: only when the app serves this machine alone
    (not on a Space, and listening on a loopback address), so no visitor reads the server's files."""
    host = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    return "SPACE_ID" not in os.environ and host in LOCAL_HOSTS


def local_folder(text: str, max_images: int = MAX_IMAGES) -> StoredImages:
    """A folder of images on this machine, used where it is (never copied, never removed), counted
    by the training command's own rules; DataRefused when folders may not be named here, or it has
    no images or too many."""
    if not local_folders_allowed():
        raise DataRefused("a folder on the server can be named only when the app runs on your own machine")
    folder = Path(text.strip()).expanduser()
    if not folder.is_dir():
        raise DataRefused(f"{text.strip()[:200]}: no such folder")
    from train.data import list_images  # the trainer's own idea of an image folder
    from train.errors import UserError

    try:
        count = len(list_images(folder.resolve(), "folder"))
    except UserError as error:
        raise DataRefused(str(error)) from None
    if count > max_images:
        raise DataRefused(f"{folder}: {count} images, more than the {max_images} the tab trains on")
    return StoredImages(folder.resolve(), count)
