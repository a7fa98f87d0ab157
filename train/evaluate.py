"""Quality checks of exported models on real images:

    python -m train.evaluate --data-root ../shared/data [--checkpoints checkpoints] [--json FILE]  # the bundled models
    python -m train.evaluate --cyclegan EXPORT_DIR --data-a DIR --data-b DIR [--holdout 0.1]       # your own CycleGAN
    python -m train.evaluate --dcgan EXPORT_DIR --data DIR [--holdout 0.1]                         # your own DCGAN

- CycleGAN, on the images held out of training (`--holdout`, the share the run was trained with):
  the share of translations that a small classifier, trained on the real training images of both
  domains only, puts in the target domain (both ways), the same classifier's accuracy on the held-out
  real images (how far to trust it), and the mean L1 of the round trips a -> b -> a and b -> a -> b in
  [-1, 1] (the training loss's scale).
- DCGAN memorisation check: the mean distance of 64 samples (seeds 0-63) to their nearest training
  image, next to the training images' own nearest-neighbour distance (leave-one-out), and the
  samples' distance to each other (small means collapse). Distances are root-mean-square per pixel
  in [0, 1]. Samples much closer to the data than the data is to itself would mean copying.
"""

import argparse
import json
from pathlib import Path

import torch

from gan_demo.latents import z_batch
from gan_demo.models import CycleGAN, DCGenerator
from train.augment import basic
from train.bundle import RUNS
from train.data import load_image_folder
from train.domain_classifier import share_classified_as_b, train_domain_classifier
from train.errors import UserError, main

SAMPLE_SEEDS = list(range(64))


def flag_value(arguments: list[str], flag: str) -> str:
    return arguments[arguments.index(flag) + 1]


def rms_distances(queries: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """(Q, 3, H, W), (R, 3, H, W) in [0, 1] -> (Q, R) per-pixel root-mean-square distances."""
    return torch.cdist(queries.flatten(1), references.flatten(1)) / queries[0].numel() ** 0.5


def load_export(model_class: type, folder: Path) -> torch.nn.Module:
    try:
        return model_class.from_pretrained(str(folder), strict=True).eval()
    except Exception as error:  # missing files, wrong class, old format: one line either way
        raise UserError(f"{folder}: not a loadable {model_class.__name__} export ({error})") from None


@torch.inference_mode()
def memorisation(generator: DCGenerator, training_images: torch.Tensor) -> dict:
    samples = (generator(z_batch(SAMPLE_SEEDS, generator.latent_dim)) + 1) / 2  # (64, 3, S, S) in [0, 1]
    real = training_images.float() / 255
    to_data = rms_distances(samples, real).min(dim=1).values
    within = rms_distances(real, real).fill_diagonal_(float("inf")).min(dim=1).values
    sample_spread = rms_distances(samples, samples).fill_diagonal_(float("inf")).min(dim=1).values
    return {"sample_to_nearest_training_image": to_data.mean().item(),
            "training_image_to_nearest_other": within.mean().item(),
            "sample_to_nearest_other_sample": sample_spread.mean().item()}


@torch.inference_mode()
def translate_all(generator: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([generator(batch) for batch in images.split(64)])


def cyclegan_quality(model: CycleGAN, data_a: Path, data_b: Path, holdout: float) -> dict:
    """The CycleGAN figures of the module docstring, on the held-out images (all images if holdout is 0)."""
    size = model.image_size
    part = "holdout" if holdout > 0 else "train"
    train_a = load_image_folder(data_a, size, "--data-a", holdout=holdout)
    train_b = load_image_folder(data_b, size, "--data-b", holdout=holdout)
    test_a, test_b = (basic(load_image_folder(folder, size, flag, holdout=holdout, part=part))
                      for folder, flag in ((data_a, "--data-a"), (data_b, "--data-b")))
    classifier = train_domain_classifier(train_a, train_b)
    fake_b, fake_a = translate_all(model.gen_a2b, test_a), translate_all(model.gen_b2a, test_b)
    rec_a, rec_b = translate_all(model.gen_b2a, fake_b), translate_all(model.gen_a2b, fake_a)
    return {"images_a": len(test_a), "images_b": len(test_b), "held_out": holdout > 0,
            "classifier_accuracy_on_real": 0.5 * (1 - share_classified_as_b(classifier, test_a)
                                                  + share_classified_as_b(classifier, test_b)),
            "a_to_b_classified_b": share_classified_as_b(classifier, fake_b),
            "b_to_a_classified_a": 1 - share_classified_as_b(classifier, fake_a),
            "l1_a_to_b_to_a": (rec_a - test_a).abs().mean().item(),
            "l1_b_to_a_to_b": (rec_b - test_b).abs().mean().item()}


def report(name: str, figures: dict) -> None:
    shown = ", ".join(f"{key} {value:.3f}" if isinstance(value, float) else f"{key} {value}"
                      for key, value in figures.items())
    print(f"{name}: {shown}", flush=True)


def evaluate_bundled(data_root: Path, checkpoints: Path) -> dict:
    """Every bundled model of train.bundle's RUNS found in `checkpoints`, on the data it was trained from."""
    results = {}
    for name, arguments in RUNS.items():
        folder = checkpoints / name
        if not (folder / "model.safetensors").exists():
            print(f"{name}: not in {checkpoints}, skipped")
            continue
        holdout = float(flag_value(arguments, "--holdout")) if "--holdout" in arguments else 0.0
        if "train.dcgan" in arguments:
            data = flag_value(arguments, "--data").format(root=data_root)
            generator = load_export(DCGenerator, folder)
            results[name] = memorisation(generator, load_image_folder(data, generator.image_size, holdout=holdout))
        else:
            data_a, data_b = (Path(flag_value(arguments, flag).format(root=data_root))
                              for flag in ("--data-a", "--data-b"))
            results[name] = cyclegan_quality(load_export(CycleGAN, folder), data_a, data_b, holdout)
        report(name, results[name])
    return results


def parse_and_run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path,
                        help="evaluate the bundled models: the folder holding cat/ and apple2orange/")
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"), help="folder of the bundled models")
    parser.add_argument("--cyclegan", type=Path, help="evaluate this CycleGAN export folder (with --data-a, --data-b)")
    parser.add_argument("--dcgan", type=Path, help="evaluate this DCGAN export folder (with --data)")
    parser.add_argument("--data", type=Path, help="the DCGAN's training images")
    parser.add_argument("--data-a", type=Path, help="the CycleGAN's domain A images")
    parser.add_argument("--data-b", type=Path, help="the CycleGAN's domain B images")
    parser.add_argument("--holdout", type=float, default=0.0,
                        help="the --holdout the model was trained with: its held-out images are the test set "
                             "(0: test on the training images, which flatters the model)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if not 0 <= args.holdout < 1:
        raise UserError(f"--holdout must be at least 0 and below 1, got {args.holdout}")
    if args.cyclegan:
        if not (args.data_a and args.data_b):
            raise UserError("--cyclegan needs --data-a and --data-b")
        results = {str(args.cyclegan): cyclegan_quality(load_export(CycleGAN, args.cyclegan), args.data_a,
                                                        args.data_b, args.holdout)}
        report(str(args.cyclegan), results[str(args.cyclegan)])
    elif args.dcgan:
        if not args.data:
            raise UserError("--dcgan needs --data")
        generator = load_export(DCGenerator, args.dcgan)
        results = {str(args.dcgan): memorisation(generator, load_image_folder(args.data, generator.image_size,
                                                                               holdout=args.holdout))}
        report(str(args.dcgan), results[str(args.dcgan)])
    elif args.data_root:
        if not args.data_root.is_dir():
            raise UserError(f"--data-root {args.data_root}: no such folder")
        results = evaluate_bundled(args.data_root, args.checkpoints)
    else:
        raise UserError("say what to evaluate: --data-root (the bundled models), --cyclegan or --dcgan")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main(parse_and_run)
