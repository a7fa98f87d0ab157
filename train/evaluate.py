"""Quality checks of exported models against their training data:

    python -m train.evaluate --data-root ../shared/data [--checkpoints checkpoints] [--json FILE]

- DCGAN memorisation check: the mean distance of 64 samples (seeds 0-63) to their nearest
  training image, next to the training images' own nearest-neighbour distance (leave-one-out).
  Samples much closer to the data than the data is to itself would mean copying.
- CycleGAN cycle consistency: the mean L1 of a -> b -> a and b -> a -> b over each domain.
Distances are root-mean-square per pixel in [0, 1] (L2) or mean absolute per pixel in [-1, 1]
(L1, the training loss's own scale), on 64x64 images.
"""

import argparse
import json
from pathlib import Path

import torch

from gan_demo.inference import load_cyclegan, load_generator
from gan_demo.latents import z_batch
from train.augment import basic
from train.bundle import RUNS
from train.data import load_image_folder
from train.errors import UserError, main

SAMPLE_SEEDS = list(range(64))


def flag_value(arguments: list[str], flag: str) -> str:
    return arguments[arguments.index(flag) + 1]


def rms_distances(queries: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """(Q, 3, H, W), (R, 3, H, W) in [0, 1] -> (Q, R) per-pixel root-mean-square distances."""
    return torch.cdist(queries.flatten(1), references.flatten(1)) / queries[0].numel() ** 0.5


@torch.inference_mode()
def memorisation(folder: Path, data: torch.Tensor) -> dict:
    generator = load_generator(folder)
    samples = (generator(z_batch(SAMPLE_SEEDS, generator.latent_dim)) + 1) / 2  # (64, 3, 64, 64) in [0, 1]
    real = data.float() / 255
    to_data = rms_distances(samples, real).min(dim=1).values
    within = rms_distances(real, real).fill_diagonal_(float("inf")).min(dim=1).values
    sample_spread = rms_distances(samples, samples).fill_diagonal_(float("inf")).min(dim=1).values
    return {"sample_to_nearest_training_image": to_data.mean().item(),
            "training_image_to_nearest_other": within.mean().item(),
            "sample_to_nearest_other_sample": sample_spread.mean().item()}


@torch.inference_mode()
def cycle_consistency(folder: Path, data_a: torch.Tensor, data_b: torch.Tensor) -> dict:
    model = load_cyclegan(folder)
    real_a, real_b = basic(data_a), basic(data_b)
    rec_a = torch.cat([model.gen_b2a(model.gen_a2b(batch)) for batch in real_a.split(64)])
    rec_b = torch.cat([model.gen_a2b(model.gen_b2a(batch)) for batch in real_b.split(64)])
    return {"l1_a_to_b_to_a": (rec_a - real_a).abs().mean().item(),
            "l1_b_to_a_to_b": (rec_b - real_b).abs().mean().item()}


def parse_and_run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True, type=Path, help="folder holding cat/ and apple2orange/")
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"), help="folder of exported models")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if not args.data_root.is_dir():
        raise UserError(f"--data-root {args.data_root}: no such folder")
    results, cache = {}, {}

    def data(flag_path: str) -> torch.Tensor:
        if flag_path not in cache:
            cache[flag_path] = load_image_folder(flag_path.format(root=args.data_root), 64)
        return cache[flag_path]

    for name, arguments in RUNS.items():
        folder = args.checkpoints / name
        if not (folder / "model.safetensors").exists():
            print(f"{name}: not in {args.checkpoints}, skipped")
            continue
        if "train.dcgan" in arguments:
            results[name] = memorisation(folder, data(flag_value(arguments, "--data")))
        else:
            results[name] = cycle_consistency(folder, data(flag_value(arguments, "--data-a")),
                                              data(flag_value(arguments, "--data-b")))
        print(f"{name}: " + ", ".join(f"{key} {value:.4f}" for key, value in results[name].items()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main(parse_and_run)
