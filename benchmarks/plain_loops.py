"""The REFERENCE the project's training loop is measured against, not a way to train: DCGAN and
CycleGAN steps written the way course code usually writes them, with the project's own networks
and hyper-parameters (so only the loop differs). What makes them plain, on purpose:
- a torch DataLoader decoding the PNG files on every epoch with 2 worker processes;
- fp32, default (NCHW) memory format, the default (per-parameter loop) Adam;
- the D step backpropagates into G (its fakes are not detached; G's gradients are thrown away);
- the G step makes fresh fakes (G runs twice per step) and D is not frozen (its weight gradients
  are computed and thrown away);
- D sees real and fake images in two forward passes.
The losses are the same functions of the same batch as in train/, which
tests/test_speed_equivalence.py checks. (CycleGAN: the image pool hands D detached fakes, as in the
reference implementation, so there the D step cannot reach G.)
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
                 latent_dim: int = 100, lr: float = 2e-4, seed: int = 0):
        torch.manual_seed(seed)
        self.gen = DCGenerator(latent_dim=latent_dim, conv_dim=conv_dim, image_size=image_size)
        self.disc = DCDiscriminator(conv_dim=conv_dim, image_size=image_size)
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=lr, betas=BETAS)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=lr, betas=BETAS)
        self.batch_size, self.latent_dim = batch_size, latent_dim
        self.data = EndlessLoader(folder, image_size, batch_size)

    def train_step(self) -> list[float]:
        return self.update(self.data.next(), torch.randn(self.batch_size, self.latent_dim))

    def update(self, real: torch.Tensor, z: torch.Tensor) -> list[float]:
        # (1) Update D: real -> 1, fake -> 0.
        self.opt_d.zero_grad()
        fake = self.gen(z)
        d_real = ((self.disc(real) - 1) ** 2).mean()
        d_fake = (self.disc(fake) ** 2).mean()
        (0.5 * (d_real + d_fake)).backward()
        self.opt_d.step()

        # (2) Update G: D(G(z)) -> 1.
        self.opt_g.zero_grad()
        fake = self.gen(z)
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
        # (1) Update D_A and D_B: real -> 1, fake -> 0, fakes from the image pools.
        self.opt_disc.zero_grad()
        fake_b = self.gen_a2b(real_a)
        fake_a = self.gen_b2a(real_b)
        pooled_a, pooled_b = self.pool_a.query(fake_a, rng), self.pool_b.query(fake_b, rng)
        d_a = 0.5 * (((self.disc_a(real_a) - 1) ** 2).mean() + (self.disc_a(pooled_a) ** 2).mean())
        d_b = 0.5 * (((self.disc_b(real_b) - 1) ** 2).mean() + (self.disc_b(pooled_b) ** 2).mean())
        (d_a + d_b).backward()
        self.opt_disc.step()

        # (2) Update G and F: adversarial losses plus lambda_cycle * the L1 cycle losses.
        self.opt_gen.zero_grad()
        fake_b = self.gen_a2b(real_a)
        fake_a = self.gen_b2a(real_b)
        g_a2b = ((self.disc_b(fake_b) - 1) ** 2).mean()
        g_b2a = ((self.disc_a(fake_a) - 1) ** 2).mean()
        cycle_a = (self.gen_b2a(fake_b) - real_a).abs().mean()
        cycle_b = (self.gen_a2b(fake_a) - real_b).abs().mean()
        (g_a2b + g_b2a + self.lambda_cycle * (cycle_a + cycle_b)).backward()
        self.opt_gen.step()
        return [d_a.item(), d_b.item(), g_a2b.item(), g_b2a.item(), cycle_a.item(), cycle_b.item()]
