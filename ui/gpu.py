"""ZeroGPU: on a Hugging Face Space with ZeroGPU hardware (the `spaces` package importable and
SPACES_ZERO_GPU set, as ZeroGPU Spaces set it), a request handler's GPU work must run inside a
function decorated with `spaces.GPU`, which lends the process a GPU for that call; the models may be
moved to "cuda" at start-up (ZeroGPU keeps them in memory until a call holds the GPU). Everywhere else
nothing changes: `gpu_task()` returns the function itself and `serving_device()` is "cpu".

    @gpu_task(duration=30)
    def sample(...): ...
"""

import importlib
import os
from collections.abc import Callable
from typing import TypeVar

ZERO_GPU_VARIABLE = "SPACES_ZERO_GPU"
DEFAULT_SECONDS = 60  # what one call may hold the GPU for; ZeroGPU's own default

Handler = TypeVar("Handler", bound=Callable)


def zero_gpu_spaces():
    """The `spaces` module on ZeroGPU hardware, else None."""
    if os.environ.get(ZERO_GPU_VARIABLE, "").lower() not in ("1", "t", "true"):
        return None
    try:
        return importlib.import_module("spaces")
    except ImportError:
        return None


def gpu_task(duration: int = DEFAULT_SECONDS) -> Callable[[Handler], Handler]:
    """A decorator: `spaces.GPU(duration=duration)` on ZeroGPU, the identity elsewhere."""
    spaces = zero_gpu_spaces()

    def decorate(function: Handler) -> Handler:
        return spaces.GPU(duration=duration)(function) if spaces is not None else function

    return decorate


def serving_device() -> str:
    """Where the app's models belong: "cuda" on ZeroGPU, "cpu" elsewhere."""
    return "cuda" if zero_gpu_spaces() is not None else "cpu"
