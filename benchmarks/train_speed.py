"""Training throughput: `python -m benchmarks.train_speed [--quick] [--json PATH] [--threads N]`.

For DCGAN and CycleGAN at the bundled settings (64 px, conv_dim 32, batch 16, basic augmentation),
the project's loop (the real `DCGANTrainer` / `CycleGANTrainer`, built from their command lines on a
temporary folder of synthetic PNGs, at fp32 and at bf16) runs against the pytorch/examples-style
reference loop of benchmarks/plain_loops.py, in one process, alternated (the order rotates every
round, so a change in the machine's load hits every variant alike), several rounds; images/s is the
median over rounds and the ratio is that median over the plain loop's. An image is one real image
consumed: B per DCGAN step, 2B per CycleGAN step (B per domain). The project's one-off decode of the
folder into memory is not timed; the plain loop's DataLoader restarts (every epoch) are, as a user
pays them.

Distance to the machine's limit: every loop's floating-point work per step (GFLOP, counted by
torch.utils.flop_counter over one step: convolutions and matrix products, forward and backward) and
the rate it achieves (GFLOP/s at the median speed), next to this CPU's measured peak: the best
GFLOP/s of a large square matmul at the same thread count, in fp32 and in bf16 (each loop is held
against the peak of its own precision).
"""

import os

if __name__ == "__main__":  # OpenMP reads this once, when torch loads it: idle threads sleep, not spin
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # (docs/performance.md)

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import report
from benchmarks.plain_loops import PlainCycleGAN, PlainDCGAN
from gan_demo import runtime
from train import cyclegan, dcgan

IMAGE_SIZE, CONV_DIM = 64, 32
FOLDER_SIZE = 176  # about the size of the grumpy-cat set: the plain loader starts a new epoch every 11 steps
FULL = {"rounds": 5, "warmup": 3, "steps": {"dcgan": 20, "cyclegan": 6}, "batch_size": 16, "matmul_size": 2048}
QUICK = {"rounds": 2, "warmup": 0, "steps": {"dcgan": 2, "cyclegan": 1}, "batch_size": 4, "matmul_size": 512}


class Variant:
    """One loop under test: a name, its precision, how many images a step consumes, and its step function."""

    def __init__(self, name: str, precision: str, images_per_step: int, step: Callable[[], object]):
        self.name, self.precision, self.images_per_step, self.step = name, precision, images_per_step, step
        self.images_per_second: list[float] = []
        self.gflop_per_step = 0.0

    def count_flops(self) -> None:
        """One step under torch's FLOP counter (it also serves as a warm-up step)."""
        with FlopCounterMode(display=False) as counter:
            self.step()
        self.gflop_per_step = counter.get_total_flops() / 1e9

    def measure(self, warmup: int, steps: int) -> None:
        for _ in range(warmup):
            self.step()
        started = time.perf_counter()
        for _ in range(steps):
            self.step()
        self.images_per_second.append(self.images_per_step * steps / (time.perf_counter() - started))


def project_step(trainer) -> Callable[[], list[float]]:
    """The trainer's own step function, walking through its steps as `fit` does."""
    def step() -> list[float]:
        trainer.step += 1
        return trainer.train_step(trainer.step)
    return step


def dcgan_variants(data: Path, work: Path, batch_size: int, precisions: list[str]) -> list[Variant]:
    plain = PlainDCGAN(data, batch_size=batch_size, image_size=IMAGE_SIZE, conv_dim=CONV_DIM)
    variants = [Variant("plain loop (reference)", "fp32", batch_size, plain.train_step)]
    for precision in precisions:
        args = dcgan.parse_args(["--data", str(data), "--out", str(work / f"dcgan-{precision}"), "--iters", "1000000",
                                 "--batch-size", str(batch_size), "--image-size", str(IMAGE_SIZE),
                                 "--conv-dim", str(CONV_DIM), "--precision", precision])
        variants.append(Variant(f"project loop, {precision}", precision, batch_size,
                                project_step(dcgan.DCGANTrainer(args))))
    return variants


def cyclegan_variants(data_a: Path, data_b: Path, work: Path, batch_size: int, precisions: list[str]) -> list[Variant]:
    plain = PlainCycleGAN(data_a, data_b, batch_size=batch_size, image_size=IMAGE_SIZE, conv_dim=CONV_DIM)
    variants = [Variant("plain loop (reference)", "fp32", 2 * batch_size, plain.train_step)]
    for precision in precisions:
        args = cyclegan.parse_args(["--data-a", str(data_a), "--data-b", str(data_b),
                                    "--out", str(work / f"cyclegan-{precision}"), "--iters", "1000000",
                                    "--batch-size", str(batch_size), "--image-size", str(IMAGE_SIZE),
                                    "--conv-dim", str(CONV_DIM), "--disc", "patch", "--precision", precision])
        trainer = cyclegan.CycleGANTrainer(args)
        variants.append(Variant(f"project loop, {precision}", precision, 2 * batch_size, project_step(trainer)))
    return variants


def matmul_peak(dtype: torch.dtype, size: int, repeats: int = 5) -> float:
    """The best GFLOP/s of (size x size) @ (size x size) in `dtype` at the current thread count: what
    this CPU's matrix units deliver at best, the ceiling for convolutions (which oneDNN runs as matmuls)."""
    generator = torch.Generator().manual_seed(0)
    left = torch.randn(size, size, generator=generator).to(dtype)
    right = torch.randn(size, size, generator=generator).to(dtype)
    torch.mm(left, right)  # warm-up: kernel selection and page faults
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(left, right)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def alternate(variants: list[Variant], rounds: int, warmup: int, steps: int) -> None:
    """`rounds` rounds of every variant, the starting variant rotating from round to round, after one
    FLOP-counted step of each (which warms it up, so the quick mode needs no other warm-up)."""
    for variant in variants:
        variant.count_flops()
    for round_index in range(rounds):
        shift = round_index % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            variant.measure(warmup, steps)


def results_of(variants: list[Variant], peaks: dict[str, float]) -> list[dict]:
    baseline = report.median(variants[0].images_per_second)
    results = []
    for variant in variants:
        images_per_second = report.median(variant.images_per_second)
        gflops = variant.gflop_per_step * images_per_second / variant.images_per_step
        results.append({"loop": variant.name, "precision": variant.precision,
                        "images_per_second": round(images_per_second, 2),
                        "rounds": [round(value, 2) for value in variant.images_per_second],
                        "ratio_to_plain": round(images_per_second / baseline, 2),
                        "gflop_per_step": round(variant.gflop_per_step, 3), "gflop_per_second": round(gflops, 2),
                        "share_of_matmul_peak": round(gflops / peaks[variant.precision], 4)})
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps only (CI): checks it runs, not the numbers")
    parser.add_argument("--json", type=Path, help="where to write the results (default: benchmarks/results/)")
    parser.add_argument("--batch-size", type=int, help="images per step and domain (default 16; 4 with --quick)")
    parser.add_argument("--rounds", type=int, help="alternation rounds (default 5; 2 with --quick)")
    parser.add_argument("--models", nargs="+", choices=("dcgan", "cyclegan"), default=["dcgan", "cyclegan"])
    parser.add_argument("--threads", type=int,
                        help="torch threads of every loop (default: PyTorch's, i.e. OMP_NUM_THREADS or the cores)")
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"],
                        help="precisions of the project's loop (the plain loop is always fp32)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    rounds = args.rounds or plan["rounds"]
    args.batch_size = args.batch_size or plan["batch_size"]
    runtime.configure(threads=args.threads)  # one count for every loop: the trainers keep it
    peaks = {precision: matmul_peak(dtype, plan["matmul_size"])
             for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    result = {"benchmark": "train_speed", "quick": args.quick, "batch_size": args.batch_size,
              "image_size": IMAGE_SIZE, "conv_dim": CONV_DIM, "rounds": rounds,
              "matmul_peak_gflop_per_second": {precision: round(peak, 1) for precision, peak in peaks.items()},
              "matmul_size": plan["matmul_size"], "models": {}}
    with tempfile.TemporaryDirectory(prefix="gan-demo-train-speed-") as temporary:
        work = Path(temporary)
        data_a = report.synthetic_images(work / "data-a", FOLDER_SIZE, IMAGE_SIZE, seed=0)
        data_b = report.synthetic_images(work / "data-b", FOLDER_SIZE, IMAGE_SIZE, seed=1, tint=(40, 0, 0))
        result["conditions_at_start"] = report.conditions()
        for model in args.models:
            variants = (dcgan_variants(data_a, work, args.batch_size, args.precisions) if model == "dcgan"
                        else cyclegan_variants(data_a, data_b, work, args.batch_size, args.precisions))
            alternate(variants, rounds, plan["warmup"], plan["steps"][model])
            result["models"][model] = {"steps_per_round": plan["steps"][model], "loops": results_of(variants, peaks)}
        result["conditions_at_end"] = report.conditions()
    rows = [(model, loop["loop"], loop["images_per_second"], f"{loop['ratio_to_plain']:.2f}x",
             f"{loop['gflop_per_step']:.2f}", f"{loop['gflop_per_second']:.1f}", f"{loop['share_of_matmul_peak']:.1%}")
            for model, entry in result["models"].items() for loop in entry["loops"]]
    start = result["conditions_at_start"]
    report.print_table(f"Training throughput ({start['cpu']}, {start['cores']} cores, {start['torch_threads']} "
                       f"torch threads, load average {start['load_average_1min']} at start; batch {args.batch_size}, "
                       f"{IMAGE_SIZE} px, conv_dim {CONV_DIM}; median of {rounds} alternated rounds; matmul peak "
                       f"{peaks['fp32']:.0f} GFLOP/s fp32, {peaks['bf16']:.0f} GFLOP/s bf16)",
                       ["model", "loop", "images/s", "vs plain", "GFLOP/step", "GFLOP/s", "of matmul peak"], rows)
    report.write_json(result, args.json, "train_speed")
    return result


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
