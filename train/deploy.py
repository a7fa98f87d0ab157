"""Deploy the app to your own Hugging Face Space:
`python -m train.deploy SPACE_ID --model REPO_ID[@REVISION][=NAME] ... [--bundle-checkpoints] [--private]`.

Each `--model` is resolved to the commit its revision (default: main) points at and checked to be a
gan-demo export the app can serve (gan_demo.hub, as the app's "add model" does); the commits go into
served_models.json (gan_demo/served_models.py), so a later push to a model repo never changes the
Space. Then the Space (repo type space, sdk gradio) is created if needed and updated in ONE commit
through huggingface_hub's upload API (binary files go through it, never a raw git push): app.py, ui/,
gan_demo/, examples/, requirements.txt, served_models.json and a README whose front matter has
`sdk_version` equal to the pinned gradio and lists the served repos under `models:`; checkpoints/ only
with `--bundle-checkpoints` (then the bundled models are served too). Files of an earlier deployment
that this one lacks are deleted in the same commit. It prints the Space's URL and the commit.
Log in first (`hf auth login`, or HF_TOKEN); the token is never printed or written.
"""

import argparse
import json
import re
import shutil
import tempfile
from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from gan_demo import hub, served_models
from gan_demo.models import kind_of
from train import publish
from train.errors import UserError, exit_quietly_on_stop_signals, main

ROOT = Path(__file__).resolve().parents[1]
# What the Space runs: the app, its UI package, the inference library, its examples and requirements.
APP_PATHS = ("app.py", "ui", "gan_demo", "examples", "requirements.txt")
CHECKPOINTS = "checkpoints"
SKIPPED = ("__pycache__", "*.pyc", "*.pyi")  # caches, and the type stubs gradio writes beside ui/'s modules
MODEL_SPEC = re.compile(r"(?P<repo_id>[^@=\s]+)(@(?P<revision>[^=\s]+))?(=(?P<name>.+))?")
COMMIT_MESSAGE = "Deploy gan-demo: the app, its library and requirements, and the models it serves"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("space", metavar="SPACE_ID", help="your Space, namespace/name (created if needed)")
    parser.add_argument("--model", action="append", default=[], metavar="REPO_ID[@REVISION][=NAME]",
                        help="a published gan-demo model to serve, pinned to the commit REVISION (a branch, tag or "
                             "commit; default main) points at now, shown as NAME (default: the repo's name); "
                             "repeat for several")
    parser.add_argument("--bundle-checkpoints", action="store_true",
                        help="also upload checkpoints/ and serve the bundled models")
    parser.add_argument("--private", action="store_true", help="create the Space as private")
    return parser.parse_args(argv)


def pinned_gradio(requirements: Path = ROOT / "requirements.txt") -> str:
    """The gradio version requirements.txt pins: the Space's sdk_version must be the same."""
    match = re.search(r"^gradio==(\S+)$", requirements.read_text(), flags=re.MULTILINE)
    if not match:
        raise UserError(f"{requirements}: no gradio==VERSION line, so the Space's sdk_version is unknown")
    return match.group(1)


def check_repo_id(repo_id: str, what: str) -> str:
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        repo_id = None
    if repo_id is None or "/" not in repo_id:
        raise UserError(f"{what}: not a Hub repo id (namespace/name of letters, digits, '-', '_' and '.')")
    return repo_id


def resolve_model(spec: str, token: str) -> served_models.ServedModel:
    """`REPO_ID[@REVISION][=NAME]` -> the model pinned to the commit REVISION points at, after checking
    (and downloading) it as the app would."""
    match = MODEL_SPEC.fullmatch(spec.strip())
    if not match:
        raise UserError(f"--model {spec[:100]!r}: expected REPO_ID[@REVISION][=NAME]")
    repo_id = check_repo_id(match["repo_id"], f"--model {spec[:100]!r}")
    try:
        export, _ = hub.add_published(repo_id, match["revision"], token=token)
    except hub.HubError as error:
        raise UserError(f"--model {repo_id}: {error}; nothing was deployed") from None
    kind = kind_of(export.model_class)
    name = (match["name"] or repo_id.split("/")[1]).strip()
    return served_models.ServedModel(repo_id, export.commit_id, name, kind)


def copy_app(staging: Path, bundle_checkpoints: bool) -> None:
    """The files the Space runs, from this checkout into `staging` (caches left out)."""
    for name in (*APP_PATHS, *((CHECKPOINTS,) if bundle_checkpoints else ())):
        source = ROOT / name
        if source.is_file():
            shutil.copyfile(source, staging / name)
        elif source.is_dir():
            shutil.copytree(source, staging / name, ignore=shutil.ignore_patterns(*SKIPPED))


def space_readme(space_id: str, served: served_models.ServedModels, gradio_version: str) -> str:
    """The Space's README: Spaces' front matter, then what it serves."""
    models = "".join(f"  - {model.repo_id}\n" for model in served.models)
    rows = "".join(f"| {model.name} | {model.kind} | [{model.repo_id}](https://huggingface.co/{model.repo_id}) | "
                   f"`{model.revision[:12]}` |\n" for model in served.models)
    bundled = "\n\nIt also serves the bundled models of `checkpoints/`." if served.bundled else ""
    return f"""---
title: {json.dumps(space_id.split("/")[1])}
emoji: 🐱
colorFrom: gray
colorTo: yellow
sdk: gradio
sdk_version: {gradio_version}
python_version: "3.11"
app_file: app.py
pinned: false
license: mit
models:{" []" if not served.models else ""}
{models}---

# {space_id.split("/")[1]}

The gan-demo app: sample cats from a DCGAN, translate images with CycleGAN, and watch the models learn.
Deployed with `python -m train.deploy`; the models it serves are pinned to these commits in
`served_models.json`:

| name | kind | repo | commit |
|---|---|---|---|
{rows}{bundled}
"""


def deploy(space_id: str, model_specs: list[str], bundle_checkpoints: bool = False,
           private: bool = False) -> publish.PushResult:
    """Resolve the models, then create or update the Space in one commit (see the module docstring)."""
    space_id = check_repo_id(space_id, f"Space {space_id[:100]!r}")
    if not model_specs and not bundle_checkpoints:
        raise UserError("nothing to serve: give --model REPO_ID (repeatable), --bundle-checkpoints, or both")
    gradio_version = pinned_gradio()
    try:
        token = publish.require_token()
    except hub.HubError as error:
        raise UserError(str(error)) from None
    hub.use_timeouts()
    served = served_models.ServedModels(tuple(resolve_model(spec, token) for spec in model_specs), bundle_checkpoints)
    try:
        models_file = served_models.to_json(served)  # the checks the app makes when it reads the file
    except served_models.ServedModelsError as error:
        raise UserError(f"{error}; nothing was deployed") from None
    with tempfile.TemporaryDirectory(prefix="gan-demo-space-") as staging:
        staging = Path(staging)
        copy_app(staging, bundle_checkpoints)
        (staging / served_models.FILE_NAME).write_text(models_file)
        (staging / "README.md").write_text(space_readme(space_id, served, gradio_version))
        api = HfApi(token=token)
        try:
            with hub.translated_errors(space_id, None):
                repo_url = api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private,
                                           exist_ok=True)
                # delete_patterns "*": what an earlier deployment had and this one lacks goes, in this commit.
                commit = api.upload_folder(repo_id=space_id, repo_type="space", folder_path=staging,
                                           commit_message=COMMIT_MESSAGE, delete_patterns="*")
        except hub.HubError as error:
            raise UserError(publish.redact(f"{error} (nothing was deployed to {space_id})")) from None
    return publish.PushResult(commit_id=commit.oid, commit_url=commit.commit_url, repo_url=str(repo_url))


def parse_and_deploy(argv: list[str]) -> None:
    args = parse_args(argv)
    exit_quietly_on_stop_signals(f"while deploying to {args.space}: nothing was deployed")
    result = deploy(args.space, args.model, args.bundle_checkpoints, args.private)
    print(f"Space: {result.repo_url}")
    print(f"commit {result.commit_id}: {result.commit_url}")


if __name__ == "__main__":
    main(parse_and_deploy)
