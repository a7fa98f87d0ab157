"""The whole app: one AppState, one tab per module over it (ui/sample_tab.py, translate_tab.py,
progress_tab.py, models_tab.py), the refreshes that cross tabs (a new run or an added model shows in
every menu), and the queue: a concurrency group per kind of work, each with its own cap on waiting
calls, so cheap endpoints keep answering while expensive ones are busy."""

from pathlib import Path

import gradio as gr

from ui import gradio_fixes, models_tab, progress_tab, sample_tab, train_tab, training_jobs, translate_tab
from ui.state import AppState

CSS = """
/* 64 px samples are drawn as large as their box allows, crisp rather than blurred. */
.pixelated img { image-rendering: pixelated; object-fit: contain; }
/* Galleries of grids: each grid whole at its own aspect ratio, its caption under it, no fixed height. */
#comparison .grid-wrap, #variants .grid-wrap { height: auto !important; max-height: none !important; }
#comparison .grid-container, #variants .grid-container { grid-auto-rows: auto !important; }
#comparison .thumbnail-item, #variants .thumbnail-item {
  aspect-ratio: auto !important; height: auto !important; display: flex; flex-direction: column; }
#comparison .thumbnail-item img, #variants .thumbnail-item img { width: 100%; height: auto !important; }
/* Their labels above the grids, not floating over the first row. */
#comparison label[data-testid="block-label"], #variants label[data-testid="block-label"] {
  position: static !important; white-space: normal !important; max-width: none !important; }
#comparison .caption-label, #variants .caption-label {
  position: static !important; white-space: normal !important; max-width: none !important; text-align: center; }
/* The models table keeps its words whole; on a narrow screen it scrolls sideways instead. */
#model-sources td, #model-sources th { word-break: normal !important; overflow-wrap: normal !important; }
#model-sources table { display: block; overflow-x: auto; }
/* Phones: the sample grid above its controls, so a slider moves a picture in view. */
@media (max-width: 767px) {
  #sample-grid-column { order: -1; }
  #samples { height: 50vh !important; }
}
"""
# Running and waiting calls per concurrency group. The machine has few cores: drawing (a grid, a
# slider's drag, a translation) is cheap and gets the most room; projection and adding a model are
# seconds each, one at a time, with a short line.
CONCURRENCY = {"draw": 2, "translate": 2, "progress": 2, "gif": 1, "project": 1, "add_model": 1}
WAITING = {"draw": 32, "translate": 16, "progress": 16, "gif": 4, "project": 4, "add_model": 2}


def build_demo(runs_folder: "str | Path | None" = None, state: AppState | None = None,
               allow_training: bool = False) -> gr.Blocks:
    """The app over `state` (default: the registry built now and the runs under `runs_folder`, else
    $GAN_DEMO_RUNS), queue included; `launch()` serves it. The Train tab trains only with
    `allow_training` (or GAN_DEMO_ALLOW_TRAINING=1), into the runs folder (default runs/browser)."""
    gradio_fixes.install()
    allow_training = training_jobs.training_allowed(allow_training)
    if allow_training:
        runs_folder = training_jobs.runs_folder_for_training(runs_folder)
    state = state or AppState.build(runs_folder)
    with gr.Blocks(title="gan-demo: cats and CycleGANs", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# gan-demo\nSample cats from a DCGAN, translate images with CycleGAN, and watch the models learn. "
                    "Where each model comes from, and how to add your own: the *Models* tab.")
        # On a phone the tab names wrap to a second line rather than hide behind a "more" menu.
        with gr.Tabs(overflow_behavior="wrap"):
            with gr.Tab("Sample cats", elem_id="sample-tab") as sample_page:
                sample = sample_tab.build(state, demo)
            with gr.Tab("Translate", elem_id="translate-tab") as translate_page:
                translate = translate_tab.build(state)
            with gr.Tab("Training progress", elem_id="progress-tab"):
                progress = progress_tab.build(state, demo)
            with gr.Tab("Models", elem_id="models-tab"):
                models = models_tab.build(state)
            with gr.Tab("Train", elem_id="train-tab"):
                train = train_tab.build(state, demo, allow_training)

        def refresh_menus(run: str | None) -> tuple:
            """Every menu and the sources table as they are now (new runs, run exports, added models);
            listing the runs registers their newest exports, once, for the other menus too."""
            return (gr.update(choices=progress_tab.ProgressHandlers(state).run_choices(), value=run),
                    gr.update(choices=state.model_choices("dcgan")), gr.update(choices=state.direction_choices()),
                    state.models_markdown())

        menus = [progress.run, sample.variant, translate.direction, models.model_sources]
        refresh = dict(fn=refresh_menus, inputs=progress.run, outputs=menus, api_visibility="private",
                       concurrency_id="progress")
        # A run that started after the page opened, or a model someone added, is offered wherever a menu is
        # opened: when its tab is selected, on "Refresh runs", and after an add.
        gr.on([sample_page.select, translate_page.select, progress.refresh_runs.click], **refresh)
        models.added.then(**refresh)
        if train.published is not None:
            train.published.then(**refresh)

    demo.queue(max_size=sum(WAITING.values()), default_concurrency_limit=None)
    for dependency in demo.fns.values():
        if dependency.concurrency_id in CONCURRENCY:
            dependency.concurrency_limit = CONCURRENCY[dependency.concurrency_id]
    gradio_fixes.limit_queue(demo, WAITING)
    return demo
