"""ONNX Runtime against PyTorch on this CPU:
`python -m benchmarks.onnx_speed [--quick] [--threads N ...] [--json PATH]`.

Exports the bundled default DCGAN and cyclegan-cats with train.export_onnx (checked against PyTorch
as always), then times the network calls behind the app's two main answers, each engine at the same
intra-op thread count: the 16-cat grid (the DCGAN on a batch of 16 latents, z -> images) and a 256 px
translation (gen_a2b on one 256x256 image). Pixel work before and after the network (latents, PNG
encoding) is the same for both engines and is left out. PyTorch runs in float32 under inference_mode;
onnxruntime with its default graph optimisations, sequential execution.
"""

import os

if __name__ == "__main__":  # OpenMP reads this once, when torch loads it: idle threads sleep, not spin
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # (docs/performance.md)

import argparse
import tempfile
from pathlib import Path

import onnxruntime
import torch

from benchmarks import report
from gan_demo import catalog, runtime
from gan_demo.inference import load_cyclegan, load_generator
from train.export_onnx import export_onnx

FULL = {"repeats": 30}
QUICK = {"repeats": 2}
GRID = 16
SIDE = 256


def sessions(folder: Path, threads: int) -> dict[str, onnxruntime.InferenceSession]:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return {name: onnxruntime.InferenceSession(str(folder / name), options, providers=["CPUExecutionProvider"])
            for name in ("generator.onnx", "gen_a2b.onnx")}


def latencies(onnx_folder: Path, threads: int, repeats: int) -> dict[str, dict]:
    """Milliseconds per call of each engine for the grid and the translation, at `threads` threads."""
    torch.set_num_threads(threads)
    generator = load_generator(catalog.DEFAULT_CHECKPOINTS / catalog.DEFAULT_DCGAN)
    translator = load_cyclegan(catalog.DEFAULT_CHECKPOINTS / "cyclegan-cats").gen_a2b
    z = torch.randn(GRID, generator.latent_dim, generator=torch.Generator().manual_seed(0))
    image = torch.rand(1, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    onnx = sessions(onnx_folder, threads)

    def in_torch(network, batch):
        with torch.inference_mode():
            return network(batch)

    calls = {
        f"{GRID}-cat grid, PyTorch": lambda: in_torch(generator, z),
        f"{GRID}-cat grid, onnxruntime": lambda: onnx["generator.onnx"].run(None, {"z": z.numpy()}),
        f"{SIDE} px translation, PyTorch": lambda: in_torch(translator, image),
        f"{SIDE} px translation, onnxruntime": lambda: onnx["gen_a2b.onnx"].run(None, {"images": image.numpy()}),
    }
    return {name: report.summary(report.timed_ms(call, repeats, warmup=2)) for name, call in calls.items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.onnx_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few calls only (CI): checks it runs, not the numbers")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="intra-op thread counts to compare at (default 1 2; the app serves with 1)")
    parser.add_argument("--json", type=Path, help="where to write the results (default: benchmarks/results/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    runtime.configure()  # denormals and inter-op threads as the app sets them
    result: dict = {"benchmark": "onnx_speed", "quick": args.quick, "plan": plan,
                    "onnxruntime": onnxruntime.__version__, "torch": torch.__version__,
                    "conditions_at_start": report.conditions()}
    with tempfile.TemporaryDirectory(prefix="gan-demo-onnx-speed-") as folder:
        folder = Path(folder)
        checks = {}
        for name in (catalog.DEFAULT_DCGAN, "cyclegan-cats"):
            checks[name] = export_onnx(catalog.DEFAULT_CHECKPOINTS / name, folder)["check"]["max_abs_difference"]
        result["max_abs_difference"] = checks
        result["latency_ms"] = {str(threads): latencies(folder, threads, plan["repeats"]) for threads in args.threads}
    result["conditions_at_end"] = report.conditions()
    print_tables(result)
    report.write_json(result, args.json, "onnx_speed")
    return result


def print_tables(result: dict) -> None:
    start = result["conditions_at_start"]
    where = f"{start['cpu']}, {start['cores']} cores, load average {start['load_average_1min']} at start"
    rows = []
    for threads, timings in result["latency_ms"].items():
        for task in (f"{GRID}-cat grid", f"{SIDE} px translation"):
            torch_ms, onnx_ms = timings[f"{task}, PyTorch"]["median"], timings[f"{task}, onnxruntime"]["median"]
            rows.append((task, threads, f"{torch_ms:.1f}", f"{onnx_ms:.1f}", f"{torch_ms / onnx_ms:.2f}x"))
    report.print_table(f"Median ms per network call ({where})",
                       ["call", "threads", "PyTorch", "onnxruntime", "PyTorch / onnxruntime"], rows)
    report.print_table("onnxruntime vs PyTorch, largest absolute difference (export check)", ["model", "file", "max"],
                       [(model, file, f"{value:.1e}") for model, files in result["max_abs_difference"].items()
                        for file, value in files.items()])


if __name__ == "__main__":
    main()
