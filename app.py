"""gan-demo's Gradio app: sample cats from the DCGAN variants with latent-direction sliders, translate
images with the CycleGANs, and watch how every bundled model learned. This file is the UI only
(layout and wiring); the models, the catalog of where they come from and every computation live in
`gan_demo`. Public API endpoints: /sample, /interpolate, /translate, /progress, /project, /add_model.

    python app.py               # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT change it)
    python app.py --runs runs   # also every training run under runs/ (or GAN_DEMO_RUNS=runs), live
"""

import os

if __name__ == "__main__":  # OpenMP reads this once, when torch loads it: idle threads sleep, not spin
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # (docs/performance.md)

import argparse
import atexit
import contextlib
import functools
import html
import itertools
import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
from gradio import processing_utils, utils
from gradio.data_classes import ImageData
from PIL import Image

from gan_demo import catalog, inference, progress, projection, runtime
from gan_demo import runs as local_runs
from gan_demo.imaging import ImageError

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "examples"
DIRECTION_SLIDERS = 6
MAX_SAMPLES = 16
MAX_SEED = 2**31 - 1
MODEL_SIZE, FULL_IMAGE = "model size", "full image"
GIF_MAX_AGE_SECONDS = 3600
# Models added by repo id are shared by every visitor of this process (a Space is one process: a copy
# per session would multiply the memory by the visitors), so their number is capped.
MAX_ADDED_MODELS = 4
RUN_REFRESH_SECONDS = 2.0
MAX_ITERATION = 10_000_000  # the largest iteration /progress accepts
RUN_QUIET_SECONDS = 60  # a run unchanged this long has stopped: the progress tab stops polling it
# The gradio versions whose save_pil_to_cache rewrites a cached file in place (checked in 6.31.0).
GRADIO_IN_PLACE_CACHE_MAJOR = "6"
PLOT_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
CSS = """
/* 64 px samples are drawn as large as their box allows, crisp rather than blurred. */
.pixelated img { image-rendering: pixelated; object-fit: contain; width: 100%; height: 100%; }
/* Phones: the sample grid above its controls, so a slider moves a picture in view; two variants a row,
   their names wrapped rather than cut off. */
@media (max-width: 767px) {
  #sample-grid-column { order: -1; }
  #samples { height: 45vh !important; }
  #variants .grid-container, #comparison .grid-container { grid-template-columns: repeat(2, 1fr) !important; }
  #variants .caption-label, #comparison .caption-label { white-space: normal; max-width: 95%; }
}
"""


SAMPLE_EXPLANATION = (
    "A DCGAN turns a *latent vector* z (100 numbers drawn from a seed) into a 64 px cat; the same seed always "
    "gives the same cat, and each cat's seed is written under it. The four variants were trained on the same "
    "157 photos of Grumpy cat (18 more are kept aside to test them) with different augmentation: *basic* "
    "(the photos as they are), *deluxe* "
    "(random crops, flips and a mild colour jitter of the real photos), *DiffAugment* (random colour, shift "
    "and cut-out applied to real *and* generated images, so the discriminator cannot simply memorise the few "
    "real photos). Truncation pulls z towards the average cat.")
DIRECTIONS_EXPLANATION = (
    "A latent direction is a direction in z along which the pictures change the most (the principal directions "
    "of the generator's first block, GANSpace), strongest first; each slider moves every cat that many standard "
    "deviations along one of them. The grid follows while you drag (arrow keys work too).")
TRANSLATE_EXPLANATION = (
    "CycleGAN learns two generators between two sets of unpaired photos (Russian Blue and Grumpy cats, apples "
    "and oranges). The *cycle reconstruction* translates the result back again; the cycle loss trains it to "
    "match the input, which is what keeps the pose and layout of your picture. The model trained *without the "
    "cycle loss* has nothing tying its output to its input: it learns to draw a plausible cat of the other "
    "kind, not *your* cat, and its reconstruction shows how much of the input was lost.")
PROGRESS_EXPLANATION = (
    "How each model learned: samples from fixed latents (or fixed inputs) saved during training, their iteration "
    "in the corner, and the loss curves. Drag the iteration slider to scrub; the variants below show the other "
    "models at the same iteration.")
NOT_AN_IMAGE = "This is not an image: send an uploaded file's path or a data: URL."


class CheckedImage(gr.Image):
    """gr.Image that reads only what the request itself carried, and reads it through gan_demo (EXIF,
    alpha, 16-bit, first frame): a file in Gradio's upload folder, or a data: URL. Anything over
    20 MB or 25 megapixels (from the header, before decoding), not an image, or corrupt is refused
    with one line in the UI; the stock component would decode it whole and fail without saying why.

    The path check is `screen`, called from `screen_then_move_files_to_cache` before Gradio itself
    looks at the payload: gradio 6.31 checks a path against its upload folder only when the payload
    carries `meta: {"_type": "gradio.FileData"}`, and passes `{"path": "/any/file"}` without it
    straight to `preprocess`, which opened it (any file the server can read, an existence oracle, a
    FIFO that blocks a worker). Even with `meta`, Gradio stat()s and resolves the path first."""

    is_template = True  # rendered by the stock Image frontend

    def screen(self, payload: object) -> dict | None:
        """The payload reduced to what `preprocess` may read, decided from the strings alone (nothing
        at the path is touched, so every refused path gets the same answer): a path inside Gradio's
        upload folder, or a data: URL. Without `meta`, Gradio passes it on untouched."""
        if payload is None:
            return None
        if not isinstance(payload, dict):
            raise refusal(NOT_AN_IMAGE, "Cannot use this image")
        path, url = payload.get("path"), payload.get("url")
        if isinstance(url, str) and url.startswith("data:"):
            return {"url": url}
        if not isinstance(path, str):
            raise refusal(NOT_AN_IMAGE, "Cannot use this image")
        if not in_upload_folder(path):
            raise refusal(inference.NOT_UPLOADED, "Cannot use this image")
        return {"path": path}

    def preprocess(self, payload: ImageData | None) -> Image.Image | None:
        if payload is None:
            return None
        try:
            if payload.url and payload.url.startswith("data:"):
                return inference.open_data_url(payload.url)
            return inference.open_upload(payload.path)
        except ImageError as error:
            raise refusal(error, "Cannot use this image") from None


def in_upload_folder(path: str) -> bool:
    """Whether `path` names something inside Gradio's upload folder, from the string alone (`..`
    collapsed, relative paths taken from the working folder); symbolic links inside that folder are
    refused when the file is opened (O_NOFOLLOW)."""
    candidate = os.path.abspath(path)
    folder = utils.get_upload_folder()
    return any(os.path.commonpath([candidate, root]) == root
               for root in {os.path.abspath(folder), os.path.realpath(folder)})


gradio_move_files_to_cache = processing_utils.async_move_files_to_cache


async def screen_then_move_files_to_cache(data: Any, block: gr.blocks.Block, postprocess: bool = False,
                                          **options: Any) -> Any:
    """gradio's `async_move_files_to_cache` (its first step with every input payload, see
    `gr.Blocks.preprocess_data`) with `CheckedImage.screen` run before it on image inputs."""
    if isinstance(block, CheckedImage) and not postprocess:
        data = block.screen(data)
    return await gradio_move_files_to_cache(data, block, postprocess=postprocess, **options)


processing_utils.async_move_files_to_cache = screen_then_move_files_to_cache  # blocks.py looks it up there


class CheckedNumber(gr.Number):
    """gr.Number that refuses NaN, infinities, text, lists and out-of-range values in one line saying
    what is wrong (the stock one passes NaN on, or fails with no message). An empty box is None."""

    is_template = True

    def preprocess(self, payload: float | None) -> float | int | None:
        return super().preprocess(checked_number(payload, self, whole=self.precision == 0, allow_empty=True))


class CheckedSlider(gr.Slider):
    """gr.Slider with CheckedNumber's checks; whole steps from a whole minimum mean whole numbers."""

    is_template = True

    def preprocess(self, payload: float) -> float:
        whole = float(self.step).is_integer() and float(self.minimum).is_integer()
        return super().preprocess(checked_number(payload, self, whole=whole, allow_empty=False))


def checked_number(value: object, component: gr.Number | gr.Slider, whole: bool,
                   allow_empty: bool) -> float | int | None:
    """`value` when it is a finite number in the component's range (and whole, if asked); otherwise a
    refusal naming the component by its label: "seed must be a whole number from 0 to 10, not NaN"."""
    if value is None and allow_empty:
        return None
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if (is_number and (isinstance(value, int) or math.isfinite(value))
            and (component.minimum is None or value >= component.minimum)
            and (component.maximum is None or value <= component.maximum)
            and (not whole or isinstance(value, int) or value.is_integer())):
        return value
    kind = "a whole number" if whole else "a number"
    bounds = f" from {plain(component.minimum)} to {plain(component.maximum)}" if component.maximum is not None else ""
    raise refusal(f"{component.label} must be {kind}{bounds}, not {described(value)}", "Invalid value")


def plain(number: float) -> str:
    """2147483647 rather than 2.14748e+09, 0.5 rather than 0.500000."""
    return str(number) if isinstance(number, int) or not number.is_integer() else str(int(number))


def described(value: object) -> str:
    """A value as the message quotes it: short, and never an object's repr."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("infinity" if value > 0 else "-infinity")
    if isinstance(value, (int, float)):
        return plain(value)
    return {str: "text", list: "a list", dict: "an object"}.get(type(value), "another kind of value")


def save_pil_to_cache_atomically(img: Image.Image, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    """gradio's `save_pil_to_cache` with the file written once, under a temporary name renamed into place.
    gradio 6.31 rewrites an output image's cache file (named by its content) in place on every request
    (gradio/processing_utils.py, save_pil_to_cache: `write_bytes` on the final path; no upstream issue
    yet), so two requests with the same output (two visitors on the default seed, one example translated
    twice) truncate the file while the first one is being downloaded, which then arrives empty (the load
    benchmark saw 8 of 400 calls fail so)."""
    data = processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    path = (folder / f"{name}.{format}").resolve()
    if path.exists():
        os.utime(path)  # gradio's delete_cache ages files by time: a file handed out again is young again
        return str(path)
    descriptor, staging = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.replace(staging, path)
    return str(path)


def write_output_images_atomically() -> bool:
    """Replace gradio's save_pil_to_cache by `save_pil_to_cache_atomically` (every component looks it up
    in processing_utils) on the gradio versions known to write in place; True if it did. Other versions
    keep theirs: recheck that function there before widening the check."""
    if gr.__version__.split(".")[0] != GRADIO_IN_PLACE_CACHE_MAJOR:
        logging.getLogger(__name__).warning("gradio %s: output images are cached by gradio's own save_pil_to_cache",
                                            gr.__version__)
        return False
    processing_utils.save_pil_to_cache = save_pil_to_cache_atomically
    return True


def refusal(error: Exception | str, title: str) -> gr.Error:
    """A message for the person in the UI (escaped: it may quote a file name), without a server traceback."""
    return gr.Error(html.escape(str(error)), title=title, print_exception=False)


def on_page(handler: Callable, inputs: list[gr.components.Component], refused: Callable[[str], tuple]) -> Callable:
    """`handler` for an event of the page itself, which runs with preprocess=False: each input is
    preprocessed here by its component, so that a refused value (an image that cannot be used, an
    invalid seed) is told on the page, `refused(note)` choosing what the outputs show, instead of in a
    toast over "Error" badges. The public endpoints raise the same refusals as errors."""
    def run(*payloads: Any) -> tuple:
        try:
            values = [preprocessed(component, payload) for component, payload in zip(inputs, payloads, strict=True)]
            return handler(*values)
        except gr.Error as error:
            return refused(f"**{error.title}:** {error.message}")

    return run


def preprocessed(component: gr.components.Component, payload: Any) -> Any:
    if payload is not None and getattr(component, "data_model", None):
        payload = component.data_model.model_validate(payload)
    return component.preprocess(payload)


# -- handlers: turn UI values into gan_demo calls and errors into messages ------------------------

registry = catalog.ModelRegistry()  # the models on offer: built by build_demo() at start-up; added models join it
runs_root: Path | None = None  # --runs DIR or GAN_DEMO_RUNS: local training runs, set by build_demo()


def load(name: str) -> catalog.RegisteredModel:
    if name.startswith(local_runs.RUN_PREFIX):  # a run's newest export, or one that appeared since the last look
        sync_runs()
    try:
        return registry.get(name)
    except catalog.ModelUnavailable as error:
        raise refusal(error, "Model unavailable") from None


def source_note(resolved: catalog.RegisteredModel) -> str:
    return f"Model `{resolved.name}` ({resolved.source})"


def seeds_from(seed: float | None, count: float) -> range:
    """`count` consecutive seeds from `seed` (an emptied seed box counts as 0)."""
    return range(int(seed or 0), int(seed or 0) + int(count))


def latent_of(resolved: catalog.RegisteredModel, text: str | None):
    """The latent typed into the Sample tab for this model, or None (then the seeds are used)."""
    try:
        return projection.parse_latent(text, resolved.model.latent_dim)
    except ValueError as error:
        raise refusal(error, "Cannot use this latent") from None


def sample_cats(variant: str, seed: float | None, truncation: float, count: float,
                *directions_and_latent: float | str) -> tuple[Image.Image, str]:
    *direction_weights, latent_text = directions_and_latent
    resolved = load(variant)
    latent = latent_of(resolved, latent_text)
    if latent is not None:
        image = projection.edited(resolved.model, latent, truncation, direction_weights)
        return image, f"Your latent (the seed and number of samples wait until it is cleared). {source_note(resolved)}"
    seeds = seeds_from(seed, count)
    grid = inference.sample_grid(resolved.model, seeds, truncation, direction_weights, seed_captions=True)
    return grid, f"Seeds {seeds[0]} to {seeds[-1]}, each under its cat. {source_note(resolved)}"


def compare_variants(seed: float | None, truncation: float, count: float,
                     *direction_weights: float) -> list[tuple[Image.Image, str]]:
    grids = inference.compare_variants({item.label: item.model for item in available("dcgan")},
                                       seeds_from(seed, count), truncation, direction_weights, seed_captions=True)
    return [(grid, label) for label, grid in grids.items()]


def interpolate(variant: str, seed_start: float | None, seed_end: float | None, frames: float,
                truncation: float, latent_text: str | None = None) -> str:
    resolved = load(variant)
    latent = latent_of(resolved, latent_text)
    if latent is not None:
        return gif_file(projection.interpolation_gif_from(resolved.model, latent, int(seed_end or 0), int(frames),
                                                          truncation))
    data = inference.interpolation_gif(resolved.model, int(seed_start or 0), int(seed_end or 0), int(frames),
                                       truncation)
    return gif_file(data)


def translate(image: Image.Image | None, direction: str,
              resolution: str) -> tuple[Image.Image | None, Image.Image | None, Image.Image | None, str]:
    if image is None:
        return None, None, None, "Upload, paste or take a picture to translate it."
    choice = next((item for item in registry.translation_choices(available=False) if item.label == direction), None)
    if choice is None:
        raise gr.Error(f"Unknown direction {direction!r}.")
    resolved = load(choice.model_name)
    try:
        result = inference.translate(resolved.model, image, choice.direction, full_size=resolution == FULL_IMAGE)
    except ImageError as error:
        raise refusal(error, "Cannot translate this image") from None
    note = f"{direction} at {result.input.width}x{result.input.height} px. {source_note(resolved)}"
    return result.input, result.translation, result.reconstruction, note


def project_photo(image: Image.Image | None, variant: str, square: float = 100, across: float = 50,
                  down: float = 50,
                  progress_bar=gr.Progress()) -> tuple[Image.Image | None, Image.Image | None, str, str]:
    """/project: the square the model saw, its reconstruction, the latent as a JSON list, a note."""
    if image is None:
        return None, None, "", "Upload, paste or take a photo of a cat to project it."
    resolved = load(variant)
    try:
        result = projection.project(resolved.model, image, crop_box(image, square, across, down),
                                    progress=lambda done, total: progress_bar(done / total, desc="projecting"))
    except ImageError as error:
        raise refusal(error, "Cannot project this image") from None
    note = (f"Mean distance {result.distance:.3f} on the [-1, 1] scale, {result.seconds:.1f} s. The latent is "
            f"now the subject of the sliders, truncation and Make GIF; clear it to go back to seeds. "
            f"{source_note(resolved)}")
    return result.square, result.reconstruction, projection.latent_text(result.latent), note


def crop_box(image: Image.Image, square: float, across: float, down: float) -> projection.Box:
    """The crop controls (the square's side in % of the short side, its centre in % of the room left
    across and down) -> the (left, top, side) box in pixels."""
    side = max(1, round(min(image.size) * min(max(square, 1), 100) / 100))
    return (round((image.width - side) * min(max(across, 0), 100) / 100),
            round((image.height - side) * min(max(down, 0), 100) / 100), side)


def crop_preview(image: Image.Image | None, variant: str, square: float, across: float,
                 down: float) -> Image.Image | None:
    """The square the model will see, at its size, as the crop controls move."""
    if image is None:
        return None
    return projection.crop_square(image, load(variant).model.image_size, crop_box(image, square, across, down))


def add_model(repo_id: str, revision: str | None) -> str:
    """/add_model: pull a published gan-demo export at the commit `revision` resolves to; it then
    answers /sample or /translate (and shows in the dropdowns) under its repo id."""
    from gan_demo import hub  # only here: the rest of the app never needs the Hub's network code

    repo_id, revision = (repo_id or "").strip(), (revision or "").strip() or None
    if not repo_id:
        raise refusal("give a Hub repo id such as user/my-dcgan", "Cannot add a model")
    if not catalog.hub_allowed():
        raise refusal("the Hub is disabled here (GAN_DEMO_OFFLINE or HF_HUB_OFFLINE is set)", "Cannot add a model")
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
    note = (f"Added `{repo_id}` at commit {pulled.commit_id[:12]} ({kind}, {export.download_bytes / 1e6:.1f} MB); "
            f"a later push to the repo does not change it. It is in the "
            f"{'Sample cats' if kind == 'dcgan' else 'Translate'} "
            "menu for everyone using this app until it restarts.")
    return note


def model_menu_update(kind: str) -> dict:
    return gr.update(choices=choices_of(available(kind)))


def direction_menu_update() -> dict:
    return gr.update(choices=[choice.label for choice in registry.translation_choices()])


def show_progress(run: str, iteration: float) -> tuple[str, Image.Image, pd.DataFrame, dict,
                                                      list[tuple[Image.Image, str]]]:
    record = run_progress(run)
    frame, _ = record.frame_at(iteration)  # the frame shows its iteration in its corner
    variants = []
    for resolved in comparable_runs(run):
        variant, _ = progress_or_reason(resolved)
        if variant:
            variant_frame, variant_step = variant.frame_at(iteration)
            variants.append((variant_frame, f"{resolved.label} (iteration {variant_step})"))
    plot = pd.DataFrame(progress.loss_table(record.losses))
    return str(record.gif_path), frame, plot, record.settings, variants


def plot_colours(run: str) -> gr.LinePlot:
    """The loss plot's colour map for `run`'s terms, sent after its data. gradio 6.31's plot builds its
    colour scale (legend included) from the data it holds only when a setting such as the colour map
    changes; new data alone is drawn on the old scale, so another run's terms had no stroke and the
    legend kept the first run's terms."""
    terms = dict.fromkeys(term for term in run_progress(run).losses if term != "step")  # in order, once each
    return gr.LinePlot(color_map=dict(zip(terms, itertools.cycle(PLOT_COLOURS))))


def comparable_runs(run: str) -> list[catalog.RegisteredModel]:
    """The runs shown beside `run` at the same iteration: every DCGAN (the same latents, other
    augmentations), or the CycleGANs between the same two domains (the same inputs, with and without
    the cycle loss)."""
    chosen = next((resolved for resolved in available(with_progress=True) if resolved.name == run), None)
    if chosen is None:  # a local run: nothing to compare it with
        return []
    return [resolved for resolved in available(chosen.kind, with_progress=True)
            if chosen.kind == "dcgan" or resolved.domains == chosen.domains]


def run_downloads(run: str) -> tuple[gr.DownloadButton, gr.DownloadButton]:
    """The run's progress.gif and losses.csv as download buttons (hidden when the file is missing)."""
    folder = next((resolved.progress_folder for resolved in available(with_progress=True) if resolved.name == run),
                  None)
    files = [folder / name if folder and (folder / name).is_file() else None for name in ("progress.gif", "losses.csv")]
    return tuple(gr.DownloadButton(value=path and str(path), visible=path is not None) for path in files)


def iteration_slider(run: str | None, maximum: int | None = None) -> CheckedSlider:
    """The iteration slider fitted to `run`'s frames, set to its last one. Built with `maximum`, the
    largest iteration of any run, because API calls are checked against the slider as first built."""
    steps = run_progress(run).steps if run else (0, 1)
    spacing = max(1, steps[1] - steps[0]) if len(steps) > 1 else 1
    return CheckedSlider(minimum=0 if maximum else steps[0], maximum=maximum or steps[-1], step=spacing,
                         value=steps[-1], label="iteration", elem_id="iteration")


def progress_note(runs: list[tuple[catalog.RegisteredModel, progress.RunProgress | None, str]]) -> str:
    """What the Training progress tab cannot show, run by run, and why."""
    lines = [f"- `{resolved.name}`: progress unavailable ({reason})" for resolved, _, reason in runs if reason]
    lines += [f"- `{resolved.name}`: {problem}" for resolved, record, _ in runs if record
              for problem in record.problems]
    return "\n".join(lines)


# -- small helpers ---------------------------------------------------------------------------------


def run_progress(run: str) -> progress.RunProgress:
    if run.startswith(local_runs.RUN_PREFIX):
        record = local_runs.run_progress(runs_root / run.removeprefix(local_runs.RUN_PREFIX)) if runs_root else None
        if record is None:
            raise gr.Error(f"{run} has written no sample yet; it shows up after its first one.")
        return record
    for resolved in available(with_progress=True):
        if resolved.name == run:
            record, reason = progress_or_reason(resolved)
            if record:
                return record
            raise refusal(f"No training progress for {run}: {reason}", "Progress unavailable")
    raise refusal(f"No training progress for {run}.", "Progress unavailable")


def progress_or_reason(resolved: catalog.RegisteredModel) -> tuple[progress.RunProgress | None, str]:
    """A model's training progress, or None and why it cannot be shown (a broken progress.gif)."""
    try:
        return progress.load_run(resolved.progress_folder), ""
    except progress.ProgressError as error:
        return None, str(error)


def sync_runs() -> list[str]:
    """Offer the latest export of every local run as run:<name> (re-registered when a checkpoint
    rewrites it); the names of the runs, those without an export yet included."""
    names = local_runs.run_names(runs_root)
    for name in names:
        folder = runs_root / name
        kind = local_runs.export_kind(folder)
        if kind is None:
            continue
        try:
            model = local_runs.load_export(folder)
        except inference.ModelLoadError:  # caught mid-checkpoint: keep what was offered before
            continue
        registry.add(local_runs.RUN_PREFIX + name, kind, model, f"local run: {folder}",
                     label=f"{local_runs.RUN_PREFIX}{name}")
    return names


def run_choices() -> list[tuple[str, str]]:
    """The progress tab's runs: the bundled models (one whose progress cannot be read stays in the menu,
    named unavailable: choosing it says why), then the local runs by folder name."""
    bundled = [(f"{resolved.name} ({resolved.label})" if progress_or_reason(resolved)[0]
                else f"{resolved.name} (progress unavailable)", resolved.name)
               for resolved in available(with_progress=True)]
    return bundled + [(f"{name} (local run)", local_runs.RUN_PREFIX + name) for name in sync_runs()]


def refresh_run_list(run: str | None) -> tuple[dict, dict, dict, str]:
    """New run folders in the list; new run exports and added models in the model menus and the
    table of where the models come from."""
    return (gr.update(choices=run_choices(), value=run), model_menu_update("dcgan"), direction_menu_update(),
            models_markdown())


def watch_run(run: str | None) -> gr.Timer:
    """Poll only a local run that is still being written."""
    return gr.Timer(active=bool(run) and run.startswith(local_runs.RUN_PREFIX) and run_is_changing(run))


def run_is_changing(run: str) -> bool:
    folder = runs_root / run.removeprefix(local_runs.RUN_PREFIX) if runs_root else None
    if folder is None:
        return False
    latest = max(local_runs.modified(folder / name) for name in ("progress.gif", "losses.csv", "config.json"))
    return time.time() - latest / 1e9 < RUN_QUIET_SECONDS


def follow_run(run: str) -> tuple:
    """A timer tick: the slider fitted to the run's frames so far and the newest frame, losses and
    settings; the timer stops once the run has been quiet for RUN_QUIET_SECONDS."""
    try:
        steps = run_progress(run).steps
    except gr.Error:  # no sample written yet
        return (gr.update(),) * 6 + (watch_run(run),)
    slider = gr.update(maximum=steps[-1], value=steps[-1])
    return (slider, *show_progress(run, steps[-1]), watch_run(run))


def available(kind: str | None = None, with_progress: bool = False) -> list[catalog.RegisteredModel]:
    """The models of `kind` that load (and that have a progress GIF, if asked), in registry order."""
    return [resolved for resolved in registry.models(kind)
            if not with_progress or (resolved.progress_folder and progress.has_progress(resolved.progress_folder))]


def models_markdown() -> str:
    lines = ["| model | what | source |", "| --- | --- | --- |"]
    for resolved in registry.models(available=False):
        lines.append(f"| `{resolved.name}` | {resolved.kind}: {resolved.label} | {resolved.source} |")
    return "\n".join(lines)


@functools.cache
def gif_folder() -> Path:
    """This process's folder for interpolation GIFs: made by mkdtemp (a fresh random name, mode 0700)
    and removed at exit. A fixed, shared path under /tmp could be a symbolic link planted by another
    user of the machine, or hold files planted under the names it writes."""
    folder = Path(tempfile.mkdtemp(prefix="gan-demo-gifs-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def hub_cache() -> str:
    from huggingface_hub import constants  # the HF cache, where models added by repo id are downloaded

    return constants.HF_HUB_CACHE


def gif_file(data: bytes) -> str:
    """GIF bytes as a file gradio can serve (gr.Image keeps a GIF path animated), created exclusively
    (O_EXCL: never through an existing file or link); GIFs older than an hour are deleted, gradio has
    its own copy by then."""
    folder = gif_folder()
    cutoff = time.time() - GIF_MAX_AGE_SECONDS
    for old in folder.glob("*.gif"):
        with contextlib.suppress(OSError):  # another request may be deleting it too
            if old.stat().st_mtime < cutoff:
                old.unlink()
    descriptor, path = tempfile.mkstemp(suffix=".gif", dir=folder)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    return path


def translation_examples() -> list[list[str]]:
    """[image, direction] pairs listed in examples/examples.json (made by `python -m gan_demo.examples`)."""
    manifest = EXAMPLES / "examples.json"
    if not manifest.is_file():
        return []
    labels = {choice.label for choice in registry.translation_choices(available=False)}
    return [[str(EXAMPLES / item["file"]), item["direction"]] for item in json.loads(manifest.read_text())
            if (EXAMPLES / item["file"]).is_file() and item["direction"] in labels]


def choices_of(entries: list[catalog.RegisteredModel]) -> list[tuple[str, str]]:
    return [(entry.label, entry.name) for entry in entries]


# -- layout ----------------------------------------------------------------------------------------


def build_demo(runs_folder: "str | Path | None" = None) -> gr.Blocks:
    """The whole app, queue included, on a registry of the models built now, with the local runs under
    `runs_folder` (else $GAN_DEMO_RUNS); `launch()` serves it."""
    global registry, runs_root
    registry = catalog.build_registry()
    runs_root = local_runs.runs_folder(runs_folder)
    # With no model of a kind at all, list them all anyway: choosing one then says why it is unavailable.
    dcgans = available("dcgan") or registry.models("dcgan", available=False)
    default_dcgan = catalog.DEFAULT_DCGAN if catalog.DEFAULT_DCGAN in [e.name for e in dcgans] else dcgans[0].name
    progress_runs = [(resolved, *progress_or_reason(resolved)) for resolved in available(with_progress=True)]
    runs = [(resolved, record) for resolved, record, _ in progress_runs if record]
    run_menu = run_choices()
    loaded = set(registry.names("cyclegan"))
    directions = [choice.label for choice in registry.translation_choices(available=False)
                  if choice.model_name in loaded or not loaded]

    with gr.Blocks(title="gan-demo: cats and CycleGANs", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# gan-demo\nSample cats from a DCGAN, translate images with CycleGAN, and watch the models learn.")

        with gr.Tab("Sample cats"):
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    variant = gr.Dropdown(choices_of(dcgans), value=default_dcgan, elem_id="variant",
                                          allow_custom_value=True,
                                          label="DCGAN variant (training augmentation)")
                    with gr.Row():
                        seed = CheckedNumber(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="seed", scale=3,
                                             info="Enter to apply", elem_id="seed")
                        dice = gr.Button("Random seed", scale=1, min_width=80, elem_id="dice")
                    truncation = CheckedSlider(0.0, 1.0, value=1.0, step=0.05, label="truncation",
                                               info="lower: more typical cats, less variety")
                    count = CheckedSlider(1, MAX_SAMPLES, value=MAX_SAMPLES, step=1, label="number of samples")
                    with gr.Accordion("Latent directions", open=True):
                        gr.Markdown(DIRECTIONS_EXPLANATION)
                        sliders = [CheckedSlider(-3, 3, value=0, step=0.1, label=f"direction {index + 1}",
                                                 elem_id=f"direction-{index + 1}")
                                   for index in range(DIRECTION_SLIDERS)]
                        reset = gr.Button("Reset directions", size="sm")
                with gr.Column(scale=2, min_width=300, elem_id="sample-grid-column"):
                    grid = gr.Image(label="samples", format="png", interactive=False, elem_id="samples",
                                    elem_classes=["pixelated"], height=560)
                    sample_note = gr.Markdown(elem_id="sample-note")
            gr.Markdown(SAMPLE_EXPLANATION)  # below, so that on a phone the grid is on the first screen
            with gr.Accordion("Your cat: project a photo into the latent space, then edit it", open=False,
                              elem_id="your-cat"):
                with gr.Row():
                    photo = CheckedImage(label="your photo", type="pil", elem_id="project-input", height=260,
                                         sources=["upload", "clipboard", "webcam"])
                    with gr.Column():
                        square = gr.Slider(5, 100, value=100, step=1, label="square (% of the short side)",
                                           elem_id="crop-square")
                        across = gr.Slider(0, 100, value=50, step=1, label="left to right (%)", elem_id="crop-across")
                        down = gr.Slider(0, 100, value=50, step=1, label="top to bottom (%)", elem_id="crop-down")
                        project_button = gr.Button("Project into the latent space", variant="primary",
                                                   elem_id="project")
                    seen_square = gr.Image(label="what the model saw", format="png", interactive=False, height=260,
                                           elem_classes=["pixelated"], elem_id="project-square")
                    reconstruction = gr.Image(label="reconstruction", format="png", interactive=False, height=260,
                                              elem_classes=["pixelated"], elem_id="project-reconstruction")
                with gr.Row():
                    latent = gr.Textbox("", label="latent (a JSON list; empty: the seeds above)", lines=1, max_lines=3,
                                        elem_id="latent", scale=4)
                    clear_latent = gr.Button("Back to seeds", size="sm", scale=1)
                project_note = gr.Markdown(elem_id="project-note")
            with gr.Accordion("Compare variants: the same seeds and sliders through every DCGAN", open=False):
                compare_button = gr.Button("Compare variants")
                comparison = gr.Gallery(label="variants", columns=4, fit_columns=False, format="png",
                                        elem_classes=["pixelated"], elem_id="comparison")
            with gr.Accordion("Interpolate between two seeds (spherical)", open=True):
                with gr.Row():
                    seed_end = CheckedNumber(value=1, precision=0, minimum=0, maximum=MAX_SEED, label="to seed")
                    frames = CheckedSlider(4, 48, value=24, step=1, label="frames")
                    interpolate_button = gr.Button("Make GIF")
                animation = gr.Image(label="interpolation from the seed above", elem_classes=["pixelated"],
                                     interactive=False, height=256, elem_id="interpolation")

        with gr.Tab("Translate"):
            gr.Markdown(TRANSLATE_EXPLANATION)
            with gr.Row():  # one above the other on a phone, so the direction's name is not cut off
                with gr.Column(min_width=300):
                    direction = gr.Dropdown(directions, value=directions[0] if directions else None,
                                            label="direction", elem_id="direction", allow_custom_value=True)
                with gr.Column(min_width=300):
                    resolution = gr.Radio([MODEL_SIZE, FULL_IMAGE], value=MODEL_SIZE, label="resolution",
                                          info="model size: centre square at the training size; full image: "
                                               "the whole picture, long side up to 512 px")
            with gr.Row():  # wraps to one column on a phone: the input, then the results
                source_image = CheckedImage(label="your image", type="pil", elem_id="translate-input", height=300,
                                            sources=["upload", "clipboard", "webcam"], min_width=260)
                translated = gr.Image(label="translation", format="png", interactive=False, height=300,
                                      elem_id="translation", elem_classes=["pixelated"], min_width=260)
                cycled = gr.Image(label="cycle reconstruction", format="png", interactive=False, height=300,
                                  elem_id="reconstruction", elem_classes=["pixelated"], min_width=260)
            translate_note = gr.Markdown(elem_id="translate-note")
            with gr.Accordion("The input as the model saw it", open=False):
                seen = gr.Image(show_label=False, format="png", interactive=False, height=200,
                                elem_id="translate-seen", elem_classes=["pixelated"])
            examples = translation_examples()
            if examples:
                example_table = gr.Examples(examples, [source_image, direction], api_visibility="private",
                                            label="Examples (made by this project's own models)",
                                            elem_id="translate-examples")

        with gr.Tab("Training progress", elem_id="progress-tab"):
            gr.Markdown(PROGRESS_EXPLANATION)
            with gr.Row():
                with gr.Column(min_width=300):
                    with gr.Row():
                        run = gr.Dropdown(run_menu, value=run_menu[0][1] if run_menu else None, label="run",
                                          allow_custom_value=True, elem_id="run")
                        refresh_runs = gr.Button("Refresh runs", size="sm", scale=0, elem_id="refresh-runs")
                with gr.Column(min_width=300):
                    # Built with the largest iteration a run may reach: API calls are checked against it,
                    # and a local run keeps growing; the page fits the slider to the shown run on load.
                    iteration = iteration_slider(runs[0][0].name if runs else None, MAX_ITERATION)
            gr.Markdown(progress_note(progress_runs), elem_id="progress-note")
            with gr.Row():
                # Titles above the pictures, not over them: a label box would hide the "iter N" stamp.
                with gr.Column(min_width=300):
                    gr.Markdown("**Progress GIF** (fixed latents / inputs)")
                    gif = gr.Image(show_label=False, interactive=False, elem_id="progress-gif")
                with gr.Column(min_width=300):
                    gr.Markdown("**Frame at the iteration**")
                    frame = gr.Image(show_label=False, format="png", interactive=False, elem_id="progress-frame")
            losses = gr.LinePlot(x="iteration", y="loss", color="term", label="losses (moving average)",
                                 elem_id="losses")
            with gr.Row():
                gif_download = gr.DownloadButton("Download the GIF", size="sm", elem_id="download-gif")
                csv_download = gr.DownloadButton("Download the losses (CSV)", size="sm", elem_id="download-csv")
            gr.Markdown("**Variants at this iteration**: every DCGAN (the same latents), or the CycleGANs between "
                        "the same domains (the same inputs, with and without the cycle loss)")
            variants = gr.Gallery(show_label=False, columns=4, fit_columns=False, format="png", elem_id="variants")
            with gr.Accordion("Training settings", open=False):
                settings = gr.JSON(label="training settings")
            run_timer = gr.Timer(RUN_REFRESH_SECONDS, active=False)

        with gr.Accordion("Where the models come from", open=False, elem_id="models"):
            model_sources = gr.Markdown(models_markdown(), elem_id="model-sources")
            gr.Markdown("Hub at a pinned revision when configured and reachable (not with `GAN_DEMO_OFFLINE=1` or "
                        "`HF_HUB_OFFLINE=1`), else the bundled `checkpoints/`.")
            with gr.Row():
                repo_id = gr.Textbox(label="add a published gan-demo model: Hub repo id", placeholder="user/my-dcgan",
                                     elem_id="add-repo", scale=3)
                revision = gr.Textbox(label="revision (branch, tag or commit; empty: main)", elem_id="add-revision",
                                      scale=2)
                add_button = gr.Button("Add model", scale=1, elem_id="add-model")
            add_note = gr.Markdown(elem_id="add-note")

        # -- wiring: only /sample, /interpolate, /translate, /progress, /project and /add_model are public --
        # /sample and /translate are API-only events (no trigger), whose refusals are errors; the page
        # runs the same handlers through `on_page`, which keeps a refusal's reason in the note.
        sample_inputs, sample_outputs = [variant, seed, truncation, count, *sliders, latent], [grid, sample_note]
        gr.on([], sample_cats, sample_inputs, sample_outputs, api_name="sample")
        # A refused value keeps the grid as it was.
        page_sample = dict(fn=on_page(sample_cats, sample_inputs, lambda note: (gr.skip(), note)),
                           inputs=sample_inputs, outputs=sample_outputs, preprocess=False, api_visibility="private",
                           trigger_mode="always_last", show_progress="minimal")
        # Sliders apply while they move (drag, arrow keys, their number box); the seed on Enter or on leaving it.
        gr.on([demo.load, variant.input, seed.submit, seed.blur, truncation.input, count.input, latent.change,
               *[slider.input for slider in sliders]], **page_sample)
        dice.click(None, None, seed, js=f"() => Math.floor(Math.random() * {MAX_SEED})").then(**page_sample)
        reset.click(lambda: [0] * DIRECTION_SLIDERS, None, sliders, api_visibility="private").then(**page_sample)
        compare_button.click(compare_variants, [seed, truncation, count, *sliders], comparison,
                             api_visibility="private")
        interpolate_button.click(interpolate, [variant, seed, seed_end, frames, truncation, latent], animation,
                                 api_name="interpolate")
        project_button.click(project_photo, [photo, variant, square, across, down],
                             [seen_square, reconstruction, latent, project_note], api_name="project")
        gr.on([photo.change, square.release, across.release, down.release], crop_preview,
              [photo, variant, square, across, down], seen_square, api_visibility="private", trigger_mode="always_last")
        clear_latent.click(lambda: "", None, latent, api_visibility="private")
        add_button.click(add_model, [repo_id, revision], add_note, api_name="add_model").then(
            refresh_run_list, run, [run, variant, direction, model_sources], api_visibility="private")
        refresh_runs.click(refresh_run_list, run, [run, variant, direction, model_sources],
                           api_visibility="private")
        run.change(watch_run, run, run_timer, api_visibility="private")

        translate_inputs = [source_image, direction, resolution]
        gr.on([], translate, translate_inputs, [seen, translated, cycled, translate_note], api_name="translate")
        # A refused image leaves the input and the results empty, and its reason in the note.
        page_translate = dict(fn=on_page(lambda *values: (gr.skip(), *translate(*values)), translate_inputs,
                                         lambda note: (None, None, None, None, note)),
                              inputs=translate_inputs, outputs=[source_image, seen, translated, cycled, translate_note],
                              preprocess=False, api_visibility="private", trigger_mode="always_last")
        gr.on([source_image.input, direction.input, resolution.input], **page_translate)
        if examples:
            example_table.load_input_event.then(**page_translate)

        progress_outputs = [gif, frame, losses, settings, variants]
        gr.on([iteration.input], show_progress, [run, iteration], progress_outputs, api_name="progress",
              trigger_mode="always_last", show_progress="minimal")
        run_timer.tick(follow_run, run, [iteration, *progress_outputs, run_timer], api_visibility="private")
        if runs:  # with no bundled run there is nothing to show on load
            gr.on([run.change, demo.load], iteration_slider, run, iteration, api_visibility="private").then(
                show_progress, [run, iteration], progress_outputs, api_visibility="private").then(
                plot_colours, run, losses, api_visibility="private").then(
                run_downloads, run, [gif_download, csv_download], api_visibility="private")

    demo.queue(max_size=32, default_concurrency_limit=2)
    return demo


def launch(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python app.py", description="Serve the gan-demo app.")
    parser.add_argument("--runs", help=f"a folder of training runs to show live (default: ${local_runs.RUNS_VARIABLE})")
    parser.add_argument("--precision", choices=runtime.DRAWING_PRECISIONS, default="auto",
                        help="what the models draw in: auto is bf16 where the CPU has native bfloat16 (AMX), "
                             "several times faster, pixels within a few of 255 levels of fp32's")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("gan_demo").setLevel(logging.INFO)
    runtime.configure(threads=runtime.serving_threads())  # one per request unless OMP_NUM_THREADS; denormals
    precision = runtime.set_drawing_precision(args.precision)
    logging.getLogger("gan_demo").info("the models draw in %s (--precision %s)", precision, args.precision)
    write_output_images_atomically()
    demo = build_demo(args.runs)
    # Host and port: gradio reads GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (default 127.0.0.1:7860).
    # Progress GIFs, bundled or from the Hub cache:
    served = [str(resolved.progress_folder) for resolved in available() if resolved.progress_folder]
    if runs_root:  # a local run's GIF, which grows while the app runs
        served.append(str(runs_root))
    served.append(hub_cache())  # the progress GIFs of models added by repo id
    demo.launch(max_file_size=inference.MAX_UPLOAD_BYTES, css=CSS, allowed_paths=[*served, str(EXAMPLES)])


if __name__ == "__main__":
    launch()
