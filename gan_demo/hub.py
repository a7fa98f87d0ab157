"""Load exported models from the Hugging Face Hub at a pinned revision: the app's catalog calls
`pull_model`, which downloads a revision into the standard HF cache, checks it and loads it with
`from_pretrained`. Every failure a person can meet (unreachable Hub, missing repo or revision,
corrupt download) is a `HubError` with a one-line message. Publishing is training's business
(train/publish.py); it shares the export format, the error translation and the timeouts here.
The token goes to the client in memory only: it is never printed, logged or written anywhere.
"""

import contextlib
import inspect
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub import HfApi, constants, get_session, hf_hub_download, scan_cache_dir, snapshot_download
from huggingface_hub.errors import (
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils import httpx  # the client's HTTP library as it exports it (httpx2 in 2.x): see below

from gan_demo.models import CycleGAN, DCGenerator
from gan_demo.models.cyclegan import SKIP_OPTIONS
from gan_demo.models.dcgan import NORMS
from gan_demo.models.export_format import ExportFormatError, check_format

# An exported model (RUN_DIR/export, checkpoints/<name>/, a Hub repo) is exactly these files.
EXPORT_FILES = ("config.json", "model.safetensors", "README.md", "progress.gif", "progress.json", "losses.csv",
                "losses.png")
REQUIRED_FILES = ("config.json", "model.safetensors")
COMMIT_ID = re.compile(r"[0-9a-f]{40}")
# How long the client waits for the Hub to accept a connection, and for each read or write. Its own
# default waits for ever, so a server that accepts and never answers would hang a push or pull.
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class HubError(RuntimeError):
    """A push or pull that cannot go on; the message is one line a person can act on."""


@dataclass(frozen=True)
class PulledModel:
    model: torch.nn.Module  # in eval mode
    folder: Path  # the snapshot in the HF cache: the export files (card, GIF, losses) next to the weights
    commit_id: str


def use_timeouts() -> None:
    """Give huggingface_hub's shared HTTP client the TIMEOUT (calls that pass their own keep it)."""
    get_session().timeout = TIMEOUT


def pull_model(model_class: type, repo_id: str, revision: str = constants.DEFAULT_REVISION,
               cache_dir: "str | Path | None" = None, token: str | None = None, timeout: float = 10.0) -> PulledModel:
    """Download the export files of `repo_id` at `revision` (a commit id to pin it, or a branch) into
    the HF cache, verify them against the Hub's checksums and load them with
    `model_class.from_pretrained`. A commit already in the cache is used without asking the Hub."""
    with translated_errors(repo_id, revision):
        commit_id, folder = cached_snapshot(repo_id, revision, cache_dir) or download(
            repo_id, revision, cache_dir, token, timeout)
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise HubError(f"{repo_id}@{revision}: not a gan-demo export (no {' or '.join(missing)} on the Hub)")
    try:  # strict: weights that do not fill the model exactly are an error, not a silent partial load
        model = model_class.from_pretrained(str(folder), strict=True)
    except Exception as error:  # safetensors, JSON and shape errors all mean "these files are unusable"
        # The bytes match the Hub's checksums, so downloading them again would not help: keep the cache.
        raise HubError(f"{repo_id}@{revision}: {model_class.__name__} cannot load the download "
                       f"({type(error).__name__}): the files on the Hub are corrupt or not a "
                       f"{model_class.__name__} export") from None
    return PulledModel(model=model.eval(), folder=folder, commit_id=commit_id)


def cached_snapshot(repo_id: str, revision: str, cache_dir: "str | Path | None") -> tuple[str, Path] | None:
    """The cached snapshot of a pinned commit, if complete. A commit never changes, so no Hub call is
    needed; a branch may have moved, so it is always resolved online."""
    if not COMMIT_ID.fullmatch(revision):
        return None
    try:
        folder = snapshot_download(repo_id, revision=revision, allow_patterns=list(EXPORT_FILES),
                                   cache_dir=cache_dir, local_files_only=True)
    except LocalEntryNotFoundError:  # not downloaded yet
        return None
    # Only partly downloaded, e.g. config.json alone after `inspect_published`: not a snapshot to trust.
    if not all((Path(folder) / name).is_file() for name in REQUIRED_FILES):
        return None
    return revision, Path(folder)


def download(repo_id: str, revision: str, cache_dir: "str | Path | None", token: str | None,
             timeout: float) -> tuple[str, Path]:
    api = HfApi(token=token)
    # Resolving the revision first fails fast and clearly when the Hub is unreachable or the repo or
    # revision is missing; snapshot_download would retry a dead Hub for half a minute.
    commit_id = api.model_info(repo_id, revision=revision, timeout=timeout).sha
    folder = Path(snapshot_download(repo_id, revision=commit_id, allow_patterns=list(EXPORT_FILES),
                                    cache_dir=cache_dir, token=token))
    # A plain-HTTP download is only checked for its size; the checksums catch changed bytes.
    verification = api.verify_repo_checksums(repo_id, revision=commit_id, cache_dir=cache_dir)
    if verification.mismatches:
        forget_snapshot(commit_id, cache_dir)
        paths = ", ".join(mismatch["path"] for mismatch in verification.mismatches)
        raise HubError(f"{repo_id}@{revision}: corrupt download, checksum mismatch in {paths}; "
                       "removed it from the cache")
    return commit_id, folder


def forget_snapshot(commit_id: str, cache_dir: "str | Path | None") -> None:
    """Delete a badly downloaded snapshot from the cache, so that the next pull downloads it again
    instead of trusting it (a pinned commit in the cache is used without asking the Hub)."""
    scan_cache_dir(cache_dir).delete_revisions(commit_id).execute()


@contextlib.contextmanager
def translated_errors(repo_id: str, revision: str | None):
    """Turn the client's exceptions into a HubError with one line saying what went wrong where."""
    where = f"{repo_id}@{revision}" if revision else repo_id
    try:
        yield
    except RevisionNotFoundError:
        raise HubError(f"{repo_id}: no revision {revision!r} on {constants.ENDPOINT}") from None
    except RepositoryNotFoundError:
        raise HubError(f"{repo_id}: no such repo on {constants.ENDPOINT} "
                       "(or it is private and the token cannot read it)") from None
    except RemoteEntryNotFoundError as error:
        raise HubError(f"{where}: a file is missing on the Hub ({one_line(str(error))})") from None
    except OfflineModeIsEnabled:
        raise HubError("HF_HUB_OFFLINE is set, so the Hub may not be asked; unset it to publish or "
                       "download") from None
    # HfApi calls let the HTTP library's transport errors (refused, timed out) through unwrapped; the
    # alias huggingface_hub exports for that library follows it if the client changes library again.
    except (httpx.TransportError, LocalEntryNotFoundError) as error:
        raise HubError(f"cannot reach the Hugging Face Hub at {constants.ENDPOINT} "
                       f"({type(error).__name__}); check the network or HF_ENDPOINT, then retry") from None
    except HfHubHTTPError as error:
        status = error.response.status_code
        if status == 401:
            raise HubError("the Hub refused the token (401): log in again with `hf auth login` or set a valid "
                           "HF_TOKEN") from None
        if status == 403:
            raise HubError(f"{repo_id}: the token may not write here (403); use a token with write access "
                           "to this namespace") from None
        raise HubError(f"{where}: the Hub answered {status} ({one_line(error.server_message or str(error))})") from None
    except ValueError as error:  # the client's own checks: repo id format, model card metadata
        raise HubError(f"{where}: {one_line(str(error))}") from None


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- adding a published model by repo id ----------------------------------------------------------
# What a person may add to a running app, checked from the Hub's file listing and config.json
# before a byte of weights is downloaded or a network is built. The sizes fit a 2-core CPU Space
# with 16 GB: the bundled models are latent 100, conv 32, 64 px, 3 residual blocks (a few MB);
# these bounds allow some 30x that compute per image while the 200 MB cap bounds memory.
MAX_DOWNLOAD_BYTES = 200 * 1000 * 1000
MAX_CONFIG_BYTES = 64 * 1024
ADDABLE_CLASSES: tuple[type[torch.nn.Module], ...] = (DCGenerator, CycleGAN)
SIZE_LIMITS = {"latent_dim": (1, 1024), "conv_dim": (1, 128), "image_size": (16, 256), "n_res_blocks": (1, 12)}
MAX_DOMAIN_NAME = 40
OPTIONAL_KEYS = {"format_version", "skips", "norm"}  # config.json keys an export may lack (defaults apply)


@dataclass(frozen=True)
class PublishedExport:
    """A Hub repo checked to hold a gan-demo export that this app can serve, pinned to one commit."""

    repo_id: str
    commit_id: str
    model_class: type[torch.nn.Module]
    config: dict
    download_bytes: int  # what pulling it downloads


def inspect_published(repo_id: str, revision: str | None = None, cache_dir: "str | Path | None" = None,
                      token: str | None = None, timeout: float = 10.0) -> PublishedExport:
    """Resolve `revision` (a branch, tag or commit; the default branch when None) of `repo_id` to a
    commit and check, from the Hub's file listing and config.json alone, that it is a gan-demo export
    (config.json's keys are those of a DCGenerator or a CycleGAN), of a format this gan-demo loads,
    within SIZE_LIMITS, with safetensors weights, and at most MAX_DOWNLOAD_BYTES to download.
    HubError with one line saying which check failed."""
    revision = revision or constants.DEFAULT_REVISION
    where = f"{repo_id}@{revision}"
    with translated_errors(repo_id, revision):
        api = HfApi(token=token)
        commit_id = api.model_info(repo_id, revision=revision, timeout=timeout).sha
        sizes = {entry.path: entry.size for entry in api.list_repo_tree(repo_id, revision=commit_id)
                 if isinstance(entry, RepoFile)}
        check_files(where, sizes)
        config_path = hf_hub_download(repo_id, "config.json", revision=commit_id, cache_dir=cache_dir,
                                      token=token, etag_timeout=timeout)
    config = read_config(where, Path(config_path))
    model_class = class_of(where, config)
    try:
        check_format(model_class.__name__, config)
    except ExportFormatError as error:
        raise HubError(f"{where}: {error}") from None
    check_sizes(where, config)
    download_bytes = sum(size for name, size in sizes.items() if name in EXPORT_FILES)
    return PublishedExport(repo_id, commit_id, model_class, config, download_bytes)


def add_published(repo_id: str, revision: str | None = None, cache_dir: "str | Path | None" = None,
                  token: str | None = None, timeout: float = 10.0) -> tuple[PublishedExport, PulledModel]:
    """`inspect_published`, then `pull_model` at the commit it resolved: a later push to the repo
    never changes the model this returns."""
    export = inspect_published(repo_id, revision, cache_dir, token, timeout)
    return export, pull_model(export.model_class, repo_id, export.commit_id, cache_dir, token, timeout)


def check_files(where: str, sizes: dict[str, int]) -> None:
    """The file listing of a commit: config.json and model.safetensors present, sizes within limits."""
    if "config.json" not in sizes:
        raise HubError(f"{where}: not a gan-demo export (no config.json)")
    if "model.safetensors" not in sizes:
        pickled = sorted(name for name in sizes if name.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt")))
        also = f"; pickled weights ({', '.join(pickled)}) are never loaded" if pickled else ""
        raise HubError(f"{where}: not a gan-demo export (no model.safetensors{also})")
    if sizes["config.json"] > MAX_CONFIG_BYTES:
        raise HubError(f"{where}: config.json is {size_text(sizes['config.json'])}, more than a gan-demo "
                       f"config ever needs ({size_text(MAX_CONFIG_BYTES)})")
    total = sum(size for name, size in sizes.items() if name in EXPORT_FILES)
    if total > MAX_DOWNLOAD_BYTES:
        raise HubError(f"{where}: the export is {size_text(total)}, more than the "
                       f"{size_text(MAX_DOWNLOAD_BYTES)} this app takes")


def size_text(size: int) -> str:
    return f"{size / 1e6:,.0f} MB" if size >= 10**7 else f"{size:,} bytes"


def read_config(where: str, path: Path) -> dict:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HubError(f"{where}: config.json is not valid JSON") from None
    if not isinstance(config, dict):
        raise HubError(f"{where}: config.json is not a JSON object")
    return config


def class_of(where: str, config: dict) -> type[torch.nn.Module]:
    """The gan-demo class whose constructor arguments are exactly config.json's keys, but for those of
    OPTIONAL_KEYS that it lacks (format_version: format 1 exports; skips and norm: CycleGANs and DCGANs
    exported before those options)."""
    keys = set(config)
    for model_class in ADDABLE_CLASSES:
        parameters = set(inspect.signature(model_class.__init__).parameters) - {"self"}
        if keys <= parameters and parameters - keys <= OPTIONAL_KEYS:
            return model_class
    raise HubError(f"{where}: not a gan-demo export (config.json keys {', '.join(sorted(keys)) or 'none'} are "
                   f"those of neither {' nor '.join(model_class.__name__ for model_class in ADDABLE_CLASSES)})")


def check_sizes(where: str, config: dict) -> None:
    for key, (smallest, largest) in SIZE_LIMITS.items():
        if key not in config:
            continue
        value = config[key]
        if not isinstance(value, int) or isinstance(value, bool) or not smallest <= value <= largest:
            raise HubError(f"{where}: {key} {value!r} is outside what this app serves ({smallest} to {largest})")
    if config["image_size"] & (config["image_size"] - 1):
        raise HubError(f"{where}: image_size {config['image_size']} is not a power of two")
    skips = config.get("skips", "none")
    if not (isinstance(skips, bool) or isinstance(skips, str) and skips in SKIP_OPTIONS):
        raise HubError(f"{where}: skips must be one of {', '.join(SKIP_OPTIONS)} (or true or false), not {skips!r}")
    if config.get("norm", "instance") not in NORMS:
        raise HubError(f"{where}: norm must be one of {', '.join(NORMS)}, not {config['norm']!r}")
    for key in ("domain_a", "domain_b"):
        if key in config and not (isinstance(config[key], str) and 0 < len(config[key]) <= MAX_DOMAIN_NAME
                                  and config[key].isprintable()):
            raise HubError(f"{where}: {key} must be a name of 1 to {MAX_DOMAIN_NAME} printable characters")
