"""gan-demo's Gradio app: sample cats from the DCGAN variants with latent-direction sliders, translate
images with the CycleGANs, and watch how every bundled model learned. This file is the UI only
(layout and wiring); the models, the catalog of where they come from and every computation live in
`gan_demo`. Public API endpoints: /sample, /interpolate, /translate, /progress.

    python app.py   # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT change it)
"""

import atexit
import contextlib
import functools
import html
import itertools
import json
import logging
import math
import os
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

from gan_demo import catalog, inference, progress, runtime
from gan_demo.imaging import ImageError

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "examples"
DIRECTION_SLIDERS = 6
MAX_SAMPLES = 16
MAX_SEED = 2**31 - 1
MODEL_SIZE, FULL_IMAGE = "model size", "full image"
GIF_MAX_AGE_SECONDS = 3600
PLOT_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
CSS = """
/* 64 px samples are drawn as large as their box allows, crisp rather than blurred. */
.pixelated img { image-rendering: pixelated; object-fit: contain; width: 100%; height: 100%; }
/* Phones: the sample grid above its controls, so a slider moves a picture in view; two variants a row. */
@media (max-width: 767px) {
  #sample-grid-column { order: -1; }
  #samples { height: 45vh !important; }
  #variants .grid-container, #comparison .grid-container { grid-template-columns: repeat(2, 1fr) !important; }
}
"""


SAMPLE_EXPLANATION = (
    "A DCGAN turns a *latent vector* z (100 numbers drawn from a seed) into a 64 px cat; the same seed always "
    "gives the same cat, and each cat's seed is written under it. The four variants were trained on the same "
    "175 photos of Grumpy cat with different augmentation: *basic* (the photos as they are), *deluxe* "
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
    gradio 6.31 rewrites an output image's cache file (named by its content) in place on every request, so
    two requests with the same output (two visitors on the default seed, one example translated twice)
    truncate the file while the first one is being downloaded, which then arrives empty (the load benchmark
    saw 8 of 400 calls fail so)."""
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


processing_utils.save_pil_to_cache = save_pil_to_cache_atomically  # every component looks it up there


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


def load(name: str) -> catalog.ResolvedModel:
    try:
        return catalog.resolve(catalog.entry_named(name))
    except (KeyError, inference.ModelLoadError) as error:
        raise refusal(f"Model {name} is not available: {error}", "Model unavailable") from None


def source_note(resolved: catalog.ResolvedModel) -> str:
    return f"Model `{resolved.entry.name}` ({resolved.source})"


def seeds_from(seed: float | None, count: float) -> range:
    """`count` consecutive seeds from `seed` (an emptied seed box counts as 0)."""
    return range(int(seed or 0), int(seed or 0) + int(count))


def sample_cats(variant: str, seed: float | None, truncation: float, count: float,
                *direction_weights: float) -> tuple[Image.Image, str]:
    resolved = load(variant)
    seeds = seeds_from(seed, count)
    grid = inference.sample_grid(resolved.model, seeds, truncation, direction_weights, seed_captions=True)
    return grid, f"Seeds {seeds[0]} to {seeds[-1]}, each under its cat. {source_note(resolved)}"


def compare_variants(seed: float | None, truncation: float, count: float,
                     *direction_weights: float) -> list[tuple[Image.Image, str]]:
    grids = inference.compare_variants({item.entry.label: item.model for item in available("dcgan")},
                                       seeds_from(seed, count), truncation, direction_weights, seed_captions=True)
    return [(grid, label) for label, grid in grids.items()]


def interpolate(variant: str, seed_start: float | None, seed_end: float | None, frames: float,
                truncation: float) -> str:
    resolved = load(variant)
    data = inference.interpolation_gif(resolved.model, int(seed_start or 0), int(seed_end or 0), int(frames),
                                       truncation)
    return gif_file(data)


def translate(image: Image.Image | None, direction: str,
              resolution: str) -> tuple[Image.Image | None, Image.Image | None, Image.Image | None, str]:
    if image is None:
        return None, None, None, "Upload, paste or take a picture to translate it."
    choice = next((item for item in catalog.translation_choices() if item.label == direction), None)
    if choice is None:
        raise gr.Error(f"Unknown direction {direction!r}.")
    resolved = load(choice.model_name)
    try:
        result = inference.translate(resolved.model, image, choice.direction, full_size=resolution == FULL_IMAGE)
    except ImageError as error:
        raise refusal(error, "Cannot translate this image") from None
    note = f"{direction} at {result.input.width}x{result.input.height} px. {source_note(resolved)}"
    return result.input, result.translation, result.reconstruction, note


def show_progress(run: str, iteration: float) -> tuple[str, Image.Image, pd.DataFrame, dict,
                                                      list[tuple[Image.Image, str]]]:
    record = run_progress(run)
    frame, _ = record.frame_at(iteration)  # the frame shows its iteration in its corner
    variants = []
    for resolved in comparable_runs(run):
        variant, _ = progress_or_reason(resolved)
        if variant:
            variant_frame, variant_step = variant.frame_at(iteration)
            variants.append((variant_frame, f"{resolved.entry.label} (iteration {variant_step})"))
    plot = pd.DataFrame(progress.loss_table(record.losses))
    return str(record.gif_path), frame, plot, record.settings, variants


def plot_colours(run: str) -> gr.LinePlot:
    """The loss plot's colour map for `run`'s terms, sent after its data. gradio 6.31's plot builds its
    colour scale (legend included) from the data it holds only when a setting such as the colour map
    changes; new data alone is drawn on the old scale, so another run's terms had no stroke and the
    legend kept the first run's terms."""
    terms = dict.fromkeys(term for term in run_progress(run).losses if term != "step")  # in order, once each
    return gr.LinePlot(color_map=dict(zip(terms, itertools.cycle(PLOT_COLOURS))))


def comparable_runs(run: str) -> list[catalog.ResolvedModel]:
    """The runs shown beside `run` at the same iteration: every DCGAN (the same latents, other
    augmentations), or the CycleGANs between the same two domains (the same inputs, with and without
    the cycle loss)."""
    chosen = next(resolved.entry for resolved in available(with_progress=True) if resolved.entry.name == run)
    return [resolved for resolved in available(chosen.kind, with_progress=True)
            if chosen.kind == "dcgan" or resolved.entry.domains == chosen.domains]


def run_downloads(run: str) -> tuple[gr.DownloadButton, gr.DownloadButton]:
    """The run's progress.gif and losses.csv as download buttons (hidden when the file is missing)."""
    folder = next((resolved.folder for resolved in available(with_progress=True) if resolved.entry.name == run), None)
    files = [folder / name if folder and (folder / name).is_file() else None for name in ("progress.gif", "losses.csv")]
    return tuple(gr.DownloadButton(value=path and str(path), visible=path is not None) for path in files)


def iteration_slider(run: str | None, maximum: int | None = None) -> CheckedSlider:
    """The iteration slider fitted to `run`'s frames, set to its last one. Built with `maximum`, the
    largest iteration of any run, because API calls are checked against the slider as first built."""
    steps = run_progress(run).steps if run else (0, 1)
    spacing = max(1, steps[1] - steps[0]) if len(steps) > 1 else 1
    return CheckedSlider(minimum=0 if maximum else steps[0], maximum=maximum or steps[-1], step=spacing,
                         value=steps[-1], label="iteration", elem_id="iteration")


def progress_note(runs: list[tuple[catalog.ResolvedModel, progress.RunProgress | None, str]]) -> str:
    """What the Training progress tab cannot show, run by run, and why."""
    lines = [f"- `{resolved.entry.name}`: progress unavailable ({reason})" for resolved, _, reason in runs if reason]
    lines += [f"- `{resolved.entry.name}`: {problem}" for resolved, record, _ in runs if record
              for problem in record.problems]
    return "\n".join(lines)


# -- small helpers ---------------------------------------------------------------------------------


def run_progress(run: str) -> progress.RunProgress:
    for resolved in available(with_progress=True):
        if resolved.entry.name == run:
            record, reason = progress_or_reason(resolved)
            if record:
                return record
            raise refusal(f"No training progress for {run}: {reason}", "Progress unavailable")
    raise refusal(f"No training progress for {run}.", "Progress unavailable")


def progress_or_reason(resolved: catalog.ResolvedModel) -> tuple[progress.RunProgress | None, str]:
    """A model's training progress, or None and why it cannot be shown (a broken progress.gif)."""
    try:
        return progress.load_run(resolved.folder), ""
    except progress.ProgressError as error:
        return None, str(error)


def available(kind: str | None = None, with_progress: bool = False) -> list[catalog.ResolvedModel]:
    """The models of `kind` that load (and that have a progress GIF, if asked), in catalog order."""
    return [resolved for _, resolved, _ in model_table()
            if resolved and (kind is None or resolved.entry.kind == kind)
            and (not with_progress or progress.has_progress(resolved.folder))]


@functools.cache
def model_table() -> tuple[tuple[catalog.CatalogEntry, catalog.ResolvedModel | None, str], ...]:
    """Every catalog entry, loaded or with the reason it is unavailable; resolved once per process."""
    return tuple(catalog.availability())


def models_markdown() -> str:
    lines = ["| model | what | source |", "| --- | --- | --- |"]
    for entry, resolved, reason in model_table():
        source = resolved.source if resolved else f"unavailable: {reason}"
        lines.append(f"| `{entry.name}` | {entry.kind}: {entry.label} | {source} |")
    return "\n".join(lines)


@functools.cache
def gif_folder() -> Path:
    """This process's folder for interpolation GIFs: made by mkdtemp (a fresh random name, mode 0700)
    and removed at exit. A fixed, shared path under /tmp could be a symbolic link planted by another
    user of the machine, or hold files planted under the names it writes."""
    folder = Path(tempfile.mkdtemp(prefix="gan-demo-gifs-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


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
    labels = {choice.label for choice in catalog.translation_choices()}
    return [[str(EXAMPLES / item["file"]), item["direction"]] for item in json.loads(manifest.read_text())
            if (EXAMPLES / item["file"]).is_file() and item["direction"] in labels]


def choices_of(entries: list[catalog.CatalogEntry]) -> list[tuple[str, str]]:
    return [(entry.label, entry.name) for entry in entries]


# -- layout ----------------------------------------------------------------------------------------


def build_demo() -> gr.Blocks:
    """The whole app, queue included; `launch()` serves it."""
    # With no model of a kind at all, list them all anyway: choosing one then says why it is unavailable.
    dcgans = [resolved.entry for resolved in available("dcgan")] or catalog.entries("dcgan")
    default_dcgan = catalog.DEFAULT_DCGAN if catalog.DEFAULT_DCGAN in [e.name for e in dcgans] else dcgans[0].name
    progress_runs = [(resolved, *progress_or_reason(resolved)) for resolved in available(with_progress=True)]
    runs = [(resolved.entry, record) for resolved, record, _ in progress_runs if record]
    # A run whose GIF is broken stays in the menu, named unavailable: choosing it says why.
    run_choices = [(f"{entry.name} ({entry.label})", entry.name) for entry, _ in runs] + [
        (f"{resolved.entry.name} (progress unavailable)", resolved.entry.name)
        for resolved, record, _ in progress_runs if not record]
    loaded = {resolved.entry.name for resolved in available("cyclegan")}
    directions = [choice.label for choice in catalog.translation_choices() if choice.model_name in loaded or not loaded]

    with gr.Blocks(title="gan-demo: cats and CycleGANs", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# gan-demo\nSample cats from a DCGAN, translate images with CycleGAN, and watch the models learn.")

        with gr.Tab("Sample cats"):
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    variant = gr.Dropdown(choices_of(dcgans), value=default_dcgan, elem_id="variant",
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
                                            label="direction", elem_id="direction")
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
                    run = gr.Dropdown(run_choices, value=runs[0][0].name if runs else None, label="run", elem_id="run")
                with gr.Column(min_width=300):
                    last_steps = [record.steps[-1] for _, record in runs]
                    iteration = iteration_slider(runs[0][0].name if runs else None, max(last_steps, default=1))
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

        with gr.Accordion("Where the models come from", open=False):
            gr.Markdown(models_markdown() + "\n\nHub at a pinned revision when configured and reachable "
                        "(not with `GAN_DEMO_OFFLINE=1` or `HF_HUB_OFFLINE=1`), else the bundled `checkpoints/`.")

        # -- wiring: only /sample, /interpolate, /translate and /progress are public --------------------
        # /sample and /translate are API-only events (no trigger), whose refusals are errors; the page
        # runs the same handlers through `on_page`, which keeps a refusal's reason in the note.
        sample_inputs, sample_outputs = [variant, seed, truncation, count, *sliders], [grid, sample_note]
        gr.on([], sample_cats, sample_inputs, sample_outputs, api_name="sample")
        # A refused value keeps the grid as it was.
        page_sample = dict(fn=on_page(sample_cats, sample_inputs, lambda note: (gr.skip(), note)),
                           inputs=sample_inputs, outputs=sample_outputs, preprocess=False, api_visibility="private",
                           trigger_mode="always_last", show_progress="minimal")
        # Sliders apply while they move (drag, arrow keys, their number box); the seed on Enter or on leaving it.
        gr.on([demo.load, variant.input, seed.submit, seed.blur, truncation.input, count.input,
               *[slider.input for slider in sliders]], **page_sample)
        dice.click(None, None, seed, js=f"() => Math.floor(Math.random() * {MAX_SEED})").then(**page_sample)
        reset.click(lambda: [0] * DIRECTION_SLIDERS, None, sliders, api_visibility="private").then(**page_sample)
        compare_button.click(compare_variants, [seed, truncation, count, *sliders], comparison,
                             api_visibility="private")
        interpolate_button.click(interpolate, [variant, seed, seed_end, frames, truncation], animation,
                                 api_name="interpolate")

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
        if runs:  # with no bundled run there is nothing to show on load
            gr.on([run.change, demo.load], iteration_slider, run, iteration, api_visibility="private").then(
                show_progress, [run, iteration], progress_outputs, api_visibility="private").then(
                plot_colours, run, losses, api_visibility="private").then(
                run_downloads, run, [gif_download, csv_download], api_visibility="private")

    demo.queue(max_size=32, default_concurrency_limit=2)
    return demo


def launch() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("gan_demo").setLevel(logging.INFO)
    runtime.configure()  # threads, denormals (gan_demo/runtime.py)
    demo = build_demo()
    # Host and port: gradio reads GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (default 127.0.0.1:7860).
    served = [str(resolved.folder) for resolved in available()]  # progress GIFs, bundled or from the Hub cache
    demo.launch(max_file_size=inference.MAX_UPLOAD_BYTES, css=CSS, allowed_paths=[*served, str(EXAMPLES)])


if __name__ == "__main__":
    launch()
