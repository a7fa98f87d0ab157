"""The "Where the models come from" tab: the source of every model (Hub at a pinned commit, bundled folder,
added by repo id, local run) and the form that adds a published gan-demo model by Hub repo id and
revision. Public endpoint: /add_model."""

from dataclasses import dataclass

import gradio as gr

from gan_demo import catalog
from ui.components import CheckedText, refusal
from ui.state import AppState

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
        """/add_model: the registry's add_from_hub, where the cap, lock, download budget, deadline,
        naming and cleanup live; its note, or its one-line refusal on the page. The model then answers
        /sample or /translate (and shows in the menus) under the name the note gives."""
        try:
            return self.state.registry.add_from_hub(repo_id or "", revision)
        except catalog.AddRefused as error:
            raise refusal(error, "Cannot add this model") from None
