"""Serving speed: `python -m benchmarks.serve_speed [--quick] [--json PATH]`.

Three parts, each against the models of checkpoints/ (a catalog model not bundled yet is replaced by
a randomly initialised stand-in of the bundled architecture, which runs exactly as fast; the JSON
says which):
- inference latency in this process, with the app's thread settings: sample 1 and 16 cats (the
  /sample grid), translate a 64 px image at model size and a 256 px one at full size;
- the app over HTTP: `python app.py` and the trivial app of benchmarks/trivial_app.py (the floor:
  Gradio, HTTP and PNG encoding with no model), each started the same way; cold start is the time
  from the command to the first answered /sample; then /sample (16 cats) and /translate (64 px upload)
  round trips through gradio_client, alternating between the app and the floor;
- projection (/project's work, in this process): wall and CPU seconds per photo, the mean L1 between
  the square and its reconstruction (the tuned copy's) and its pivot (the model's own image), and
  how much direction 1 at +2 changes the reconstruction against how much it changes 16 sampled
  cats; on the held-out 10 % of `--project-photos DIR` (train/data.py's split) or, without it, on
  the 64 px synthetic photo; `--project-photo FILE` adds single photos, reported one by one, and
  `--project-looks DIR` writes each one's square | pivot | reconstruction | direction 1 at +2 there
  to look at;
- load: concurrent gradio_client users, each making 20 /sample and 5 /translate calls; errors,
  latency and the peak resident memory of the server's process tree.

`--space-cold-start` measures a deployed Space instead (`space_cold_start`): the default DCGAN and
cyclegan-cats published to a stand-in Hub, a Space serving them deployed with train.deploy, its tree
started in an empty folder as Spaces starts it (benchmarks/space_start.py), several times with one
HF_HOME: the seconds from the command to the first answered /sample, the first start downloading
the models, the later ones finding them cached.
"""

import os

if __name__ == "__main__":  # OpenMP reads this once, when torch loads it: idle threads sleep, not spin
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # (docs/performance.md)

import argparse
import contextlib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import torch
from gradio_client import Client, handle_file
from PIL import Image

from benchmarks import report
from benchmarks.gradio_server import gradio_server
from gan_demo import catalog, inference, projection, runtime
from gan_demo.imaging import make_grid, pil_to_signed
from gan_demo.models import CycleGAN, DCGenerator

ROOT = Path(__file__).resolve().parents[1]
FULL = {"latency_repeats": 50, "round_trips": 30, "users": 16, "samples_per_user": 20, "translations_per_user": 5}
QUICK = {"latency_repeats": 3, "round_trips": 2, "users": 4, "samples_per_user": 3, "translations_per_user": 1}
SPACE_STARTS = {"full": 4, "quick": 2}  # the first downloads the models, the rest find them cached
SPACE_ID = "stand-in-user/cat-demo"
SPACE_MODELS = {catalog.DEFAULT_DCGAN: "stand-in-user/dcgan-cats", "cyclegan-cats": "stand-in-user/cyclegan-cats"}
SAMPLE_COUNT = 16  # the app's default number of samples
SLIDERS = (0.0,) * 6
TRANSLATE_DIRECTION = "Russian Blue -> Grumpy"


def prepare_checkpoints(folder: Path) -> dict[str, str]:
    """Every catalog model in `folder`: the bundled export when checkpoints/ has it, else a randomly
    initialised stand-in with the bundled architecture. Returns {name: "bundled" | "stand-in"}."""
    origin = {}
    for entry in catalog.ENTRIES:
        bundled = entry.bundled_folder(catalog.DEFAULT_CHECKPOINTS)
        if (bundled / "model.safetensors").is_file():
            (folder / entry.name).symlink_to(bundled, target_is_directory=True)
            origin[entry.name] = "bundled"
            continue
        if entry.kind == "dcgan":
            model = DCGenerator(latent_dim=100, conv_dim=32, image_size=64)
        else:
            model = CycleGAN(*(entry.domains or ("a", "b")), image_size=64, conv_dim=32, n_res_blocks=3)
        model.save_pretrained(folder / entry.name)
        origin[entry.name] = "stand-in"
    return origin


@contextlib.contextmanager
def work_folder(name: str) -> Iterator[tuple[Path, Path, dict[str, str]]]:
    """A temporary folder with checkpoints/ made by `prepare_checkpoints` in it: (folder, checkpoints,
    where each model came from); removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"gan-demo-{name}-") as temporary:
        checkpoints = Path(temporary) / "checkpoints"
        checkpoints.mkdir()
        yield Path(temporary), checkpoints, prepare_checkpoints(checkpoints)


def test_images(folder: Path) -> dict[str, Path]:
    """A 64 px and a 256 px photo-like PNG to translate."""
    images = {}
    for size in (64, 256):
        source = report.synthetic_images(folder / f"photo-{size}", 1, size, seed=size)
        images[str(size)] = next(source.glob("*.png"))
    return images


def inference_latency(checkpoints: Path, images: dict[str, Path], repeats: int) -> dict[str, dict]:
    """Milliseconds per call of the functions the app's handlers call, after one warm-up call."""
    generator = inference.load_generator(checkpoints / catalog.DEFAULT_DCGAN)
    model = inference.load_cyclegan(checkpoints / "cyclegan-cats")
    photo_64, photo_256 = Image.open(images["64"]).convert("RGB"), Image.open(images["256"]).convert("RGB")
    calls = {
        "sample 1 cat": lambda: inference.sample_grid(generator, [0]),
        "sample 16 cats": lambda: inference.sample_grid(generator, range(SAMPLE_COUNT), seed_captions=True),
        "translate 64 px": lambda: inference.translate(model, photo_64, "a2b"),
        "translate 256 px (full image)": lambda: inference.translate(model, photo_256, "a2b", full_size=True),
    }
    return {name: report.summary(report.timed_ms(call, repeats)) for name, call in calls.items()}


EDIT = [2.0]  # direction 1 at +2 standard deviations: the edit whose effect on a projected photo is compared


def projected(generator: DCGenerator, photo: Path, looks: Path | None) -> dict:
    """One photo through /project's work: seconds (wall and CPU), distances and the edit's effect."""
    cpu_started = time.process_time()
    result = projection.project(generator, photo)
    cpu_seconds = time.process_time() - cpu_started
    reconstruction = inference.draw(result.generator, result.latent)
    edited = inference.draw(result.generator, result.latent, 1.0, EDIT)
    if looks is not None:
        strip = [pil_to_signed(result.square)[0], inference.draw(generator, result.latent)[0], reconstruction[0],
                 edited[0]]
        make_grid(torch.stack(strip), columns=4).save(looks / f"{photo.stem}.png")
    return {"seconds": result.seconds, "cpu_seconds": cpu_seconds, "l1": result.distance,
            "pivot_l1": result.pivot_distance, "edit_change": (edited - reconstruction).abs().mean().item(),
            "cannot_draw": result.verdict.startswith("This model cannot")}


def projection_speed(checkpoints: Path, photos: list[Path], repeats: int, extra: list[Path],
                     looks: Path | None) -> dict:
    """Project each photo (`repeats` times when there is one) with the default DCGAN, and each `extra`
    photo once: seconds, distances and the edit's effect relative to sampled cats'."""
    generator = inference.load_generator(checkpoints / catalog.DEFAULT_DCGAN)
    sampled = inference.draw(generator, range(16))
    sample_change = (inference.draw(generator, range(16), 1.0, EDIT) - sampled).abs().mean().item()
    if looks is not None:
        looks.mkdir(parents=True, exist_ok=True)
    results = [projected(generator, photo, looks) for photo in photos * (repeats if len(photos) == 1 else 1)]

    def mean(key: str, rows: list[dict]) -> float:
        return round(sum(row[key] for row in rows) / len(rows), 4)

    return {"photos": len(photos), "seconds": report.summary([result["seconds"] for result in results]),
            "cpu_seconds": report.summary([result["cpu_seconds"] for result in results]),
            "l1_mean": mean("l1", results), "l1_median": round(float(np.median([row["l1"] for row in results])), 4),
            "pivot_l1_mean": mean("pivot_l1", results),
            "edit_change_vs_samples": round(mean("edit_change", results) / sample_change, 3),
            "cannot_draw": sum(result["cannot_draw"] for result in results),
            "extra": {photo.name: rounded(projected(generator, photo, looks), sample_change) for photo in extra}}


def rounded(row: dict, sample_change: float) -> dict:
    """One photo's figures to 4 decimals, with its edit's effect relative to sampled cats'."""
    row = {**row, "edit_change_vs_samples": row["edit_change"] / sample_change}
    return {key: round(value, 4) if isinstance(value, float) else value for key, value in row.items()}


def held_out_photos(folder: Path) -> list[Path]:
    from train.data import list_images, split_holdout  # the split the retrained models kept out of training

    return split_holdout(list_images(folder, "--project-photos"), folder, 0.1)[1]


@contextlib.contextmanager
def served(command: list[str], checkpoints: Path, log_folder: Path) -> Iterator[tuple[str, subprocess.Popen, float]]:
    """Start `command` as a Gradio server on a free port, offline; yield (url, process, cold start in
    seconds: command to the first answered /sample), and stop it afterwards."""
    env = {**os.environ, "GAN_DEMO_CHECKPOINTS": str(checkpoints), "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    with gradio_server(command, env, log_folder) as (url, server):
        sample(Client(url, verbose=False), seed=0)
        yield url, server, time.perf_counter() - started


def sample(client: Client, seed: int) -> object:
    return client.predict(catalog.DEFAULT_DCGAN, seed, 1.0, SAMPLE_COUNT, *SLIDERS, api_name="/sample")


def translate(client: Client, image: Path) -> object:
    return client.predict(handle_file(image), TRANSLATE_DIRECTION, "model size", api_name="/translate")


def round_trips(clients: dict[str, Client], image: Path, count: int) -> dict[str, dict]:
    """`count` /sample and /translate round trips per server, alternating between the servers."""
    calls = {"/sample": lambda client, index: sample(client, seed=index + 1),
             "/translate": lambda client, index: translate(client, image)}
    times: dict[str, list[float]] = {f"{name} {endpoint}": [] for name in clients for endpoint in calls}
    for index in range(count):
        for name, client in clients.items():
            for endpoint, call in calls.items():
                started = time.perf_counter()
                call(client, index)
                times[f"{name} {endpoint}"].append((time.perf_counter() - started) * 1000)
    return {key: report.summary(values) for key, values in times.items()}


class PeakMemory:
    """Samples the resident memory of a process and its children every 50 ms in a thread; `peak_mb`."""

    def __init__(self, pid: int):
        self.process, self.peak_mb, self.running = psutil.Process(pid), 0.0, True
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def tree_mb(self) -> float:
        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total / 2**20

    def sample(self) -> None:
        while self.running:
            self.peak_mb = max(self.peak_mb, self.tree_mb())
            time.sleep(0.05)

    def __enter__(self) -> "PeakMemory":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.running = False
        self.thread.join()


def load_test(url: str, server: subprocess.Popen, image: Path, users: int, samples: int,
              translations: int) -> dict:
    """`users` threads, each with its own client, making `samples` /sample calls with a /translate
    call spread among them; every call's latency and every error."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def user(index: int) -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as error:
            with lock:
                errors.append(f"connect: {type(error).__name__}: {error}")
            return
        translate_after = {round((k + 1) * samples / translations) - 1 for k in range(translations)}  # spread out
        calls = []
        for call in range(samples):
            calls.append(lambda call=call: sample(client, seed=1000 * index + call))
            if call in translate_after:
                calls.append(lambda: translate(client, image))
        for call in calls:
            started = time.perf_counter()
            try:
                call()
            except Exception as error:
                with lock:
                    errors.append(f"{type(error).__name__}: {error}"[:200])
                continue
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)

    memory = PeakMemory(server.pid)
    idle_mb = memory.tree_mb()
    started = time.perf_counter()
    with memory:
        threads = [threading.Thread(target=user, args=(index,)) for index in range(users)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    seconds = time.perf_counter() - started
    return {"users": users, "calls_per_user": {"/sample": samples, "/translate": translations},
            "calls": len(latencies) + len(errors), "errors": len(errors), "error_messages": errors[:10],
            "latency_ms": report.summary(latencies) if latencies else None, "seconds": round(seconds, 2),
            "calls_per_second": round(len(latencies) / seconds, 2),
            "server_memory_mb": {"idle": round(idle_mb, 1), "peak": round(memory.peak_mb, 1)}}


def space_cold_start(work: Path, starts: int) -> dict:
    """Deploy a Space serving SPACE_MODELS to a stand-in Hub and start its tree `starts` times as
    Spaces does (see the module docstring); seconds from the command to the first answered /sample."""
    from benchmarks.space_start import space_server, write_space_tree
    from tests.hub_server import StandInHub

    with StandInHub() as hub:
        env = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_OFFLINE", "GAN_DEMO_OFFLINE")}
        env.update(HF_ENDPOINT=hub.url, HF_HOME=str(work / "deploy-hf-home"), HF_TOKEN="hf_benchmarkDummyToken",
                   PYTHONPATH=str(ROOT), HF_HUB_DISABLE_TELEMETRY="1")
        for name, repo_id in SPACE_MODELS.items():
            subprocess.run([sys.executable, "-m", "train.publish", str(catalog.DEFAULT_CHECKPOINTS / name), "--repo",
                            repo_id], cwd=ROOT, env=env, check=True, capture_output=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "train.deploy", SPACE_ID,
                        *(f"--model={repo_id}" for repo_id in SPACE_MODELS.values())],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        deploy_seconds = time.perf_counter() - started
        folder = write_space_tree(hub, SPACE_ID, work / "space")
        # The floor: the trivial app (Gradio alone, no torch, no models) started the same way, in turn.
        floor = [sys.executable, str(ROOT / "benchmarks" / "trivial_app.py"),
                 str(ROOT / "examples" / "grumpy-dcgan-seed-23.png")]
        seconds: dict[str, list[float]] = {"app": [], "floor": []}
        for _ in range(starts):
            for name, command, variant in (("app", None, SPACE_MODELS[catalog.DEFAULT_DCGAN]), ("floor", floor, "")):
                started = time.perf_counter()
                with space_server(folder, SPACE_ID, hub.url, work / "space-hf-home", command=command) as url:
                    Client(url, verbose=False).predict(variant, 0, 1.0, SAMPLE_COUNT, *SLIDERS, api_name="/sample")
                    seconds[name].append(round(time.perf_counter() - started, 2))
    return {"space_models": list(SPACE_MODELS.values()), "deploy_s": round(deploy_seconds, 2),
            "first_start_s": seconds["app"][0], "cached_starts_s": seconds["app"][1:],
            "floor_starts_s": seconds["floor"]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few calls only (CI): checks it runs, not the numbers")
    parser.add_argument("--project-photos", type=Path, help="project the held-out 10%% of this image folder")
    parser.add_argument("--project-photo", type=Path, action="append", default=[],
                        help="also project this photo, reported on its own (repeatable)")
    parser.add_argument("--project-only", action="store_true", help="measure the projection only")
    parser.add_argument("--project-looks", type=Path,
                        help="write square | pivot | reconstruction | edited strips here, to look at")
    parser.add_argument("--json", type=Path, help="where to write the results (default: benchmarks/results/)")
    parser.add_argument("--space-cold-start", action="store_true",
                        help="only the cold start of a deployed Space (stand-in Hub), see above")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.space_cold_start:
        return main_space_cold_start(args)
    plan = QUICK if args.quick else FULL
    result: dict = {"benchmark": "serve_speed", "quick": args.quick, "plan": plan}
    with work_folder("serve-speed") as (work, checkpoints, result["models"]):
        images = test_images(work)
        runtime.configure(threads=runtime.serving_threads())  # the app's thread settings
        result["precision"] = runtime.set_drawing_precision("auto")  # and its default precision
        result["conditions_at_start"] = report.conditions()
        photos = held_out_photos(args.project_photos) if args.project_photos else [images["64"]]
        result["project"] = projection_speed(checkpoints, photos, plan["round_trips"], args.project_photo,
                                             args.project_looks)
        if args.project_only:
            print_projection(result)
            report.write_json(result, args.json, "serve_speed")
            return result
        result["inference_ms"] = inference_latency(checkpoints, images, plan["latency_repeats"])
        grid = inference.sample_grid(inference.load_generator(checkpoints / catalog.DEFAULT_DCGAN), range(SAMPLE_COUNT),
                                     seed_captions=True)  # the image the app sends
        grid.save(work / "grid.png")
        floor_command = [sys.executable, str(ROOT / "benchmarks" / "trivial_app.py"), str(work / "grid.png")]
        with served([sys.executable, "app.py"], checkpoints, work) as (app_url, app_server, app_cold), \
                served(floor_command, checkpoints, work) as (floor_url, _, floor_cold):
            result["cold_start_s"] = {"app": round(app_cold, 2), "floor": round(floor_cold, 2)}
            clients = {"app": Client(app_url, verbose=False), "floor": Client(floor_url, verbose=False)}
            result["round_trip_ms"] = round_trips(clients, images["64"], plan["round_trips"])
            result["load"] = load_test(app_url, app_server, images["64"], plan["users"], plan["samples_per_user"],
                                       plan["translations_per_user"])
        result["conditions_at_end"] = report.conditions()
    print_tables(result)
    report.write_json(result, args.json, "serve_speed")
    return result


def main_space_cold_start(args: argparse.Namespace) -> dict:
    result: dict = {"benchmark": "serve_speed --space-cold-start", "quick": args.quick,
                    "conditions_at_start": report.conditions()}
    with tempfile.TemporaryDirectory(prefix="gan-demo-space-start-") as work:
        result["space"] = space_cold_start(Path(work), SPACE_STARTS["quick" if args.quick else "full"])
    result["conditions_at_end"] = report.conditions()
    space, start = result["space"], result["conditions_at_start"]
    report.print_table(f"Deployed Space, command to first answered /sample, s ({start['cpu']}, {start['cores']} "
                       f"cores, load average {start['load_average_1min']} at start)",
                       ["deploy", "first start (downloads the models)", "cold start, models cached",
                        "trivial Gradio app started the same way"],
                       [(space["deploy_s"], space["first_start_s"], ", ".join(map(str, space["cached_starts_s"])),
                         ", ".join(map(str, space["floor_starts_s"])))])
    report.write_json(result, args.json, "serve_speed_space")
    return result


def print_tables(result: dict) -> None:
    start = result["conditions_at_start"]
    where = (f"{start['cpu']}, {start['cores']} cores, {start['torch_threads']} torch threads, "
             f"load average {start['load_average_1min']} at start")
    rows = [(name, f"{entry['median']:.1f}", f"{entry['p90']:.1f}") for name, entry in result["inference_ms"].items()]
    report.print_table(f"Inference latency in {result['precision']}, ms ({where})", ["call", "median", "p90"], rows)
    print_projection(result)
    trips = result["round_trip_ms"]
    rows = [(endpoint, f"{trips['app ' + endpoint]['median']:.1f}", f"{trips['floor ' + endpoint]['median']:.1f}",
             f"{trips['app ' + endpoint]['median'] / trips['floor ' + endpoint]['median']:.2f}x")
            for endpoint in ("/sample", "/translate")]
    rows.append(("cold start (s)", result["cold_start_s"]["app"], result["cold_start_s"]["floor"],
                 f"{result['cold_start_s']['app'] / result['cold_start_s']['floor']:.2f}x"))
    report.print_table("App round trips through gradio_client, median ms", ["", "app", "trivial floor", "app / floor"],
                       rows)
    load = result["load"]
    latency = load["latency_ms"] or {"median": float("nan"), "p99": float("nan")}
    report.print_table("Load", ["users", "calls", "errors", "median ms", "p99 ms", "calls/s",
                                "server RSS idle -> peak MB"],
                       [(load["users"], load["calls"], load["errors"], f"{latency['median']:.0f}",
                         f"{latency['p99']:.0f}", load["calls_per_second"],
                         f"{load['server_memory_mb']['idle']} -> {load['server_memory_mb']['peak']}")])


def print_projection(result: dict) -> None:
    start = result["conditions_at_start"]
    print(f"/project in {result['precision']} on {start['cpu']}, {start['torch_threads']} torch thread(s), "
          f"load average {start['load_average_1min']} at start")
    project = result["project"]
    report.print_table(f"/project: {project['photos']} photo(s), default DCGAN",
                       ["median s", "p90 s", "median CPU s", "mean L1", "median L1", "pivot L1",
                        "edit vs samples", "cannot draw"],
                       [(f"{project['seconds']['median']:.2f}", f"{project['seconds']['p90']:.2f}",
                         f"{project['cpu_seconds']['median']:.2f}", project["l1_mean"], project["l1_median"],
                         project["pivot_l1_mean"], project["edit_change_vs_samples"], project["cannot_draw"])])
    for name, row in project["extra"].items():
        report.print_table(f"/project: {name}", ["s", "CPU s", "L1", "pivot L1", "edit vs samples", "cannot draw"],
                           [(f"{row['seconds']:.2f}", f"{row['cpu_seconds']:.2f}", row["l1"], row["pivot_l1"],
                             row["edit_change_vs_samples"], row["cannot_draw"])])


if __name__ == "__main__":
    main()
