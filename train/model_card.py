"""The model card (README.md) of every export: the Hub metadata header (library, license, tags,
pipeline: what the model class declares to PyTorchModelHubMixin, written by huggingface_hub's
ModelCard), what the model is, its data, the run's real figures (iterations, time, device, final
losses), the progress GIF and loss plot, every training setting, and a snippet that loads the
model with `from_pretrained` and uses it. Only facts of the run go in. `point_to_repo` rewrites
the snippet when the export is published, so it names the Hub repo the card now lives in.
"""

import json
import platform
import re
from pathlib import Path

import torch
from huggingface_hub import ModelCard, ModelCardData

from gan_demo.models import CycleGAN, DCGenerator

LOCAL_SOURCE = "path/to/export"
# The load call in the snippet, whose arguments `point_to_repo` replaces.
LOAD_CALL = re.compile(r"\.from_pretrained\([^)\n]*\)")
LOSS_WINDOW = 100
# Where the run was written and whether it was resumed say nothing about the model. The app reads the
# rest back from the "Training settings" JSON block (gan_demo.progress), so that block keeps its form.
HIDDEN_SETTINGS = ("out", "resume")
DATA_SETTINGS = ("data", "data_a", "data_b")  # shown through shown_path
# What a CycleGAN's progress GIF shows (train/cyclegan.py sample_grid); the bundled models' GIFs
# show less, and their cards say so (train/bundle.py).
CYCLEGAN_FRAMES = ("Every frame shows the same fixed inputs; each row reads a, G(a), F(G(a)), b, F(b), G(F(b)): "
                   "input, translation and reconstruction, A -> B -> A, then B -> A -> B.")

SNIPPETS = {
    "dcgan": """```python
from gan_demo.inference import sample
from gan_demo.models import DCGenerator

generator = DCGenerator.from_pretrained({source})
seeds = [0, 1, 2, 3]  # a seed always gives the same {size}x{size} image
for seed, image in zip(seeds, sample(generator, seeds)):
    image.save(f"sample-{{seed}}.png")
```""",
    "cyclegan": """```python
from PIL import Image
from gan_demo.inference import translate
from gan_demo.models import CycleGAN

model = CycleGAN.from_pretrained({source})
# "a2b": {domain_a} -> {domain_b}; "b2a" goes the other way
result = translate(model, Image.open("photo.jpg"), direction="a2b")
result.translation.save("translated.png")
result.reconstruction.save("cycled-back.png")  # translated back again: what the cycle keeps
```""",
}


def load_arguments(source: str, revision: str | None = None) -> str:
    """The arguments of the snippet's `from_pretrained` call, as Python source."""
    return json.dumps(source) + (f", revision={json.dumps(revision)}" if revision not in (None, "main") else "")


def point_to_repo(card: str, repo_id: str, revision: str | None = None) -> str:
    """`card` with its load snippet naming the Hub repo `repo_id` (and the branch, unless main)."""
    return LOAD_CALL.sub(f".from_pretrained({load_arguments(repo_id, revision)})", card)


def shown_path(path: str) -> str:
    """A data folder as a card shows it: as given when relative, by its name alone when absolute
    (a card travels to the Hub, and this machine's folders are nobody's business there)."""
    return Path(path).name if Path(path).is_absolute() else path


def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux), else the architecture."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def device_description(device: torch.device) -> str:
    """The GPU's name, or the CPU's with the threads PyTorch used."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"CPU {cpu_name()}, {threads} thread{'s' if threads != 1 else ''}"


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


def final_losses(rows: list[list[float]], names: list[str], window: int = LOSS_WINDOW) -> str:
    """Mean of each loss term over the last `window` logged steps, as a Markdown table."""
    recent = rows[-window:]
    if not recent:
        return "_no steps logged yet_"
    means = [sum(row[index + 1] for row in recent) / len(recent) for index in range(len(names))]
    return ("| " + " | ".join(names) + " |\n|" + "---|" * len(names) + "\n| "
            + " | ".join(f"{mean:.4f}" for mean in means) + " |")


def card_data(kind: str) -> ModelCardData:
    """The Hub metadata the exported class declares in its PyTorchModelHubMixin keywords (library,
    license, pipeline tag, tags), as the mixin's own `generate_model_card` would write it."""
    model_class = {"dcgan": DCGenerator, "cyclegan": CycleGAN}[kind]
    return ModelCardData(**model_class._hub_mixin_info.model_card_data.to_dict())


def model_card(kind: str, config: dict, facts: dict, loss_rows: list[list[float]], loss_names: list[str]) -> str:
    """The README.md of an export. `facts` holds what the config cannot: images (or images_a and
    images_b, domain_a and domain_b for a CycleGAN), step, train_seconds, device, world_size."""
    size = config["image_size"]
    diffaug = ", plus DiffAugment" if config["diffaug"] else ""
    augmentation = f"`{config['aug']}` augmentation of the real images{diffaug}"
    if kind == "dcgan":
        title = f"# DCGAN trained on `{Path(config['data']).name}` ({size}x{size})"
        what = (f"A DCGAN generator: a {config['latent_dim']}-dimensional latent z ~ N(0, I) in, a {size}x{size} RGB "
                f"image out. Trained with the least-squares GAN loss and {augmentation}.")
        data = f"| training set | `{shown_path(config['data'])}` | {facts['images']} |"
        frames = "Every frame shows the same fixed latents, so the GIF shows one set of images taking shape."
    else:
        domain_a, domain_b = facts["domain_a"], facts["domain_b"]
        title = f"# CycleGAN: {domain_a} <-> {domain_b} ({size}x{size})"
        cycle = "off" if config["no_cycle"] else f"weight {config['lambda_cycle']}"
        identity, held = f"{config['lambda_identity']}", config.get("identity_generators", "both")
        if config["lambda_identity"] and held != "both":
            identity += f" (on `gen_{held}` only)"
        if config["lambda_identity"] and config.get("identity_decay"):
            identity += ", decaying to 0 over the second half"
        what = (f"Two fully convolutional generators translating between unpaired image domains: `gen_a2b` (G) "
                f"maps {domain_a} to {domain_b}, `gen_b2a` (F) maps back. Trained at {size}x{size} with a "
                f"`{config['disc']}` discriminator, cycle-consistency {cycle}, identity weight "
                f"{identity} and {augmentation}. Any image with sides divisible by 4 can be "
                "translated.")
        data = (f"| A: {domain_a} | `{shown_path(config['data_a'])}` | {facts['images_a']} |\n"
                f"| B: {domain_b} | `{shown_path(config['data_b'])}` | {facts['images_b']} |")
        frames = CYCLEGAN_FRAMES
    settings = {key: shown_path(value) if key in DATA_SETTINGS else value
                for key, value in sorted(config.items()) if key not in HIDDEN_SETTINGS}
    seconds, steps = facts["train_seconds"], facts["step"]
    speed = f"{steps / max(seconds, 1e-9):.1f} it/s"
    source = config.get("push_to_hub") or LOCAL_SOURCE
    snippet = SNIPPETS[kind].format(source=load_arguments(source), size=size,
                                    domain_a=facts.get("domain_a"), domain_b=facts.get("domain_b"))
    body = f"""
{title}

{what} Made with gan-demo's `python -m train.{kind}`.

![Sample grid of fixed inputs through training, iteration in the top-left corner](progress.gif)

{frames}

## Data

| | folder | images |
|---|---|---|
{data}

## Training run

| iterations | training time (steps only) | speed | device | processes |
|---|---|---|---|---|
| {steps} | {format_seconds(seconds)} | {speed} | {facts['device']} | {facts['world_size']} |

Final losses, mean of the last {min(LOSS_WINDOW, len(loss_rows))} steps:

{final_losses(loss_rows, loss_names)}

![Loss curves over the iterations](losses.png)

Every loss term at every step is in [`losses.csv`](losses.csv).

## Training settings

```json
{json.dumps(settings, indent=2)}
```

## Use it

The weights are `model.safetensors` with their architecture in `config.json` (PyTorchModelHubMixin);
the classes come from gan-demo's `gan_demo` package, so run this in a gan-demo checkout with its
requirements installed:

{snippet}
"""
    # The metadata block goes in with the text: a card made without one logs a warning on every export.
    return str(ModelCard(f"---\n{card_data(kind).to_yaml()}\n---\n{body}"))
