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
import contextlib
import hashlib
import html
import json
import logging
import tempfile
import time
from pathlib import Path

import gradio as gr
import pandas as pd
from gradio import processing_utils
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
GIF_FOLDER = Path(tempfile.gettempdir()) / "gan-demo-gifs"
GIF_MAX_AGE_SECONDS = 3600
# Models added by repo id are shared by every visitor of this process (a Space is one process: a copy
# per session would multiply the memory by the visitors), so their number is capped.
MAX_ADDED_MODELS = 4
RUN_REFRESH_SECONDS = 2.0
RUN_QUIET_SECONDS = 60  # a run unchanged this long has stopped: the progress tab stops polling it
# The gradio versions whose save_pil_to_cache rewrites a cached file in place (checked in 6.31.0).
GRADIO_IN_PLACE_CACHE_MAJOR = "6"
# 64 px samples are drawn as large as their box allows, crisp rather than blurred.
CSS = ".pixelated img { image-rendering: pixelated; object-fit: contain; width: 100%; height: 100%; }"


class CheckedImage(gr.Image):
    """gr.Image whose uploads are opened by gan_demo (EXIF, alpha, 16-bit, first frame) and refused
    with a message in the UI when over 20 MB or 25 megapixels, not an image, or corrupt; the stock
    component would decode them itself and fail without saying why."""

    is_template = True  # rendered by the stock Image frontend

    def preprocess(self, payload: ImageData | None) -> Image.Image | None:
        if payload is None or payload.path is None:
            return super().preprocess(payload)
        try:
            return inference.open_upload(payload.path)
        except ImageError as error:
            raise refusal(error, "Cannot use this image") from None


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


def sample_cats(variant: str, seed: float | None, truncation: float, count: float, direction_1: float = 0,
                direction_2: float = 0, direction_3: float = 0, direction_4: float = 0, direction_5: float = 0,
                direction_6: float = 0, latent_text: str | None = None) -> tuple[Image.Image, str]:
    # Spelled out, not *args: gradio gives an API parameter a default only from the signature, and
    # `latent` must stay optional for callers of /sample written before it existed.
    direction_weights = (direction_1, direction_2, direction_3, direction_4, direction_5, direction_6)
    resolved = load(variant)
    latent = latent_of(resolved, latent_text)
    if latent is not None:
        image = projection.edited(resolved.model, latent, truncation, direction_weights)
        return image, f"Your latent (the seed and number of samples wait until it is cleared). {source_note(resolved)}"
    seeds = seeds_from(seed, count)
    grid = inference.sample_grid(resolved.model, seeds, truncation, direction_weights)
    return grid, f"Seeds {seeds[0]} to {seeds[-1]}. {source_note(resolved)}"


def compare_variants(seed: float | None, truncation: float, count: float) -> list[tuple[Image.Image, str]]:
    grids = inference.compare_variants({item.label: item.model for item in available("dcgan")},
                                       seeds_from(seed, count), truncation)
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
                  down: float = 50, progress_bar=gr.Progress()) -> tuple[Image.Image | None, Image.Image | None, str, str]:
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
        raise refusal(f"this app holds {MAX_ADDED_MODELS} added models already, the most it keeps", "Cannot add a model")
    try:
        export, pulled = hub.add_published(repo_id, revision)
    except hub.HubError as error:
        raise refusal(error, "Cannot add this model") from None
    kind = "dcgan" if export.model_class is catalog.MODEL_CLASSES["dcgan"] else "cyclegan"
    registry.add(repo_id, kind, pulled.model, f"added: {repo_id} @ {pulled.commit_id[:12]}", pulled.folder)
    note = (f"Added `{repo_id}` at commit {pulled.commit_id[:12]} ({kind}, {export.download_bytes / 1e6:.1f} MB); "
            f"a later push to the repo does not change it. It is in the {'Sample cats' if kind == 'dcgan' else 'Translate'} "
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
    for resolved in available("dcgan", with_progress=True):
        variant_frame, variant_step = progress.load_run(resolved.progress_folder).frame_at(iteration)
        variants.append((variant_frame, f"{resolved.label} (iteration {variant_step})"))
    plot = pd.DataFrame(progress.loss_table(record.losses))
    return str(record.gif_path), frame, plot, record.settings, variants


def iteration_slider(run: str | None, maximum: int | None = None) -> gr.Slider:
    """The iteration slider fitted to `run`'s frames, set to its last one. Built with `maximum`, the
    largest iteration of any run, because API calls are checked against the slider as first built."""
    steps = run_progress(run).steps if run else (0, 1)
    spacing = steps[1] - steps[0] if len(steps) > 1 else 1
    return gr.Slider(minimum=0 if maximum else steps[0], maximum=maximum or steps[-1], step=spacing,
                     value=steps[-1], label="iteration", elem_id="iteration")


# -- small helpers ---------------------------------------------------------------------------------


def run_progress(run: str) -> progress.RunProgress:
    if run.startswith(local_runs.RUN_PREFIX):
        record = local_runs.run_progress(runs_root / run.removeprefix(local_runs.RUN_PREFIX)) if runs_root else None
        if record is None:
            raise gr.Error(f"{run} has written no sample yet; it shows up after its first one.")
        return record
    for resolved in available(with_progress=True):
        if resolved.name == run:
            return progress.load_run(resolved.progress_folder)
    raise gr.Error(f"No training progress for {run!r}.")


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
        registry.add(local_runs.RUN_PREFIX + name, kind, model, f"local run: {folder}", label=f"{local_runs.RUN_PREFIX}{name}")
    return names


def run_choices() -> list[tuple[str, str]]:
    """The progress tab's runs: the bundled models' records, then the local runs by folder name."""
    bundled = [(f"{entry.name} ({entry.label})", entry.name) for entry in available(with_progress=True)]
    return bundled + [(f"{name} (local run)", local_runs.RUN_PREFIX + name) for name in sync_runs()]


def refresh_run_list(run: str | None) -> tuple[dict, dict, dict]:
    """New run folders in the list, new run exports in the model menus."""
    return gr.update(choices=run_choices(), value=run), model_menu_update("dcgan"), direction_menu_update()


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


def hub_cache() -> str:
    from huggingface_hub import constants  # the HF cache, where models added by repo id are downloaded

    return constants.HF_HUB_CACHE


def gif_file(data: bytes) -> str:
    """GIF bytes as a file gradio can serve (gr.Image keeps a GIF path animated). Named by content, so
    the same GIF is written once; GIFs older than an hour are deleted, gradio has its own copy by then."""
    GIF_FOLDER.mkdir(exist_ok=True)
    cutoff = time.time() - GIF_MAX_AGE_SECONDS
    for old in GIF_FOLDER.glob("*.gif"):
        with contextlib.suppress(OSError):  # another request may be deleting it too
            if old.stat().st_mtime < cutoff:
                old.unlink()
    path = GIF_FOLDER / f"{hashlib.sha256(data).hexdigest()[:20]}.gif"
    path.write_bytes(data)
    return str(path)


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
    runs = available(with_progress=True)
    loaded = set(registry.names("cyclegan"))
    directions = [choice.label for choice in registry.translation_choices(available=False)
                  if choice.model_name in loaded or not loaded]

    with gr.Blocks(title="gan-demo: cats and CycleGANs", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# gan-demo\nSample cats from a DCGAN, translate images with CycleGAN, and watch the models learn.")

        with gr.Tab("Sample cats"):
            with gr.Row():
                with gr.Column(scale=1):
                    variant = gr.Dropdown(choices_of(dcgans), value=default_dcgan, allow_custom_value=True,
                                          label="DCGAN variant (training augmentation)")
                    with gr.Row():
                        seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="seed", scale=3)
                        dice = gr.Button("Random seed", scale=1, min_width=80, elem_id="dice")
                    truncation = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="truncation",
                                           info="lower: more typical cats, less variety")
                    count = gr.Slider(1, MAX_SAMPLES, value=MAX_SAMPLES, step=1, label="number of samples")
                    with gr.Accordion("Latent directions", open=True):
                        gr.Markdown("Principal directions of the generator's first block (GANSpace), strongest "
                                    "first; in standard deviations of z. Applied on release.")
                        sliders = [gr.Slider(-3, 3, value=0, step=0.1, label=f"direction {index + 1}",
                                             elem_id=f"direction-{index + 1}") for index in range(DIRECTION_SLIDERS)]
                        reset = gr.Button("Reset directions", size="sm")
                with gr.Column(scale=2):
                    grid = gr.Image(label="samples", format="png", interactive=False, elem_id="samples",
                                    elem_classes=["pixelated"], height=560)
                    sample_note = gr.Markdown()
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
                    latent = gr.Textbox(label="latent (a JSON list; empty: the seeds above)", lines=1, max_lines=3,
                                        elem_id="latent", scale=4)
                    clear_latent = gr.Button("Back to seeds", size="sm", scale=1)
                project_note = gr.Markdown(elem_id="project-note")
            with gr.Accordion("Compare variants: the same latents through every DCGAN", open=False):
                compare_button = gr.Button("Compare variants")
                comparison = gr.Gallery(label="variants", columns=4, fit_columns=False, format="png",
                                        elem_classes=["pixelated"], elem_id="comparison")
            with gr.Accordion("Interpolate between two seeds (spherical)", open=True):
                with gr.Row():
                    seed_end = gr.Number(value=1, precision=0, minimum=0, maximum=MAX_SEED, label="to seed")
                    frames = gr.Slider(4, 48, value=24, step=1, label="frames")
                    interpolate_button = gr.Button("Make GIF")
                animation = gr.Image(label="interpolation from the seed above", elem_classes=["pixelated"],
                                     interactive=False, height=256, elem_id="interpolation")

        with gr.Tab("Translate"):
            with gr.Row():
                source_image = CheckedImage(label="your image", type="pil", elem_id="translate-input", height=300,
                                            sources=["upload", "clipboard", "webcam"])
                with gr.Column():
                    direction = gr.Dropdown(directions, value=directions[0] if directions else None, label="direction",
                                            allow_custom_value=True)
                    resolution = gr.Radio([MODEL_SIZE, FULL_IMAGE], value=MODEL_SIZE, label="resolution",
                                          info="model size: centre square at the training size; full image: "
                                               "the whole picture, long side up to 512 px")
                    examples = translation_examples()
                    if examples:
                        gr.Examples(examples, [source_image, direction], api_visibility="private",
                                    label="Examples (made by this project's own models)", elem_id="translate-examples")
            with gr.Row():
                seen = gr.Image(label="input as the model saw it", format="png", interactive=False, height=300,
                                elem_classes=["pixelated"])
                translated = gr.Image(label="translation", format="png", interactive=False, height=300,
                                      elem_id="translation", elem_classes=["pixelated"])
                cycled = gr.Image(label="cycle reconstruction", format="png", interactive=False, height=300,
                                  elem_classes=["pixelated"])
            translate_note = gr.Markdown()

        with gr.Tab("Training progress", elem_id="progress-tab"):
            with gr.Row():
                run = gr.Dropdown(run_choices(), value=runs[0].name if runs else None, label="run",
                                  allow_custom_value=True, elem_id="run")
                refresh_runs = gr.Button("Refresh runs", size="sm", scale=0, elem_id="refresh-runs")
                last_steps = [run_progress(entry.name).steps[-1] for entry in runs]
                iteration = iteration_slider(runs[0].name if runs else None, max(last_steps, default=1))
            with gr.Row():
                gif = gr.Image(label="progress GIF (fixed latents / inputs)", interactive=False, elem_id="progress-gif")
                frame = gr.Image(label="frame at the iteration", format="png", interactive=False,
                                 elem_id="progress-frame")
            losses = gr.LinePlot(x="iteration", y="loss", color="term", label="losses (moving average)",
                                  elem_id="losses")
            variants = gr.Gallery(label="DCGAN augmentation variants at this iteration", columns=4, fit_columns=False,
                                  format="png", elem_id="variants")
            with gr.Accordion("Training settings", open=False):
                settings = gr.JSON(label="training settings")
            run_timer = gr.Timer(RUN_REFRESH_SECONDS, active=False)

        with gr.Accordion("Where the models come from", open=False, elem_id="models"):
            gr.Markdown(models_markdown() + "\n\nHub at a pinned revision when configured and reachable "
                        "(not with `GAN_DEMO_OFFLINE=1` or `HF_HUB_OFFLINE=1`), else the bundled `checkpoints/`.")
            with gr.Row():
                repo_id = gr.Textbox(label="add a published gan-demo model: Hub repo id", placeholder="user/my-dcgan",
                                     elem_id="add-repo", scale=3)
                revision = gr.Textbox(label="revision (branch, tag or commit; empty: main)", elem_id="add-revision",
                                      scale=2)
                add_button = gr.Button("Add model", scale=1, elem_id="add-model")
            add_note = gr.Markdown(elem_id="add-note")

        # -- wiring: only /sample, /interpolate, /translate, /progress, /project and /add_model are public --
        sample_inputs = [variant, seed, truncation, count, *sliders, latent]
        gr.on([variant.change, seed.change, truncation.release, count.release, latent.change,
               *[s.release for s in sliders]],
              sample_cats, sample_inputs, [grid, sample_note], api_name="sample", trigger_mode="always_last")
        dice.click(None, None, seed, js=f"() => Math.floor(Math.random() * {MAX_SEED})")
        reset.click(lambda: [0] * DIRECTION_SLIDERS, None, sliders, api_visibility="private").then(
            sample_cats, sample_inputs, [grid, sample_note], api_visibility="private")
        compare_button.click(compare_variants, [seed, truncation, count], comparison, api_visibility="private")
        interpolate_button.click(interpolate, [variant, seed, seed_end, frames, truncation, latent], animation,
                                 api_name="interpolate")
        project_button.click(project_photo, [photo, variant, square, across, down],
                             [seen_square, reconstruction, latent, project_note], api_name="project")
        gr.on([photo.change, square.release, across.release, down.release], crop_preview,
              [photo, variant, square, across, down], seen_square, api_visibility="private", trigger_mode="always_last")
        clear_latent.click(lambda: "", None, latent, api_visibility="private")
        add_button.click(add_model, [repo_id, revision], add_note, api_name="add_model").then(
            refresh_run_list, run, [run, variant, direction], api_visibility="private")
        refresh_runs.click(refresh_run_list, run, [run, variant, direction], api_visibility="private")
        run.change(watch_run, run, run_timer, api_visibility="private")

        gr.on([source_image.change, direction.change, resolution.change], translate,
              [source_image, direction, resolution], [seen, translated, cycled, translate_note],
              api_name="translate", trigger_mode="always_last")
        progress_outputs = [gif, frame, losses, settings, variants]
        iteration.release(show_progress, [run, iteration], progress_outputs, api_name="progress")
        run_timer.tick(follow_run, run, [iteration, *progress_outputs, run_timer], api_visibility="private")
        if runs:  # with no bundled run there is nothing to show on load
            gr.on([run.change, demo.load], iteration_slider, run, iteration, api_visibility="private").then(
                show_progress, [run, iteration], progress_outputs, api_visibility="private")
        demo.load(sample_cats, sample_inputs, [grid, sample_note], api_visibility="private")

    demo.queue(max_size=32, default_concurrency_limit=2)
    return demo


def launch(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python app.py", description="Serve the gan-demo app.")
    parser.add_argument("--runs", help=f"a folder of training runs to show live (default: ${local_runs.RUNS_VARIABLE})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("gan_demo").setLevel(logging.INFO)
    runtime.configure()  # PyTorch's threads (OMP_NUM_THREADS sets them), denormals (gan_demo/runtime.py)
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
