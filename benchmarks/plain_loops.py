"""The REFERENCE the project's training loop is measured against, not a way to train: DCGAN and
CycleGAN steps written as pytorch/examples' dcgan/main.py writes its loop, with the project's own
networks and hyper-parameters (so only the loop differs). Like that example, G runs once per step,
the D step sees the fakes detached (it does not reach G) and the G step reuses them. What the
project's loop adds, and this one leaves out on purpose:
- a torch DataLoader decoding the PNG files on every epoch with 2 worker processes, instead of a
  folder decoded once into memory;
- fp32, default (NCHW) memory format, the default (per-parameter loop) Adam: no bf16 autocast,
  channels_last or fused Adam;
- D is not frozen in the G step (its weight gradients are computed, then cleared by the next step's
  zero_grad), and it sees real and fake images in two forward passes instead of one.
The losses are the same functions of the same batch as in train/, which
tests/test_speed_equivalence.py checks; the CycleGAN steps go D first, as the project's do, so their
losses compare one to one. Neither loop keeps an EMA of G; the project's DCGAN does.
"""

from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from gan_demo.models import CycleGAN, DCGenerator
from train.discriminators import DCDiscriminator, PatchDiscriminator
from train.image_pool import ImagePool

WORKERS = 2
BETAS = (0.5, 0.999)


class PngFolder(Dataset):
    """Every PNG in a folder, decoded and normalised to [-1, 1] on each access."""

    def __init__(self, folder: Path, image_size: int):
        self.paths = sorted(Path(folder).glob("*.png"))
        self.transform = transforms.Compose([
            transforms.Resize(image_size), transforms.CenterCrop(image_size), transforms.ToTensor(),
            transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(Image.open(self.paths[index]).convert("RGB"))


class EndlessLoader:
    """Batches from a shuffling DataLoader, starting a new epoch (and new workers) when one ends."""

    def __init__(self, folder: Path, image_size: int, batch_size: int):
        self.loader = DataLoader(PngFolder(folder, image_size), batch_size=batch_size, shuffle=True,
                                 num_workers=WORKERS, drop_last=True)
        self.batches = iter(())  # the first call starts the first epoch

    def next(self) -> torch.Tensor:
        try:
            return next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)


class PlainDCGAN:
    """A least-squares DCGAN step, course style."""

    loss_names = ["d_real", "d_fake", "g"]

    def __init__(self, folder: Path, batch_size: int = 16, image_size: int = 64, conv_dim: int = 32,
                 latent_dim: int = 100, lr: float = 2e-4, norm: str = "pixel", seed: int = 0):
        torch.manual_seed(seed)
        self.gen = DCGenerator(latent_dim=latent_dim, conv_dim=conv_dim, image_size=image_size, norm=norm)
        self.disc = DCDiscriminator(conv_dim=conv_dim, image_size=image_size)
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=lr, betas=BETAS)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=lr, betas=BETAS)
        self.batch_size, self.latent_dim = batch_size, latent_dim
        self.data = EndlessLoader(folder, image_size, batch_size)

    def train_step(self) -> list[float]:
        return self.update(self.data.next(), torch.randn(self.batch_size, self.latent_dim))

    def update(self, real: torch.Tensor, z: torch.Tensor) -> list[float]:
        # (1) Update D: real -> 1, fake -> 0; the fake is detached, so this backward stops at D.
        self.disc.zero_grad()
        fake = self.gen(z)
        d_real = ((self.disc(real) - 1) ** 2).mean()
        d_fake = (self.disc(fake.detach()) ** 2).mean()
        (0.5 * (d_real + d_fake)).backward()
        self.opt_d.step()

        # (2) Update G: D(G(z)) -> 1, on the same fake.
        self.gen.zero_grad()
        g_loss = ((self.disc(fake) - 1) ** 2).mean()
        g_loss.backward()
        self.opt_g.step()
        return [d_real.item(), d_fake.item(), g_loss.item()]


class PlainCycleGAN:
    """A least-squares CycleGAN step with patch discriminators, cycle loss and image pools, course style."""

    def __init__(self, folder_a: Path, folder_b: Path, batch_size: int = 16, image_size: int = 64,
                 conv_dim: int = 32, n_res_blocks: int = 3, lr: float = 2e-4, lambda_cycle: float = 10.0,
                 pool_size: int = 50, seed: int = 0):
        torch.manual_seed(seed)
        self.model = CycleGAN(image_size=image_size, conv_dim=conv_dim, n_res_blocks=n_res_blocks)
        self.gen_a2b, self.gen_b2a = self.model.gen_a2b, self.model.gen_b2a
        self.disc_a, self.disc_b = PatchDiscriminator(conv_dim=conv_dim), PatchDiscriminator(conv_dim=conv_dim)
        self.opt_gen = torch.optim.Adam(self.model.parameters(), lr=lr, betas=BETAS)
        self.opt_disc = torch.optim.Adam([*self.disc_a.parameters(), *self.disc_b.parameters()], lr=lr, betas=BETAS)
        self.pool_a, self.pool_b = ImagePool(pool_size), ImagePool(pool_size)
        self.lambda_cycle = lambda_cycle
        self.data_a = EndlessLoader(folder_a, image_size, batch_size)
        self.data_b = EndlessLoader(folder_b, image_size, batch_size)
        self.rng = torch.Generator().manual_seed(seed)

    def train_step(self) -> list[float]:
        return self.update(self.data_a.next(), self.data_b.next(), self.rng)

    def update(self, real_a: torch.Tensor, real_b: torch.Tensor, rng: torch.Generator) -> list[float]:
        # G and F run once: the translations and their cycles back.
        fake_b, fake_a = self.gen_a2b(real_a), self.gen_b2a(real_b)
        rec_a, rec_b = self.gen_b2a(fake_b), self.gen_a2b(fake_a)

        # (1) Update D_A and D_B: real -> 1, fake -> 0, detached fakes from the image pools.
        self.opt_disc.zero_grad()
        pooled_a, pooled_b = self.pool_a.query(fake_a.detach(), rng), self.pool_b.query(fake_b.detach(), rng)
        d_a = 0.5 * (((self.disc_a(real_a) - 1) ** 2).mean() + (self.disc_a(pooled_a) ** 2).mean())
        d_b = 0.5 * (((self.disc_b(real_b) - 1) ** 2).mean() + (self.disc_b(pooled_b) ** 2).mean())
        (d_a + d_b).backward()
        self.opt_disc.step()

        # (2) Update G and F on the same fakes: adversarial losses plus lambda_cycle * the L1 cycle losses.
        self.opt_gen.zero_grad()
        g_a2b = ((self.disc_b(fake_b) - 1) ** 2).mean()
        g_b2a = ((self.disc_a(fake_a) - 1) ** 2).mean()
        cycle_a = (rec_a - real_a).abs().mean()
        cycle_b = (rec_b - real_b).abs().mean()
        (g_a2b + g_b2a + self.lambda_cycle * (cycle_a + cycle_b)).backward()
        self.opt_gen.step()
        return [d_a.item(), d_b.item(), g_a2b.item(), g_b2a.item(), cycle_a.item(), cycle_b.item()]
