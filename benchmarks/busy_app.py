"""Does /sample keep answering while a visitor hammers the expensive endpoints? Starts `python app.py` on
the bundled models with a stand-in Hub (tests/hub_server.py) whose one repo drips its files a byte at a
time, measures /sample's latency alone, then again while threads keep /project (a photo projected over
and over) and /add_model (the dripping repo) busy, and reports the medians, the worst case, how many
expensive calls the queue turned away at once, and the server's memory.

    python -m benchmarks.busy_app [--quick] [--out benchmarks/results/busy_app.json]
"""

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from PIL import Image

from benchmarks.gradio_server import ROOT, call_endpoint, gradio_server, upload_file
from tests.hub_server import Hostility, StandInHub
from train.model_card import cpu_name

SAMPLE = ["dcgan-grumpy-deluxe-diffaug", 1, 1.0, 16, 0, 0, 0, 0, 0, 0, ""]
DRIPPING_REPO = "someone/dripping-dcgan"


def sample_latencies(url: str, calls: int) -> list[float]:
    """Seconds per /sample call, one after another; a call that does not complete is an error."""
    latencies = []
    for index in range(calls):
        started = time.perf_counter()
        outcome, outputs = call_endpoint(url, "sample", [SAMPLE[0], index, *SAMPLE[2:]], timeout=300)
        if outcome != "complete":
            raise RuntimeError(f"/sample did not answer under load: {outcome} {outputs}")
        latencies.append(time.perf_counter() - started)
    return latencies


def hammer(url: str, api_name: str, data: list, stop: threading.Event, outcomes: list[str]) -> None:
    """Call `api_name` again and again until `stop`, recording each outcome; a refused call retries
    after a tenth of a second, as an impatient client would."""
    while not stop.is_set():
        try:
            outcome, _ = call_endpoint(url, api_name, data, timeout=300)
        except OSError as error:
            outcome = type(error).__name__
        outcomes.append(outcome)
        if outcome == "refused":
            time.sleep(0.1)


def measure(quick: bool, work: Path) -> dict:
    calls = 5 if quick else 20
    photo = work / "photo.png"
    Image.effect_mandelbrot((256, 256), (-2, -1.5, 1, 1.5), 60).convert("RGB").save(photo)
    with StandInHub() as hub:
        hub.publish(DRIPPING_REPO, {"config.json": b"{}", "model.safetensors": b"\0" * 4096})
        hub.hostile[DRIPPING_REPO] = Hostility(drip_seconds=1.0)
        env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "HF_ENDPOINT": hub.url,
               "HF_HOME": str(work / "hf-home"), "TMPDIR": str(work), "GRADIO_TEMP_DIR": str(work / "gradio"),
               "HF_HUB_DISABLE_TELEMETRY": "1"}
        online = {"GAN_DEMO_OFFLINE": "0", "HF_HUB_OFFLINE": "0"}
        app = [sys.executable, "app.py"]
        with gradio_server(app, env, work, startup_timeout=300, settings=online) as (url, server):
            process = psutil.Process(server.pid)
            sample_latencies(url, 2)  # warm: directions, caches
            quiet = sample_latencies(url, calls)
            idle_memory = process.memory_info().rss
            uploaded = upload_file(url, photo)
            project = [{"path": uploaded, "meta": {"_type": "gradio.FileData"}}, SAMPLE[0], 100, 50, 50]
            stop, project_outcomes, add_outcomes = threading.Event(), [], []
            workers = [threading.Thread(target=hammer, args=(url, "project", project, stop, project_outcomes))
                       for _ in range(8 if quick else 40)]
            workers += [threading.Thread(target=hammer, args=(url, "add_model", [DRIPPING_REPO, ""], stop,
                                                              add_outcomes)) for _ in range(4 if quick else 8)]
            for worker in workers:
                worker.start()
            time.sleep(2)  # the queue is full of them by now
            busy = sample_latencies(url, calls)
            busy_memory = process.memory_info().rss
            stop.set()
            for worker in workers:
                worker.join(timeout=600)
    return {
        "cpu": cpu_name(), "calls": calls,
        "sample_seconds_quiet": {"median": statistics.median(quiet), "max": max(quiet)},
        "sample_seconds_busy": {"median": statistics.median(busy), "max": max(busy)},
        "project": {outcome: project_outcomes.count(outcome) for outcome in sorted(set(project_outcomes))},
        "add_model": {outcome: add_outcomes.count(outcome) for outcome in sorted(set(add_outcomes))},
        "server_memory_mb": {"idle": idle_memory / 2**20, "busy": busy_memory / 2**20},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.busy_app", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and attackers (the test's setting)")
    parser.add_argument("--out", type=Path, help="also write the report here as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gan-demo-busy-") as work:
        report = measure(args.quick, Path(work))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
