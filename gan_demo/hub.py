"""Load exported models from the Hugging Face Hub at a pinned revision: the app's catalog calls
`pull_model`, which downloads a revision into the standard HF cache, checks it and loads it with
`from_pretrained`. Every failure a person can meet (unreachable Hub, missing repo or revision,
corrupt download) is a `HubError` with a one-line message. Publishing is training's business
(train/publish.py); it shares the export format, the error translation and the timeouts here.
The token goes to the client in memory only: it is never printed, logged or written anywhere.
"""

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub import HfApi, constants, get_session, scan_cache_dir, snapshot_download
from huggingface_hub.errors import (
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import httpx  # the client's HTTP library as it exports it (httpx2 in 2.x): see below

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
    except LocalEntryNotFoundError:  # not downloaded yet, or only partly
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
