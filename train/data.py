"""Image-folder data sets, decoded once and kept in memory as one uint8 tensor, and the
stateless batch sampler: which images make up step s depends only on (seed, s, process rank and
process count), so a resumed run draws exactly the batches an uninterrupted run would have
drawn. Every consumer of randomness (the data order, each step's augmentation and noise) has its
own stream, salted with its name, so no two of them ever draw the same numbers."""

import hashlib
from pathlib import Path

import torch

from gan_demo.imaging import IMAGE_EXTENSIONS, ImageError, center_crop_resize, open_rgb, pil_to_uint8
from train.errors import UserError


def list_images(folder: Path, flag: str) -> list[Path]:
    """Image files under `folder`, nested folders included, in a stable order."""
    if not folder.exists():
        raise UserError(f"{flag} {folder}: no such folder")
    if not folder.is_dir():
        raise UserError(f"{flag} {folder}: not a folder")
    paths = sorted(path for path in folder.rglob("*")
                   if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()
                   and not any(part.startswith(".") for part in path.relative_to(folder).parts))
    if not paths:
        raise UserError(f"{flag} {folder}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return paths


def split_holdout(paths: list[Path], folder: Path, share: float) -> tuple[list[Path], list[Path]]:
    """(training, held out): round(share * N) files kept out of training, the ones whose relative
    paths hash lowest, so the split is the same on every machine and in every run, and
    `train.evaluate` tests on exactly the images training never saw."""
    def digest(path: Path) -> str:
        return hashlib.sha256(path.relative_to(folder).as_posix().encode()).hexdigest()

    held = set(sorted(paths, key=digest)[:round(share * len(paths))])
    return [path for path in paths if path not in held], [path for path in paths if path in held]


def load_named_images(folder: "str | Path", size: int, flag: str = "--data", warn=print,
                      holdout: float = 0.0, part: str = "train") -> tuple[list[str], torch.Tensor]:
    """Every image under `folder` as RGB, centre-cropped to a square and resized to size x size:
    (their paths relative to `folder`, uint8 (N, 3, size, size)). `holdout` > 0 keeps that share of
    the files out (see split_holdout); `part` "train" loads the rest, "holdout" only them. Unreadable
    files are named through `warn` and skipped; a folder with no readable image at all stops with a
    UserError."""
    folder = Path(folder)
    names, images, skipped = [], [], []
    training, held_out = split_holdout(list_images(folder, flag), folder, holdout)
    for path in training if part == "train" else held_out:
        try:
            images.append(pil_to_uint8(center_crop_resize(open_rgb(path), size)))
            names.append(path.relative_to(folder).as_posix())
        except ImageError as error:
            skipped.append(str(error))
    if skipped:
        warn(f"skipped {len(skipped)} unreadable file(s) in {folder}: " + "; ".join(skipped))
    if not images:
        raise UserError(f"{flag} {folder}: none of the {len(skipped)} image files could be read")
    return names, torch.stack(images)


def load_image_folder(folder: "str | Path", size: int, flag: str = "--data", warn=print,
                      holdout: float = 0.0, part: str = "train") -> torch.Tensor:
    """The images of load_named_images without their names."""
    return load_named_images(folder, size, flag, warn, holdout, part)[1]


def stream_seed(seed: int, stream: str, *indices: int) -> int:
    """The seed of one random stream: a hash of the run's seed, the stream's name and its indices
    (step, epoch, rank). Unlike arithmetic on the seed, no two streams can meet."""
    digest = hashlib.blake2b(repr((seed, stream, *indices)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # 63 bits: manual_seed takes any, other libraries int64


def step_generator(seed: int, step: int, rank: int = 0, device: "str | torch.device" = "cpu") -> torch.Generator:
    """The random generator of one training step of one process (augmentation, noise, image pool).
    Deriving it from (seed, step, rank) instead of carrying one generator along makes every step
    reproducible on its own."""
    return torch.Generator(device=device).manual_seed(stream_seed(seed, "step", step, rank))


def batch_indices(count: int, batch_size: int, seed: int, step: int, rank: int = 0,
                  world_size: int = 1) -> torch.Tensor:
    """Indices of the images in batch `step` (1-based) of process `rank` of `world_size`, as
    DistributedSampler(drop_last=True) and a DataLoader would give them: every epoch one shuffle of
    the whole set, shared by all processes, is dealt out to them in turn (process r takes positions
    r, r + world_size, ...), so within an epoch the processes see disjoint images and together every
    image but the fewer than world_size * batch_size left over; each walks its share in batches.
    A share smaller than a batch is drawn with replacement, per process. Its own streams: the data
    order never repeats the step generator's numbers."""
    share = count // world_size
    if share < batch_size:
        draw = torch.Generator().manual_seed(stream_seed(seed, "data-draw", step, rank))
        return torch.randint(0, count, (batch_size,), generator=draw)
    epoch, position = divmod(step - 1, share // batch_size)
    # One shuffle for all processes, salted with rank 0 as before the processes shared it, so a
    # single process keeps the order it always had.
    order = torch.randperm(count, generator=torch.Generator().manual_seed(stream_seed(seed, "data-order", epoch, 0)))
    mine = order[rank::world_size][:share]
    return mine[position * batch_size:(position + 1) * batch_size]
