"""A deployed Space started the way Hugging Face Spaces starts it, against the stand-in Hub
(tests/hub_server.py): used by tests/test_deploy.py and by the cold-start part of
benchmarks/serve_speed.py. `write_space_tree` copies the files of a Space's last commit into an
empty folder (nothing of this checkout comes along: no PYTHONPATH, no checkpoints/ unless deployed);
`space_server` runs `python app.py` there with SYSTEM=spaces, SPACE_ID, GRADIO_SERVER_NAME=0.0.0.0,
the Hub online at the stand-in's URL and an HF_HOME of its own, and yields the URL once the page
answers. The interpreter is this one, standing for the Space's `pip install -r requirements.txt`.
"""

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from benchmarks.gradio_server import gradio_server
from tests.hub_server import StandInHub, space_key

# What this checkout's environment may hold that a Space's never does.
NOT_ON_SPACES = ("PYTHONPATH", "HF_TOKEN", "HF_HUB_OFFLINE", "GAN_DEMO_OFFLINE", "GAN_DEMO_CHECKPOINTS",
                 "GAN_DEMO_MODELS", "GAN_DEMO_RUNS", "HF_HUB_CACHE", "HF_HOME")


def write_space_tree(hub: StandInHub, space_id: str, folder: Path) -> Path:
    """The files of the Space's last commit on `hub`, written under the empty (or new) `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise ValueError(f"{folder} is not empty")
    (last,) = hub.history(space_key(space_id))[-1:]
    for path, content in last.files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(content)
    return folder


@contextlib.contextmanager
def space_server(folder: Path, space_id: str, hub_url: str, hf_home: Path, startup_timeout: float = 180,
                 command: list[str] | None = None) -> Iterator[str]:
    """`python app.py` (or `command`) in `folder` as Spaces starts it (see the module docstring); the URL."""
    env = {key: value for key, value in os.environ.items() if key not in NOT_ON_SPACES}
    env.update(HF_ENDPOINT=hub_url, HF_HOME=str(hf_home), HF_HUB_DISABLE_TELEMETRY="1")
    settings = {"SYSTEM": "spaces", "SPACE_ID": space_id, "GRADIO_SERVER_NAME": "0.0.0.0",
                "GAN_DEMO_OFFLINE": "0", "HF_HUB_OFFLINE": "0"}
    with gradio_server(command or [sys.executable, "app.py"], env, folder.parent, startup_timeout, cwd=folder,
                       settings=settings) as (url, _):
        yield url
