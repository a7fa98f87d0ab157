"""The app's screened input components: Gradio components that check what a visitor sends before any
handler sees it (an image only from Gradio's upload folder or a data: URL, size-checked from its header;
numbers finite and in range; text bounded in length before it is parsed), and the two helpers that turn a
refusal into one line on the page instead of a traceback: `refusal` and `on_page`."""

import html
import math
import os
from collections.abc import Callable
from typing import Any

import gradio as gr
from gradio import utils
from gradio.data_classes import ImageData
from PIL import Image

from gan_demo import inference
from gan_demo.imaging import ImageError

NOT_AN_IMAGE = "This is not an image: send an uploaded file's path or a data: URL."


def refusal(error: Exception | str, title: str) -> gr.Error:
    """A message for the person in the UI (escaped: it may quote a file name), without a server traceback."""
    return gr.Error(html.escape(str(error)), title=title, print_exception=False)


class CheckedImage(gr.Image):
    """gr.Image that reads only what the request itself carried, and reads it through gan_demo (EXIF,
    alpha, 16-bit, first frame): a file in Gradio's upload folder, or a data: URL. Anything over
    20 MB or 25 megapixels (from the header, before decoding), not an image, or corrupt is refused
    with one line in the UI; the stock component would decode it whole and fail without saying why.

    The path check is `screen`, which ui/gradio_fixes.py runs before Gradio itself looks at the
    payload: gradio 6.31 checks a path against its upload folder only when the payload carries
    `meta: {"_type": "gradio.FileData"}`, and passes `{"path": "/any/file"}` without it straight to
    `preprocess`, which would open it (any file the server can read, an existence oracle, a FIFO that
    blocks a worker)."""

    is_template = True  # rendered by the stock Image frontend

    def screen(self, payload: object) -> dict | None:
        """The payload reduced to what `preprocess` may read, decided from the strings alone (nothing
        at the path is touched, so every refused path gets the same answer): a path inside Gradio's
        upload folder, or a data: URL."""
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


class CheckedText(gr.Textbox):
    """gr.Textbox that refuses anything but text, and text longer than its `max_length` (which it must be
    given; the page's box stops there too), before a handler parses it: a 200 MB "latent" costs a
    length check, not a JSON parse."""

    is_template = True

    def preprocess(self, payload: str | None) -> str | None:
        if payload is None:
            return None
        if not isinstance(payload, str):
            raise refusal(f"{self.label} must be text, not {described(payload)}", "Invalid value")
        if len(payload) > self.max_length:
            raise refusal(f"{self.label} is {len(payload):,} characters long; at most {self.max_length:,} "
                          "are read", "Invalid value")
        return super().preprocess(payload)


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
    """2147483647 rather than 2147483647.0, 0.5 as 0.5, and 1e+308 rather than its 309 digits."""
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e16:
        return str(int(number))
    return str(number)


def described(value: object) -> str:
    """A value as the message quotes it: short, and never an object's repr."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("infinity" if value > 0 else "-infinity")
    if isinstance(value, int) and abs(value) >= 10**30:
        return "a number of more than 30 digits"  # never echo a 5000-digit integer
    if isinstance(value, (int, float)):
        return plain(value)
    return {str: "text", list: "a list", dict: "an object"}.get(type(value), "another kind of value")


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
    """What `component` hands a handler for `payload`, as Gradio would do before calling it (an image
    payload screened first, as ui/gradio_fixes.py does for Gradio's own preprocessing)."""
    if isinstance(component, CheckedImage):
        payload = component.screen(payload)
    if payload is not None and getattr(component, "data_model", None):
        payload = component.data_model.model_validate(payload)
    return component.preprocess(payload)
