"""Publishing a run the Train tab made to the Hugging Face Hub, in the person's own namespace, with
train/publish.py's code: the run's export goes up in one commit, its model card pointing at the new
repo. The token is the one the person pasted, or the one their "Sign in with Hugging Face" gave: on
a Space that is OAuth; run locally, gradio's login button stands in with this machine's own login
(`hf auth login`), so it is offered only where the app serves this machine alone. A token lives in
the call that uses it: it is never stored, logged, written or sent back, and a Hub message that
quotes it is redacted."""

import importlib.util
import os

from huggingface_hub import HfApi, get_token

from gan_demo import catalog
from ui.training_data import local_folders_allowed

TOKEN_CHARACTERS = 200  # Hub tokens are about 40; the box refuses more before anything is parsed


class PublishRefused(ValueError):
    """A publish that cannot happen; the message is one line for the page, never holding a token."""


def on_a_space() -> bool:
    return "SPACE_ID" in os.environ


def login_available() -> bool:
    """Whether the "Sign in with Hugging Face" button can work here: on a Space with OAuth enabled
    (`hf_oauth: true` in its README), or locally, serving this machine alone, with a local login the
    Hub accepts (gradio's local stand-in for OAuth asks the Hub who it is when the app starts)."""
    if not oauth_installed():
        return False
    if on_a_space():
        return "OAUTH_CLIENT_ID" in os.environ
    if not local_folders_allowed() or not catalog.hub_allowed() or not get_token():
        return False
    try:
        from gan_demo import hub

        hub.use_timeouts()
        return HfApi().whoami().get("type") == "user"
    except Exception:  # noqa: BLE001 (any failure of the Hub or the login means no button, never no app)
        return False


def oauth_installed() -> bool:
    """Whether gradio's login can start here (its `oauth` extra: itsdangerous for the session cookie, authlib
    for a Space's real OAuth); without it a LoginButton stops the app at launch."""
    names = ("itsdangerous", "authlib") if on_a_space() else ("itsdangerous",)
    return all(importlib.util.find_spec(name) is not None for name in names)


def token_for(pasted: str | None, signed_in_token: str | None) -> str:
    """The token to publish with: a pasted one first, else the signed-in one (locally, gradio's
    stand-in login means this machine's own login)."""
    if pasted and pasted.strip():
        return pasted.strip()
    if signed_in_token:
        return signed_in_token if on_a_space() else (get_token() or "")
    raise PublishRefused("sign in with Hugging Face or paste a token with write access")


def publish_run(run_folder, repo_name: str, token: str) -> tuple[str, str]:
    """Push the run's export to <your namespace>/<repo_name>; returns (repo id, commit id)."""
    from gan_demo import hub
    from train import model_card
    from train.errors import UserError
    from train.publish import check_repo_id, export_folder, push_folder, redact

    if not catalog.hub_allowed():
        raise PublishRefused("the Hub is disabled here (GAN_DEMO_OFFLINE or HF_HUB_OFFLINE is set)")
    try:
        hub.use_timeouts()
        namespace = HfApi(token=token).whoami().get("name")
        if not isinstance(namespace, str):
            raise PublishRefused("the Hub did not say whose token this is; nothing was published")
        repo_id = f"{namespace}/{repo_name.strip()}"
        check_repo_id(repo_id, "repo name")
        export = export_folder(run_folder)
        card_path = export / "README.md"
        card = model_card.point_to_repo(card_path.read_text(), repo_id) if card_path.is_file() else None
        result = push_folder(export, repo_id, token=token, model_card=card)
    except PublishRefused:
        raise
    except (hub.HubError, UserError) as error:
        raise PublishRefused(redact(f"{error} (nothing was published)")) from None
    except Exception as error:  # noqa: BLE001 (whoami's HTTP errors: say which, never the token)
        raise PublishRefused(redact(f"the Hub did not accept the token or the request "
                                    f"({type(error).__name__}: {str(error)[:200]}); nothing was published")) \
            from None
    return repo_id, result.commit_id
