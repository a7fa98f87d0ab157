"""Exported models from the Hugging Face Hub, pinned to a commit: the catalog pulls the maintainers'
models with `pull_model`, and a visitor's model added by repo id goes through `resolve_commit`,
`inspect_commit`, `download_export` and `load_export` (the registry's `add_from_hub` runs them under
its cap, lock and download budget). Publishing is training's business (train/publish.py); it shares
the export file list, the error translation and the timeouts here.

Every Hub answer is a stranger's until checked: a repo id or revision is validated before it goes
into a URL or a message; a commit id must be 40 hex digits and a file name one plain name, before
either becomes part of a path; a size must be a whole number within the limits before anything is
allocated for it. Downloads are streamed (a chunk at a time, never a whole answer in memory) into a
folder of this module's own layout, named only from validated parts, never through huggingface_hub's
cache code, which builds paths from the server's ETag and commit headers. Each download counts the
bytes actually received against the size the listing gave and against a shared `DownloadBudget`,
stops at an overall `Deadline` (a Hub sending one byte a second fails in time), follows at most
MAX_REDIRECTS redirects, is checked against the listing's checksums, and is removed when anything
fails. Every failure is a `HubError` with one line. The token goes to the client in memory only: it
is never printed, logged or written anywhere.

huggingface_hub is imported at the top, like any dependency: every network class already imports it
for PyTorchModelHubMixin, so importing this module adds little (docs/design.md) and no new package.
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import torch
from huggingface_hub import constants, get_session
from huggingface_hub.errors import (
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, httpx  # httpx: the client's HTTP library (httpx2 in 2.x)

from gan_demo.models.export_format import MAX_CONFIG_BYTES, ExportFormatError, check_config, parse_config

# An exported model (RUN_DIR/export, checkpoints/<name>/, a Hub repo) is exactly these files.
EXPORT_FILES = ("config.json", "model.safetensors", "README.md", "progress.gif", "progress.json", "losses.csv",
                "losses.png")
REQUIRED_FILES = ("config.json", "model.safetensors")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
# How long the client waits for the Hub to accept a connection, and for each read or write. Its own
# default waits for ever, so a server that accepts and never answers would hang a push or pull.
TIMEOUT = httpx.Timeout(30.0, connect=10.0)

# -- what a Hub answer may be --------------------------------------------------------------------
COMMIT_ID = re.compile(r"[0-9a-f]{40}")
GIT_OBJECT_ID = re.compile(r"[0-9a-f]{40}")
SHA256 = re.compile(r"[0-9a-f]{64}")
# One name in a folder: letters, digits, '.', '_', '-'; never '.', '..' or a path of several parts.
FILE_NAME = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9._-]{1,128}")
# The Hub's own rule for repo ids (huggingface_hub's validate_repo_id), with the namespace required:
# each side 1 to 96 characters of letters, digits, '-', '_', '.', neither '--' nor '..' inside.
REPO_PART = re.compile(r"(?!.*(--|\.\.))[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
# A branch or tag name (git's rules, simplified: no '..', no leading '/' or '-') or a commit id.
REVISION = re.compile(r"(?!.*\.\.)(?![/-])[A-Za-z0-9._/-]{1,200}")
MAX_SHOWN = 60  # characters of a stranger's text a message repeats

# -- what one download may take ------------------------------------------------------------------
MAX_DOWNLOAD_BYTES = 200 * 1000 * 1000  # one export, all files; the registry's budget bounds them all
MAX_ANSWER_BYTES = 1024 * 1024  # a JSON answer (repo info, file listing) or an error body
MAX_LISTING_ENTRIES = 1000
MAX_REDIRECTS = 5
PULL_SECONDS = 300.0  # a maintainers' model at start-up: a few MB, but on a slow link
# Weights are float32 in memory; these stored dtypes are converted exactly. fp8 and integer weights
# are refused: they would let a small download become a network many times its size.
WEIGHT_DTYPES = ("F32", "F16", "BF16")
MAX_SAFETENSORS_HEADER = 1024 * 1024


def export_in(folder: Path) -> Path:
    """A run folder's export/, or `folder` itself when it is an export: the training commands that
    read a model (train.publish, train.evaluate) take either."""
    return folder / "export" if (folder / "export").is_dir() else folder


class HubError(RuntimeError):
    """A push or pull that cannot go on; the message is one line a person can act on."""


def shown(text: str, limit: int = MAX_SHOWN) -> str:
    """A stranger's text as a message may repeat it: one line, at most `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_repo_id(repo_id: str) -> str:
    """`repo_id` stripped, if it is `namespace/name` by the Hub's rules; HubError naming the rule."""
    repo_id = (repo_id or "").strip()
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(REPO_PART.fullmatch(part) for part in parts):
        raise HubError(f"{shown(repo_id, 40)!r} is not a Hub repo id: give namespace/name, each part 1 to 96 "
                       "letters, digits, '-', '_' or '.' (no '--' or '..'), e.g. someone/my-dcgan")
    return repo_id


def check_revision(revision: str) -> str:
    if not REVISION.fullmatch(revision):
        raise HubError(f"{shown(revision, 40)!r} is not a branch, tag or commit id: use up to 200 letters, "
                       "digits, '.', '_', '-' or '/', without '..'")
    return revision


# -- deadline, budget, requests ----------------------------------------------------------------
class Deadline:
    """The moment a whole operation (resolve, list, download, load) must be done by."""

    def __init__(self, seconds: float):
        self.seconds, self.ends = seconds, time.monotonic() + seconds

    def left(self) -> float:
        return self.ends - time.monotonic()

    def check(self, where: str) -> None:
        if self.left() <= 0:
            raise HubError(f"{where}: the Hub did not deliver within {self.seconds:g} s; try again later")

    def timeout(self) -> httpx.Timeout:
        """Connect and per-read timeouts that end no later than the deadline."""
        left = max(self.left(), 0.001)
        return httpx.Timeout(min(TIMEOUT.read, left), connect=min(TIMEOUT.connect, left))


class DownloadBudget:
    """Bytes that downloads may take on disk together, charged as they are received (not as the Hub
    announces them) and given back when a download is removed; safe to share between threads."""

    def __init__(self, limit_bytes: int):
        self.limit_bytes, self.used_bytes = limit_bytes, 0
        self._lock = threading.Lock()

    def charge(self, count: int, where: str) -> None:
        with self._lock:
            if self.used_bytes + count > self.limit_bytes:
                raise HubError(f"{where}: the downloads of added models would pass this app's "
                               f"{size_text(self.limit_bytes)} budget; it holds {size_text(self.used_bytes)}")
            self.used_bytes += count

    def refund(self, count: int) -> None:
        with self._lock:
            self.used_bytes -= count


def size_text(size: int) -> str:
    return f"{(size + 500_000) // 1_000_000:,} MB" if size >= 10**7 else f"{size:,} bytes"  # exact for any int


@dataclass(frozen=True)
class Target:
    """What a request is about, for its messages: repo id and revision, validated."""

    repo_id: str
    revision: str
    endpoint: str

    @property
    def where(self) -> str:
        revision = self.revision[:12] if COMMIT_ID.fullmatch(self.revision) else shown(self.revision, 40)
        return f"{self.repo_id}@{revision}"


def hub_get(target: Target, url: str, deadline: Deadline, max_bytes: int, token: str | None,
            write: Callable[[bytes], None] | None = None) -> bytes:
    """GET `url`, following at most MAX_REDIRECTS redirects (http and https only; the token only to the
    endpoint's own host), reading at most `max_bytes` of body before the deadline. Returns the body,
    or hands it to `write` a chunk at a time (and returns b"")."""
    # identity: the bytes counted are the bytes kept, so a compressed answer cannot expand past a bound
    headers = {**build_hf_headers(token=token), "Accept-Encoding": "identity"}
    endpoint_host = httpx.URL(target.endpoint).host
    with translated_transport_errors(target, deadline):
        for _ in range(MAX_REDIRECTS + 1):
            deadline.check(target.where)
            request_headers = headers if httpx.URL(url).host == endpoint_host else {
                name: value for name, value in headers.items() if name.lower() != "authorization"}
            with get_session().stream("GET", url, headers=request_headers, timeout=deadline.timeout(),
                                      follow_redirects=False) as response:
                if response.is_redirect:
                    url = redirect_target(target, url, response.headers.get("location", ""))
                    continue
                if response.status_code >= 400:
                    raise refusal_of(target, response)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise HubError(f"{target.where}: the Hub announced {size_text(int(declared))} where at most "
                                   f"{size_text(max_bytes)} was expected; nothing was kept")
                return read_body(target, response, deadline, max_bytes, write)
        raise HubError(f"{target.where}: the Hub redirected more than {MAX_REDIRECTS} times")


def redirect_target(target: Target, url: str, location: str) -> str:
    following = httpx.URL(url).join(location)
    if following.scheme not in ("http", "https") or not following.host:
        raise HubError(f"{target.where}: the Hub redirected to {shown(str(following), 80)!r}, not an http(s) address")
    return str(following)


def read_body(target: Target, response: httpx.Response, deadline: Deadline, max_bytes: int,
              write: Callable[[bytes], None] | None) -> bytes:
    received, parts = 0, []
    # raw: never decompressed (see hub_get); unchunked: each read as it arrives, so the deadline is checked
    for chunk in response.iter_raw():
        deadline.check(target.where)
        received += len(chunk)
        if received > max_bytes:
            raise HubError(f"{target.where}: the Hub sent more than the {size_text(max_bytes)} it announced or this "
                           "app allows; nothing was kept")
        if write is None:
            parts.append(chunk)
        else:
            write(chunk)
    return b"".join(parts)


def refusal_of(target: Target, response: httpx.Response) -> HubError:
    """The one-line HubError for an error answer, from its status and X-Error-Code (its body is not read)."""
    code, status = response.headers.get("x-error-code", ""), response.status_code
    if code == "RevisionNotFound":
        return HubError(f"{target.repo_id}: no revision {shown(target.revision, 40)!r} on {target.endpoint}")
    if code == "RepoNotFound" or status == 401 and code != "GatedRepo":
        return HubError(f"{target.repo_id}: no such repo on {target.endpoint} "
                        "(or it is private and the token cannot read it)")
    if code == "GatedRepo":
        return HubError(f"{target.repo_id}: a gated repo; accept its conditions on the Hub first")
    if code == "EntryNotFound":
        return HubError(f"{target.where}: a file the listing named is missing on the Hub")
    message = response.headers.get("x-error-message", "")
    return HubError(f"{target.where}: the Hub answered {status}" + (f" ({shown(message, 120)})" if message else ""))


@contextlib.contextmanager
def translated_transport_errors(target: Target, deadline: Deadline) -> Iterator[None]:
    try:
        yield
    except httpx.TransportError as error:  # refused, reset, timed out, a malformed answer
        deadline.check(target.where)  # a read cut short by the deadline says so
        raise HubError(f"cannot reach the Hugging Face Hub at {target.endpoint} ({type(error).__name__}); "
                       "check the network or HF_ENDPOINT, then retry") from None


def read_json(target: Target, url: str, deadline: Deadline, token: str | None):
    body = hub_get(target, url, deadline, MAX_ANSWER_BYTES, token)
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # not JSON or UTF-8, an integer past Python's limit, nested too deep
        raise HubError(f"{target.where}: the Hub's answer is not the JSON a Hub sends") from None


# -- resolve, list, check, download, load --------------------------------------------------------
@dataclass(frozen=True)
class RemoteFile:
    """One file of a commit as the Hub's listing gave it, validated."""

    name: str
    size: int
    git_id: str  # the git blob id; for an LFS file that of its pointer
    lfs_sha256: str | None  # the content's sha256 for an LFS file


@dataclass(frozen=True)
class PublishedExport:
    """A Hub repo checked to hold a gan-demo export that this app can serve, pinned to one commit."""

    repo_id: str
    commit_id: str
    model_class: type[torch.nn.Module]
    config: dict
    config_data: bytes  # config.json as downloaded and checked: written as it is, not downloaded again
    files: tuple[RemoteFile, ...]  # the export files present, config.json and model.safetensors among them
    endpoint: str

    @property
    def download_bytes(self) -> int:
        return sum(file.size for file in self.files)


@dataclass(frozen=True)
class PulledModel:
    model: torch.nn.Module  # in eval mode
    folder: Path  # the downloaded export files (card, GIF, losses) next to the weights
    commit_id: str


def resolve_commit(repo_id: str, revision: str | None, deadline: Deadline, *, token: str | None = None,
                   endpoint: str | None = None) -> str:
    """The commit id `revision` (a branch, tag or commit; the default branch when None) of `repo_id`
    points at, checked to be 40 hex digits."""
    target = Target(check_repo_id(repo_id), check_revision(revision or constants.DEFAULT_REVISION),
                    endpoint or constants.ENDPOINT)
    info = read_json(target, f"{target.endpoint}/api/models/{target.repo_id}/revision/"
                             f"{quote(target.revision, safe='')}", deadline, token)
    commit_id = info.get("sha") if isinstance(info, dict) else None
    if not isinstance(commit_id, str) or not COMMIT_ID.fullmatch(commit_id):
        raise HubError(f"{target.where}: the Hub answered a malformed commit id "
                       f"{shown(repr(commit_id), 50)}; refusing it")
    return commit_id


def inspect_commit(repo_id: str, commit_id: str, deadline: Deadline, *, token: str | None = None,
                   endpoint: str | None = None) -> PublishedExport:
    """Check, from the commit's file listing and its config.json alone (before any weights are
    downloaded), that it is a gan-demo export this app serves: config.json and model.safetensors
    present, every size within the limits, config.json passing the export format's rules."""
    if not COMMIT_ID.fullmatch(commit_id):
        raise HubError(f"{shown(commit_id, 50)!r} is not a commit id (40 hex digits)")
    target = Target(check_repo_id(repo_id), commit_id, endpoint or constants.ENDPOINT)
    listing = read_json(target, f"{target.endpoint}/api/models/{target.repo_id}/tree/{commit_id}", deadline, token)
    files = export_files_of(target, listing)
    config_data = bytearray()
    download_file(target, files["config.json"], deadline, token, config_data.extend)
    try:
        config = parse_config(bytes(config_data))
        model_class = check_config(config)
    except ExportFormatError as error:
        raise HubError(f"{target.where}: {error}") from None
    return PublishedExport(target.repo_id, commit_id, model_class, config, bytes(config_data), tuple(files.values()),
                           target.endpoint)


def export_files_of(target: Target, listing) -> dict[str, RemoteFile]:
    """The export files of a top-level file listing, every entry validated: a list of at most
    MAX_LISTING_ENTRIES objects, each a file or folder with a plain name (no '..', '/' or odd
    characters), files with a whole size and well-formed checksums; config.json and
    model.safetensors present; the export within MAX_DOWNLOAD_BYTES."""
    if not isinstance(listing, list) or len(listing) > MAX_LISTING_ENTRIES:
        raise HubError(f"{target.where}: the Hub's file listing is not a list of at most {MAX_LISTING_ENTRIES} entries")
    files: dict[str, RemoteFile] = {}
    names = []
    for entry in listing:
        name = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not FILE_NAME.fullmatch(name):
            raise HubError(f"{target.where}: the Hub's file listing names {shown(repr(name), 50)}, not a plain "
                           "file name; refusing the repo")
        names.append(name)
        if entry.get("type") != "file" or name not in EXPORT_FILES:
            continue  # folders and other files are never downloaded
        files[name] = remote_file(target, name, entry)
    if "config.json" not in files:
        raise HubError(f"{target.where}: not a gan-demo export (no config.json)")
    if "model.safetensors" not in files:
        pickled = sorted(name for name in names if name.endswith(PICKLE_SUFFIXES))
        also = f"; pickled weights ({', '.join(pickled[:3])}) are never loaded" if pickled else ""
        raise HubError(f"{target.where}: not a gan-demo export (no model.safetensors{also})")
    if files["config.json"].size > MAX_CONFIG_BYTES:
        raise HubError(f"{target.where}: config.json is {size_text(files['config.json'].size)}, more than a gan-demo "
                       f"config ever needs ({size_text(MAX_CONFIG_BYTES)})")
    total = sum(file.size for file in files.values())
    if total > MAX_DOWNLOAD_BYTES:
        raise HubError(f"{target.where}: the export is {size_text(total)}, more than the "
                       f"{size_text(MAX_DOWNLOAD_BYTES)} this app takes")
    return files


def remote_file(target: Target, name: str, entry: dict) -> RemoteFile:
    size, git_id, lfs = entry.get("size"), entry.get("oid"), entry.get("lfs")
    lfs_sha256 = lfs.get("oid") if isinstance(lfs, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:  # too large: export_files_of says so
        raise HubError(f"{target.where}: the Hub's listing gives {name} the size {shown(repr(size), 30)}; refusing it")
    if not isinstance(git_id, str) or not GIT_OBJECT_ID.fullmatch(git_id) or (
            lfs is not None and not (isinstance(lfs_sha256, str) and SHA256.fullmatch(lfs_sha256))):
        raise HubError(f"{target.where}: the Hub's listing gives {name} a malformed checksum; refusing it")
    return RemoteFile(name, size, git_id, lfs_sha256)


def download_file(target: Target, file: RemoteFile, deadline: Deadline, token: str | None,
                  write: Callable[[bytes], None]) -> None:
    """Stream `file` at the target's commit to `write`, at most its listed size, then check its
    checksum (sha256 for LFS files, the git blob id otherwise) and its length."""
    digest = hashlib.sha256() if file.lfs_sha256 else hashlib.sha1(b"blob %d\0" % file.size)
    received = 0

    def checked_write(chunk: bytes) -> None:
        nonlocal received
        received += len(chunk)
        digest.update(chunk)
        write(chunk)

    url = f"{target.endpoint}/{target.repo_id}/resolve/{target.revision}/{file.name}"
    hub_get(target, url, deadline, file.size, token, checked_write)
    if received != file.size or digest.hexdigest() != (file.lfs_sha256 or file.git_id):
        raise HubError(f"{target.where}: corrupt download, {file.name} does not match the Hub's checksum or size; "
                       "removed it")


def export_folder_name(repo_id: str, commit_id: str) -> str:
    """`namespace--name--commit`: unambiguous, since a validated repo id holds no '--'."""
    return f"{check_repo_id(repo_id).replace('/', '--')}--{commit_id}"


def download_export(export: PublishedExport, into: Path, deadline: Deadline, *, token: str | None = None,
                    budget: DownloadBudget | None = None) -> Path:
    """Download the export files into `into`/namespace--name--commit and return that folder. Files are
    written into a fresh temporary folder beside it, renamed into place only once every file matched
    its checksum and the weights' dtypes were checked; on any failure the temporary folder is removed
    and its bytes given back to `budget`."""
    target = Target(export.repo_id, export.commit_id, export.endpoint)
    into.mkdir(parents=True, exist_ok=True)
    folder = into / export_folder_name(export.repo_id, export.commit_id)
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=into))
    charged = 0
    try:
        for file in export.files:
            with open(partial / file.name, "xb") as output:  # x: never through a file or link already there
                def write(chunk: bytes, output=output) -> None:
                    nonlocal charged
                    if budget is not None:
                        budget.charge(len(chunk), target.where)
                        charged += len(chunk)
                    output.write(chunk)

                if file.name == "config.json":
                    write(export.config_data)
                else:
                    download_file(target, file, deadline, token, write)
        check_weight_dtypes(target, partial / "model.safetensors")
        os.replace(partial, folder)  # an empty or same-named folder is replaced; a full one raises
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        if budget is not None:
            budget.refund(charged)
        raise
    return folder


def check_weight_dtypes(target: Target, path: Path) -> None:
    """Read the safetensors header alone (its length bounded before it is read) and refuse weights
    stored in a dtype other than WEIGHT_DTYPES."""
    with open(path, "rb") as weights:
        prefix = weights.read(8)
        length = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else -1
        if not 0 < length <= min(MAX_SAFETENSORS_HEADER, path.stat().st_size - 8):
            raise HubError(f"{target.where}: model.safetensors is not a safetensors file")
        try:
            header = json.loads(weights.read(length))
        except (ValueError, RecursionError):
            raise HubError(f"{target.where}: model.safetensors is not a safetensors file") from None
    if not isinstance(header, dict):
        raise HubError(f"{target.where}: model.safetensors is not a safetensors file")
    dtypes = {entry.get("dtype") if isinstance(entry, dict) else None
              for name, entry in header.items() if name != "__metadata__"}
    odd = sorted(str(dtype)[:12] for dtype in dtypes - set(WEIGHT_DTYPES))
    if odd:
        raise HubError(f"{target.where}: model.safetensors stores weights as {', '.join(odd[:3])}; this app loads "
                       f"{', '.join(WEIGHT_DTYPES)} only")


def load_export(model_class: type[torch.nn.Module], where: str, folder: Path) -> torch.nn.Module:
    """The downloaded export in `folder`, built by `model_class.from_pretrained` (strict: weights that
    do not fill the network exactly are an error), in eval mode; HubError when it cannot be."""
    class_name = model_class.__name__
    try:
        model = model_class.from_pretrained(str(folder), strict=True)
    except Exception as error:  # safetensors, JSON and shape errors all mean "these files are unusable"
        raise HubError(f"{where}: {class_name} cannot load the download ({type(error).__name__}): the files on "
                       f"the Hub are corrupt or not a {class_name} export") from None
    return model.eval()


def check_class(found: type[torch.nn.Module], wanted: type[torch.nn.Module], where: str) -> None:
    if found is not wanted:
        raise HubError(f"{where}: a {found.__name__} export, not a {wanted.__name__} export")


def downloaded_class(where: str, folder: Path) -> type[torch.nn.Module]:
    """The class of an export downloaded earlier, from its config.json (read within its bound)."""
    with open(folder / "config.json", "rb") as config:
        data = config.read(MAX_CONFIG_BYTES + 1)
    try:
        return check_config(parse_config(data))
    except ExportFormatError as error:
        raise HubError(f"{where}: {error}") from None


def default_download_folder() -> Path:
    """Where pulled maintainers' models are kept between runs: beside huggingface_hub's own cache, in
    this module's layout (HF_HOME/gan-demo)."""
    return Path(constants.HF_HOME) / "gan-demo"


def pull_model(model_class: type, repo_id: str, revision: str = constants.DEFAULT_REVISION,
               cache_dir: "str | Path | None" = None, token: str | None = None,
               seconds: float = PULL_SECONDS) -> PulledModel:
    """The model of `repo_id` at `revision` (a commit id to pin it, or a branch), downloaded into
    `cache_dir` (default_download_folder()) with every check above, and loaded as `model_class`. A
    commit already downloaded is used without asking the Hub."""
    deadline, into = Deadline(seconds), Path(cache_dir) if cache_dir else default_download_folder()
    where = f"{check_repo_id(repo_id)}@{shown(check_revision(revision), 40)}"
    folder = into / export_folder_name(repo_id, revision)
    if COMMIT_ID.fullmatch(revision) and folder.is_dir():  # folders appear whole: download_export renames them
        check_class(downloaded_class(where, folder), model_class, where)
        return PulledModel(model=load_export(model_class, where, folder), folder=folder, commit_id=revision)
    commit_id = resolve_commit(repo_id, revision, deadline, token=token)
    folder = into / export_folder_name(repo_id, commit_id)
    if folder.is_dir():
        check_class(downloaded_class(where, folder), model_class, where)
    else:
        export = inspect_commit(repo_id, commit_id, deadline, token=token)
        check_class(export.model_class, model_class, where)
        folder = download_export(export, into, deadline, token=token)
    return PulledModel(model=load_export(model_class, where, folder), folder=folder, commit_id=commit_id)


def add_published(repo_id: str, revision: str | None = None, cache_dir: "str | Path | None" = None,
                  token: str | None = None, seconds: float = PULL_SECONDS) -> tuple[PublishedExport, PulledModel]:
    """Resolve, inspect, download and load `repo_id` at `revision` with every check above, without a
    registry's cap or budget (the app's ModelRegistry.add_from_hub adds those)."""
    deadline, into = Deadline(seconds), Path(cache_dir) if cache_dir else default_download_folder()
    export = inspect_commit(repo_id, resolve_commit(repo_id, revision, deadline, token=token), deadline, token=token)
    folder = into / export_folder_name(export.repo_id, export.commit_id)
    if not folder.is_dir():
        folder = download_export(export, into, deadline, token=token)
    model = load_export(export.model_class, f"{export.repo_id}@{export.commit_id[:12]}", folder)
    return export, PulledModel(model=model, folder=folder, commit_id=export.commit_id)


def use_timeouts() -> None:
    """Give huggingface_hub's shared HTTP client the TIMEOUT (calls that pass their own keep it)."""
    get_session().timeout = TIMEOUT


@contextlib.contextmanager
def translated_errors(repo_id: str, revision: str | None):
    """Turn huggingface_hub's exceptions (publishing) into a HubError with one line saying what went
    wrong where."""
    where = f"{repo_id}@{revision}" if revision else repo_id
    try:
        yield
    except RevisionNotFoundError:
        raise HubError(f"{repo_id}: no revision {revision!r} on {constants.ENDPOINT}") from None
    except RepositoryNotFoundError:
        raise HubError(f"{repo_id}: no such repo on {constants.ENDPOINT} "
                       "(or it is private and the token cannot read it)") from None
    except RemoteEntryNotFoundError as error:
        raise HubError(f"{where}: a file is missing on the Hub ({shown(str(error), 300)})") from None
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
        message = shown(error.server_message or str(error), 300)
        raise HubError(f"{where}: the Hub answered {status} ({message})") from None
    except ValueError as error:  # the client's own checks: repo id format, model card metadata
        raise HubError(f"{where}: {shown(str(error), 300)}") from None
