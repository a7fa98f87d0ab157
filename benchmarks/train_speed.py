"""Training throughput: `python -m benchmarks.train_speed [--quick] [--json PATH]`.

For DCGAN and CycleGAN at the bundled settings (64 px, conv_dim 32, batch 16, basic augmentation),
the project's loop (the real `DCGANTrainer` / `CycleGANTrainer`, built from their command lines on a
temporary folder of synthetic PNGs, at fp32 and at bf16) runs against the plain reference loop of
benchmarks/plain_loops.py, in one process, alternated (the order rotates every round, so a change in
the machine's load hits every variant alike), several rounds; images/s is the median over rounds
and the ratio is that median over the plain loop's. An image is one real image consumed: B per
DCGAN step, 2B per CycleGAN step (B per domain). The project's one-off decode of the folder into
memory is not timed; the plain loop's DataLoader restarts (every epoch) are, as a user pays them.
"""

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from benchmarks import report
from benchmarks.plain_loops import PlainCycleGAN, PlainDCGAN
from gan_demo import runtime
from train import cyclegan, dcgan

IMAGE_SIZE, CONV_DIM = 64, 32
FOLDER_SIZE = 176  # about the size of the grumpy-cat set: the plain loader starts a new epoch every 11 steps
FULL = {"rounds": 5, "warmup": 3, "steps": {"dcgan": 20, "cyclegan": 6}, "batch_size": 16}
QUICK = {"rounds": 2, "warmup": 1, "steps": {"dcgan": 2, "cyclegan": 1}, "batch_size": 4}


class Variant:
    """One loop under test: a name, how many images a step consumes, and its step function."""

    def __init__(self, name: str, images_per_step: int, step: Callable[[], object]):
        self.name, self.images_per_step, self.step = name, images_per_step, step
        self.images_per_second: list[float] = []

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
    variants = [Variant("plain loop (reference)", batch_size, plain.train_step)]
    for precision in precisions:
        args = dcgan.parse_args(["--data", str(data), "--out", str(work / f"dcgan-{precision}"), "--iters", "1000000",
                                 "--batch-size", str(batch_size), "--image-size", str(IMAGE_SIZE),
                                 "--conv-dim", str(CONV_DIM), "--precision", precision])
        variants.append(Variant(f"project loop, {precision}", batch_size, project_step(dcgan.DCGANTrainer(args))))
    return variants


def cyclegan_variants(data_a: Path, data_b: Path, work: Path, batch_size: int, precisions: list[str]) -> list[Variant]:
    plain = PlainCycleGAN(data_a, data_b, batch_size=batch_size, image_size=IMAGE_SIZE, conv_dim=CONV_DIM)
    variants = [Variant("plain loop (reference)", 2 * batch_size, plain.train_step)]
    for precision in precisions:
        args = cyclegan.parse_args(["--data-a", str(data_a), "--data-b", str(data_b),
                                    "--out", str(work / f"cyclegan-{precision}"), "--iters", "1000000",
                                    "--batch-size", str(batch_size), "--image-size", str(IMAGE_SIZE),
                                    "--conv-dim", str(CONV_DIM), "--disc", "patch", "--precision", precision])
        trainer = cyclegan.CycleGANTrainer(args)
        variants.append(Variant(f"project loop, {precision}", 2 * batch_size, project_step(trainer)))
    return variants


def alternate(variants: list[Variant], rounds: int, warmup: int, steps: int) -> None:
    """`rounds` rounds of every variant, the starting variant rotating from round to round."""
    for round_index in range(rounds):
        shift = round_index % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            variant.measure(warmup, steps)


def results_of(variants: list[Variant]) -> list[dict]:
    baseline = report.median(variants[0].images_per_second)
    return [{"loop": variant.name, "images_per_second": round(report.median(variant.images_per_second), 2),
             "rounds": [round(value, 2) for value in variant.images_per_second],
             "ratio_to_plain": round(report.median(variant.images_per_second) / baseline, 2)} for variant in variants]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps only (CI): checks it runs, not the numbers")
    parser.add_argument("--json", type=Path, help="where to write the results (default: benchmarks/results/)")
    parser.add_argument("--batch-size", type=int, help="images per step and domain (default 16; 4 with --quick)")
    parser.add_argument("--rounds", type=int, help="alternation rounds (default 5; 2 with --quick)")
    parser.add_argument("--models", nargs="+", choices=("dcgan", "cyclegan"), default=["dcgan", "cyclegan"])
    parser.add_argument("--threads", type=int, help="torch threads of every loop (default: the idle cores at start)")
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"],
                        help="precisions of the project's loop (the plain loop is always fp32)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    rounds = args.rounds or plan["rounds"]
    args.batch_size = args.batch_size or plan["batch_size"]
    threads = args.threads or runtime.idle_cores()
    os.environ["OMP_NUM_THREADS"] = str(threads)  # the trainers' runtime.configure keeps it: one count for all loops
    torch.set_num_threads(threads)
    result = {"benchmark": "train_speed", "quick": args.quick, "batch_size": args.batch_size,
              "image_size": IMAGE_SIZE, "conv_dim": CONV_DIM, "rounds": rounds, "models": {}}
    with tempfile.TemporaryDirectory(prefix="gan-demo-train-speed-") as temporary:
        work = Path(temporary)
        data_a = report.synthetic_images(work / "data-a", FOLDER_SIZE, IMAGE_SIZE, seed=0)
        data_b = report.synthetic_images(work / "data-b", FOLDER_SIZE, IMAGE_SIZE, seed=1, tint=(40, 0, 0))
        result["conditions_at_start"] = report.conditions()
        for model in args.models:
            variants = (dcgan_variants(data_a, work, args.batch_size, args.precisions) if model == "dcgan"
                        else cyclegan_variants(data_a, data_b, work, args.batch_size, args.precisions))
            alternate(variants, rounds, plan["warmup"], plan["steps"][model])
            result["models"][model] = {"steps_per_round": plan["steps"][model], "loops": results_of(variants)}
        result["conditions_at_end"] = report.conditions()
    rows = [(model, loop["loop"], loop["images_per_second"], f"{loop['ratio_to_plain']:.2f}x")
            for model, entry in result["models"].items() for loop in entry["loops"]]
    start = result["conditions_at_start"]
    report.print_table(f"Training throughput ({start['cpu']}, {start['cores']} cores, {start['torch_threads']} "
                       f"torch threads, load average {start['load_average_1min']} at start; batch {args.batch_size}, "
                       f"{IMAGE_SIZE} px, conv_dim {CONV_DIM}; median of {rounds} alternated rounds)",
                       ["model", "loop", "images/s", "vs plain"], rows)
    report.write_json(result, args.json, "train_speed")
    return result


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
