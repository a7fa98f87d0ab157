"""A stand-in for the Hugging Face Hub, for the tests: a stdlib HTTP server on 127.0.0.1 (random
port, one thread per connection) that answers the endpoints huggingface_hub 2.4 uses to create a
repo, make a branch, commit files and download them, with real commits kept in memory (every
commit has a new 40-hex id, branches point at commits, each commit holds its whole file tree).
Point the client at it with HF_ENDPOINT=`StandInHub.url`. Model repos and Space repos (repo type
"space", kept under `spaces/<namespace>/<name>` in `hub.repos`) answer the same endpoints.

Files travel inline in the commit: preupload answers "regular" for every file, so no LFS or Xet
storage is involved. Tokens are not checked. The server records every request (method, path,
headers without Authorization, body size, whether a token came), can serve corrupt bytes for a
file, can answer every request with an error that echoes its headers (token included, as a
careless proxy does), and can be stopped to play an unreachable Hub. `SilentHub` plays a Hub that
accepts connections and never answers.

The hostile mode (`hub.hostile[repo_id] = Hostility(...)`) makes the stand-in lie about one model
repo as a hostile or intercepted Hub would: a commit id that is a path, a file listing with
traversal names or sizes smaller than what it then sends, file bytes other than the commit's,
bodies dripped a byte at a time, redirect chains. Configs nested 30,000 deep or holding a
5000-digit integer need no lie: they are committed as any file is.
"""

import base64
import hashlib
import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_BRANCH = "main"
# The Hub starts every repo with a commit holding .gitattributes; so does the stand-in.
INITIAL_FILES = {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"}
NAMESPACE_OF_THE_TOKEN = "stand-in-user"  # who "owns" a repo created without an organization
# URL segment of a repo type -> the prefix of its repos' keys in `StandInHub.repos` (models have none).
REPO_TYPE_KEYS = {"models": "", "spaces": "spaces/"}
SPACE_SDKS = ("gradio", "docker", "static")  # what a Space's create request must name


def git_blob_id(content: bytes) -> str:
    """The git object id of a file: what the Hub sends as ETag and tree `oid` of a regular file."""
    digest = hashlib.sha1(b"blob %d\0" % len(content))
    digest.update(content)  # not header + content: that would copy a large file
    return digest.hexdigest()


@dataclass(frozen=True)
class Commit:
    oid: str
    parent: str | None
    message: str
    files: dict[str, bytes]  # the whole tree at this commit
    changed: frozenset[str]  # paths added, modified or deleted by this commit


@dataclass
class Repo:
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)  # oid -> commit, oldest first
    branches: dict[str, str] = field(default_factory=dict)  # branch -> commit oid

    def resolve(self, revision: str) -> Commit:
        """A branch name or a commit id -> its commit."""
        commit = self.commits.get(self.branches.get(revision, revision))
        if commit is None:
            raise Answer(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # without Authorization
    body_size: int
    authorized: bool  # whether an Authorization header came


class Answer(Exception):
    """An error answer: HTTP status, message, and the X-Error-Code the client maps to an exception."""

    def __init__(self, status: int, message: str, error_code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.error_code, self.headers = status, message, error_code, headers or {}


@dataclass
class Hostility:
    """How the stand-in lies about one repo; each field left at its default tells the truth."""

    sha: str | None = None  # what repo info answers as the commit id, e.g. "../../../../tmp/x"
    listing: list | None = None  # the answer to every file listing (names, sizes, oids as given)
    served: dict[str, bytes] = field(default_factory=dict)  # file name -> the bytes a download gets
    drip_seconds: float = 0.0  # the pause before each byte of every answer's body
    redirects: int = 0  # a file download is redirected to itself this many times before it is served
    redirect_to: str | None = None  # a file download is redirected to this URL + the file's name
    hide_length: bool = False  # bodies without Content-Length, ended by closing the connection
    sent_bytes: int = 0  # bytes of file downloads sent so far (a dripped or cut answer counts what left)


class StandInHub:
    """`with StandInHub() as hub:` serves at `hub.url` until the block ends (or `hub.stop()`)."""

    def __init__(self):
        self.repos: dict[str, Repo] = {}
        self.hostile: dict[str, Hostility] = {}  # repo id -> how the stand-in lies about it
        self.requests: list[RecordedRequest] = []
        self.corrupted: set[tuple[str, str]] = set()  # (repo_id, path) served with flipped bytes
        self.echo_headers = False  # answer every request 400 with its headers, Authorization included
        self.lock = threading.Lock()  # one request at a time changes or reads the repos
        self._commit_numbers = itertools.count()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.hub = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="stand-in-hub", daemon=True)

    def start(self) -> "StandInHub":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port: from now on a client gets "connection refused", as from an unreachable Hub."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "StandInHub":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def corrupt(self, repo_id: str, path: str) -> None:
        """Serve every byte of `path` inverted from now on (same size, same ETag: a bad download)."""
        self.corrupted.add((repo_id, path))

    def history(self, repo_id: str, branch: str = DEFAULT_BRANCH) -> list[Commit]:
        """The commits of `branch`, oldest first."""
        repo, chain = self.repos[repo_id], []
        oid = repo.branches[branch]
        while oid is not None:
            chain.append(repo.commits[oid])
            oid = repo.commits[oid].parent
        return chain[::-1]

    def publish(self, repo_id: str, files: dict[str, bytes], branch: str = DEFAULT_BRANCH) -> str:
        """Commit `files` over the repo's initial files to `branch` of the model repo `repo_id` directly,
        as a push would (creating the repo and the branch from main); returns the commit id."""
        namespace, name = repo_id.split("/")
        if repo_id not in self.repos:
            self.create_repo({"name": name, "organization": namespace})
        repo = self.repos[repo_id]
        repo.branches.setdefault(branch, repo.branches[DEFAULT_BRANCH])
        return self.commit(repo, branch, f"upload {name}", {**INITIAL_FILES, **files}, set(files)).oid

    # -- what the endpoints do -------------------------------------------------------------

    def repo(self, repo_id: str) -> Repo:
        if repo_id not in self.repos:
            raise Answer(404, "Repository not found", "RepoNotFound")
        return self.repos[repo_id]

    def commit(self, repo: Repo, branch: str, message: str, files: dict[str, bytes], changed: set[str]) -> Commit:
        parent = repo.branches.get(branch)
        seed = json.dumps([repo.repo_id, parent, message, next(self._commit_numbers),
                           sorted((path, git_blob_id(content)) for path, content in files.items())])
        commit = Commit(hashlib.sha1(seed.encode()).hexdigest(), parent, message, files, frozenset(changed))
        repo.commits[commit.oid] = commit
        repo.branches[branch] = commit.oid
        return commit

    def create_repo(self, payload: dict) -> tuple[int, dict]:
        repo_id = f"{payload.get('organization') or NAMESPACE_OF_THE_TOKEN}/{payload['name']}"
        key = space_key(repo_id) if payload.get("type") == "space" else repo_id
        url = f"{self.url}/{key}"  # a Space's page is /spaces/<id>
        if payload.get("type") == "space" and payload.get("sdk") not in SPACE_SDKS:
            raise Answer(400, f"a Space needs an sdk, one of {', '.join(SPACE_SDKS)}")
        if key in self.repos:  # the client reads `url` from this 409 too when exist_ok=True
            return 409, {"error": f"You already created this {payload.get('type') or 'model'} repo", "url": url}
        repo = self.repos[key] = Repo(repo_id, private=payload.get("visibility") == "private")
        self.commit(repo, DEFAULT_BRANCH, "initial commit", dict(INITIAL_FILES), set(INITIAL_FILES))
        return 200, {"url": url, "name": repo_id, "id": repo_id}

    def create_branch(self, repo: Repo, branch: str, payload: dict) -> dict:
        if branch in repo.branches:
            raise Answer(409, f"Reference already exists: refs/heads/{branch}")
        repo.branches[branch] = repo.resolve(payload.get("startingPoint") or DEFAULT_BRANCH).oid
        return {}

    def preupload(self, repo: Repo, revision: str, payload: dict) -> dict:
        head = repo.resolve(revision)
        return {"files": [{"path": item["path"], "uploadMode": "regular", "shouldIgnore": False,
                           "oid": git_blob_id(head.files[item["path"]]) if item["path"] in head.files else None}
                          for item in payload["files"]],
                "commitOid": head.oid}

    def apply_commit(self, repo: Repo, branch: str, body: bytes) -> dict:
        """The NDJSON commit: a header line, then one line per added file (base64) or deletion."""
        if branch not in repo.branches:
            raise Answer(404, f"Invalid rev id: {branch}", "RevisionNotFound")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header, operations = lines[0], lines[1:]
        files, changed = dict(repo.resolve(branch).files), set()
        for operation in operations:
            key, value = operation["key"], operation["value"]
            path = value["path"]
            if key == "file":
                files[path] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                if files.pop(path, None) is None:
                    raise Answer(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            elif key == "deletedFolder":
                for name in [name for name in files if name.startswith(path.rstrip("/") + "/")]:
                    del files[name]
            else:  # lfsFile: the stand-in stores files inline only
                raise Answer(400, f"the stand-in Hub does not take {key} operations ({path})")
            changed.add(path)
        commit = self.commit(repo, branch, header["value"]["summary"], files, changed)
        return {"success": True, "commitOid": commit.oid, "commitUrl": f"{self.url}/{repo.repo_id}/commit/{commit.oid}",
                "hookOutput": ""}

    def info(self, repo: Repo, revision: str) -> dict:
        commit = repo.resolve(revision)
        return {"id": repo.repo_id, "modelId": repo.repo_id, "sha": commit.oid, "private": repo.private,
                "siblings": [{"rfilename": path} for path in sorted(commit.files)]}

    def tree(self, repo: Repo, revision: str, folder: str, recursive: bool) -> list[dict]:
        prefix = f"{folder}/" if folder else ""
        entries: dict[str, dict] = {}
        for path, content in sorted(repo.resolve(revision).files.items()):
            if not path.startswith(prefix):
                continue
            *parents, _ = path[len(prefix):].split("/")
            for depth in range(1, len(parents) + 1):
                directory = prefix + "/".join(parents[:depth])
                entries.setdefault(directory, {"type": "directory", "path": directory, "size": 0,
                                               "oid": git_blob_id(directory.encode())})
                if not recursive:
                    break
            if recursive or not parents:
                entries[path] = {"type": "file", "path": path, "size": len(content), "oid": git_blob_id(content)}
        return list(entries.values())

    def resolve_file(self, repo: Repo, revision: str, path: str) -> tuple[bytes, dict]:
        commit = repo.resolve(revision)
        if path not in commit.files:
            raise Answer(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        content = commit.files[path]
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{git_blob_id(content)}"',
                   "Content-Type": "application/octet-stream"}
        if (repo.repo_id, path) in self.corrupted:
            content = bytes(byte ^ 0xFF for byte in content)
        return content, headers

    # -- the hostile mode ----------------------------------------------------------------------

    def hostility_of(self, segments: list[str]) -> Hostility | None:
        """The Hostility of the model repo a request is about (/api/models/<id>/... or /<id>/resolve/...)."""
        repo_id = "/".join(segments[2:4] if segments[:2] == ["api", "models"] else segments[:2])
        return self.hostile.get(repo_id)

    def hostile_answer(self, method: str, segments: list[str],
                       query: dict) -> tuple[int, "dict | list | bytes", dict] | None:
        """The lie to answer instead of the truth, or None to answer truthfully."""
        hostility = self.hostility_of(segments)
        if hostility is None or method not in ("GET", "HEAD"):
            return None
        if segments[:2] == ["api", "models"] and segments[4:5] in ([], ["revision"]) and hostility.sha is not None:
            repo = self.repo("/".join(segments[2:4]))
            return 200, {**self.info(repo, (segments[5:6] or [DEFAULT_BRANCH])[0]), "sha": hostility.sha}, {}
        if segments[:2] == ["api", "models"] and segments[4:5] == ["tree"] and hostility.listing is not None:
            return 200, hostility.listing, {}
        if len(segments) >= 5 and segments[2] == "resolve":
            hop = int(query.get("hop", ["0"])[0])
            if hop < hostility.redirects:
                return 302, b"", {"Location": f"/{'/'.join(segments)}?hop={hop + 1}"}
            name = "/".join(segments[4:])
            if hostility.redirect_to is not None:
                return 302, b"", {"Location": hostility.redirect_to + name}
            if name in hostility.served:
                content = hostility.served[name]
                return 200, content, {"X-Repo-Commit": segments[3], "ETag": f'"{git_blob_id(content)}"',
                                      "Content-Type": "application/octet-stream"}
        return None

    def framing(self, handler: "_Handler", segments: list[str], payload: bytes) -> dict[str, str]:
        """The header that tells where the body ends: its Content-Length, or for a repo with
        hide_length none (HTTP/1.0 style: the body ends when the connection closes)."""
        hostility = self.hostility_of(segments)
        if hostility is not None and hostility.hide_length:
            handler.close_connection = True
            return {"Connection": "close"}
        return {"Content-Length": str(len(payload))}

    def send_body(self, handler: "_Handler", segments: list[str], payload: bytes) -> None:
        """Write an answer's body: at once, or dripped a byte at a time for a repo with drip_seconds."""
        hostility = self.hostility_of(segments)
        counted = hostility is not None and len(segments) >= 5 and segments[2] == "resolve"
        if hostility is None:
            handler.wfile.write(payload)
            return
        step = 1 if hostility.drip_seconds else 64 * 1024  # a lying repo's answers go in pieces, each counted
        try:
            for start in range(0, len(payload), step):
                time.sleep(hostility.drip_seconds)
                handler.wfile.write(payload[start:start + step])
                handler.wfile.flush()
                if counted:
                    hostility.sent_bytes += len(payload[start:start + step])
        except (BrokenPipeError, ConnectionResetError):  # the client gave up: what a drip is for
            handler.close_connection = True


class SilentHub:
    """`with SilentHub() as hub:` a port at `hub.url` whose connections the kernel accepts (the
    socket listens) but nobody ever reads or answers: a Hub hanging mid-request."""

    def __init__(self):
        self._socket = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def __enter__(self) -> "SilentHub":
        return self

    def __exit__(self, *exc_info) -> None:
        self._socket.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    timeout = 30  # an idle keep-alive connection gives its thread back after this

    def do_GET(self) -> None:
        self.handle_request()

    def do_HEAD(self) -> None:
        self.handle_request()

    def do_POST(self) -> None:
        self.handle_request()

    def log_message(self, format: str, *args) -> None:  # the tests read `hub.requests` instead
        pass

    def handle_request(self) -> None:
        hub: StandInHub = self.server.hub
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        kept_headers = {name: value for name, value in self.headers.items() if name.lower() != "authorization"}
        hub.requests.append(RecordedRequest(self.command, self.path, kept_headers, len(body),
                                            authorized="Authorization" in self.headers))
        url = urlsplit(self.path)
        segments = [unquote(segment) for segment in url.path.strip("/").split("/")]  # %2F stays inside a segment
        query = parse_qs(url.query)
        try:
            if hub.echo_headers:
                raise Answer(400, "bad request with headers " + json.dumps(dict(self.headers.items())))
            with hub.lock:
                lie = hub.hostile_answer(self.command, segments, query)
                status, payload, headers = lie or self.route(hub, segments, query, body)
        except Answer as answer:
            status, payload = answer.status, {"error": answer.message}
            headers = {**answer.headers, "X-Error-Message": answer.message}
            if answer.error_code:
                headers["X-Error-Code"] = answer.error_code
        if not isinstance(payload, bytes):
            payload = json.dumps(payload).encode()
            headers.setdefault("Content-Type", "application/json")
        self.send_response(status)
        for name, value in {**headers, **hub.framing(self, segments, payload)}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            hub.send_body(self, segments, payload)

    def route(self, hub: StandInHub, segments: list[str], query: dict,
              body: bytes) -> tuple[int, "dict | list | bytes", dict]:
        method = self.command
        if method == "POST" and segments == ["api", "repos", "create"]:
            status, payload = hub.create_repo(json.loads(body))
            return status, payload, {}
        if method == "POST" and segments == ["api", "validate-yaml"]:
            errors = metadata_errors(json.loads(body)["content"])
            return (400 if errors else 200), {"errors": [{"message": error} for error in errors], "warnings": []}, {}
        if segments[:1] == ["api"] and len(segments) >= 4 and segments[1] in REPO_TYPE_KEYS:
            repo = hub.repo(REPO_TYPE_KEYS[segments[1]] + "/".join(segments[2:4]))
            action, revision, rest = (segments[4:5] or [None])[0], (segments[5:6] or [DEFAULT_BRANCH])[0], segments[6:]
            if method == "GET" and action in (None, "revision"):
                return 200, hub.info(repo, revision), {}
            if method == "GET" and action == "tree":
                recursive = query.get("recursive", [""])[0].lower() == "true"
                return 200, hub.tree(repo, revision, "/".join(rest), recursive), {}
            if method == "POST" and action == "preupload":
                return 200, hub.preupload(repo, revision, json.loads(body)), {}
            if method == "POST" and action == "commit":
                return 200, hub.apply_commit(repo, revision, body), {}
            if method == "POST" and action == "branch":
                return 200, hub.create_branch(repo, revision, json.loads(body or b"{}")), {}
        if method in ("GET", "HEAD") and segments[:1] == ["spaces"]:  # a Space's file: /spaces/<id>/resolve/...
            key_prefix, segments = REPO_TYPE_KEYS["spaces"], segments[1:]
        else:
            key_prefix = ""
        if method in ("GET", "HEAD") and len(segments) >= 5 and segments[2] == "resolve":
            content, headers = hub.resolve_file(hub.repo(key_prefix + "/".join(segments[:2])), segments[3],
                                                "/".join(segments[4:]))
            return 200, content, headers
        raise Answer(404, f"the stand-in Hub has no {method} {self.path}")


def space_key(repo_id: str) -> str:
    """Where the Space `repo_id` is kept in `StandInHub.repos` (and its page's path)."""
    return REPO_TYPE_KEYS["spaces"] + repo_id


def metadata_errors(card: str) -> list[str]:
    """What /api/validate-yaml objects to. Only an unclosed metadata block: stdlib has no YAML parser."""
    lines = card.splitlines()
    if lines and lines[0].strip() == "---" and "---" not in (line.strip() for line in lines[1:]):
        return ["the metadata block opened with --- is never closed"]
    return []
