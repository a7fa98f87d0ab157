"""Train a DCGAN on a folder of images: `python -m train.dcgan --data DIR --out RUN_DIR`.

One step, as in the least-squares DCGAN recipe:
    (1) Update D: real -> 1, fake -> 0, on one concatenated batch; fakes are detached, so the
        D step does not backpropagate into G.
    (2) Update G: D(G(z)) -> 1, with D frozen (its weight gradients would be thrown away).
    (3) Move the EMA generator towards G; sample grids, the GIF and the export use the EMA.
With --diffaug, D only ever sees DiffAugmented images, real and fake, in both steps.
"""

import os

if __name__ == "__main__":  # OpenMP reads this once, when torch loads it: idle threads sleep, not spin
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # (docs/performance.md)

import argparse
import dataclasses
from pathlib import Path
from typing import ClassVar

import torch

from gan_demo import runtime
from gan_demo.models import DCGenerator
from gan_demo.models.dcgan import NORMS, check_power_of_two
from train import augment, losses
from train.data import batch_indices, list_images, load_image_folder, step_generator
from train.discriminators import DCDiscriminator
from train.ema import EMA
from train.errors import UserError, main
from train.memory import refuse_if_too_large, training_bytes
from train.plots import sample_grid
from train.settings import (
    LEARNING_RATE_LIMIT,
    TrainingSettings,
    add_common_arguments,
    check_at_most,
    check_common,
    check_positive,
    choices,
    parse_settings,
)
from train.trainer import GANTrainer, adam, checked_tensor, frozen, load_optimizer

SAMPLE_COUNT = 16
BETAS = (0.5, 0.999)  # Adam, as in the DCGAN paper


@dataclasses.dataclass(frozen=True, kw_only=True)
class DCGANSettings(TrainingSettings):
    """The settings of a DCGAN run: the common ones and the flags of parse_args."""

    DATA_FIELDS: ClassVar[tuple[str, ...]] = ("data",)

    data: Path
    latent_dim: int
    lr: float
    norm: str = dataclasses.field(metadata=choices(NORMS))


def parse_args(argv: list[str]) -> DCGANSettings:
    parser = argparse.ArgumentParser(prog="python -m train.dcgan", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="folder of training images")
    parser.add_argument("--iters", type=int, default=6400, help="training steps")
    parser.add_argument("--batch-size", type=int, default=16, help="images per step (per process)")
    parser.add_argument("--latent-dim", type=int, default=100, help="size of the latent vector z")
    parser.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate of G and D")
    parser.add_argument("--norm", choices=NORMS, default="pixel",
                        help="the generator's normalisation: pixel norm lets cats differ in overall colour and "
                             "brightness; instance norm (the course's) makes them all alike in both")
    add_common_arguments(parser, sample_every=200, checkpoint_every=400)
    # A run folder from before --norm trained an instance-norm generator.
    return parse_settings(parser, argv, DCGANSettings, check_settings, before_flags={"norm": "instance"})


def check_settings(settings: DCGANSettings) -> None:
    check_common(settings)
    check_positive(settings, "iters", "batch_size", "latent_dim", "lr")
    check_at_most(settings, lr=LEARNING_RATE_LIMIT)
    try:
        check_power_of_two(settings.image_size)
    except ValueError:
        raise UserError("--image-size must be a power of two such as 32, 64 or 128, "
                        f"got {settings.image_size}") from None


def generator(settings: DCGANSettings) -> DCGenerator:
    """A new generator of the run's sizes and normalisation."""
    return DCGenerator(latent_dim=settings.latent_dim, conv_dim=settings.conv_dim, image_size=settings.image_size,
                       norm=settings.norm)


def training_memory(settings: DCGANSettings, image_count: int, stored_size: int) -> float:
    """Bytes a run needs: G, its EMA copy and D with Adam, one step's activations, the images in memory."""
    def build():
        return (generator(settings),
                DCDiscriminator(conv_dim=settings.conv_dim, image_size=settings.image_size))

    def forward(gen, disc):
        fake = gen(torch.zeros(settings.batch_size, settings.latent_dim))
        disc(torch.cat([fake, fake]))  # the D step's [real; fake] batch

    return training_bytes(build, forward) + image_count * 3 * stored_size**2


class DCGANTrainer(GANTrainer):
    loss_names = ["d_real", "d_fake", "g"]
    title = "dcgan"

    def __init__(self, settings: DCGANSettings):
        super().__init__(settings)
        stored_size = augment.stored_size(settings.aug, settings.image_size)
        image_count = len(list_images(settings.data, "--data"))
        refuse_if_too_large(training_memory(settings, image_count, stored_size), self.device,
                            f"--image-size {settings.image_size} --conv-dim {settings.conv_dim} --latent-dim "
                            f"{settings.latent_dim} --batch-size {settings.batch_size}")
        self.data = load_image_folder(settings.data, stored_size, warn=self.log,
                                      holdout=settings.holdout).to(self.device)
        self.log(f"{len(self.data)} images from {settings.data}, kept in memory at {self.data.shape[-1]} px")
        torch.manual_seed(settings.seed)  # initial weights
        gen = generator(settings)
        disc = DCDiscriminator(conv_dim=settings.conv_dim, image_size=settings.image_size)
        for network in (gen, disc):
            runtime.channels_last(network)  # NHWC weights: faster convolutions on oneDNN and cuDNN
        opt_g = adam(gen.parameters(), settings.lr, BETAS, self.device)
        opt_d = adam(disc.parameters(), settings.lr, BETAS, self.device)
        self.fixed_z = torch.randn(SAMPLE_COUNT, settings.latent_dim,
                                   generator=torch.Generator().manual_seed(settings.seed))
        self.gen, self.disc, self.opt_g, self.opt_d = gen, disc, opt_g, opt_d
        self.ema = EMA(gen, settings.ema_decay)
        self.restore()
        self.ema.model.to(self.device)
        self.gen, self.disc, self.opt_g, self.opt_d = self.accelerator.prepare(gen, disc, opt_g, opt_d)

    def train_step(self, step: int) -> list[float]:
        real, z, rng = self.draw_batch(step)
        losses_of_step = self.update(real, z, rng)
        # (3) The EMA follows G after every G step.
        self.ema.update(self.accelerator.unwrap_model(self.gen), step)
        return losses_of_step

    def draw_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Generator]:
        """The real images (B, 3, S, S), latents (B, latent_dim) and random generator of step `step`."""
        settings = self.settings
        rng = step_generator(settings.seed, step, self.rank, self.device)
        indices = batch_indices(len(self.data), settings.batch_size, settings.seed, step, self.rank,
                                self.accelerator.num_processes).to(self.device)
        real = augment.real_batch(self.data[indices], settings.aug, settings.image_size, rng)  # (B, 3, S, S)
        z = torch.randn(settings.batch_size, settings.latent_dim, generator=rng, device=self.device)
        return real, z, rng

    def update(self, real: torch.Tensor, z: torch.Tensor, rng: torch.Generator) -> list[float]:
        """One D and one G update on a given batch; returns [d_real, d_fake, g]."""
        accelerator, settings = self.accelerator, self.settings
        maybe_diffaug = ((lambda images: augment.diff_augment(images, rng)) if settings.diffaug
                         else (lambda images: images))

        with self.autocast():
            fake = self.gen(z)  # (B, 3, S, S)

            # (1) Update D: real -> 1, fake -> 0 (least squares); fake is detached from G.
            scores = self.disc(maybe_diffaug(torch.cat([real, fake.detach()])))  # (2B,)
            scores_real, scores_fake = losses.split_scores(scores, len(real))
            d_real, d_fake = losses.lsgan_real(scores_real), losses.lsgan_fake(scores_fake)
        self.opt_d.zero_grad(set_to_none=True)
        accelerator.backward(0.5 * (d_real + d_fake))
        self.opt_d.step()

        # (2) Update G: D(G(z)) -> 1, D frozen; the fakes of (1) are reused, G has not changed since.
        with self.autocast(), frozen(accelerator.unwrap_model(self.disc)) as disc:
            g_loss = losses.lsgan_real(disc(maybe_diffaug(fake)))
        self.opt_g.zero_grad(set_to_none=True)
        accelerator.backward(g_loss)
        self.opt_g.step()
        return torch.stack([d_real.detach(), d_fake.detach(), g_loss.detach()]).tolist()  # one device sync

    @torch.no_grad()
    def sample_grid(self):
        return sample_grid(self.ema.model(self.fixed_z.to(self.device)).float(), columns=4)

    def state_dict(self) -> dict:
        unwrap = self.accelerator.unwrap_model
        return {"gen": unwrap(self.gen).state_dict(), "gen_ema": self.ema.model.state_dict(),
                "disc": unwrap(self.disc).state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "fixed_z": self.fixed_z}

    def load_state_dict(self, state: dict) -> None:
        self.gen.load_state_dict(state["gen"])
        self.ema.model.load_state_dict(state["gen_ema"])
        self.disc.load_state_dict(state["disc"])
        load_optimizer(self.opt_g, state["opt_g"], "opt_g")
        load_optimizer(self.opt_d, state["opt_d"], "opt_d")
        self.fixed_z = checked_tensor(state["fixed_z"], "fixed_z", tuple(self.fixed_z.shape), self.fixed_z.dtype)

    def export_model(self) -> DCGenerator:
        return self.ema.model

    def data_facts(self) -> dict:
        return {"images": len(self.data)}


def parse_and_train(argv: list[str]) -> None:
    DCGANTrainer(parse_args(argv)).fit()


if __name__ == "__main__":
    main(parse_and_train)
