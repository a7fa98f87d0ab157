"""What both benchmarks share: the conditions a number was measured under (machine, threads, load,
other busy processes), summary statistics, synthetic image folders, the printed table and the JSON
file. Honest numbers need their conditions next to them, so every result carries `conditions()`."""

import json
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import psutil
import torch
from PIL import Image

from train.model_card import cpu_name

RESULTS = Path(__file__).resolve().parent / "results"


def busy_processes(threshold_percent: float = 20.0, sample_seconds: float = 0.5) -> list[str]:
    """Other processes using more than `threshold_percent` of a core right now: what the numbers
    competed with."""
    processes = [process for process in psutil.process_iter(["pid", "name", "cmdline"]) if process.pid != os.getpid()]
    for process in processes:
        try:
            process.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(sample_seconds)
    busy = []
    for process in processes:
        try:
            if process.cpu_percent(None) > threshold_percent:
                busy.append(" ".join(process.info["cmdline"] or [process.info["name"]])[:100])
        except psutil.Error:
            pass
    return busy


def conditions() -> dict:
    """Machine, software and load at the moment of the call."""
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "load_average_1min": round(os.getloadavg()[0], 2), "busy_processes": busy_processes(),
            "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}


def summary(values: Sequence[float]) -> dict:
    """Median, 90th and 99th percentile, min and count of a list of measurements."""
    array = np.asarray(values, dtype=float)
    return {"median": float(np.median(array)), "p90": float(np.percentile(array, 90)),
            "p99": float(np.percentile(array, 99)), "min": float(array.min()), "count": len(array)}


def timed_ms(function, repeats: int, warmup: int = 1) -> list[float]:
    """Wall times of `repeats` calls of `function()` in milliseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return times


def synthetic_images(folder: Path, count: int, size: int, seed: int, tint: tuple[int, int, int] = (0, 0, 0)) -> Path:
    """`count` smooth random RGB PNGs (size x size): low-resolution noise scaled up, so they
    compress and decode like small photos rather than like pure noise."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        coarse = np.clip(rng.integers(0, 200, (size // 8, size // 8, 3)) + np.array(tint), 0, 255).astype(np.uint8)
        image = Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)
        grain = rng.integers(-6, 7, (size, size, 3))
        Image.fromarray(np.clip(np.asarray(image, dtype=int) + grain, 0, 255).astype(np.uint8)).save(
            folder / f"image-{index:04d}.png")
    return folder


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A Markdown table (so it can be pasted into docs/performance.md as it is)."""
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join("---" for _ in header) + " |")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def write_json(result: dict, path: Path | None, name: str) -> Path:
    """`result` as JSON at `path`, or benchmarks/results/<name>-<time>.json."""
    if path is None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {path}")
    return path


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))
