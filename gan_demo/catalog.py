"""The models the app offers and where each one comes from. Every entry names a model (its kind,
its label, its bundled folder under checkpoints/, and a Hub repo id with a pinned revision once
the maintainers publish it); `resolve` loads it from the Hub at that revision when a repo id is
set and the Hub is allowed and reachable, and otherwise from the bundled folder, logging why it
fell back. `GAN_DEMO_OFFLINE=1` or `HF_HUB_OFFLINE=1` forbid the Hub; `GAN_DEMO_CHECKPOINTS=DIR`
points the bundled folders somewhere else than checkpoints/ (tests, or models trained locally).
"""

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from gan_demo.inference import ModelLoadError, load_folder
from gan_demo.models import CycleGAN, DCGenerator

log = logging.getLogger(__name__)

CHECKPOINTS_VARIABLE = "GAN_DEMO_CHECKPOINTS"
OFFLINE_VARIABLES = ("GAN_DEMO_OFFLINE", "HF_HUB_OFFLINE")
DEFAULT_CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
MODEL_CLASSES: dict[str, type[torch.nn.Module]] = {"dcgan": DCGenerator, "cyclegan": CycleGAN}


@dataclass(frozen=True)
class CatalogEntry:
    """One model the app offers. `domains` are the display names of a CycleGAN's domains a and b."""

    name: str
    kind: str  # "dcgan" or "cyclegan"
    label: str
    repo_id: str | None = None
    revision: str | None = None  # a commit sha, so a push to the repo never changes the app silently
    domains: tuple[str, str] | None = None
    note: str = ""  # what sets an ablation apart, shown next to its translation directions

    @property
    def model_class(self) -> type[torch.nn.Module]:
        return MODEL_CLASSES[self.kind]

    def bundled_folder(self, checkpoints: "str | Path | None" = None) -> Path:
        return checkpoints_root(checkpoints) / self.name


ENTRIES: tuple[CatalogEntry, ...] = (
    CatalogEntry("dcgan-grumpy-basic", "dcgan", "basic augmentation"),
    CatalogEntry("dcgan-grumpy-deluxe", "dcgan", "deluxe augmentation"),
    CatalogEntry("dcgan-grumpy-diffaug", "dcgan", "DiffAugment"),
    CatalogEntry("dcgan-grumpy-deluxe-diffaug", "dcgan", "deluxe + DiffAugment"),
    CatalogEntry("cyclegan-cats", "cyclegan", "cats", domains=("Russian Blue", "Grumpy")),
    CatalogEntry("cyclegan-cats-nocycle", "cyclegan", "cats, no cycle loss", domains=("Russian Blue", "Grumpy"),
                 note="no cycle loss"),
    CatalogEntry("cyclegan-apple2orange", "cyclegan", "fruit", domains=("apple", "orange")),
)
DEFAULT_DCGAN = "dcgan-grumpy-deluxe-diffaug"  # the variant that copes best with 175 training images


@dataclass(frozen=True)
class TranslationChoice:
    """One entry of the app's direction menu: a CycleGAN and which of its generators to run."""

    label: str
    model_name: str
    direction: str  # "a2b" or "b2a"


def translation_choices() -> list[TranslationChoice]:
    """Both directions of every CycleGAN, e.g. "Russian Blue -> Grumpy"; ablations say what they lack."""
    choices = []
    for entry in entries("cyclegan"):
        first, second = entry.domains or ("a", "b")
        suffix = f" ({entry.note})" if entry.note else ""
        choices.append(TranslationChoice(f"{first} -> {second}{suffix}", entry.name, "a2b"))
        choices.append(TranslationChoice(f"{second} -> {first}{suffix}", entry.name, "b2a"))
    return choices


@dataclass(frozen=True)
class ResolvedModel:
    """A loaded model, the folder holding its files (weights, card, progress GIF, losses: the bundled
    folder or the Hub snapshot in the HF cache) and a one-line description of where it came from."""

    entry: CatalogEntry
    model: torch.nn.Module
    folder: Path
    source: str


def entries(kind: str | None = None) -> list[CatalogEntry]:
    return [entry for entry in ENTRIES if kind is None or entry.kind == kind]


def entry_named(name: str) -> CatalogEntry:
    for entry in ENTRIES:
        if entry.name == name:
            return entry
    raise KeyError(f"no model named {name!r}; the catalog has {', '.join(entry.name for entry in ENTRIES)}")


def checkpoints_root(checkpoints: "str | Path | None" = None) -> Path:
    """The folder holding the bundled models: the argument, else $GAN_DEMO_CHECKPOINTS, else checkpoints/."""
    return Path(checkpoints or os.environ.get(CHECKPOINTS_VARIABLE) or DEFAULT_CHECKPOINTS)


def hub_allowed() -> bool:
    return not any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on") for name in OFFLINE_VARIABLES)


def resolve(entry: CatalogEntry, checkpoints: "str | Path | None" = None) -> ResolvedModel:
    """Load `entry` from the Hub or its bundled folder (see the module docstring); once per process.
    Raises ModelLoadError when neither source has it."""
    return resolve_cached(entry, str(checkpoints_root(checkpoints)), hub_allowed())


@functools.lru_cache(maxsize=32)
def resolve_cached(entry: CatalogEntry, checkpoints: str, use_hub: bool) -> ResolvedModel:
    # Failures raise and so are not cached: a model copied into checkpoints/ later is found then.
    fallback_reason = ""
    if entry.repo_id and not use_hub:
        fallback_reason = "Hub disabled by " + " / ".join(OFFLINE_VARIABLES)
    elif entry.repo_id:
        try:
            from gan_demo import hub  # only here: an offline app never needs huggingface_hub's network code

            pulled = hub.pull_model(entry.model_class, entry.repo_id, entry.revision or "main")
            return ResolvedModel(entry, pulled.model.requires_grad_(False), pulled.folder,
                                 f"Hub: {entry.repo_id} @ {pulled.commit_id[:12]}")
        except Exception as error:  # an unreachable Hub, a missing hub module or a broken repo must never stop the app
            fallback_reason = f"Hub unavailable: {error}"
        log.warning("%s: %s; using the bundled copy", entry.name, fallback_reason)
    folder = Path(checkpoints) / entry.name
    model = load_folder(entry.model_class, str(folder))
    where = f"bundled: {display_path(folder)}"
    return ResolvedModel(entry, model, folder, f"{where} ({fallback_reason})" if fallback_reason else where)


def display_path(folder: Path) -> str:
    """`checkpoints/<name>` for the repository's own folder, the full path for anything else."""
    try:
        return str(folder.resolve().relative_to(DEFAULT_CHECKPOINTS.parent))
    except ValueError:
        return str(folder)


def availability(checkpoints: "str | Path | None" = None) -> list[tuple[CatalogEntry, ResolvedModel | None, str]]:
    """(entry, resolved model or None, why not) for every entry, loading each once, so the app can list
    a missing or broken model as unavailable instead of failing."""
    rows: list[tuple[CatalogEntry, ResolvedModel | None, str]] = []
    for entry in ENTRIES:
        try:
            rows.append((entry, resolve(entry, checkpoints), ""))
        except ModelLoadError as error:
            rows.append((entry, None, str(error)))
    return rows
