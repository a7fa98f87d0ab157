"""Publish a trained model to the Hugging Face Hub:
`python -m train.publish RUN_DIR_OR_EXPORT_DIR --repo REPO_ID [--revision BRANCH] [--private]`.

`publish_folder` is also what `--push-to-hub REPO_ID` runs when training ends. The export goes up as
it is, in one commit (gan_demo.hub), except that its model card's load snippet is rewritten to name
the repo (and branch) it now lives in. Log in first with `hf auth login`, or set HF_TOKEN.
"""

import argparse
from pathlib import Path

from gan_demo import hub
from train import model_card
from train.errors import UserError, main


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


def publish_folder(folder: "str | Path", repo_id: str, revision: str | None = None,
                   private: bool = False) -> hub.PushResult:
    """Push the export of `folder` to `repo_id` and print where it landed; a failure is a UserError."""
    try:
        export = hub.export_folder(folder)
        card_path = export / "README.md"
        card = model_card.point_to_repo(card_path.read_text(), repo_id, revision) if card_path.is_file() else None
        result = hub.push_folder(export, repo_id, revision=revision, private=private, model_card=card)
    except hub.HubError as error:
        raise UserError(f"{error} (nothing was published to {repo_id})") from None
    print(f"published {export} to {result.repo_url} (branch {revision or 'main'})")
    print(f"commit {result.commit_id}: {result.commit_url}")
    return result


def parse_and_publish(argv: list[str]) -> None:
    args = parse_args(argv)
    publish_folder(args.folder, args.repo, revision=args.revision, private=args.private)


if __name__ == "__main__":
    main(parse_and_publish)
