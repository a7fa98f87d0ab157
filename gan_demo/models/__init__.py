"""The networks of gan-demo. Each exported class is an `nn.Module` with `PyTorchModelHubMixin`, so
its constructor arguments travel as config.json next to safetensors weights, and
`save_pretrained` / `from_pretrained` / `push_to_hub` work on it."""

from gan_demo.models.cyclegan import CycleGAN, CycleGenerator, PatchDiscriminator
from gan_demo.models.dcgan import DCDiscriminator, DCGenerator

__all__ = ["DCGenerator", "DCDiscriminator", "CycleGenerator", "PatchDiscriminator", "CycleGAN"]
