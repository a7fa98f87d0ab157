"""A Gradio app in a subprocess on a free 127.0.0.1 port, offline, stopped afterwards: how the
serving benchmark starts the app and its trivial floor, and how the app's tests start the app."""

import contextlib
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def gradio_server(command: list[str], env: dict[str, str], log_folder: Path,
                  startup_timeout: float = 120, *, cwd: Path = ROOT,
                  settings: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run `command` (a Gradio app honouring GRADIO_SERVER_PORT) in `cwd` with `env` plus the offline and
    address settings (`settings` replace them: a start as Spaces does it is online, on 0.0.0.0); yield
    (url, process) as soon as its page answers; stop it on exit."""
    port = free_port()
    env = {**env, "GRADIO_SERVER_NAME": "127.0.0.1", "GAN_DEMO_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", **(settings or {}), "GRADIO_SERVER_PORT": str(port)}
    url = f"http://127.0.0.1:{port}/"
    log = open(log_folder / f"gradio-server-{port}.log", "w+")
    server = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if server.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{' '.join(command)} exited with {server.returncode}:\n{log.read()[-4000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except OSError:  # not listening yet
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no answer on {url} within {startup_timeout} s") from None
                time.sleep(0.05)
        yield url, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def call_endpoint(url: str, api_name: str, data: list, timeout: float = 60) -> tuple[str, object]:
    """POST `data` to the app's `api_name` over raw HTTP and read its event stream, as any client may:
    ("complete", outputs), ("error", message), or ("refused", detail) when the queue turned the call
    away at once (HTTP 503: its group is full)."""
    body = json.dumps({"data": data}).encode()  # NaN and Infinity go out as JSON literals
    request = urllib.request.Request(f"{url}gradio_api/call/{api_name}", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            event_id = json.load(response)["event_id"]
    except urllib.error.HTTPError as refused:
        if refused.code != 503:
            raise
        return "refused", json.loads(refused.read()).get("detail")
    with urllib.request.urlopen(f"{url}gradio_api/call/{api_name}/{event_id}", timeout=timeout) as response:
        stream = response.read().decode()
    events = [block.split("\n") for block in stream.strip().split("\n\n")]
    event, data_line = [lines for lines in events if lines[0] != "event: heartbeat"][-1][:2]
    payload = json.loads(data_line.removeprefix("data: "))
    if event == "event: complete":
        return "complete", payload
    if event != "event: error":
        raise RuntimeError(f"unexpected event stream from {api_name}: {stream[:500]}")
    return "error", payload["error"] if isinstance(payload, dict) else payload


def upload_file(url: str, path: Path) -> str:
    """Upload a file the way the browser does; returns its path in Gradio's upload folder."""
    boundary = "gan-demo-upload-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path.name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + \
        f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{url}gradio_api/upload", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)[0]
