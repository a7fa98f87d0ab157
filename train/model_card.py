"""The model card (README.md) of every export: Hub metadata header, what the model is, the data
and every training setting, the run's real figures, the progress GIF and loss plot, and a
snippet that loads the model with `from_pretrained`. Only facts of the run go in."""

import json
import platform

import torch

LOAD_SNIPPETS = {
    "dcgan": """```python
import torch
from gan_demo.models import DCGenerator
from gan_demo.imaging import make_grid

generator = DCGenerator.from_pretrained("{source}")
z = torch.randn(16, generator.latent_dim, generator=torch.Generator().manual_seed(0))
with torch.inference_mode():
    images = generator(z)  # (16, 3, {size}, {size}) in [-1, 1]
make_grid(images).save("samples.png")
```""",
    "cyclegan": """```python
from PIL import Image
from gan_demo.models import CycleGAN
from gan_demo.inference import translate

model = CycleGAN.from_pretrained("{source}")
result = translate(model, Image.open("photo.jpg"), direction="a2b")  # {domain_a} -> {domain_b}
result.translation.save("translated.png")
result.reconstruction.save("cycled-back.png")
```""",
}


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


def format_seconds(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


def final_losses(rows: list[list[float]], names: list[str], window: int = 100) -> str:
    """Mean of each loss term over the last `window` logged steps, as a Markdown table."""
    recent = rows[-window:]
    if not recent:
        return "_no steps logged yet_"
    means = [sum(row[index + 1] for row in recent) / len(recent) for index in range(len(names))]
    return ("| " + " | ".join(names) + " |\n|" + "---|" * len(names) + "\n| "
            + " | ".join(f"{mean:.4f}" for mean in means) + " |")


def model_card(kind: str, config: dict, facts: dict, loss_rows: list[list[float]], loss_names: list[str]) -> str:
    """The README.md of an export. `facts` holds what the config cannot: images, step, seconds,
    device, world size, domain names and image counts."""
    is_dcgan = kind == "dcgan"
    tags = ["gan", kind, "pytorch", "image-generation" if is_dcgan else "image-to-image"]
    header = "\n".join([
        "---",
        "library_name: gan-demo",
        "license: mit",
        f"pipeline_tag: {'unconditional-image-generation' if is_dcgan else 'image-to-image'}",
        "tags:", *(f"- {tag}" for tag in tags),
        "---",
    ])
    if is_dcgan:
        title = f"# DCGAN trained on `{config['data']}`"
        what = (f"A DCGAN generator: a {config['latent_dim']}-dimensional latent z ~ N(0, I) in, a "
                f"{config['image_size']}x{config['image_size']} RGB image out. Trained with the least-squares GAN loss, "
                f"augmentation `{config['aug']}`{' + DiffAugment' if config['diffaug'] else ''}.")
        data = f"- `{config['data']}`: {facts['images']} images"
    else:
        title = f"# CycleGAN: {facts['domain_a']} <-> {facts['domain_b']}"
        what = (f"Two fully convolutional generators translating between unpaired image domains, trained at "
                f"{config['image_size']} px with a `{config['disc']}` discriminator, cycle-consistency "
                f"{'off' if config['no_cycle'] else 'weight ' + str(config['lambda_cycle'])}, identity weight "
                f"{config['lambda_identity']}. `gen_a2b` maps {facts['domain_a']} to {facts['domain_b']}, "
                f"`gen_b2a` maps back.")
        data = (f"- domain A, {facts['domain_a']}: `{config['data_a']}`, {facts['images_a']} images\n"
                f"- domain B, {facts['domain_b']}: `{config['data_b']}`, {facts['images_b']} images")
    settings = {key: value for key, value in sorted(config.items()) if key not in ("resume", "out")}
    source = config.get("push_to_hub") or "path/to/export"
    snippet = LOAD_SNIPPETS[kind].format(source=source, size=config["image_size"],
                                         domain_a=facts.get("domain_a"), domain_b=facts.get("domain_b"))
    seconds = facts["train_seconds"]
    return f"""{header}

{title}

{what}

Trained with gan-demo's `python -m train.{kind}`.

![training progress](progress.gif)

## Data

{data}

## Training run

| iterations | wall time (training steps) | speed | device | processes |
|---|---|---|---|---|
| {facts['step']} | {format_seconds(seconds)} | {facts['step'] / max(seconds, 1e-9):.1f} it/s | {facts['device']} | {facts['world_size']} |

Final losses (mean of the last {min(100, len(loss_rows))} steps):

{final_losses(loss_rows, loss_names)}

![loss curves](losses.png)

Every loss term per step is in `losses.csv`.

## Training settings

```json
{json.dumps(settings, indent=2)}
```

## Use it

{snippet}
"""
