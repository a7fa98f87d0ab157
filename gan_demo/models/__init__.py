"""The generators a gan-demo user loads. Each is an `nn.Module` with `PyTorchModelHubMixin`, so its
constructor arguments travel as config.json next to safetensors weights, and `save_pretrained` /
`from_pretrained` / `push_to_hub` work on it. (The discriminators are training-only: train/discriminators.py.)"""

from gan_demo.models.cyclegan import CycleGAN, CycleGenerator
from gan_demo.models.dcgan import DCGenerator
from gan_demo.models.export_format import FORMAT_VERSION, ExportFormatError

__all__ = ["DCGenerator", "CycleGenerator", "CycleGAN", "FORMAT_VERSION", "ExportFormatError"]
