"""Quality checks of exported models on real images:

    python -m train.evaluate --data-root ../shared/data [--checkpoints checkpoints] [--json FILE]  # the bundled models
    python -m train.evaluate --cyclegan RUN_DIR --data-a DIR --data-b DIR [--holdout 0.1]          # your own CycleGAN
    python -m train.evaluate --cyclegan RUN_DIR --against OTHER_DIR --data-a DIR --data-b DIR ...   # which KID is lower
    python -m train.evaluate --dcgan RUN_DIR --data DIR [--holdout 0.1]                            # your own DCGAN
    ... [--fid] [--kid] [--feature-weights PATH]                         # and Inception FID / KID (train/fidelity.py)

- CycleGAN, on the images held out of training (`--holdout`, the share the run was trained with):
  the share of translations that a small classifier, trained on the real training images of both
  domains only, puts in the target domain (both ways); the same classifier's accuracy on the
  held-out real images, overall and per domain (how far to trust it: translations as varied as the
  real images of their target domain would be classified in it about as often as those are); the
  names of the test images whose translations most of the classifiers still put in their own
  domain; KID between the translations and the held-out real images of the target domain in that
  classifier's features (both ways). Each figure is the mean over classifiers trained from
  CLASSIFIER_SEEDS, the KIDs with their spread (standard deviation) between them. Then the mean
  L1 of the round trips a -> b -> a and b -> a -> b in [-1, 1] (the training loss's scale). For
  generators whose input reaches their last convolution directly (`skips` "features+input"), the
  round trips again with that path cut, since the plain figure then measures a copy of the input as
  much as a translation. And of the held-out photos on a white backdrop, the share whose
  translation keeps it light.
- DCGAN memorisation check: the mean distance of 64 samples (seeds 0-63) to their nearest training
  image, next to the training images' own nearest-neighbour distance (leave-one-out), and the
  samples' distance to each other (small means collapse). Distances are root-mean-square per pixel
  in [0, 1]. Samples much closer to the data than the data is to itself would mean copying.
- `--against OTHER`: the two CycleGANs' classifier KIDs and their difference, both ways, on the same
  classifiers and the same random halves of the held-out images, so that the difference comes with
  how far it moves by chance (train/kid_comparison.py).
- `--fid` / `--kid`: Inception FID / KID of the CycleGAN's translations against the held-out real
  images of the target domain, or of `--samples` DCGAN samples against its training or held-out
  images (`--reference`).
"""
import argparse
import copy
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from gan_demo.hub import export_in
from gan_demo.imaging import signed_to_uint8
from gan_demo.latents import z_batch
from gan_demo.models import CycleGAN, CycleGenerator, DCGenerator
from train.augment import basic
from train.bundle import RUNS
from train.data import load_image_folder, load_named_images
from train.domain_classifier import (
    DomainClassifier,
    classified_as_b,
    classifier_features,
    share_classified_as_b,
    train_domain_classifier,
)
from train.errors import UserError, main
from train.fidelity import inception_distances, kernel_distance
from train.kid_comparison import difference_summary, differences_on_halves, random_halves

SAMPLE_SEEDS = list(range(64))
# One classifier's KIDs move with the seed it was trained from as much as between models; the figures
# are means over classifiers trained from these seeds, the KIDs' spread between them beside them.
CLASSIFIER_SEEDS = range(5)
# A photo on a white backdrop: its outer frame averages above this brightness (in [0, 1]); its
# translation keeps the backdrop if the frame stays above KEPT_FRAME.
WHITE_FRAME = 0.9
KEPT_FRAME = 0.8


@dataclass(frozen=True)
class InceptionOptions:
    """Which Inception distances to add (`--fid`, `--kid`) and from which weights file (None: download)."""

    fid: bool = False
    kid: bool = False
    feature_weights: Path | None = None

    def wanted(self) -> bool:
        return self.fid or self.kid

    def distances(self, generated: torch.Tensor, real: torch.Tensor, prefix: str) -> dict[str, float]:
        """uint8 images -> {"inception_fid_<prefix>": ..., "inception_kid_<prefix>": ...} as asked."""
        if not self.wanted():
            return {}
        figures = inception_distances(generated, real, self.fid, self.kid, self.feature_weights)
        return {f"inception_{name}_{prefix}": value for name, value in figures.items()}


def flag_value(arguments: list[str], flag: str) -> str:
    return arguments[arguments.index(flag) + 1]


def rms_distances(queries: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """(Q, 3, H, W), (R, 3, H, W) in [0, 1] -> (Q, R) per-pixel root-mean-square distances."""
    return torch.cdist(queries.flatten(1), references.flatten(1)) / queries[0].numel() ** 0.5


def load_export(model_class: type, folder: Path) -> torch.nn.Module:
    """The model exported in `folder`, or in its export/ when `folder` is a run folder."""
    try:
        return model_class.from_pretrained(str(export_in(folder)), strict=True).eval()
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


def dcgan_distances(generator: DCGenerator, real: torch.Tensor, samples: int, inception: InceptionOptions) -> dict:
    """Inception FID / KID of `samples` samples (seeds 0, 1, ...) against uint8 real images."""
    with torch.inference_mode():
        generated = torch.cat([signed_to_uint8(generator(z_batch(seeds.tolist(), generator.latent_dim)))
                               for seeds in torch.arange(samples).split(64)])
    return {"samples": samples, "reference_images": len(real), **inception.distances(generated, real, "samples")}


@torch.inference_mode()
def translate_all(generator: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([generator(batch) for batch in images.split(64)])


def without_input_path(generator: CycleGenerator) -> CycleGenerator | None:
    """A copy of `generator` whose input no longer reaches the output directly: the weights of the
    convolution it joins on the input's 3 channels at zero. None for a generator without such a path."""
    if generator.skips != "features+input":
        return None
    cut = copy.deepcopy(generator)
    with torch.no_grad():  # (out, 2c + 3, 3, 3): the input's channels come last (CycleGenerator.forward)
        cut.first_output_convolution().weight[:, -3:] = 0
    return cut


def border_brightness(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, S, S) in [-1, 1] -> (N,): the mean brightness in [0, 1] of each image's outer frame, S/16 wide."""
    width = max(1, images.shape[-1] // 16)
    frame = torch.ones_like(images[:1, :1])  # (1, 1, S, S)
    frame[..., width:-width, width:-width] = 0
    return ((images + 1) / 2 * frame).sum(dim=(1, 2, 3)) / (frame.sum() * images.shape[1])


def white_backgrounds(inputs: torch.Tensor, translations: torch.Tensor, direction: str) -> dict[str, float | int]:
    """Of the inputs photographed on white (their frame brighter than WHITE_FRAME), how many
    translations keep a light frame (brighter than KEPT_FRAME): the subject should change, not the
    backdrop. A generator can pass every other figure while turning white backdrops black."""
    on_white = border_brightness(inputs) > WHITE_FRAME
    figures = {f"white_background_inputs_{direction}": int(on_white.sum())}
    if on_white.any():
        kept = border_brightness(translations[on_white]) > KEPT_FRAME
        figures[f"white_background_kept_{direction}"] = kept.float().mean().item()
    return figures


def round_trips(gen_a2b: torch.nn.Module, gen_b2a: torch.nn.Module, test_a: torch.Tensor,
                test_b: torch.Tensor) -> tuple[float, float]:
    """Mean L1 of a -> b -> a and b -> a -> b in [-1, 1]."""
    rec_a = translate_all(gen_b2a, translate_all(gen_a2b, test_a))
    rec_b = translate_all(gen_a2b, translate_all(gen_b2a, test_b))
    return (rec_a - test_a).abs().mean().item(), (rec_b - test_b).abs().mean().item()


def classifier_figures(classifier: DomainClassifier, test_a: torch.Tensor, test_b: torch.Tensor,
                       fake_a: torch.Tensor, fake_b: torch.Tensor) -> dict[str, float]:
    """One classifier's verdicts on the real held-out images and on the translations into each domain."""
    real_a_classified_a = 1 - share_classified_as_b(classifier, test_a)
    real_b_classified_b = share_classified_as_b(classifier, test_b)
    return {"classifier_accuracy_on_real": 0.5 * (real_a_classified_a + real_b_classified_b),
            "real_a_classified_a": real_a_classified_a, "real_b_classified_b": real_b_classified_b,
            "a_to_b_classified_b": share_classified_as_b(classifier, fake_b),
            "b_to_a_classified_a": 1 - share_classified_as_b(classifier, fake_a),
            "classifier_kid_a_to_b": kernel_distance(classifier_features(classifier, fake_b),
                                                     classifier_features(classifier, test_b)),
            "classifier_kid_b_to_a": kernel_distance(classifier_features(classifier, fake_a),
                                                     classifier_features(classifier, test_a))}


@dataclass(frozen=True)
class EvaluationImages:
    """Both domains' training images (uint8, what the domain classifiers learn from) and test images
    (float in [-1, 1]: the held-out ones, or all of them if holdout is 0), with the test images' paths
    relative to their folders."""

    train_a: torch.Tensor
    train_b: torch.Tensor
    test_a: torch.Tensor
    test_b: torch.Tensor
    test_names_a: list[str]
    test_names_b: list[str]

    @classmethod
    def load(cls, size: int, data_a: Path, data_b: Path, holdout: float) -> "EvaluationImages":
        part = "holdout" if holdout > 0 else "train"
        train_a = load_image_folder(data_a, size, "--data-a", holdout=holdout)
        train_b = load_image_folder(data_b, size, "--data-b", holdout=holdout)
        names_a, test_a = load_named_images(data_a, size, "--data-a", holdout=holdout, part=part)
        names_b, test_b = load_named_images(data_b, size, "--data-b", holdout=holdout, part=part)
        return cls(train_a, train_b, basic(test_a), basic(test_b), names_a, names_b)


def still_in_own_domain(classifiers: list[DomainClassifier], translations: torch.Tensor, names: list[str],
                        own_domain_is_b: bool) -> list[str]:
    """The names of the test images whose translations most classifiers still put in the images' own
    domain: the ones a user would see come back untranslated."""
    votes = torch.stack([(classified_as_b(classifier, translations) == own_domain_is_b).float()
                         for classifier in classifiers])  # (classifiers, N)
    return [name for name, share in zip(names, votes.mean(dim=0).tolist(), strict=True) if share > 0.5]


def cyclegan_quality(model: CycleGAN, data_a: Path, data_b: Path, holdout: float,
                     inception: InceptionOptions = InceptionOptions()) -> dict:
    """The CycleGAN figures of the module docstring, on the held-out images (all images if holdout is 0)."""
    images = EvaluationImages.load(model.image_size, data_a, data_b, holdout)
    test_a, test_b = images.test_a, images.test_b
    fake_b, fake_a = translate_all(model.gen_a2b, test_a), translate_all(model.gen_b2a, test_b)
    classifiers = [train_domain_classifier(images.train_a, images.train_b, seed=seed)
                   for seed in tqdm(CLASSIFIER_SEEDS, desc="domain classifiers", leave=False)]
    judged = [classifier_figures(classifier, test_a, test_b, fake_a, fake_b) for classifier in classifiers]
    figures = {"images_a": len(test_a), "images_b": len(test_b), "held_out": holdout > 0,
               **{key: statistics.fmean(one[key] for one in judged) for key in judged[0]},
               **{f"{key}_spread": statistics.stdev(one[key] for one in judged)
                  for key in ("classifier_kid_a_to_b", "classifier_kid_b_to_a")},
               "a_to_b_still_classified_a": still_in_own_domain(classifiers, fake_b, images.test_names_a, False),
               "b_to_a_still_classified_b": still_in_own_domain(classifiers, fake_a, images.test_names_b, True)}
    figures["l1_a_to_b_to_a"], figures["l1_b_to_a_to_b"] = round_trips(model.gen_a2b, model.gen_b2a, test_a, test_b)
    figures |= white_backgrounds(test_a, fake_b, "a_to_b") | white_backgrounds(test_b, fake_a, "b_to_a")
    cut_a2b, cut_b2a = without_input_path(model.gen_a2b), without_input_path(model.gen_b2a)
    if cut_a2b is not None:
        figures["l1_a_to_b_to_a_without_input_path"], figures["l1_b_to_a_to_b_without_input_path"] = round_trips(
            cut_a2b, cut_b2a, test_a, test_b)
    return {**figures, **inception.distances(signed_to_uint8(fake_b), signed_to_uint8(test_b), "a_to_b"),
            **inception.distances(signed_to_uint8(fake_a), signed_to_uint8(test_a), "b_to_a")}


def compare_cyclegans(model: CycleGAN, other: CycleGAN, data_a: Path, data_b: Path, holdout: float) -> dict:
    """`model`'s classifier KIDs minus `other`'s, both ways, on the same classifiers and the same random
    halves of the test images (train/kid_comparison.py)."""
    if other.image_size != model.image_size:
        raise UserError(f"--against: a model of {other.image_size}x{other.image_size} images cannot be compared "
                        f"with one of {model.image_size}x{model.image_size} on the same images")
    images = EvaluationImages.load(model.image_size, data_a, data_b, holdout)
    test_a, test_b = images.test_a, images.test_b
    if min(len(test_a), len(test_b)) < 4:
        raise UserError(f"--against needs at least 4 test images per domain (halves of 2), got {len(test_a)} and "
                        f"{len(test_b)}; hold out more (--holdout)")
    translations = {"a_to_b": [translate_all(compared.gen_a2b, test_a) for compared in (model, other)],
                    "b_to_a": [translate_all(compared.gen_b2a, test_b) for compared in (model, other)]}
    targets = {"a_to_b": test_b, "b_to_a": test_a}
    halves = {direction: random_halves(len(translations[direction][0]), len(targets[direction]))
              for direction in targets}
    full_set = {direction: ([], []) for direction in targets}  # per classifier: (model's KID, other's KID)
    on_halves = {direction: [] for direction in targets}  # per classifier: the differences on each half
    for seed in tqdm(CLASSIFIER_SEEDS, desc="domain classifiers", leave=False):
        classifier = train_domain_classifier(images.train_a, images.train_b, seed=seed)
        for direction, target in targets.items():
            real = classifier_features(classifier, target)
            mine, theirs = (classifier_features(classifier, fakes) for fakes in translations[direction])
            full_set[direction][0].append(kernel_distance(mine, real))
            full_set[direction][1].append(kernel_distance(theirs, real))
            on_halves[direction].append(differences_on_halves(mine, theirs, real, halves[direction]))
    figures = {"images_a": len(test_a), "images_b": len(test_b), "held_out": holdout > 0}
    for direction in targets:
        mine, theirs = full_set[direction]
        # Each half's difference, averaged over the classifiers:
        per_half = [statistics.fmean(column) for column in zip(*on_halves[direction], strict=True)]
        summary = difference_summary([a - b for a, b in zip(mine, theirs, strict=True)], per_half)
        figures |= {f"classifier_kid_{direction}": statistics.fmean(mine),
                    f"other_classifier_kid_{direction}": statistics.fmean(theirs),
                    **{f"kid_{direction}_{key}": value for key, value in summary.items()}}
    return figures


def shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        return "[" + ", ".join(shown(item) for item in value) + "]"
    return str(value)


def report(name: str, figures: dict) -> None:
    print(f"{name}: " + ", ".join(f"{key} {shown(value)}" for key, value in figures.items()), flush=True)


def dcgan_quality(generator: DCGenerator, data: Path, holdout: float, inception: InceptionOptions,
                  samples: int, reference: str) -> dict:
    """The memorisation check against the training images, and the Inception distances as asked."""
    training = load_image_folder(data, generator.image_size, holdout=holdout)
    figures = memorisation(generator, training)
    if inception.wanted():
        real = training if reference == "training" else load_image_folder(data, generator.image_size,
                                                                          holdout=holdout, part="holdout")
        figures |= dcgan_distances(generator, real, samples, inception)
    return figures


def evaluate_bundled(data_root: Path, checkpoints: Path, inception: InceptionOptions, samples: int,
                     reference: str) -> dict:
    """Every bundled model of train.bundle's RUNS found in `checkpoints`, on the data it was trained from."""
    results = {}
    for name, arguments in RUNS.items():
        folder = checkpoints / name
        if not (folder / "model.safetensors").exists():
            print(f"{name}: not in {checkpoints}, skipped")
            continue
        holdout = float(flag_value(arguments, "--holdout")) if "--holdout" in arguments else 0.0
        if "train.dcgan" in arguments:
            data = Path(flag_value(arguments, "--data").format(root=data_root))
            results[name] = dcgan_quality(load_export(DCGenerator, folder), data, holdout, inception, samples,
                                          reference)
        else:
            data_a, data_b = (Path(flag_value(arguments, flag).format(root=data_root))
                              for flag in ("--data-a", "--data-b"))
            results[name] = cyclegan_quality(load_export(CycleGAN, folder), data_a, data_b, holdout, inception)
        report(name, results[name])
    return results


def parse_and_run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path,
                        help="evaluate the bundled models: the folder holding cat/ and apple2orange/")
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"), help="folder of the bundled models")
    parser.add_argument("--cyclegan", type=Path,
                        help="evaluate this CycleGAN: a run folder or its export/ (with --data-a, --data-b)")
    parser.add_argument("--against", type=Path,
                        help="with --cyclegan: compare its classifier KIDs with this CycleGAN's (run folder or "
                             "export/) on the same classifiers and random halves of the test images")
    parser.add_argument("--dcgan", type=Path, help="evaluate this DCGAN: a run folder or its export/ (with --data)")
    parser.add_argument("--data", type=Path, help="the DCGAN's training images")
    parser.add_argument("--data-a", type=Path, help="the CycleGAN's domain A images")
    parser.add_argument("--data-b", type=Path, help="the CycleGAN's domain B images")
    parser.add_argument("--holdout", type=float, default=0.0,
                        help="the --holdout the model was trained with: its held-out images are the test set "
                             "(0: test on the training images, which flatters the model)")
    parser.add_argument("--fid", action="store_true", help="also Inception FID (through torch-fidelity)")
    parser.add_argument("--kid", action="store_true", help="also Inception KID (through torch-fidelity)")
    parser.add_argument("--feature-weights", type=Path,
                        help="a local copy of torch-fidelity's Inception weights (weights-inception-2015-12-05-"
                             "6726825d.pth) for --fid / --kid; without it torch-fidelity downloads them")
    parser.add_argument("--samples", type=int, default=256, help="DCGAN samples for --fid / --kid (seeds 0, 1, ...)")
    parser.add_argument("--reference", choices=("training", "held-out"), default="training",
                        help="the DCGAN's real images for --fid / --kid (held-out: those kept out by --holdout)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if not 0 <= args.holdout < 1:
        raise UserError(f"--holdout must be at least 0 and below 1, got {args.holdout}")
    if args.samples < 2:
        raise UserError(f"--samples must be at least 2, got {args.samples}")
    inception = InceptionOptions(args.fid, args.kid, args.feature_weights)
    if args.against and not args.cyclegan:
        raise UserError("--against compares with the CycleGAN given by --cyclegan; add --cyclegan")
    if args.against and inception.wanted():
        raise UserError("--against compares classifier KIDs only; run --fid / --kid without it")
    if args.feature_weights and not inception.wanted():
        raise UserError("--feature-weights is for --fid or --kid; add one of them")
    if args.cyclegan:
        if not (args.data_a and args.data_b):
            raise UserError("--cyclegan needs --data-a and --data-b")
        model = load_export(CycleGAN, args.cyclegan)
        if args.against:
            name = f"{args.cyclegan} against {args.against}"
            results = {name: compare_cyclegans(model, load_export(CycleGAN, args.against), args.data_a, args.data_b,
                                               args.holdout)}
        else:
            name = str(args.cyclegan)
            results = {name: cyclegan_quality(model, args.data_a, args.data_b, args.holdout, inception)}
        report(name, results[name])
    elif args.dcgan:
        if not args.data:
            raise UserError("--dcgan needs --data")
        if args.reference == "held-out" and inception.wanted() and args.holdout == 0:
            raise UserError("--reference held-out needs the --holdout the model was trained with")
        results = {str(args.dcgan): dcgan_quality(load_export(DCGenerator, args.dcgan), args.data, args.holdout,
                                                  inception, args.samples, args.reference)}
        report(str(args.dcgan), results[str(args.dcgan)])
    elif args.data_root:
        if not args.data_root.is_dir():
            raise UserError(f"--data-root {args.data_root}: no such folder")
        results = evaluate_bundled(args.data_root, args.checkpoints, inception, args.samples, args.reference)
    else:
        raise UserError("say what to evaluate: --data-root (the bundled models), --cyclegan or --dcgan")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main(parse_and_run)
