"""The "Training progress" tab: pick a run (bundled, added, or a local run folder that refreshes while it
trains), watch its progress GIF, scrub its iterations, read its loss curves and compare its variants at
the same iteration. Public endpoint: /progress. Files offered for download are copies the app hands out
(ui/served_files.py), never paths into a model cache or runs folder."""

import itertools
import time
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from gan_demo import catalog, progress
from gan_demo import runs as local_runs
from ui.components import CheckedSlider, refusal
from ui.served_files import FileRefused
from ui.state import AppState

MAX_ITERATION = 10_000_000  # the largest iteration /progress accepts
RUN_REFRESH_SECONDS = 2.0
RUN_QUIET_SECONDS = 60  # a run unchanged this long has stopped: the tab stops polling it
NO_SUCH_RUN = "No training progress for this run name: pick a run from the menu."
PLOT_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
PROGRESS_EXPLANATION = (
    "How each model learned: samples from fixed latents (or fixed inputs) saved during training, their iteration "
    "in the corner, and the loss curves. Drag the iteration slider to scrub; the variants below show the other "
    "models at the same iteration.")
VARIANTS_LABEL = ("Variants at this iteration: every DCGAN (the same latents), or the CycleGANs between the same "
                  "domains (the same inputs, with and without the cycle loss)")


@dataclass
class ProgressTab:
    """The components other tabs refresh (the run menu) and the event that lists new runs."""

    run: gr.Dropdown
    refresh_runs: gr.Button


def build(state: AppState, demo: gr.Blocks) -> ProgressTab:
    """Lay out the tab inside the open `demo` and wire its events."""
    handlers = ProgressHandlers(state)
    progress_runs = [(resolved, *handlers.progress_or_reason(resolved))
                     for resolved in state.available(with_progress=True)]
    runs = [resolved for resolved, record, _ in progress_runs if record]
    run_menu = handlers.run_choices()
    gr.Markdown(PROGRESS_EXPLANATION)
    with gr.Row():
        with gr.Column(min_width=300):  # the button under the menu, so a long run name has the whole width
            run = gr.Dropdown(run_menu, value=run_menu[0][1] if run_menu else None, label="run",
                              allow_custom_value=True, elem_id="run")
            refresh_runs = gr.Button("Refresh runs", size="sm", elem_id="refresh-runs")
        with gr.Column(min_width=300):
            # Built with the largest iteration a run may reach: API calls are checked against it,
            # and a local run keeps growing; the page fits the slider to the shown run on load.
            iteration = handlers.iteration_slider(runs[0].name if runs else None, MAX_ITERATION)
    gr.Markdown(progress_note(progress_runs), elem_id="progress-note")
    with gr.Row():
        # Titles above the pictures, not over them: a label box would hide the "iter N" stamp.
        with gr.Column(min_width=300):
            gr.Markdown("**Progress GIF** (fixed latents / inputs)")
            gif = gr.Image(show_label=False, interactive=False, elem_id="progress-gif")
        with gr.Column(min_width=300):
            gr.Markdown("**Frame at the iteration**")
            frame = gr.Image(show_label=False, format="png", interactive=False, elem_id="progress-frame")
    losses = gr.LinePlot(x="iteration", y="loss", color="term", label="losses (moving average)", elem_id="losses")
    with gr.Row():
        gif_download = gr.DownloadButton("Download the GIF", size="sm", elem_id="download-gif")
        csv_download = gr.DownloadButton("Download the losses (CSV)", size="sm", elem_id="download-csv")
    variants = gr.Gallery(label=VARIANTS_LABEL, columns=2, height="auto", object_fit="contain", format="png",
                          elem_id="variants", preview=False)
    variants_note = gr.Markdown(elem_id="variants-note")
    with gr.Accordion("Training settings", open=False):
        settings = gr.JSON(label="training settings")
    run_timer = gr.Timer(RUN_REFRESH_SECONDS, active=False)

    progress_outputs = [gif, frame, losses, settings, variants]
    gr.on([iteration.input], handlers.show_progress, [run, iteration], progress_outputs, api_name="progress",
          trigger_mode="always_last", show_progress="minimal", concurrency_id="progress")
    run_timer.tick(handlers.follow_run, run, [iteration, *progress_outputs, run_timer], api_visibility="private",
                   concurrency_id="progress")
    run.change(handlers.watch_run, run, run_timer, api_visibility="private")
    if not run_menu:  # nothing to show on load
        return ProgressTab(run, refresh_runs)
    gr.on([run.change, demo.load], handlers.iteration_slider, run, iteration, api_visibility="private").then(
        handlers.show_progress, [run, iteration], progress_outputs, api_visibility="private",
        concurrency_id="progress").then(
        handlers.plot_colours, run, losses, api_visibility="private").then(
        handlers.variants_shown, run, [variants, variants_note], api_visibility="private").then(
        handlers.run_downloads, run, [gif_download, csv_download], api_visibility="private")
    return ProgressTab(run, refresh_runs)


class ProgressHandlers:
    """The tab's handlers over the app state."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def show_progress(self, run: str | None, iteration: float) -> tuple:
        """/progress: (the GIF, the frame at `iteration`, the loss curves, the settings, the variants)."""
        record = self.run_progress(run)
        frame, _ = record.frame_at(iteration)  # the frame shows its iteration in its corner
        variants = []
        for resolved in self.comparable_runs(run):
            variant, _ = self.progress_or_reason(resolved)
            if variant:
                variant_frame, variant_step = variant.frame_at(iteration)
                variants.append((variant_frame, f"{resolved.label} (iteration {variant_step})"))
        plot = pd.DataFrame(progress.loss_table(record.losses))
        return self.handed_out(record.gif_path), frame, plot, record.shown_settings, variants

    def variants_shown(self, run: str | None) -> tuple[gr.Gallery, str]:
        """The variants gallery shown only when another run compares with this one (alone, it would show
        the frame beside it again, as wide as the page); otherwise a line saying why not."""
        if len(self.comparable_runs(run)) > 1:
            return gr.Gallery(visible=True), ""
        return gr.Gallery(visible=False), ("*Variants: none to show. No other model shares this one's latents or "
                                           "domains: the bundled DCGANs are compared with each other, the cats' "
                                           "CycleGANs with and without the cycle loss; a local run or an added "
                                           "model with nothing.*")

    def handed_out(self, path) -> str | None:
        """A served copy of `path`, or None when it cannot be handed out."""
        try:
            return str(self.state.served.copy_of(path))
        except FileRefused:
            return None

    def run_progress(self, run: str | None) -> progress.RunProgress:
        """The progress of a run offered in the menu; one identical refusal for any other name."""
        if not isinstance(run, str):
            raise refusal(NO_SUCH_RUN, "Progress unavailable")
        if run.startswith(local_runs.RUN_PREFIX):
            name = run.removeprefix(local_runs.RUN_PREFIX)
            if name not in local_runs.run_names(self.state.runs_root):  # only a direct child of the runs folder
                raise refusal(NO_SUCH_RUN, "Progress unavailable")
            try:
                record = local_runs.run_progress(self.state.runs_root / name)
            except progress.ProgressError as error:  # a GIF that cannot be read: say which file and why
                raise refusal(f"No training progress for {run}: {error}", "Progress unavailable") from None
            if record is None:
                raise refusal(f"{run} has written no sample yet; it shows up after its first one.",
                              "Progress unavailable")
            return record
        for resolved in self.state.available(with_progress=True):
            if resolved.name == run:
                record, reason = self.progress_or_reason(resolved)
                if record:
                    return record
                raise refusal(f"No training progress for {run}: {reason}", "Progress unavailable")
        raise refusal(NO_SUCH_RUN, "Progress unavailable")

    @staticmethod
    def progress_or_reason(resolved: catalog.RegisteredModel) -> tuple[progress.RunProgress | None, str]:
        """A model's training progress, or None and why it cannot be shown (a broken progress.gif)."""
        try:
            return progress.load_run(resolved.progress_folder), ""
        except progress.ProgressError as error:
            return None, str(error)

    def comparable_runs(self, run: str) -> list[catalog.RegisteredModel]:
        """The runs shown beside `run` at the same iteration: every DCGAN (the same latents, other
        augmentations), or the CycleGANs between the same two domains (the same inputs, with and without
        the cycle loss). A local run has none."""
        chosen = next((resolved for resolved in self.state.available(with_progress=True) if resolved.name == run),
                      None)
        if chosen is None:
            return []
        return [resolved for resolved in self.state.available(chosen.kind, with_progress=True)
                if chosen.kind == "dcgan" or resolved.domains == chosen.domains]

    def plot_colours(self, run: str) -> gr.LinePlot:
        """The loss plot's colour map for `run`'s terms, sent after its data. gradio 6.31's plot builds its
        colour scale (legend included) from the data it holds only when a setting such as the colour map
        changes; new data alone is drawn on the old scale."""
        terms = dict.fromkeys(term for term in self.run_progress(run).losses if term != "step")
        return gr.LinePlot(color_map=dict(zip(terms, itertools.cycle(PLOT_COLOURS))))

    def run_downloads(self, run: str) -> tuple[gr.DownloadButton, gr.DownloadButton]:
        """The run's progress.gif and losses.csv as download buttons (hidden when one cannot be handed out)."""
        folder = self.run_progress(run).folder
        files = [self.handed_out(folder / name) for name in ("progress.gif", "losses.csv")]
        return tuple(gr.DownloadButton(value=path, visible=path is not None) for path in files)

    def iteration_slider(self, run: str | None, maximum: int | None = None) -> CheckedSlider:
        """The iteration slider fitted to `run`'s frames, set to its last one. Built with `maximum`, the
        largest iteration of any run, because API calls are checked against the slider as first built."""
        steps = self.run_progress(run).steps if run else (0, 1)
        spacing = max(1, steps[1] - steps[0]) if len(steps) > 1 else 1
        return CheckedSlider(minimum=0 if maximum else steps[0], maximum=maximum or steps[-1], step=spacing,
                             value=steps[-1], label="iteration", elem_id="iteration")

    def run_choices(self) -> list[tuple[str, str]]:
        """The runs in the menu by name, short enough for a phone: the models with progress (one whose
        progress cannot be read stays, named unavailable: choosing it says why), then the local runs."""
        bundled = [(resolved.name if self.progress_or_reason(resolved)[0]
                    else f"{resolved.name} (progress unavailable)", resolved.name)
                   for resolved in self.state.available(with_progress=True)]
        return bundled + [(f"{name} (local run)", local_runs.RUN_PREFIX + name) for name in self.state.sync_runs()]

    def watch_run(self, run: str | None) -> gr.Timer:
        """Poll only a local run that is still being written."""
        return gr.Timer(active=bool(run) and run.startswith(local_runs.RUN_PREFIX) and self.run_is_changing(run))

    def run_is_changing(self, run: str) -> bool:
        name = run.removeprefix(local_runs.RUN_PREFIX)
        if name not in local_runs.run_names(self.state.runs_root):
            return False
        folder = self.state.runs_root / name
        latest = max(local_runs.modified(folder / file) for file in ("progress.gif", "losses.csv", "config.json"))
        return time.time() - latest / 1e9 < RUN_QUIET_SECONDS

    def follow_run(self, run: str) -> tuple:
        """A timer tick: the slider fitted to the run's frames so far and the newest frame, losses and
        settings; the timer stops once the run has been quiet for RUN_QUIET_SECONDS."""
        try:
            steps = self.run_progress(run).steps
        except gr.Error:  # no sample written yet
            return (gr.update(),) * 6 + (self.watch_run(run),)
        slider = gr.update(maximum=steps[-1], value=steps[-1])
        return (slider, *self.show_progress(run, steps[-1]), self.watch_run(run))


def progress_note(runs: list[tuple[catalog.RegisteredModel, progress.RunProgress | None, str]]) -> str:
    """What the Training progress tab cannot show, run by run, and why."""
    lines = [f"- `{resolved.name}`: progress unavailable ({reason})" for resolved, _, reason in runs if reason]
    lines += [f"- `{resolved.name}`: {problem}" for resolved, record, _ in runs if record
              for problem in record.problems]
    return "\n".join(lines)
