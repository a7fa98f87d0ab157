"""The "Sample cats" tab: a DCGAN variant, seed, truncation and latent-direction sliders give a grid of cats
that follows the sliders while they move; Compare variants runs the same latents through every DCGAN;
Make GIF interpolates between two seeds; "Your cat" projects a photo into the latent space, after which
the same controls edit it, through a copy of the model tuned to the photo that lives in that visitor's
session only. Public endpoints: /sample, /interpolate, /project."""

import threading
import weakref
from dataclasses import dataclass

import gradio as gr
from PIL import Image

from gan_demo import catalog, inference, latents, projection
from gan_demo.imaging import ImageError
from gan_demo.models import DCGenerator
from ui.components import CheckedImage, CheckedNumber, CheckedSlider, CheckedText, on_page, refusal
from ui.gpu import gpu_task
from ui.state import AppState

DIRECTION_SLIDERS = 6
MAX_SAMPLES = 16
MAX_SEED = 2**31 - 1
MAX_LATENT_CHARACTERS = 32_000  # 1024 numbers (the largest latent a model may have) at 5 significant digits
MAX_TUNED_COPIES = 64  # copies tuned to visitors' photos alive at once; each holds the later layers (1.5 MB at 64 px)
TUNED_COPY_SECONDS = 3600  # a session's tuned copy is dropped this long after its projection
SAMPLE_EXPLANATION = (
    "A DCGAN turns a *latent vector* z (100 numbers drawn from a seed) into a 64 px cat; the same seed always "
    "gives the same cat, and each cat's seed is written under it. The four variants were trained on the same "
    "157 photos of Grumpy cat (18 more are kept aside to test them) with different augmentation: *basic* "
    "(the photos as they are; it collapsed: every seed gives nearly the same face), *deluxe* "
    "(random crops, flips and a mild colour jitter of the real photos), *DiffAugment* (random colour, shift "
    "and cut-out applied to real *and* generated images, so the discriminator cannot simply memorise the few "
    "real photos). Truncation pulls each cat towards the model's average cat (at 0 every seed gives it).")
DIRECTIONS_EXPLANATION = (
    "A latent direction is one along which the generator's first-block features vary most over its samples "
    "(their principal axes, GANSpace), strongest first; each slider moves every cat that many standard "
    f"deviations of the samples along one of them, and within +-{latents.DIRECTION_RANGE:g} the cats stay among "
    "what the model draws. On your projected cat a slider adds what that direction adds and keeps the rest of "
    "your photo. "
    "The grid follows while you drag (arrow keys work too).")


@dataclass
class SampleTab:
    """The components other tabs refresh (the variant menu) or read."""

    variant: gr.Dropdown


def build(state: AppState, demo: gr.Blocks) -> SampleTab:
    """Lay out the tab inside the open `demo` and wire its events."""
    handlers = SampleHandlers(state)
    dcgans = state.available("dcgan") or state.registry.models("dcgan", available=False)
    names = [entry.name for entry in dcgans]
    default = catalog.DEFAULT_DCGAN if catalog.DEFAULT_DCGAN in names else (names[0] if names else None)
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            variant = gr.Dropdown([(entry.label, entry.name) for entry in dcgans], value=default, elem_id="variant",
                                  allow_custom_value=True, label="DCGAN variant (training augmentation)")
            with gr.Row():
                seed = CheckedNumber(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="seed", scale=3,
                                     info="Enter to apply", elem_id="seed")
                dice = gr.Button("Random seed", scale=1, min_width=80, elem_id="dice")
            truncation = CheckedSlider(0.0, 1.0, value=1.0, step=0.05, label="truncation", elem_id="truncation",
                                       info="lower: closer to the model's average cat, less variety; 0: every "
                                            "seed gives the average cat")
            count = CheckedSlider(1, MAX_SAMPLES, value=MAX_SAMPLES, step=1, label="number of samples")
            with gr.Accordion("Latent directions", open=True):
                gr.Markdown(DIRECTIONS_EXPLANATION)
                sliders = [CheckedSlider(-latents.DIRECTION_RANGE, latents.DIRECTION_RANGE, value=0, step=0.1,
                                         label=f"direction {index + 1}", elem_id=f"direction-{index + 1}")
                           for index in range(DIRECTION_SLIDERS)]
                reset = gr.Button("Reset directions", size="sm")
        with gr.Column(scale=2, min_width=300, elem_id="sample-grid-column"):
            grid = gr.Image(show_label=False, format="png", interactive=False, elem_id="samples",
                            elem_classes=["pixelated"], height=560, buttons=[])  # no toolbar over the first row
            sample_note = gr.Markdown(elem_id="sample-note")
    gr.Markdown(SAMPLE_EXPLANATION)  # below, so that on a phone the grid is on the first screen
    with gr.Accordion("Your cat: project a photo into the latent space, tune a copy of the model to it, then "
                      "edit it", open=False, elem_id="your-cat"):
        with gr.Row():
            photo = CheckedImage(label="your photo", type="pil", elem_id="project-input", height=260,
                                 sources=["upload", "clipboard", "webcam"])
            with gr.Column():
                square = CheckedSlider(5, 100, value=100, step=1, label="square (% of the short side)",
                                       elem_id="crop-square")
                across = CheckedSlider(0, 100, value=50, step=1, label="left to right (%)", elem_id="crop-across")
                down = CheckedSlider(0, 100, value=50, step=1, label="top to bottom (%)", elem_id="crop-down")
                project_button = gr.Button("Project into the latent space", variant="primary", elem_id="project")
            seen_square = gr.Image(label="what the model saw", format="png", interactive=False, height=260,
                                   elem_classes=["pixelated"], elem_id="project-square")
            reconstruction = gr.Image(label="reconstruction", format="png", interactive=False, height=260,
                                      elem_classes=["pixelated"], elem_id="project-reconstruction")
        project_note = gr.Markdown(elem_id="project-note")
        with gr.Row():
            latent = CheckedText("", label="latent (a JSON list; empty: the seeds above)", lines=1, max_lines=3,
                                 elem_id="latent", scale=4, max_length=MAX_LATENT_CHARACTERS,
                                 info="your photo's pivot latent: drawn by the copy tuned to the photo while this "
                                      "page is open, by the plain model once edited or elsewhere")
            clear_latent = gr.Button("Back to seeds", size="sm", scale=1)
        # This visitor's TunedCat: freed with the session (or after TUNED_COPY_SECONDS), never shared.
        tuned = gr.State(None, time_to_live=TUNED_COPY_SECONDS)
    with gr.Accordion("Compare variants: the same seeds and sliders through every DCGAN", open=False):
        compare_button = gr.Button("Compare variants")
        comparison = gr.Gallery(label="variants", columns=2, height="auto", object_fit="contain", format="png",
                                elem_classes=["pixelated"], elem_id="comparison", preview=False)
    with gr.Accordion("Interpolate from the seed (or your latent) to another seed (spherical)", open=True):
        with gr.Row():
            seed_end = CheckedNumber(value=1, precision=0, minimum=0, maximum=MAX_SEED, label="to seed")
            frames = CheckedSlider(4, 48, value=24, step=1, label="frames")
            interpolate_button = gr.Button("Make GIF", elem_id="make-gif")
        animation = gr.Image(label="interpolation from the seed or your latent above", elem_classes=["pixelated"],
                             interactive=False, height=256, elem_id="interpolation")
        interpolation_note = gr.Markdown(elem_id="interpolation-note")

    # /sample is an API-only event (no trigger) whose refusals are errors; the page runs the same handler
    # through `on_page`, which keeps a refusal's reason in the note and the grid as it was.
    sample_inputs, sample_outputs = [variant, seed, truncation, count, *sliders, latent, tuned], [grid, sample_note]
    gr.on([], handlers.sample_in_session, sample_inputs, sample_outputs, api_name="sample", concurrency_id="draw")
    page_sample = dict(fn=on_page(handlers.sample_in_session, sample_inputs, lambda note: (gr.skip(), note)),
                       inputs=sample_inputs, outputs=sample_outputs, preprocess=False, api_visibility="private",
                       trigger_mode="always_last", show_progress="minimal", concurrency_id="draw")
    # Sliders apply while they move (drag, arrow keys, their number box); the seed on Enter or on leaving it.
    gr.on([demo.load, variant.input, seed.submit, seed.blur, truncation.input, count.input, latent.change,
           *[slider.input for slider in sliders]], **page_sample)
    dice.click(None, None, seed, js=f"() => Math.floor(Math.random() * {MAX_SEED})").then(**page_sample)
    reset.click(lambda: [0] * DIRECTION_SLIDERS, None, sliders, api_visibility="private").then(**page_sample)
    compare_button.click(handlers.compare_variants, [seed, truncation, count, *sliders], comparison,
                         api_visibility="private", concurrency_id="draw")
    # /interpolate too is API-only; on the page a refusal keeps the last GIF and says why under it.
    interpolate_inputs = [variant, seed, seed_end, frames, truncation, latent, tuned]
    gr.on([], handlers.interpolate, interpolate_inputs, animation, api_name="interpolate", concurrency_id="gif")
    interpolate_on_page = on_page(handlers.interpolate_with_note, interpolate_inputs, lambda note: (gr.skip(), note))
    interpolate_button.click(interpolate_on_page, interpolate_inputs, [animation, interpolation_note],
                             preprocess=False, api_visibility="private", concurrency_id="gif")
    project_inputs = [photo, variant, square, across, down]
    project_outputs = [seen_square, reconstruction, latent, project_note, tuned]
    gr.on([], handlers.project_photo, project_inputs, project_outputs, api_name="project", concurrency_id="project")
    # On the page a refused photo clears the previous result and says why, once, in the note.
    project_button.click(on_page(handlers.project_photo, project_inputs,
                                 lambda note: (None, None, gr.skip(), note, gr.skip())),
                         project_inputs, project_outputs, preprocess=False, api_visibility="private",
                         concurrency_id="project").then(
        # The projected cat is now the grid the sliders edit: bring it (and the sliders) into view.
        None, js="() => document.querySelector('#samples')?.scrollIntoView({block: 'start'})")
    crop_inputs = [photo, variant, square, across, down]
    gr.on([photo.change, square.input, across.input, down.input],  # drag, arrow keys or typed value
          # A refused photo is taken out of the input (no broken-image icon), with its result and the reason.
          on_page(handlers.crop_preview, crop_inputs, lambda note: (None, None, None, note)), crop_inputs,
          [photo, seen_square, reconstruction, project_note], preprocess=False, api_visibility="private",
          trigger_mode="always_last", concurrency_id="draw")
    clear_latent.click(lambda: "", None, latent, api_visibility="private")
    return SampleTab(variant)


class SampleHandlers:
    """The tab's handlers over the app state: UI values in, gan_demo calls, images and notes out."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.tuned_copies = TunedCopies(MAX_TUNED_COPIES)
        # On ZeroGPU each drawing call holds a GPU lent for that call (ui/gpu.py); elsewhere they are unchanged.
        for name in ("sample", "compare_variants", "interpolate", "project_photo"):
            setattr(self, name, gpu_task()(getattr(self, name)))

    def sample_in_session(self, *values: "float | str | TunedCat | None") -> tuple[Image.Image, str]:
        """`sample` as the page and /sample call it: the inputs end with the session's tuned cat."""
        *inputs, tuned = values
        return self.sample(*inputs, tuned=tuned)

    def sample(self, variant: str, seed: float | None, truncation: float, count: float,
               *directions_and_latent: float | str, tuned: "TunedCat | None" = None) -> tuple[Image.Image, str]:
        """/sample: a grid of `count` cats from consecutive seeds, or the given latent (through the copy
        tuned to this session's photo when it is that photo's latent), edited by the sliders."""
        *direction_weights, latent_text = directions_and_latent
        resolved = self.state.load(variant, "dcgan")
        latent = latent_of(resolved, latent_text)
        if latent is not None:
            generator = drawing_generator(resolved, latent_text, tuned, truncation)
            image = inference.sample(generator, latent, truncation, direction_weights)[0]
            whose = "its tuned copy" if generator is not resolved.model else "the model itself"
            # Short: on a phone a note one line longer made the browser's scroll anchoring move the grid off the
            # top after Project scrolled to it.
            return image, f"Your latent, by {whose} (the seeds wait until it is cleared). {source_note(resolved)}"
        seeds = seeds_from(seed, count)
        grid = inference.sample_grid(resolved.model, seeds, truncation, direction_weights, seed_captions=True)
        return grid, f"Seeds {seeds[0]} to {seeds[-1]}, each under its cat. {source_note(resolved)}"

    def compare_variants(self, seed: float | None, truncation: float, count: float,
                         *direction_weights: float) -> list[tuple[Image.Image, str]]:
        grids = inference.compare_variants({item.label: item.model for item in self.state.available("dcgan")},
                                           seeds_from(seed, count), truncation, direction_weights, seed_captions=True)
        return [(grid, label) for label, grid in grids.items()]

    def interpolate(self, variant: str, seed_start: float | None, seed_end: float | None, frames: float,
                    truncation: float, latent_text: str | None = None, tuned: "TunedCat | None" = None) -> str:
        """/interpolate: a GIF along the great circle from the seed (or the latent, through this session's
        tuned copy when it is its photo's) to `seed_end`."""
        resolved = self.state.load(variant, "dcgan")
        latent = latent_of(resolved, latent_text)
        start = latent if latent is not None else int(seed_start or 0)
        generator = drawing_generator(resolved, latent_text, tuned, truncation)
        data = inference.interpolation_gif(generator, start, int(seed_end or 0), int(frames), truncation,
                                           end_generator=resolved.model if generator is not resolved.model else None)
        return str(self.state.served.write(data, "interpolation.gif"))

    def interpolate_with_note(self, *values: "float | str | TunedCat | None") -> tuple[str, str]:
        """The page's Make GIF: the GIF and an empty note (a refusal's reason goes in the note)."""
        return self.interpolate(*values), ""

    def project_photo(self, image: Image.Image | None, variant: str, square: float = 100, across: float = 50,
                      down: float = 50, progress_bar=gr.Progress()) -> tuple:
        """/project: the square the model saw, its reconstruction, the latent as a JSON list, a note; and,
        for the session only, the copy of the model tuned to the photo."""
        if image is None:
            return None, None, "", "Upload, paste or take a photo of a cat to project it.", None
        resolved = self.state.load(variant, "dcgan")
        room = self.tuned_copies.claim()
        try:
            result = projection.project(resolved.model, image, crop_box(image, square, across, down),
                                        tuning_steps=projection.TUNING_STEPS if room else 0,
                                        progress=lambda done, total: progress_bar(done / total, desc="projecting"))
            if result.generator is not resolved.model:
                self.tuned_copies.keep(result.generator)
        except ImageError as error:
            raise refusal(error, "Cannot project this image") from None
        finally:
            self.tuned_copies.release(room)
        latent_text = projection.latent_text(result.latent)
        if result.generator is resolved.model:
            tuned, kept = None, ("The server holds as many tuned copies as it keeps at once, so this is the "
                                 "model's own image of the latent, not tuned to your photo. ")
        else:
            tuned, kept = TunedCat(resolved.name, latent_text, result.generator), ""
        note = (f"{result.verdict} {kept}{result.seconds:.1f} s. The latent (and the copy of the model tuned to "
                f"your photo, kept for this page for up to an hour) is now the subject of the sliders, truncation "
                f"and Make GIF; clear it to go back to seeds. {source_note(resolved)}")
        return result.square, result.reconstruction, latent_text, note, tuned

    def crop_preview(self, image: Image.Image | None, variant: str, square: float, across: float,
                     down: float) -> tuple:
        """(photo, square, reconstruction, note): the square the model will see, at its size, as the crop
        controls move; the photo and reconstruction are left as they are."""
        if image is None:  # the input was cleared (or a refused photo taken out): keep the note
            return gr.skip(), None, gr.skip(), gr.skip()
        model = self.state.load(variant, "dcgan").model
        square_seen = projection.crop_square(image, model.image_size, crop_box(image, square, across, down))
        return gr.skip(), square_seen, gr.skip(), ""


@dataclass(frozen=True)
class TunedCat:
    """A session's projected photo: the model it was projected with, its latent as the text /project
    returned, and the copy of the model tuned to it."""

    variant: str
    latent_text: str
    generator: DCGenerator


class TunedCopies:
    """Counts the tuned copies alive across sessions, at most `limit` at once. The set holds them
    weakly: a copy that gradio drops with its session (closed page, time to live) stops counting."""

    def __init__(self, limit: int) -> None:
        self.limit, self.pending = limit, 0
        self.alive: weakref.WeakSet[DCGenerator] = weakref.WeakSet()
        self.lock = threading.Lock()

    def claim(self) -> bool:
        """Reserve room for one more copy; False when the limit is reached."""
        with self.lock:
            if len(self.alive) + self.pending >= self.limit:
                return False
            self.pending += 1
            return True

    def release(self, claimed: bool) -> None:
        """Give back a reservation (`claim`'s answer); `keep` counts the copy made with it."""
        if claimed:
            with self.lock:
                self.pending -= 1

    def keep(self, generator: DCGenerator) -> None:
        with self.lock:
            self.alive.add(generator)


def drawing_generator(resolved: catalog.RegisteredModel, latent_text: str | None, tuned: TunedCat | None,
                      truncation: float) -> DCGenerator:
    """The session's tuned copy when the latent is the one its photo was projected to with this model,
    its weights pulled towards the model's as far as truncation pulls the features towards the average
    cat (`projection.blend`); otherwise (seeds, another model, an edited or pasted latent, or the model
    loaded again since, as a run's export is when it changes) the model itself."""
    if (tuned is not None and tuned.variant == resolved.name and (latent_text or "").strip() == tuned.latent_text
            and tuned.generator.stem is resolved.model.stem):  # tuned from this very model
        return projection.blend(tuned.generator, resolved.model, truncation)
    return resolved.model


def latent_of(resolved: catalog.RegisteredModel, text: str | None):
    """The latent typed into the Sample tab for this model, or None (then the seeds are used)."""
    try:
        return projection.parse_latent(text, resolved.model.latent_dim)
    except ValueError as error:
        raise refusal(error, "Cannot use this latent") from None


def source_note(resolved: catalog.RegisteredModel) -> str:
    return f"Model `{resolved.name}` ({resolved.source})"


def seeds_from(seed: float | None, count: float) -> range:
    """`count` consecutive seeds from `seed` (an emptied seed box counts as 0)."""
    return range(int(seed or 0), int(seed or 0) + int(count))


def crop_box(image: Image.Image, square: float, across: float, down: float) -> projection.Box:
    """The crop controls (the square's side in % of the short side, its centre in % of the room left
    across and down) -> the (left, top, side) box in pixels."""
    side = max(1, round(min(image.size) * min(max(square, 1), 100) / 100))
    return (round((image.width - side) * min(max(across, 0), 100) / 100),
            round((image.height - side) * min(max(down, 0), 100) / 100), side)
