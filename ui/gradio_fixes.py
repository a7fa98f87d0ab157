"""Where the app changes Gradio's own behaviour, all in one place and each for a stated reason: the
image screen that runs before Gradio reads an image payload, output images written atomically, a
queue cap per endpoint (so a burst of one expensive call never fills the queue for everyone), and a
bound on the size of a request body. `install()` applies the two process-wide ones, explicitly (never
at import); `limit_queue` and `REQUEST_LIMIT` are per app. Each is checked against gradio 6.31.0."""

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import processing_utils
from PIL import Image

from ui.components import CheckedImage

# The gradio versions whose save_pil_to_cache rewrites a cached file in place (checked in 6.31.0).
GRADIO_IN_PLACE_CACHE_MAJOR = "6"
# JSON requests (an event's inputs) are small; an image pasted as a data: URL is the largest legitimate
# one (20 MB of image is 27 MB as base64). Uploads go to /upload, which Gradio bounds by max_file_size.
MAX_REQUEST_BYTES = 32 * 1024 * 1024
UNBOUNDED_ROUTES = ("/upload",)


def install() -> None:
    """Apply the process-wide fixes (idempotent): the image screen and atomic output images."""
    if processing_utils.async_move_files_to_cache is not screen_then_move_files_to_cache:
        screen_then_move_files_to_cache.gradio_original = processing_utils.async_move_files_to_cache
        processing_utils.async_move_files_to_cache = screen_then_move_files_to_cache  # blocks.py looks it up there
    write_output_images_atomically()


async def screen_then_move_files_to_cache(data: Any, block: gr.blocks.Block, postprocess: bool = False,
                                          **options: Any) -> Any:
    """gradio's `async_move_files_to_cache` (its first step with every input payload, see
    `gr.Blocks.preprocess_data`) with `CheckedImage.screen` run before it on image inputs."""
    if isinstance(block, CheckedImage) and not postprocess:
        data = block.screen(data)
    return await screen_then_move_files_to_cache.gradio_original(data, block, postprocess=postprocess, **options)


def save_pil_to_cache_atomically(img: Image.Image, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    """gradio's `save_pil_to_cache` with the file written once, under a temporary name renamed into place.
    gradio 6.31 rewrites an output image's cache file (named by its content) in place on every request
    (gradio/processing_utils.py, save_pil_to_cache: `write_bytes` on the final path), so two requests with
    the same output (two visitors on the default seed) truncate the file while the first one is being
    downloaded, which then arrives empty."""
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


def limit_queue(demo: gr.Blocks, pending_per_group: dict[str, int]) -> None:
    """Cap the calls waiting in each concurrency group of `demo`'s queue (gradio 6.31 caps only the
    total, so 32 queued /project calls from one client answered every /sample with 503): a call to a
    group at its cap is refused at once with "busy", the other groups keep their room. Groups not named
    keep only the queue's total cap. Call after `demo.queue()`."""
    queue = demo._queue
    push = queue.push

    async def push_within_group_cap(body: Any, request: Any, username: Any) -> tuple:
        fn_index = getattr(body, "fn_index", None)
        dependency = demo.fns.get(fn_index) if isinstance(fn_index, int) else None
        if dependency is not None:
            group = dependency.concurrency_id
            cap = pending_per_group.get(group)
            waiting = queue.event_queue_per_concurrency_id.get(group)
            if cap is not None and waiting is not None and len(waiting.queue) >= cap:
                return False, f"The app is busy with {len(waiting.queue)} such requests; try again shortly.", \
                    "queue_full"
        return await push(body, request, username)

    queue.push = push_within_group_cap


class RequestLimit:
    """ASGI middleware: a request body larger than MAX_REQUEST_BYTES (by its Content-Length, or counted as
    it arrives when there is none) is refused with 413 before Gradio parses it, except on the upload route,
    which Gradio bounds itself."""

    def __init__(self, app: Any, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path", "").endswith(UNBOUNDED_ROUTES):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await refuse_too_large(send, self.max_bytes)
            return
        received = 0

        async def counted_receive() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise RequestTooLarge
            return message

        try:
            await self.app(scope, counted_receive, send)
        except RequestTooLarge:
            await refuse_too_large(send, self.max_bytes)


class RequestTooLarge(Exception):
    """A body without Content-Length grew past the limit while it arrived."""


async def refuse_too_large(send: Any, max_bytes: int) -> None:
    body = json.dumps({"error": f"Request too large: at most {max_bytes // (1024 * 1024)} MB."}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
