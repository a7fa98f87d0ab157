"""The generators a gan-demo user loads. Each is an `nn.Module` with `PyTorchModelHubMixin`, so its
constructor arguments travel as config.json next to safetensors weights, and `save_pretrained` /
`from_pretrained` / `push_to_hub` work on it. (The discriminators are training-only: train/discriminators.py.)
`MODEL_CLASSES` is the one mapping between the app's model kinds and these classes."""

import torch

from gan_demo.models.cyclegan import CycleGAN, CycleGenerator
from gan_demo.models.dcgan import DCGenerator
from gan_demo.models.export_format import FORMAT_VERSION, ExportFormatError

MODEL_CLASSES: dict[str, type[torch.nn.Module]] = {"dcgan": DCGenerator, "cyclegan": CycleGAN}


def kind_of(model_class: type[torch.nn.Module]) -> str:
    """"dcgan" or "cyclegan" for a class of MODEL_CLASSES."""
    return next(kind for kind, known in MODEL_CLASSES.items() if known is model_class)


__all__ = ["DCGenerator", "CycleGenerator", "CycleGAN", "FORMAT_VERSION", "ExportFormatError", "MODEL_CLASSES",
           "kind_of"]
