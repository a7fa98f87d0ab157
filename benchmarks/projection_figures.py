"""The Sample tab's figures in docs/models/: `python -m benchmarks.projection_figures [--out docs/models]`.

- dcgan-truncation.png: seeds 0-7 of the default DCGAN (rows) at truncation 1, 0.75, 0.5, 0.25 and 0
  (columns), pulled towards the average cat in the first block's output;
- dcgan-projection.png: "your cat" on photos no model drew from data we may not publish: each row's
  photo is a cat drawn by another bundled DCGAN (or a smooth random picture, which no model draws),
  then the default model's reconstruction with the latent alone (what /project did before pivotal
  tuning), with the pivot and a tuned copy, and that copy edited (direction 1 at +2, direction 2 at
  -2, truncation 0.5). The training photos and photos such as scikit-image's `chelsea` are never
  written here: benchmarks/serve_speed.py --project-looks shows those to whoever runs it.
"""

import argparse
import tempfile
from pathlib import Path

import torch
from PIL import Image

from benchmarks import report
from gan_demo import catalog, inference, projection, runtime
from gan_demo.imaging import pil_to_signed
from gan_demo.render import captioned_grid

ROOT = Path(__file__).resolve().parents[1]
TRUNCATIONS = (1.0, 0.75, 0.5, 0.25, 0.0)
PHOTOS = (("dcgan-grumpy-deluxe", 3), ("dcgan-grumpy-diffaug", 5), ("dcgan-grumpy-deluxe", 11))
LATENT_ONLY_STEPS = 200  # the previous /project: Adam on z alone


def truncation_figure(generator) -> Image.Image:
    rows = [inference.draw(generator, range(8), truncation) for truncation in TRUNCATIONS]  # (8, 3, S, S) each
    images = torch.stack(rows, dim=1).flatten(0, 1)  # seed-major: one row per seed
    return captioned_grid(images, [f"{truncation:g}" for truncation in TRUNCATIONS] * 8, columns=len(TRUNCATIONS))


def projection_row(generator, photo: Image.Image) -> list[torch.Tensor]:
    before = projection.project(generator, photo, pivot_steps=LATENT_ONLY_STEPS, tuning_steps=0)
    after = projection.project(generator, photo)
    print(f"latent only {before.distance:.3f}, pivot {after.pivot_distance:.3f}, tuned {after.distance:.3f}: "
          f"{after.verdict}")
    edits = [inference.draw(projection.blend(after.generator, generator, truncation), after.latent, truncation,
                            weights)[0]  # as the Sample tab draws a tuned cat
             for truncation, weights in ((1.0, [2.0]), (1.0, [0.0, -2.0]), (0.5, []))]
    return [pil_to_signed(photo)[0], pil_to_signed(before.reconstruction)[0],
            pil_to_signed(after.reconstruction)[0], *edits]


def projection_figure(generator, work: Path) -> Image.Image:
    photos = [inference.sample(inference.load_generator(catalog.DEFAULT_CHECKPOINTS / name), [seed])[0]
              for name, seed in PHOTOS]
    smooth = report.synthetic_images(work, 1, generator.image_size, seed=0)
    photos.append(Image.open(next(smooth.glob("*.png"))).convert("RGB"))
    rows = [image for photo in photos for image in projection_row(generator, photo)]
    captions = ["photo", "latent only", "pivot + tuned", "dir 1 +2", "dir 2 -2", "trunc 0.5"]
    return captioned_grid(torch.stack(rows), captions * len(photos), columns=len(captions))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.projection_figures",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "models")
    args = parser.parse_args(argv)
    runtime.configure(threads=runtime.serving_threads())  # one thread, as the app projects
    generator = inference.load_generator(catalog.DEFAULT_CHECKPOINTS / catalog.DEFAULT_DCGAN)
    upscale = 2  # 64 px cats are small on a page
    with tempfile.TemporaryDirectory(prefix="gan-demo-figures-") as work:
        figures = {"dcgan-truncation.png": truncation_figure(generator),
                   "dcgan-projection.png": projection_figure(generator, Path(work))}
    for name, figure in figures.items():
        figure.resize((figure.width * upscale, figure.height * upscale), Image.Resampling.NEAREST).save(args.out / name)
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
