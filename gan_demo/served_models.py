"""The models a deployment serves, as data: `served_models.json` beside app.py (or the file
$GAN_DEMO_MODELS names), written by `python -m train.deploy` and read by the catalog's
`build_registry` at start-up. Each entry is a Hub repo pinned to a commit, with the name the app shows
and the model's kind; `bundled` says whether the models of checkpoints/ are served too. Without the
file the app serves the bundled catalog, as before. The file is checked as a visitor's input would
be (size, types, 40-hex commits, repo ids, names, no unknown keys), and a bad file is one line.

    {"format_version": 1, "bundled": false,
     "models": [{"repo_id": "you/dcgan-cats", "revision": "<40 hex>", "name": "my cats", "kind": "dcgan"}]}
"""

import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "served_models.json"
PATH_VARIABLE = "GAN_DEMO_MODELS"
DEFAULT_PATH = Path(__file__).resolve().parents[1] / FILE_NAME
FORMAT_VERSION = 1
MAX_FILE_BYTES = 64 * 1024
MAX_MODELS = 16
MAX_NAME = 60
KINDS = ("dcgan", "cyclegan")
COMMIT_ID = re.compile(r"[0-9a-f]{40}")
# namespace/name as the Hub allows them: letters, digits, '-', '_', '.', no '--' or '..', at most 96 characters.
REPO_ID = re.compile(r"(?!.*(--|\.\.))[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}")
ENTRY_KEYS = {"repo_id", "revision", "name", "kind"}


class ServedModelsError(ValueError):
    """A models file that cannot be used; the message is one line naming the file and what is wrong."""


@dataclass(frozen=True)
class ServedModel:
    repo_id: str
    revision: str  # a commit id: a later push to the repo never changes what the deployment serves
    name: str  # what the app shows
    kind: str  # "dcgan" or "cyclegan"


@dataclass(frozen=True)
class ServedModels:
    models: tuple[ServedModel, ...]
    bundled: bool  # serve checkpoints/'s models too


def to_json(served: ServedModels) -> str:
    """The file's text for `served` (validated first, so a deploy never writes a file the app refuses)."""
    text = json.dumps({"format_version": FORMAT_VERSION, "bundled": served.bundled,
                       "models": [asdict(model) for model in served.models]}, indent=2) + "\n"
    parse(text, "the models to write")
    return text


def parse(text: str, where: str) -> ServedModels:
    """The ServedModels in `text`; ServedModelsError with one line when anything is off."""
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise ServedModelsError(f"{where}: larger than {MAX_FILE_BYTES} bytes")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ServedModelsError(f"{where}: not valid JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(data, dict) or set(data) != {"format_version", "bundled", "models"}:
        raise ServedModelsError(f"{where}: expected an object with exactly format_version, bundled and models")
    if data["format_version"] != FORMAT_VERSION or isinstance(data["format_version"], bool):
        raise ServedModelsError(f"{where}: format_version {str(data['format_version'])[:20]} is not "
                                f"{FORMAT_VERSION}, the one this gan-demo reads")
    if not isinstance(data["bundled"], bool):
        raise ServedModelsError(f"{where}: bundled must be true or false")
    entries = data["models"]
    if not isinstance(entries, list) or len(entries) > MAX_MODELS:
        raise ServedModelsError(f"{where}: models must be a list of at most {MAX_MODELS} entries")
    models = tuple(parse_entry(entry, f"{where}, model {index + 1}") for index, entry in enumerate(entries))
    repo_ids = [model.repo_id for model in models]
    duplicated = sorted({repo_id for repo_id in repo_ids if repo_ids.count(repo_id) > 1})
    if duplicated:
        raise ServedModelsError(f"{where}: {duplicated[0]} is listed twice")
    return ServedModels(models, data["bundled"])


def parse_entry(entry: object, where: str) -> ServedModel:
    if not isinstance(entry, dict) or set(entry) != ENTRY_KEYS:
        raise ServedModelsError(f"{where}: expected an object with exactly {', '.join(sorted(ENTRY_KEYS))}")
    if not all(isinstance(value, str) for value in entry.values()):
        raise ServedModelsError(f"{where}: every value must be text")
    if not REPO_ID.fullmatch(entry["repo_id"]):
        raise ServedModelsError(f"{where}: {entry['repo_id'][:100]!r} is not a Hub repo id (namespace/name)")
    if not COMMIT_ID.fullmatch(entry["revision"]):
        raise ServedModelsError(f"{where}: revision {entry['revision'][:50]!r} is not a commit id (40 hex digits)")
    if not (0 < len(entry["name"]) <= MAX_NAME and entry["name"].isprintable()):
        raise ServedModelsError(f"{where}: name must be 1 to {MAX_NAME} printable characters")
    if entry["kind"] not in KINDS:
        raise ServedModelsError(f"{where}: kind {entry['kind'][:20]!r} is not one of {', '.join(KINDS)}")
    return ServedModel(**entry)


def configured_path() -> Path:
    """$GAN_DEMO_MODELS, else served_models.json beside app.py."""
    return Path(os.environ.get(PATH_VARIABLE) or DEFAULT_PATH)


def read(path: "str | Path | None" = None) -> ServedModels | None:
    """The models file at `path` (default: configured_path()), or None when there is none."""
    path = Path(path) if path is not None else configured_path()
    if not path.is_file():
        if path.exists() or path != DEFAULT_PATH:  # a path someone named must be there
            raise ServedModelsError(f"{path}: no such file")
        return None
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ServedModelsError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        return parse(path.read_text(encoding="utf-8"), str(path))
    except UnicodeDecodeError:
        raise ServedModelsError(f"{path}: not UTF-8 text") from None


def entries_to_serve(bundled: tuple, path: "str | Path | None" = None) -> tuple:
    """The catalog entries a registry serves: `bundled` (the catalog's CatalogEntry tuple) when there is
    no models file; else the file's models, each named by its repo id and pinned to its commit,
    after `bundled` if the file says so. A broken file is logged and the bundled models served: the
    app never fails to start."""
    from gan_demo.catalog import CatalogEntry  # the catalog calls this module while it builds a registry

    try:
        served = read(path)
    except ServedModelsError as error:
        log.error("%s; serving the bundled models only", error)
        return bundled
    if served is None:
        return bundled
    hub_entries = tuple(CatalogEntry(model.repo_id, model.kind, model.name, repo_id=model.repo_id,
                                     revision=model.revision) for model in served.models)
    return (bundled if served.bundled else ()) + hub_entries
