"""A run's settings: the flags both training scripts share, the checks of their values, and
`TrainingSettings`, the frozen dataclass the command line fills and config.json stores. A script
subclasses it with its own fields (train/dcgan.py's DCGANSettings, train/cyclegan.py's
CycleGANSettings) and defines the matching flags; `parse_settings` turns a command line into
settings. With --resume, the settings in RUN_DIR/config.json win over the command line, but for
CHANGEABLE_ON_RESUME; each saved value is checked to have its field's type (and choices) and the
merged settings get the same checks as flags, so a hand-edited file is refused in one line that
names it.
"""

import argparse
import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

from accelerate.utils import LoggerType

from train.augment import AUGMENTATIONS
from train.errors import UserError, describe_os_error
from train.publish import check_repo_id

# Settings whose new value is honoured on --resume; every other one comes from the saved config.
# (`out` is where the config was read from: a run folder may have been moved or copied.)
CHANGEABLE_ON_RESUME = ("out", "iters", "resume", "push_to_hub", "private", "report_to", "cpu")
SEED_LIMIT = 2**63  # seeds are stored as signed 64-bit integers (torch, config.json readers)
INTEGER_LIMIT = 2**63  # a number in config.json: any flag's fits in 64 bits
LEARNING_RATE_LIMIT = 1.0  # Adam steps of the order of the weights themselves: certain divergence
TRACKERS = ("none", *LoggerType.list())
PRECISIONS = ("fp32", "bf16")
CONFIG_BYTES = 1024 * 1024  # far above any config.json a run writes (a few hundred bytes)


def choices(options: tuple[str, ...], older: dict | None = None) -> dict:
    """Field metadata: the values a str setting may take (its flag's `choices`); `older` maps a value
    that config.json files from before these choices hold to the choice it means today."""
    return {"choices": options, "older": older or {}}


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainingSettings:
    """What both scripts are told: one field per flag of add_common_arguments, named as its flag
    (--image-size: image_size), and the fields every script has under its own defaults."""

    DATA_FIELDS: ClassVar[tuple[str, ...]] = ()  # the image folders, kept apart from the run folder

    out: Path
    iters: int
    batch_size: int
    aug: str = dataclasses.field(metadata=choices(AUGMENTATIONS))
    diffaug: bool
    holdout: float
    image_size: int
    conv_dim: int
    sample_every: int
    checkpoint_every: int
    seed: int
    resume: bool
    ema_decay: float
    precision: str = dataclasses.field(metadata=choices(PRECISIONS))
    cpu: bool
    push_to_hub: str | None
    private: bool
    report_to: str = dataclasses.field(metadata=choices(TRACKERS))

    def completed(self) -> Self:
        """These settings with any whose default is another's value filled in (a script's own: a
        CycleGAN names each domain after its folder)."""
        return self

    def to_json(self) -> dict[str, Any]:
        """config.json: every setting, paths as text. (Tokens are never settings, so none can land here.)"""
        values = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return {name: str(value) if isinstance(value, Path) else value for name, value in values.items()}

    @classmethod
    def from_json(cls, values: dict[str, Any], defaults: "TrainingSettings", where: Path) -> Self:
        """Settings from a config.json's `values`, each checked to have its field's type; a field the
        file lacks (written before its flag existed) keeps its value in `defaults`."""
        settings = {}
        for field in dataclasses.fields(cls):
            if field.name not in values:
                settings[field.name] = getattr(defaults, field.name)
                continue
            value, options = values[field.name], type_options(cls, field)
            older = field.metadata.get("older", {})
            if isinstance(value, bool | str) and value in older:  # hashable, like the keys of `older`
                value = older[value]
            if not fits(value, options, field.metadata.get("choices")):
                text = json.dumps(value)
                raise UserError(f"{where}: {field.name!r} is {text if len(text) <= 40 else text[:40] + '...'}, "
                                f"not a value of {flag(field.name)}; fix or delete the file")
            if isinstance(value, str) and Path in options:
                value = Path(value)
            elif isinstance(value, int) and float in options:
                value = float(value)
            settings[field.name] = value
        return cls(**settings)

    def resumed(self, saved: dict[str, Any], before_flags: dict[str, Any], where: Path) -> Self:
        """These command-line settings with `saved` (a resumed run's config.json) winning for all
        but CHANGEABLE_ON_RESUME; `before_flags` holds the value a run had when its config.json
        predates a flag (its value then, not the flag's default today)."""
        fixed = {name: value for name, value in saved.items() if name not in CHANGEABLE_ON_RESUME}
        older = {name: value for name, value in before_flags.items() if name not in saved}
        return type(self).from_json({**older, **fixed}, defaults=self, where=where)


def type_options(cls: type, field: dataclasses.Field) -> tuple[type, ...]:
    """The types a field may hold: (int,) for `int`, (str, NoneType) for `str | None`."""
    hint = typing.get_type_hints(cls)[field.name]
    return typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)


def fits(value: Any, options: tuple[type, ...], allowed: tuple[str, ...] | None) -> bool:
    """Whether a JSON value could have come from a flag whose type is one of `options` (and whose
    choices are `allowed`). Numbers fit in 64 bits, as every flag's do."""
    if value is None:
        return type(None) in options
    if isinstance(value, bool):  # JSON true and false: only for switches, never for numbers
        return bool in options
    if isinstance(value, int):
        return (int in options or float in options) and -INTEGER_LIMIT <= value < INTEGER_LIMIT
    if isinstance(value, float):
        return float in options
    if isinstance(value, str):
        return (str in options or Path in options) and (allowed is None or value in allowed)
    return False


def add_common_arguments(parser: argparse.ArgumentParser, sample_every: int, checkpoint_every: int) -> None:
    """The flags of TrainingSettings but iters and batch_size, whose defaults each script chooses."""
    parser.add_argument("--out", required=True, type=Path,
                        help="run folder (created; must be empty unless --resume; never inside a data folder)")
    parser.add_argument("--aug", choices=AUGMENTATIONS, default="basic",
                        help="real-image augmentation: basic (resize) or deluxe (crop, flip, colour jitter)")
    parser.add_argument("--diffaug", action="store_true",
                        help="DiffAugment (colour, translation, cutout) on real and fake images")
    parser.add_argument("--holdout", type=float, default=0.0,
                        help="share of each image folder kept out of training for evaluation, the same files "
                             "in every run (chosen by a hash of their names); train.evaluate tests on them")
    parser.add_argument("--image-size", type=int, default=64, help="training resolution in pixels")
    parser.add_argument("--conv-dim", type=int, default=32, help="channel width of the first/last conv layers")
    parser.add_argument("--sample-every", type=int, default=sample_every, help="write a sample grid every N steps")
    parser.add_argument("--checkpoint-every", type=int, default=checkpoint_every,
                        help="write state.pt and refresh export/ every N steps")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of initialisation, data order and noise, 0 to 2^63-1")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its state.pt")
    parser.add_argument("--ema-decay", type=float, default=0.999,
                        help="decay of the generators' exponential moving average, which is sampled and exported "
                             "(warms up over the first steps; 0: the raw generators)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="bf16 autocast for the forward passes (weights and optimiser stay fp32)")
    parser.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is available")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", default=None,
                        help="publish export/ to this Hugging Face Hub model repo when training ends")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo as private")
    parser.add_argument("--report-to", choices=TRACKERS, default="none",
                        help="experiment tracker for losses and sample grids, through Accelerate (tensorboard "
                             "writes to RUN_DIR/logs/; the tracker's package must be installed)")


Settings = TypeVar("Settings", bound=TrainingSettings)


def parse_settings(parser: argparse.ArgumentParser, argv: list[str], settings_class: type[Settings],
                   check: Callable[[Settings], None], before_flags: dict | None = None) -> Settings:
    """Parse `argv` into settings and `check` them; with --resume, merge the saved config.json over
    them (TrainingSettings.resumed) and check the result again, naming the file."""
    settings = settings_class(**vars(parser.parse_args(argv))).completed()
    check(settings)
    path = settings.out / "config.json"
    if not settings.resume or not path.is_file():
        return settings
    merged = settings.resumed(read_config(path), before_flags or {}, path)
    try:
        check(merged)
    except UserError as error:
        raise UserError(f"{path}: {error}") from None
    return merged


def read_config(path: Path) -> dict[str, Any]:
    """A run's config.json as a dict, or a UserError naming the file."""
    try:
        if path.stat().st_size > CONFIG_BYTES:
            raise UserError(f"{path}: {path.stat().st_size} bytes, not a config.json of this project; "
                            "fix or delete it")
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise UserError(f"{path}: not valid JSON; fix or delete it") from None
    except OSError as error:
        raise UserError(f"cannot read {describe_os_error(error)}") from None
    if not isinstance(saved, dict):
        raise UserError(f"{path}: not a JSON object of settings; fix or delete it")
    return saved


# -- checks of the values ------------------------------------------------------------------------


def flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def check_finite(value: Any, name: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{flag(name)} must be a finite number, got {value}")


def check_positive(settings: TrainingSettings, *names: str, or_zero: bool = False) -> None:
    """One clear line for the first numeric setting out of range (`or_zero`: 0 is allowed too); NaN
    and infinities are out of range."""
    for name in names:
        value = getattr(settings, name)
        check_finite(value, name)
        if value < 0 or (value == 0 and not or_zero):
            raise UserError(f"{flag(name)} must be {'0 or ' if or_zero else ''}positive, got {value}")


def check_at_most(settings: TrainingSettings, **limits: float) -> None:
    """One clear line for the first setting above its limit."""
    for name, limit in limits.items():
        if getattr(settings, name) > limit:
            raise UserError(f"{flag(name)} must be at most {limit}, got {getattr(settings, name)}")


def check_fraction(settings: TrainingSettings, *names: str) -> None:
    """One clear line for the first setting outside [0, 1) (NaN included)."""
    for name in names:
        value = getattr(settings, name)
        if not 0 <= value < 1:
            raise UserError(f"{flag(name)} must be at least 0 and below 1, got {value}")


def check_common(settings: TrainingSettings) -> None:
    """The checks of the settings that add_common_arguments defines."""
    check_positive(settings, "conv_dim", "sample_every", "checkpoint_every")
    check_fraction(settings, "holdout", "ema_decay")
    if not 0 <= settings.seed < SEED_LIMIT:
        raise UserError(f"--seed must be between 0 and 2^63-1, got {settings.seed}")
    check_out_outside_data(settings)
    if settings.push_to_hub is not None:
        check_repo_id(settings.push_to_hub, "--push-to-hub")


def check_out_outside_data(settings: TrainingSettings) -> None:
    """A run folder inside a data folder would feed its own sample grids back in as training images
    on the next start: refused."""
    out = settings.out.resolve()
    for name in settings.DATA_FIELDS:
        folder = getattr(settings, name)
        if out.is_relative_to(folder.resolve()):
            raise UserError(f"--out {settings.out} is inside {flag(name)} {folder}: its sample grids would "
                            "become training images; choose a run folder outside the data")
