"""Train a CycleGAN on two unpaired image folders: `python -m train.cyclegan --data-a DIR --data-b DIR --out RUN_DIR`.

paper (Zhu et al. 2017): G = gen_a2b, F = gen_b2a, D_X = disc_a, D_Y = disc_b. One step:
    (1) Update D_A and D_B: real -> 1, fake -> 0 (least squares), each on one concatenated
        [real; fake] batch whose fakes come, detached, from an image pool of past fakes.
    (2) Update G and F: D_B(G(a)) -> 1 and D_A(F(b)) -> 1 with both discriminators frozen, plus
        lambda_cycle * (|F(G(a)) - a| + |G(F(b)) - b|) and lambda_identity * (|F(a) - a| + |G(b) - b|),
        or one of the two identity terms (--identity-generators), its weight decaying with --identity-decay.
    (3) The exponential moving average of both generators (train/ema.py) follows them; it draws the
        sample grids and is the exported model, while state.pt keeps the raw generators as well.
With --diffaug, the discriminators only ever see DiffAugmented images, real and fake, in both steps.
"""

import os

if __name__ == "__main__":  # OpenMP reads this once, when torch loads it: idle threads sleep, not spin
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # (docs/performance.md)

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Self

import torch
from torchvision.transforms.v2 import functional as TF

from gan_demo.imaging import uint8_to_signed
from gan_demo.models import CycleGAN
from gan_demo.models.cyclegan import FIRST_BLOCK_NORMS, LEGACY_SKIPS, OUTPUT_BLOCKS, SKIP_OPTIONS
from gan_demo.models.dcgan import check_power_of_two
from train import augment, losses
from train.data import batch_indices, list_images, load_image_folder, step_generator
from train.discriminators import DISCRIMINATORS, build_discriminator
from train.ema import EMA
from train.errors import UserError, main
from train.image_pool import ImagePool
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

SAMPLE_COUNT = 4  # fixed inputs per domain in every sample grid
# One row of a sample grid: a fixed input of each domain, its translation and its reconstruction.
SAMPLE_ROW = ("a", "G(a)", "F(G(a))", "b", "F(b)", "G(F(b))")
BETAS = (0.5, 0.999)
MAX_RES_BLOCKS = 64
MAX_PATCH_LAYERS = 12
# Which generators the identity loss holds: G (a2b) is shown real b, F (b2a) real a.
IDENTITY_GENERATORS = ("both", "a2b", "b2a")


@dataclasses.dataclass(frozen=True, kw_only=True)
class CycleGANSettings(TrainingSettings):
    """The settings of a CycleGAN run: the common ones and the flags of parse_args."""

    DATA_FIELDS: ClassVar[tuple[str, ...]] = ("data_a", "data_b")

    data_a: Path
    data_b: Path
    name_a: str | None  # None on the command line: the folder's name (see completed)
    name_b: str | None
    disc: str = dataclasses.field(metadata=choices(DISCRIMINATORS))
    patch_layers: int
    no_cycle: bool
    lambda_cycle: float
    lambda_identity: float
    identity_generators: str = dataclasses.field(metadata=choices(IDENTITY_GENERATORS))
    identity_decay: bool
    pool_size: int
    n_res_blocks: int
    skips: str = dataclasses.field(metadata=choices(SKIP_OPTIONS, older=LEGACY_SKIPS))  # runs once said true/false
    first_block_norm: str = dataclasses.field(metadata=choices(FIRST_BLOCK_NORMS))
    output_block: str = dataclasses.field(metadata=choices(OUTPUT_BLOCKS))
    lr_g: float
    lr_d: float
    lr_decay: bool

    def completed(self) -> Self:
        """Each domain named after its folder unless --name-a / --name-b name it."""
        return dataclasses.replace(self, name_a=self.name_a or self.data_a.resolve().name,
                                   name_b=self.name_b or self.data_b.resolve().name)


def parse_args(argv: list[str]) -> CycleGANSettings:
    parser = argparse.ArgumentParser(prog="python -m train.cyclegan", description=__doc__.splitlines()[0])
    parser.add_argument("--data-a", required=True, type=Path, help="folder of domain A images")
    parser.add_argument("--data-b", required=True, type=Path, help="folder of domain B images")
    parser.add_argument("--name-a", help="name of domain A (default: the name of its folder)")
    parser.add_argument("--name-b", help="name of domain B (default: the name of its folder)")
    parser.add_argument("--disc", choices=DISCRIMINATORS, default="patch",
                        help="discriminator: patch (the DC discriminator without its last layer: a 4x4 map of "
                             "scores at 64 px, each seeing 46x46 px), dc (one score per image), global+patch (both, "
                             "losses added) or patchgan (pix2pix's N-layer PatchGAN, 70x70 px per score at "
                             "--patch-layers 3: for images of 128 px and more)")
    parser.add_argument("--patch-layers", type=int, default=3,
                        help="stride-2 layers of --disc patchgan (its receptive field: 3 -> 70 px, 4 -> 142 px)")
    parser.add_argument("--no-cycle", action="store_true",
                        help="train without the cycle-consistency loss (it is still logged)")
    parser.add_argument("--lambda-cycle", type=float, default=10.0, help="weight of the L1 cycle loss")
    parser.add_argument("--lambda-identity", type=float, default=0.0,
                        help="weight of the L1 identity loss |F(a) - a| + |G(b) - b| (0: off)")
    parser.add_argument("--identity-generators", choices=IDENTITY_GENERATORS, default="both",
                        help="which generators the identity loss holds: both, a2b (only |G(b) - b|: G leaves "
                             "images already of domain B as they are) or b2a (only |F(a) - a|); both terms are "
                             "logged either way")
    parser.add_argument("--identity-decay", action="store_true",
                        help="decay the identity weight linearly to 0 over the second half of --iters, as "
                             "--lr-decay does the learning rates: the loss shapes the start of training only")
    parser.add_argument("--pool-size", type=int, default=50, help="past fakes kept per domain for D (0: off)")
    parser.add_argument("--iters", type=int, default=5000, help="training steps")
    parser.add_argument("--batch-size", type=int, default=16, help="images per domain per step (per process)")
    parser.add_argument("--n-res-blocks", type=int, default=3, help="residual blocks in each generator")
    parser.add_argument("--skips", choices=SKIP_OPTIONS, default="none",
                        help="what reaches the generators' decoder besides the bottleneck: nothing, the "
                             "encoder's half-resolution features (a U-Net skip), or those and the input "
                             "joined to the last convolution (a direct input-to-output path)")
    parser.add_argument("--first-block-norm", choices=FIRST_BLOCK_NORMS, default="instance",
                        help="normalisation of the generators' first encoder block: instance (as every other "
                             "block), or none, which lets the input's overall colour and brightness reach the "
                             "features, as in pix2pix's U-Net")
    parser.add_argument("--output-block", choices=OUTPUT_BLOCKS, default="upsampled",
                        help="how the generators' decoder ends: upsampled (one convolution of the upsampled "
                             "half-resolution features makes the colours, each 2x2 block from one feature) "
                             "or full-resolution (a convolution at the full resolution first, then a 7x7 one "
                             "to the colours, as the reference generator ends)")
    parser.add_argument("--lr-g", type=float, default=2e-4, help="Adam learning rate of both generators")
    parser.add_argument("--lr-d", type=float, default=2e-4, help="Adam learning rate of both discriminators")
    parser.add_argument("--lr-decay", action="store_true",
                        help="decay both learning rates linearly to 0 over the second half of --iters")
    add_common_arguments(parser, sample_every=100, checkpoint_every=800)
    # Runs from before --first-block-norm normalised the first block; from before --output-block, upsampled;
    # from before --identity-generators, held both, at a constant weight.
    return parse_settings(parser, argv, CycleGANSettings, check_settings,
                          before_flags={"first_block_norm": "instance", "output_block": "upsampled",
                                        "identity_generators": "both", "identity_decay": False})


def check_settings(settings: CycleGANSettings) -> None:
    check_common(settings)
    check_positive(settings, "iters", "batch_size", "lr_g", "lr_d")
    check_at_most(settings, lr_g=LEARNING_RATE_LIMIT, lr_d=LEARNING_RATE_LIMIT)
    check_positive(settings, "lambda_cycle", "lambda_identity", "pool_size", "n_res_blocks", or_zero=True)
    check_positive(settings, "patch_layers")
    # Past these the networks are absurd anyway; the limits keep the memory estimate from building them.
    check_at_most(settings, n_res_blocks=MAX_RES_BLOCKS, patch_layers=MAX_PATCH_LAYERS)
    check_image_size(settings.image_size, settings.disc, settings.patch_layers)
    if settings.name_a == settings.name_b:
        raise UserError(f"both domains are named {settings.name_a!r} after their folders; "
                        "name them with --name-a and --name-b")


def discriminator(settings: CycleGANSettings) -> torch.nn.Module:
    """A new discriminator of the run's kind and sizes."""
    return build_discriminator(settings.disc, settings.conv_dim, settings.image_size, settings.patch_layers)


def generators(settings: CycleGANSettings, **domain_names: str) -> CycleGAN:
    """A new pair of generators of the run's sizes and options (`domain_names`: domain_a, domain_b)."""
    return CycleGAN(image_size=settings.image_size, conv_dim=settings.conv_dim, n_res_blocks=settings.n_res_blocks,
                    skips=settings.skips, first_block_norm=settings.first_block_norm,
                    output_block=settings.output_block, **domain_names)


def training_memory(settings: CycleGANSettings, image_count: int, stored_size: int) -> float:
    """Bytes a run needs: both generators and discriminators with Adam, one step's activations
    (both cycles, identity, the discriminators' [real; fake] batches), the images in memory."""
    def build():
        return generators(settings), *(discriminator(settings) for _ in range(2))

    def forward(model, disc_a, disc_b):
        real = torch.zeros(settings.batch_size, 3, settings.image_size, settings.image_size)
        out = model(real, real, with_identity=settings.lambda_identity > 0)
        disc_a(torch.cat([real, out["fake_a"]]))
        disc_b(torch.cat([real, out["fake_b"]]))

    return training_bytes(build, forward) + image_count * 3 * stored_size**2


def check_image_size(image_size: int, disc: str, patch_layers: int) -> None:
    """The generator halves the size twice and the patch discriminator four times; the DC
    discriminator halves it down to exactly 4x4, so it needs a power of two; the PatchGAN's map
    keeps a score only from 3 * 2^patch_layers px."""
    if image_size % 4:
        raise UserError(f"--image-size must be divisible by 4, got {image_size}")
    if image_size < 16:
        raise UserError(f"--image-size must be at least 16, got {image_size}")
    if disc == "patchgan" and image_size < 3 * 2**patch_layers:
        raise UserError(f"--disc patchgan with --patch-layers {patch_layers} needs --image-size of at least "
                        f"{3 * 2**patch_layers}, got {image_size}")
    if disc in ("dc", "global+patch"):
        try:
            check_power_of_two(image_size)
        except ValueError:
            raise UserError(f"--image-size must be a power of two such as 32, 64 or 128 with --disc {disc}, "
                            f"got {image_size}") from None


def decay_factor(step: int, iters: int) -> float:
    """Learning-rate multiplier of step `step` (1-based) for --lr-decay: 1 up to step iters // 2,
    then linearly down to exactly 0 at the last step (iters). A function of the step alone, so
    resuming needs no scheduler state."""
    half = iters // 2
    return 1.0 if step <= half else (iters - step) / (iters - half)


def fixed_inputs(images: torch.Tensor, image_size: int, seed: int) -> torch.Tensor:
    """The SAMPLE_COUNT images of one domain shown in every sample grid: centred crops at
    image_size, uint8 (SAMPLE_COUNT, 3, S, S) on the CPU; repeated if the folder holds fewer."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    picked = images[order[torch.arange(SAMPLE_COUNT) % len(images)].to(images.device)]
    return TF.center_crop(picked, [image_size, image_size]).cpu()


class CycleGANTrainer(GANTrainer):
    loss_names = ["d_a", "d_b", "g_a2b", "g_b2a", "cycle_a", "cycle_b", "identity_a", "identity_b"]
    title = "cyclegan"

    def __init__(self, settings: CycleGANSettings):
        super().__init__(settings)
        # Each domain has its own seed, so two folders of the same size are shuffled
        # independently instead of walked in lockstep (which would pair their images).
        self.seed_a, self.seed_b = 2 * settings.seed, 2 * settings.seed + 1
        stored_size = augment.stored_size(settings.aug, settings.image_size)
        image_count = len(list_images(settings.data_a, "--data-a")) + len(list_images(settings.data_b, "--data-b"))
        refuse_if_too_large(training_memory(settings, image_count, stored_size), self.device,
                            f"--image-size {settings.image_size} --conv-dim {settings.conv_dim} --n-res-blocks "
                            f"{settings.n_res_blocks} --batch-size {settings.batch_size}")
        self.data_a = load_image_folder(settings.data_a, stored_size, flag="--data-a", warn=self.log,
                                        holdout=settings.holdout).to(self.device)
        self.data_b = load_image_folder(settings.data_b, stored_size, flag="--data-b", warn=self.log,
                                        holdout=settings.holdout).to(self.device)
        self.log(f"A = {settings.name_a}: {len(self.data_a)} images from {settings.data_a}; B = {settings.name_b}: "
                 f"{len(self.data_b)} images from {settings.data_b}; kept in memory at {stored_size} px")
        torch.manual_seed(settings.seed)  # initial weights
        model = generators(settings, domain_a=settings.name_a, domain_b=settings.name_b)
        # paper: D_X = disc_a judges F(b); D_Y = disc_b judges G(a).
        disc_a, disc_b = discriminator(settings), discriminator(settings)
        # Left in NCHW: channels_last measured 3-6% slower here on CPU (it helps the DCGAN; see docs/performance.md).
        opt_gen = adam(model.parameters(), settings.lr_g, BETAS, self.device)
        opt_disc = adam([*disc_a.parameters(), *disc_b.parameters()], settings.lr_d, BETAS, self.device)
        self.pool_a, self.pool_b = ImagePool(settings.pool_size), ImagePool(settings.pool_size)
        self.fixed_a = fixed_inputs(self.data_a, settings.image_size, self.seed_a)
        self.fixed_b = fixed_inputs(self.data_b, settings.image_size, self.seed_b)
        self.model, self.disc_a, self.disc_b, self.opt_gen, self.opt_disc = model, disc_a, disc_b, opt_gen, opt_disc
        self.ema = EMA(model, settings.ema_decay)
        self.restore()
        self.ema.model.to(self.device)
        self.model, self.disc_a, self.disc_b, self.opt_gen, self.opt_disc = self.accelerator.prepare(
            model, disc_a, disc_b, opt_gen, opt_disc)

    def real_batch(self, data: torch.Tensor, seed: int, step: int, rng: torch.Generator) -> torch.Tensor:
        indices = batch_indices(len(data), self.settings.batch_size, seed, step, self.rank,
                                self.accelerator.num_processes).to(self.device)
        return augment.real_batch(data[indices], self.settings.aug, self.settings.image_size, rng)  # (B, 3, S, S)

    def set_learning_rates(self, step: int) -> None:
        factor = decay_factor(step, self.settings.iters) if self.settings.lr_decay else 1.0
        for optimizer, base in ((self.opt_gen, self.settings.lr_g), (self.opt_disc, self.settings.lr_d)):
            for group in optimizer.param_groups:
                group["lr"] = base * factor

    @staticmethod
    def discriminator_loss(disc: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor,
                           view: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """0.5 * (mean (D(real) - 1)^2 + mean D(fake)^2), both halves in one forward pass."""
        scores_real, scores_fake = losses.split_scores(disc(view(torch.cat([real, fake]))), len(real))
        return 0.5 * (losses.lsgan_real(scores_real) + losses.lsgan_fake(scores_fake))

    def train_step(self, step: int) -> list[float]:
        rng = step_generator(self.settings.seed, step, self.rank, self.device)
        real_a = self.real_batch(self.data_a, self.seed_a, step, rng)
        real_b = self.real_batch(self.data_b, self.seed_b, step, rng)
        self.set_learning_rates(step)
        identity_weight = self.settings.lambda_identity
        if self.settings.identity_decay:
            identity_weight *= decay_factor(step, self.settings.iters)
        losses_of_step = self.update(real_a, real_b, rng, identity_weight)
        # (3) The EMA follows both generators after every generator step.
        self.ema.update(self.accelerator.unwrap_model(self.model), step)
        return losses_of_step

    def update(self, real_a: torch.Tensor, real_b: torch.Tensor, rng: torch.Generator,
               identity_weight: float) -> list[float]:
        """One update of both discriminators and both generators on a given batch, the identity loss
        at `identity_weight`; returns the terms of `loss_names`."""
        settings, accelerator = self.settings, self.accelerator
        view = (lambda images: augment.diff_augment(images, rng)) if settings.diffaug else (lambda images: images)
        with_identity = settings.lambda_identity > 0

        with self.autocast():
            # Both cycles in one call of the (DDP-wrapped) pair: fake_b = G(a), rec_a = F(G(a)), ...
            out = self.model(real_a, real_b, with_identity=with_identity)

            # (1) Update D_A and D_B: real -> 1, fake -> 0 (least squares); fakes detached, from the pools.
            # D goes first, as in Goodfellow et al.'s algorithm and the DCGAN trainer (the reference
            # CycleGAN code updates G first). Both orders use the same fakes, since the generators
            # change only in (2); D first means G's adversarial gradient comes from discriminators
            # that have just learnt from these fakes, not from ones a step older. The paper fixes no
            # order; this one gives G the freshest judge at no extra cost.
            pooled_a = self.pool_a.query(out["fake_a"].float(), rng)
            pooled_b = self.pool_b.query(out["fake_b"].float(), rng)
            d_a = self.discriminator_loss(self.disc_a, real_a, pooled_a, view)
            d_b = self.discriminator_loss(self.disc_b, real_b, pooled_b, view)
        self.opt_disc.zero_grad(set_to_none=True)
        accelerator.backward(d_a + d_b)
        self.opt_disc.step()

        # (2) Update G and F: D_B(G(a)) -> 1, D_A(F(b)) -> 1 with D_A and D_B frozen; cycle and identity L1.
        unwrap = accelerator.unwrap_model
        with self.autocast(), frozen(unwrap(self.disc_a)) as disc_a, frozen(unwrap(self.disc_b)) as disc_b:
            g_a2b = losses.lsgan_real(disc_b(view(out["fake_b"])))
            g_b2a = losses.lsgan_real(disc_a(view(out["fake_a"])))
        # The cycle loss is logged even with --no-cycle, so runs with and without it compare.
        loss_cycle_a, loss_cycle_b = losses.cycle(real_a, out["rec_a"]), losses.cycle(real_b, out["rec_b"])
        loss_gen = g_a2b + g_b2a
        if not settings.no_cycle:
            loss_gen = loss_gen + settings.lambda_cycle * (loss_cycle_a + loss_cycle_b)
        loss_identity_a = loss_identity_b = torch.zeros((), device=self.device)  # logged as 0 when off
        if with_identity:
            loss_identity_a = losses.identity(real_a, out["same_a"])
            loss_identity_b = losses.identity(real_b, out["same_b"])
            held = {"both": loss_identity_a + loss_identity_b, "a2b": loss_identity_b, "b2a": loss_identity_a}
            loss_gen = loss_gen + identity_weight * held[settings.identity_generators]
        self.opt_gen.zero_grad(set_to_none=True)
        accelerator.backward(loss_gen)
        self.opt_gen.step()
        terms = (d_a, d_b, g_a2b, g_b2a, loss_cycle_a, loss_cycle_b, loss_identity_a, loss_identity_b)
        return torch.stack([term.detach().float() for term in terms]).tolist()  # one device sync

    @torch.no_grad()
    def sample_grid(self):
        """One row per fixed input pair, drawn by the EMA generators, in the order of SAMPLE_ROW."""
        real_a, real_b = uint8_to_signed(self.fixed_a).to(self.device), uint8_to_signed(self.fixed_b).to(self.device)
        out = self.ema.model(real_a, real_b)
        rows = torch.stack([real_a, out["fake_b"], out["rec_a"], real_b, out["fake_a"], out["rec_b"]], dim=1)
        return sample_grid(rows.flatten(0, 1).float(), columns=len(SAMPLE_ROW))  # (4 rows, 6 columns) of (3, S, S)

    def gathered_pool(self, pool: ImagePool) -> torch.Tensor:
        """Every process's pool, (processes, n, 3, S, S): each process keeps its own past fakes,
        and all fill at the same rate, so the shapes agree."""
        return self.accelerator.gather(pool.images.to(self.device).unsqueeze(0)).cpu()

    def state_dict(self) -> dict:
        unwrap = self.accelerator.unwrap_model
        return {"model": unwrap(self.model).state_dict(), "model_ema": self.ema.model.state_dict(),
                "disc_a": unwrap(self.disc_a).state_dict(), "disc_b": unwrap(self.disc_b).state_dict(),
                "opt_gen": self.opt_gen.state_dict(), "opt_disc": self.opt_disc.state_dict(),
                "fixed_a": self.fixed_a, "fixed_b": self.fixed_b,
                "pool_a": self.gathered_pool(self.pool_a), "pool_b": self.gathered_pool(self.pool_b)}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        if "model_ema" not in state:  # a run started before the CycleGAN kept an EMA: it starts from here
            self.log("this run's state.pt has no EMA of the generators; the average starts from the raw ones")
        self.ema.model.load_state_dict(state.get("model_ema", state["model"]))
        self.disc_a.load_state_dict(state["disc_a"])
        self.disc_b.load_state_dict(state["disc_b"])
        load_optimizer(self.opt_gen, state["opt_gen"], "opt_gen")
        load_optimizer(self.opt_disc, state["opt_disc"], "opt_disc")
        self.fixed_a, self.fixed_b = (checked_tensor(state[name], name, tuple(fixed.shape), fixed.dtype)
                                      for name, fixed in (("fixed_a", self.fixed_a), ("fixed_b", self.fixed_b)))
        # A resumed run with more processes than the saved one reuses the saved pools in turn.
        self.pool_a.images = self.saved_pool(state, "pool_a")
        self.pool_b.images = self.saved_pool(state, "pool_b")

    def saved_pool(self, state: dict, name: str) -> torch.Tensor:
        """This process's pool from state.pt (see gathered_pool), checked to fit: (n, 3, S, S) with
        n <= --pool-size, or empty (no pool, or none saved yet)."""
        pools, size = state[name], self.settings.image_size
        if isinstance(pools, torch.Tensor) and pools.dim() == 2 and pools.shape[1] == 0 and len(pools):
            return pools[self.rank % len(pools)]
        pools = checked_tensor(pools, name, (None, None, 3, size, size), torch.float32)
        if len(pools) == 0 or pools.shape[1] > self.settings.pool_size:
            raise ValueError(f"{name} holds {pools.shape[1]} images for --pool-size {self.settings.pool_size}")
        return pools[self.rank % len(pools)]

    def export_model(self) -> CycleGAN:
        return self.ema.model

    def data_facts(self) -> dict:
        return {"domain_a": self.settings.name_a, "domain_b": self.settings.name_b,
                "images_a": len(self.data_a), "images_b": len(self.data_b)}


def parse_and_train(argv: list[str]) -> None:
    CycleGANTrainer(parse_args(argv)).fit()


if __name__ == "__main__":
    main(parse_and_train)
