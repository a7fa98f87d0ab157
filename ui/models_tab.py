"""The "Where the models come from" tab: the source of every model (Hub at a pinned commit, bundled folder,
added by repo id, local run) and the form that adds a published gan-demo model by Hub repo id and
revision. Public endpoint: /add_model."""

from dataclasses import dataclass

import gradio as gr

from gan_demo import catalog
from ui.components import CheckedText, refusal
from ui.state import AppState

MAX_ADDED_MODELS = 4
MAX_REPO_ID_CHARACTERS = 200  # the Hub's own limit is 96 for each of namespace and name
MAX_REVISION_CHARACTERS = 200
SOURCES_EXPLANATION = ("Each model loads from the Hub at a pinned revision when configured and reachable (not with "
                       "`GAN_DEMO_OFFLINE=1` or `HF_HUB_OFFLINE=1`), else from the bundled `checkpoints/`.")


@dataclass
class ModelsTab:
    """The table other tabs refresh, and the add event they chain their menu refresh to."""

    model_sources: gr.Markdown
    added: gr.events.Dependency


def build(state: AppState) -> ModelsTab:
    """Lay out the tab inside the open Blocks and wire its events."""
    handlers = ModelsHandlers(state)
    gr.Markdown("## Where the models come from\n" + SOURCES_EXPLANATION)
    model_sources = gr.Markdown(state.models_markdown(), elem_id="model-sources")
    gr.Markdown("### Add a published gan-demo model")
    with gr.Row():
        repo_id = CheckedText(label="Hub repo id", placeholder="user/my-dcgan", elem_id="add-repo", scale=3,
                              max_length=MAX_REPO_ID_CHARACTERS)
        revision = CheckedText(label="revision (branch, tag or commit; empty: main)", elem_id="add-revision",
                               scale=2, max_length=MAX_REVISION_CHARACTERS)
        add_button = gr.Button("Add model", scale=1, elem_id="add-model")
    add_note = gr.Markdown(elem_id="add-note")
    added = add_button.click(handlers.add_model, [repo_id, revision], add_note, api_name="add_model",
                             concurrency_id="add_model", concurrency_limit=1)
    return ModelsTab(model_sources, added)


class ModelsHandlers:
    """The tab's handler over the app state."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def add_model(self, repo_id: str | None, revision: str | None) -> str:
        """/add_model: pull a published gan-demo export at the commit `revision` resolves to; it then
        answers /sample or /translate (and shows in the menus) under its repo id."""
        from gan_demo import hub  # only here: the rest of the app never needs the Hub's network code

        repo_id, revision = (repo_id or "").strip(), (revision or "").strip() or None
        if not repo_id:
            raise refusal("give a Hub repo id such as user/my-dcgan", "Cannot add a model")
        if not catalog.hub_allowed():
            raise refusal("the Hub is disabled here (GAN_DEMO_OFFLINE or HF_HUB_OFFLINE is set)", "Cannot add a model")
        registry = self.state.registry
        added = [entry for entry in registry.models() if entry.source.startswith("added: ")]
        if repo_id not in registry.names() and len(added) >= MAX_ADDED_MODELS:
            raise refusal(f"this app holds {MAX_ADDED_MODELS} added models already, the most it keeps",
                          "Cannot add a model")
        try:
            export, pulled = hub.add_published(repo_id, revision)
        except hub.HubError as error:
            raise refusal(error, "Cannot add this model") from None
        kind = "dcgan" if export.model_class is catalog.MODEL_CLASSES["dcgan"] else "cyclegan"
        registry.add(repo_id, kind, pulled.model, f"added: {repo_id} @ {pulled.commit_id[:12]}", pulled.folder)
        return (f"Added `{repo_id}` at commit {pulled.commit_id[:12]} ({kind}, {export.download_bytes / 1e6:.1f} MB); "
                f"a later push to the repo does not change it. It is in the "
                f"{'Sample cats' if kind == 'dcgan' else 'Translate'} menu for everyone using this app until it "
                "restarts.")
