"""Write the app's Translate examples into examples/ from the project's own models, so no training
image ever ships: grumpy cats sampled from the bundled DCGAN, their Russian Blue translations by
the cats CycleGAN, and fruit made by the apple2orange CycleGAN from drawn shapes. Each example is
listed with its direction and provenance in examples/examples.json, which the app reads.

    python -m gan_demo.examples [--out examples] [--checkpoints DIR]

Examples whose model is missing are skipped with a note; rerun once the models are bundled.
"""

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw

from gan_demo import catalog, inference

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "examples"
CAT_SEEDS = (23, 41)  # picked by looking at the bundled deluxe + DiffAugment samples: clear, frontal faces
SHOW_SIZE = 256  # examples are upscaled from 64 px so they are easy to see in the upload box
DRAWN_APPLE, DRAWN_ORANGE = (200, 30, 40), (245, 150, 20)  # the drawn fruits' RGB colours


def upscale(image: Image.Image) -> Image.Image:
    return image.resize((SHOW_SIZE, SHOW_SIZE), Image.Resampling.BICUBIC)


def drawn_fruit(colour: tuple[int, int, int], size: int = 64) -> Image.Image:
    """A round fruit on white, with a highlight and a stem: the input the fruit CycleGAN gets."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 10, size - 8, size - 6), fill=colour)
    draw.ellipse((18, 18, 28, 26), fill=tuple(min(255, channel + 70) for channel in colour))
    draw.line((size // 2, 4, size // 2 + 3, 12), fill=(90, 60, 30), width=3)
    return image


def make_examples(out: Path = DEFAULT_OUT, checkpoints: "str | Path | None" = None) -> list[dict]:
    """Write every example whose models load; returns the manifest entries written."""
    out.mkdir(parents=True, exist_ok=True)
    manifest: list[dict] = []

    registry = catalog.build_registry(checkpoints)

    def model(name: str) -> catalog.RegisteredModel | None:
        try:
            return registry.get(name)
        except catalog.ModelUnavailable as error:
            print(f"skipped the examples of {name}: {error}")
            return None

    def add(image: Image.Image, file: str, direction: str, made_by: str) -> None:
        image.save(out / file)
        manifest.append({"file": file, "direction": direction, "made_by": made_by})

    generator, cats = model(catalog.DEFAULT_DCGAN), model("cyclegan-cats")
    if generator:
        for seed, cat in zip(CAT_SEEDS, inference.sample(generator.model, CAT_SEEDS), strict=True):
            add(upscale(cat), f"grumpy-dcgan-seed-{seed}.png", "Grumpy -> Russian Blue",
                f"{generator.name}, seed {seed}")
            if cats:
                blue = inference.translate(cats.model, cat, "b2a").translation
                add(upscale(blue), f"russian-blue-from-dcgan-seed-{seed}.png", "Russian Blue -> Grumpy",
                    f"{cats.name} (Grumpy -> Russian Blue) of {generator.name}, seed {seed}")
    fruit = model("cyclegan-apple2orange")
    if fruit:
        drawn = {"apple": drawn_fruit(DRAWN_APPLE), "orange": drawn_fruit(DRAWN_ORANGE)}
        # The model turns a drawn orange into an apple and a drawn apple into an orange.
        apple = inference.translate(fruit.model, drawn["orange"], "b2a").translation
        orange = inference.translate(fruit.model, drawn["apple"], "a2b").translation
        add(upscale(apple), "apple-from-drawn-orange.png", "apple -> orange",
            f"{fruit.name} (orange -> apple) of a drawn orange")
        add(upscale(orange), "orange-from-drawn-apple.png", "orange -> apple",
            f"{fruit.name} (apple -> orange) of a drawn apple")
    (out / "examples.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m gan_demo.examples", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write (default: examples/)")
    parser.add_argument("--checkpoints", type=Path, help="bundled models folder (default: checkpoints/)")
    args = parser.parse_args()
    for item in make_examples(args.out, args.checkpoints):
        print(f"{args.out / item['file']}: {item['direction']} ({item['made_by']})")


if __name__ == "__main__":
    main()
