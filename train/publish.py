"""Publish a trained model to the Hugging Face Hub:
`python -m train.publish RUN_DIR_OR_EXPORT_DIR --repo REPO_ID [--revision BRANCH] [--private]`.

`publish_folder` is also what `--push-to-hub REPO_ID` runs when training ends. The export goes up as
it is, in one commit, except that its model card's load snippet is rewritten to name the repo (and
branch) it now lives in. Log in first with `hf auth login`, or set HF_TOKEN. Every request has
connect and read timeouts (gan_demo.hub.TIMEOUT), so a Hub that never answers fails in one line
instead of hanging; a message that quotes the server never shows the token.
"""

import argparse
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi, constants, get_token
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from gan_demo import hub
from train import model_card
from train.errors import UserError, exit_quietly_on_stop_signals, main, quoted

COMMIT_MESSAGE = "Upload gan-demo export: weights, config, model card, progress GIF and losses"
# A Hub token (hf_...) however it appears, e.g. in an Authorization header a server echoes back.
TOKEN = re.compile(r"hf_[A-Za-z0-9_-]+")
# A branch name: what git allows, within a length that fits a message (git's refs have no set limit).
BRANCH = re.compile(r"[^\x00-\x20\x7f~^:?*\[\\]{1,200}")


@dataclass(frozen=True)
class PushResult:
    commit_id: str
    commit_url: str
    repo_url: str


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.publish", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, metavar="RUN_DIR_OR_EXPORT_DIR",
                        help="a training run folder (its export/ is published) or an export folder")
    parser.add_argument("--repo", required=True, metavar="REPO_ID",
                        help="Hub model repo, namespace/name (created if needed)")
    parser.add_argument("--revision", metavar="BRANCH", default=None,
                        help="branch to commit to (created from main if new); default main")
    parser.add_argument("--private", action="store_true",
                        help="create the repo as private (an existing repo keeps its visibility)")
    return parser.parse_args(argv)


def check_repo_id(repo_id: str, flag: str = "--repo") -> None:
    """One line for a repo id the Hub would refuse, before anything is sent (quoting only its start)."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise UserError(f"{flag} {quoted(repo_id)}: not a Hub repo id (name or namespace/name of letters, digits, "
                        "'-', '_' and '.', at most 96 characters)") from None


def check_branch(revision: str | None) -> None:
    if revision is not None and not BRANCH.fullmatch(revision):
        raise UserError(f"--revision {quoted(revision)}: not a branch name (up to 200 characters, no spaces, "
                        "control characters or any of ~^:?*[\\)")


def redact(text: str) -> str:
    """`text` with every Hub token replaced by hf_***."""
    return TOKEN.sub("hf_***", text)


def export_folder(run_or_export_dir: "str | Path") -> Path:
    """The export/ of a run folder, or the folder itself when it is an export; checked to hold a model."""
    folder = Path(run_or_export_dir)
    if not folder.is_dir():
        raise hub.HubError(f"{folder}: no such folder")
    export = hub.export_in(folder)
    missing = [name for name in hub.REQUIRED_FILES if not (export / name).is_file()]
    if missing:
        raise hub.HubError(f"{export}: not an exported model (no {' or '.join(missing)}); "
                           "give a run folder that finished a checkpoint, or its export/")
    return export


def require_token() -> str:
    """The token from HF_TOKEN or the `hf auth login` store; HubError when there is none."""
    token = get_token()
    if not token:
        raise hub.HubError("no Hugging Face token: log in with `hf auth login` or set HF_TOKEN")
    return token


def push_folder(run_or_export_dir: "str | Path", repo_id: str, revision: str | None = None, private: bool = False,
                token: str | None = None, model_card: str | None = None,
                extra_files: "dict[str, Path] | None" = None) -> PushResult:
    """Push the export files of a run or export folder to `repo_id` in one commit, creating the repo
    (private if asked; an existing repo keeps its visibility) and the branch `revision` if needed.
    `model_card` replaces the export's README.md in the commit; `extra_files` (path in the repo -> local
    file, e.g. the ONNX export) go in the same commit. The token is `token`, else HF_TOKEN, else the
    `hf auth login` one."""
    export = export_folder(run_or_export_dir)
    token = token or require_token()
    hub.use_timeouts()
    api = HfApi(token=token)
    # Staging a copy keeps the commit to exactly the export files, whatever else lies in the folder.
    with tempfile.TemporaryDirectory(prefix="gan-demo-push-") as staging, hub.translated_errors(repo_id, revision):
        staging = Path(staging)
        for name in hub.EXPORT_FILES:
            if (export / name).is_file():
                shutil.copyfile(export / name, staging / name)
        if model_card is not None:
            (staging / "README.md").write_text(model_card)
        for path_in_repo, source in (extra_files or {}).items():
            (staging / path_in_repo).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staging / path_in_repo)
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None and revision != constants.DEFAULT_REVISION:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        # delete_patterns: an export file that this export lacks is removed, so the repo mirrors it.
        commit = api.upload_folder(repo_id=repo_id, folder_path=staging, revision=revision,
                                   commit_message=COMMIT_MESSAGE, delete_patterns=list(hub.EXPORT_FILES))
    return PushResult(commit_id=commit.oid, commit_url=commit.commit_url, repo_url=str(commit.repo_url))


def publish_folder(folder: "str | Path", repo_id: str, revision: str | None = None,
                   private: bool = False) -> PushResult:
    """Push the export of `folder` to `repo_id` and print where it landed; a failure is a UserError."""
    # A Hub commit lands whole or not at all, so stopping mid-upload publishes nothing.
    exit_quietly_on_stop_signals(f"while publishing to {repo_id}: nothing was published")
    try:
        export = export_folder(folder)
        card_path = export / "README.md"
        card = model_card.point_to_repo(card_path.read_text(), repo_id, revision) if card_path.is_file() else None
        result = push_folder(export, repo_id, revision=revision, private=private, model_card=card)
    except hub.HubError as error:
        raise UserError(redact(f"{error} (nothing was published to {repo_id})")) from None
    print(f"published {export} to {result.repo_url} (branch {revision or 'main'})")
    print(f"commit {result.commit_id}: {result.commit_url}")
    return result


def parse_and_publish(argv: list[str]) -> None:
    args = parse_args(argv)
    check_repo_id(args.repo)
    check_branch(args.revision)
    publish_folder(args.folder, args.repo, revision=args.revision, private=args.private)


if __name__ == "__main__":
    main(parse_and_publish)
