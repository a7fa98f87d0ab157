"""The models the app offers, in one registry built at start-up. `ENTRIES` lists the bundled models
(kind, label, folder under checkpoints/, and a Hub repo id with a pinned revision once the
maintainers publish one); `build_registry` loads each one from the Hub at that revision when a repo
id is set and the Hub is allowed and reachable, otherwise from its bundled folder (logging why it
fell back), and lists a model that loads from neither as unavailable, with the reason, instead of
failing. Models added later join the same registry: a local training run with `ModelRegistry.add`,
a visitor's Hub repo with `ModelRegistry.add_from_hub`, the one entry point for that (see its
docstring: a cap on the number, one download budget, a deadline, names that never collide).

`GAN_DEMO_OFFLINE=1` or `HF_HUB_OFFLINE=1` forbid the Hub; `GAN_DEMO_CHECKPOINTS=DIR` points the
bundled folders somewhere else than checkpoints/ (tests, or models trained locally).

    registry = build_registry()
    registry.names("dcgan")                 # the DCGANs that loaded, in catalog order
    registry.get("cyclegan-cats").model     # ModelUnavailable (one line) if it did not load
    registry.add("run:mine", "dcgan", model, "local run: runs/mine", export_folder)
    registry.add_from_hub("someone/their-gan", "main")  # -> the note to show; AddRefused (one line) if not
"""

import logging
import os
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import torch

from gan_demo import hub, served_models
from gan_demo.inference import ModelLoadError, load_folder
from gan_demo.models import MODEL_CLASSES, kind_of

log = logging.getLogger(__name__)

CHECKPOINTS_VARIABLE = "GAN_DEMO_CHECKPOINTS"
OFFLINE_VARIABLES = ("GAN_DEMO_OFFLINE", "HF_HUB_OFFLINE")
DEFAULT_CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
ADDED_PREFIX = "added: "  # the source of every model added by repo id begins so


@dataclass(frozen=True)
class AddLimits:
    """What the models visitors add may take, all of them together: they are shared by every visitor
    of the app's process (a copy per visitor would multiply memory by the visitors)."""

    models: int = 4
    download_bytes: int = 200 * 1000 * 1000  # received bytes on disk; memory follows (float32 weights)
    seconds: float = 60.0  # one add, from resolving the revision to a loaded model


class AddRefused(ValueError):
    """A model that cannot be added; the message is one line a visitor can read."""


class ModelUnavailable(LookupError):
    """A model name the registry does not know, or one that did not load; the message is one line."""

    def __str__(self) -> str:  # LookupError would quote the message like a dictionary key
        return str(self.args[0])


@dataclass(frozen=True)
class CatalogEntry:
    """One bundled model. `domains` are the display names of a CycleGAN's domains a and b."""

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
    CatalogEntry("dcgan-grumpy-basic", "dcgan", "basic augmentation (collapsed)"),
    CatalogEntry("dcgan-grumpy-deluxe", "dcgan", "deluxe augmentation"),
    CatalogEntry("dcgan-grumpy-diffaug", "dcgan", "DiffAugment"),
    CatalogEntry("dcgan-grumpy-deluxe-diffaug", "dcgan", "deluxe + DiffAugment"),
    CatalogEntry("cyclegan-cats", "cyclegan", "cats", domains=("Russian Blue", "Grumpy")),
    CatalogEntry("cyclegan-cats-nocycle", "cyclegan", "cats, no cycle loss", domains=("Russian Blue", "Grumpy"),
                 note="no cycle loss"),
    CatalogEntry("cyclegan-apple2orange", "cyclegan", "fruit", domains=("apple", "orange")),
)
DEFAULT_DCGAN = "dcgan-grumpy-deluxe-diffaug"  # the variant that copes best with 157 training images


@dataclass(frozen=True)
class RegisteredModel:
    """One model in the registry: loaded (`model`), or unavailable (`model` is None, `reason` says
    why). `source` says where it came from in one line; `progress_folder` holds its training record
    (progress.gif, losses.csv, model card): the bundled folder, the Hub snapshot in the HF cache or a
    run's export/, or None. `domains` name a CycleGAN's domains a and b."""

    name: str
    kind: str
    model: torch.nn.Module | None
    source: str
    progress_folder: Path | None = None
    label: str = ""
    domains: tuple[str, str] | None = None
    note: str = ""
    reason: str = ""

    @property
    def available(self) -> bool:
        return self.model is not None


@dataclass(frozen=True)
class TranslationChoice:
    """One entry of the app's direction menu: a CycleGAN and which of its generators to run."""

    label: str
    model_name: str
    direction: str  # "a2b" or "b2a"


class ModelRegistry:
    """The models on offer by name, in the order they joined; safe to read and add to from several
    request threads. `add` with a name again replaces its entry (a run's newer export); models added
    by repo id (`add_from_hub`) never replace anything. `downloads` holds their files: a temporary
    folder made at the first add and removed at exit when None."""

    def __init__(self, add_limits: AddLimits = AddLimits(), downloads: "str | Path | None" = None) -> None:
        self._models: dict[str, RegisteredModel] = {}
        self._lock = threading.Lock()
        self.add_limits = add_limits
        self._budget = hub.DownloadBudget(add_limits.download_bytes)
        self._adding: set[str] = set()  # names being added now: they count against the cap already
        self._downloads = Path(downloads) if downloads is not None else None

    def add(self, name: str, kind: str, model: torch.nn.Module, source: str,
            progress_folder: "str | Path | None" = None, *, label: str = "",
            domains: tuple[str, str] | None = None, note: str = "") -> RegisteredModel:
        """Register a loaded model (in eval mode, gradients off). A CycleGAN's `domains` default to
        the domain names its config carries."""
        model_class = model_class_of(kind)
        if not isinstance(model, model_class):
            raise TypeError(f"{name}: a {kind} model must be a {model_class.__name__}, got {type(model).__name__}")
        if kind == "cyclegan" and domains is None:
            domains = (model.domain_a, model.domain_b)
        folder = Path(progress_folder) if progress_folder is not None else None
        return self._put(RegisteredModel(name, kind, model.eval().requires_grad_(False), source, folder,
                                         label or name, domains, note))

    def add_unavailable(self, name: str, kind: str, reason: str, *, label: str = "",
                        domains: tuple[str, str] | None = None, note: str = "") -> RegisteredModel:
        """List a model that could not be loaded, with the one-line reason the app shows."""
        model_class_of(kind)
        return self._put(RegisteredModel(name, kind, None, f"unavailable: {reason}", None, label or name, domains,
                                         note, reason))

    def get(self, name: str) -> RegisteredModel:
        """The loaded model called `name`; ModelUnavailable when it is unknown or did not load."""
        with self._lock:
            registered = self._models.get(name)
        if registered is None:
            raise ModelUnavailable(f"no model named {name!r}; known: {', '.join(self.names(available=False))}")
        if not registered.available:
            raise ModelUnavailable(f"{name} is not available: {registered.reason}")
        return registered

    def names(self, kind: str | None = None, available: bool = True) -> list[str]:
        """Names of the models of `kind` (every kind if None), only the loaded ones unless `available` is False."""
        return [registered.name for registered in self.models(kind, available)]

    def models(self, kind: str | None = None, available: bool = True) -> list[RegisteredModel]:
        """The models of `kind` (every kind if None) in the order they joined, only the loaded ones unless
        `available` is False."""
        with self._lock:
            snapshot = list(self._models.values())
        return [registered for registered in snapshot
                if (kind is None or registered.kind == kind) and (registered.available or not available)]

    def translation_choices(self, available: bool = True) -> list[TranslationChoice]:
        """Both directions of every CycleGAN, e.g. "Russian Blue -> Grumpy"; ablations say what they lack."""
        choices = []
        for registered in self.models("cyclegan", available):
            first, second = registered.domains or ("a", "b")
            suffix = f" ({registered.note})" if registered.note else ""
            choices.append(TranslationChoice(f"{first} -> {second}{suffix}", registered.name, "a2b"))
            choices.append(TranslationChoice(f"{second} -> {first}{suffix}", registered.name, "b2a"))
        return choices

    def _put(self, registered: RegisteredModel) -> RegisteredModel:
        with self._lock:
            self._models[registered.name] = registered
        return registered

    # -- models a visitor adds by Hub repo id ---------------------------------------------------
    def add_from_hub(self, repo_id: str, revision: str | None = None, *, token: str | None = None,
                     endpoint: str | None = None) -> str:
        """Add the gan-demo export of `repo_id` at `revision` (a branch, tag or commit; the default
        branch when empty) and return the note to show; AddRefused with one line when it cannot be.

        The revision is resolved to a commit first, and the model is named `repo_id@<12 hex>`, so a
        later push never changes it and no add replaces another model (another revision of the same
        repo gets its own name; the same commit again is only named back). Then, under the lock, the
        add takes a place among `add_limits.models` (adds still downloading hold theirs), and the
        export is checked from its listing and config.json, downloaded (every byte received charged
        to one budget shared by all added models) and loaded, all within `add_limits.seconds`.
        A failed add leaves nothing on disk and gives its place and bytes back."""
        if not hub_allowed():
            raise AddRefused("the Hub is disabled here (GAN_DEMO_OFFLINE or HF_HUB_OFFLINE is set)")
        deadline = hub.Deadline(self.add_limits.seconds)
        try:
            repo_id = hub.check_repo_id(repo_id)
            commit_id = hub.resolve_commit(repo_id, (revision or "").strip() or None, deadline, token=token,
                                           endpoint=endpoint)
        except hub.HubError as error:
            raise AddRefused(str(error)) from None
        name = f"{repo_id}@{commit_id[:12]}"
        with self._lock:
            known = self._models.get(name)
            if known is None:
                self._take_place(name)
        if known is not None:
            if not known.source.startswith(ADDED_PREFIX):
                raise AddRefused(f"a model named {name} is on offer already")
            return f"`{name}` is here already (commit {commit_id}); choose it in the {menu_of(known.kind)} menu."
        try:
            return self._download_and_register(name, repo_id, commit_id, deadline, token, endpoint)
        finally:
            with self._lock:
                self._adding.discard(name)

    def _take_place(self, name: str) -> None:
        """Hold one of the add_limits.models places for `name` (called under the lock)."""
        if name in self._adding:
            raise AddRefused(f"{name} is being added by another request right now; it appears when that ends")
        added = sum(registered.source.startswith(ADDED_PREFIX) for registered in self._models.values())
        if added + len(self._adding) >= self.add_limits.models:
            raise AddRefused(f"this app holds {self.add_limits.models} added models already (or is adding them), "
                             "the most it keeps")
        self._adding.add(name)

    def _download_and_register(self, name: str, repo_id: str, commit_id: str, deadline: "hub.Deadline",
                               token: str | None, endpoint: str | None) -> str:
        folder = None
        try:
            export = hub.inspect_commit(repo_id, commit_id, deadline, token=token, endpoint=endpoint)
            folder = hub.download_export(export, self._downloads_folder(), deadline, token=token,
                                         budget=self._budget)
            model = hub.load_export(export.model_class, name, folder)
            deadline.check(name)
        except hub.HubError as error:
            self._remove_download(folder)
            raise AddRefused(str(error)) from None
        except OSError as error:  # the disk: full, or the folder unwritable
            self._remove_download(folder)
            raise AddRefused(f"{name}: cannot store the download here ({type(error).__name__}: "
                             f"{hub.shown(error.strerror or error, 80)})") from None
        kind = kind_of(export.model_class)
        self.add(name, kind, model, f"{ADDED_PREFIX}{repo_id} @ {commit_id[:12]}", folder, label=name)
        return (f"Added `{name}` ({kind}, {export.download_bytes / 1e6:.1f} MB) at commit {commit_id}: a later "
                f"push to the repo does not change it. It is in the {menu_of(kind)} menu as `{name}` for "
                "everyone using this app until it restarts.")

    def _downloads_folder(self) -> Path:
        with self._lock:
            if self._downloads is None:
                self._downloads = Path(tempfile.mkdtemp(prefix="gan-demo-added-"))
                weakref.finalize(self, shutil.rmtree, self._downloads, True)  # at exit, or with the registry
            return self._downloads

    def _remove_download(self, folder: Path | None) -> None:
        """Delete a download that will not be served and give its bytes back to the budget."""
        if folder is None or not folder.is_dir():
            return
        size = sum(path.stat().st_size for path in folder.iterdir() if path.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        self._budget.refund(size)

    @property
    def download_bytes(self) -> int:
        """Bytes the added models' downloads hold now (charged as received, given back when removed)."""
        return self._budget.used_bytes


def menu_of(kind: str) -> str:
    return "Sample cats" if kind == "dcgan" else "Translate"


def model_class_of(kind: str) -> type[torch.nn.Module]:
    if kind not in MODEL_CLASSES:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(MODEL_CLASSES)}")
    return MODEL_CLASSES[kind]


def checkpoints_root(checkpoints: "str | Path | None" = None) -> Path:
    """The folder holding the bundled models: the argument, else $GAN_DEMO_CHECKPOINTS, else checkpoints/."""
    return Path(checkpoints or os.environ.get(CHECKPOINTS_VARIABLE) or DEFAULT_CHECKPOINTS)


def hub_allowed() -> bool:
    return not any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on") for name in OFFLINE_VARIABLES)


def display_path(folder: Path) -> str:
    """`checkpoints/<name>` for the repository's own folder, the full path for anything else."""
    try:
        return str(folder.resolve().relative_to(DEFAULT_CHECKPOINTS.parent))
    except ValueError:
        return str(folder)


def resolve(entry: CatalogEntry, checkpoints: "str | Path | None" = None) -> RegisteredModel:
    """Load `entry` from the Hub or its bundled folder (see the module docstring), each call afresh.
    Raises ModelLoadError when neither source has it."""
    fallback_reason = ""
    if entry.repo_id and not hub_allowed():
        fallback_reason = "Hub disabled by " + " / ".join(OFFLINE_VARIABLES)
    elif entry.repo_id:
        try:
            pulled = hub.pull_model(entry.model_class, entry.repo_id, entry.revision or "main")
            return registered_entry(entry, pulled.model, f"Hub: {entry.repo_id} @ {pulled.commit_id[:12]}",
                                    pulled.folder)
        except Exception as error:  # an unreachable Hub, a missing hub module or a broken repo must never stop the app
            fallback_reason = f"Hub unavailable: {error}"
        log.warning("%s: %s; using the bundled copy", entry.name, fallback_reason)
    folder = entry.bundled_folder(checkpoints)
    model = load_folder(entry.model_class, str(folder))
    where = f"bundled: {display_path(folder)}"
    return registered_entry(entry, model, f"{where} ({fallback_reason})" if fallback_reason else where, folder)


def registered_entry(entry: CatalogEntry, model: torch.nn.Module, source: str, folder: Path) -> RegisteredModel:
    return RegisteredModel(entry.name, entry.kind, model.eval().requires_grad_(False), source, folder, entry.label,
                           entry.domains, entry.note)


def build_registry(checkpoints: "str | Path | None" = None,
                   entries: "tuple[CatalogEntry, ...] | None" = None) -> ModelRegistry:
    """A registry holding every entry: loaded (from the Hub or its bundled folder), or unavailable with
    the reason. Never raises for a missing or broken model. `entries` default to what the deployment's
    models file names (gan_demo/served_models.py), else ENTRIES."""
    if entries is None:
        entries = served_models.entries_to_serve(ENTRIES)
    registry = ModelRegistry()
    for entry in entries:
        details = {"label": entry.label, "domains": entry.domains, "note": entry.note}
        try:
            loaded = resolve(entry, checkpoints)
        except ModelLoadError as error:
            registry.add_unavailable(entry.name, entry.kind, str(error), **details)
            continue
        registry.add(entry.name, entry.kind, loaded.model, loaded.source, loaded.progress_folder, **details)
    return registry
