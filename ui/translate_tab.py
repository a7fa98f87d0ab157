"""The "Translate" tab: upload, paste or take a picture, pick a CycleGAN direction, and see the input as the
model saw it, its translation and the cycle reconstruction. Public endpoint: /translate."""

import json
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from gan_demo import inference
from gan_demo.imaging import ImageError
from ui.components import CheckedImage, on_page, refusal
from ui.gpu import gpu_task
from ui.state import AppState

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MODEL_SIZE, FULL_IMAGE = "model size", "full image"
TRANSLATE_EXPLANATION = (
    "CycleGAN learns two generators between two sets of unpaired photos (Russian Blue and Grumpy cats, apples "
    "and oranges). The *cycle reconstruction* translates the result back again; the cycle loss trains it to "
    "match the input, which is what keeps the pose and layout of your picture. The model trained *without the "
    "cycle loss* has nothing tying its output to its input: it learns to draw a plausible cat of the other "
    "kind, not *your* cat, and its reconstruction shows how much of the input was lost.")


@dataclass
class TranslateTab:
    """The components other tabs refresh (the direction menu)."""

    direction: gr.Dropdown


def build(state: AppState) -> TranslateTab:
    """Lay out the tab inside the open Blocks and wire its events."""
    handlers = TranslateHandlers(state)
    loaded = set(state.registry.names("cyclegan"))
    directions = [choice.label for choice in state.registry.translation_choices(available=False)
                  if choice.model_name in loaded or not loaded]
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
    with gr.Accordion("Before and after: slide between the input as the model saw it and its translation",
                      open=True):
        compare = gr.ImageSlider(show_label=False, type="pil", format="png", max_height=400,
                                 elem_id="translate-compare", elem_classes=["pixelated"], interactive=False)
    with gr.Accordion("The input as the model saw it", open=False):
        seen = gr.Image(show_label=False, format="png", interactive=False, height=200,
                        elem_id="translate-seen", elem_classes=["pixelated"])
    examples = translation_examples(state)
    example_table = None
    if examples:
        example_table = gr.Examples(examples, [source_image, direction], api_visibility="private",
                                    label="Examples (made by this project's own models)",
                                    elem_id="translate-examples")

    translate_inputs = [source_image, direction, resolution]
    gr.on([], handlers.translate, translate_inputs, [seen, translated, cycled, translate_note], api_name="translate",
          concurrency_id="translate")
    # On the page a refused image leaves the input and the results empty, and its reason in the note.
    page_translate = dict(fn=on_page(handlers.translate_on_page, translate_inputs,
                                     lambda note: (None, None, None, None, note, None)),
                          inputs=translate_inputs,
                          outputs=[source_image, seen, translated, cycled, translate_note, compare],
                          preprocess=False, api_visibility="private", trigger_mode="always_last",
                          concurrency_id="translate")
    gr.on([source_image.input, direction.input, resolution.input], **page_translate)
    if example_table is not None:
        example_table.load_input_event.then(**page_translate)
    return TranslateTab(direction)


class TranslateHandlers:
    """The tab's handler over the app state."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.translate = gpu_task()(self.translate)  # on ZeroGPU, with a GPU lent for the call (ui/gpu.py)

    def translate(self, image: Image.Image | None, direction: str,
                  resolution: str) -> tuple[Image.Image | None, Image.Image | None, Image.Image | None, str]:
        """/translate: (the input as the model saw it, its translation, the cycle reconstruction, a note)."""
        if image is None:
            return None, None, None, "Upload, paste or take a picture to translate it."
        choice = next((item for item in self.state.registry.translation_choices(available=False)
                       if item.label == direction), None)
        if choice is None:
            raise refusal("unknown direction; choose one from the menu", "Cannot translate")
        if resolution not in (MODEL_SIZE, FULL_IMAGE):
            raise refusal(f"resolution must be {MODEL_SIZE!r} or {FULL_IMAGE!r}", "Cannot translate")
        resolved = self.state.load(choice.model_name, "cyclegan")
        try:
            result = inference.translate(resolved.model, image, choice.direction, full_size=resolution == FULL_IMAGE)
        except ImageError as error:
            raise refusal(error, "Cannot translate this image") from None
        size = f"{result.input.width}x{result.input.height}"
        note = f"{direction} at {size} px. Model `{resolved.name}` ({resolved.source})"
        return result.input, result.translation, result.reconstruction, note


    def translate_on_page(self, *values: "Image.Image | str | None") -> tuple:
        """`translate` as the page shows it: the input left as it is, and the before | after slider."""
        seen, translation, reconstruction, note = self.translate(*values)
        before_after = (seen, translation) if translation is not None else None
        return gr.skip(), seen, translation, reconstruction, note, before_after


def translation_examples(state: AppState) -> list[list[str]]:
    """[image, direction] pairs listed in examples/examples.json (made by `python -m gan_demo.examples`)."""
    manifest = EXAMPLES / "examples.json"
    if not manifest.is_file():
        return []
    labels = {choice.label for choice in state.registry.translation_choices(available=False)}
    return [[str(EXAMPLES / item["file"]), item["direction"]] for item in json.loads(manifest.read_text())
            if (EXAMPLES / item["file"]).is_file() and item["direction"] in labels]
