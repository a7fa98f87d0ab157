"""What the trainers do with steps and processes: the CycleGAN learning rate (and with
--identity-decay the identity weight) decays linearly to exactly 0 at the last step, and under
several processes each epoch is dealt out as DistributedSampler deals it (disjoint shares that
together cover the data)."""

import pytest
import torch
from accelerate import Accelerator

from tests.conftest import make_images
from train import augment, dcgan
from train.cyclegan import CycleGANTrainer, decay_factor, parse_args
from train.data import batch_indices


@pytest.mark.parametrize("iters", [1, 2, 7, 10, 5000])
def test_the_decay_holds_over_the_first_half_then_falls_linearly_to_exactly_zero_at_the_last_step(iters):
    factors = [decay_factor(step, iters) for step in range(1, iters + 1)]
    half = iters // 2
    assert factors[:half] == [1.0] * half
    assert factors[-1] == 0.0
    falls = [before - after for before, after in zip([1.0, *factors][half:-1], factors[half:], strict=True)]
    assert all(fall == pytest.approx(1 / (iters - half)) for fall in falls)  # equal steps down: linear


def tiny_cyclegan_trainer(tmp_path, *flags: str) -> CycleGANTrainer:
    """A CycleGAN trainer of 4 steps at 16 px on two tiny synthetic domains."""
    data_a = make_images(tmp_path / "apple", count=4, seed=1)
    data_b = make_images(tmp_path / "orange", count=4, seed=2, tint=(55, 30, 0))
    return CycleGANTrainer(parse_args(["--data-a", str(data_a), "--data-b", str(data_b), "--out", str(tmp_path / "run"),
                                       "--image-size", "16", "--conv-dim", "4", "--n-res-blocks", "1",
                                       "--batch-size", "2", "--iters", "4", *flags]))


def test_a_cycle_gan_run_with_lr_decay_ends_with_learning_rates_of_zero(tmp_path):
    trainer = tiny_cyclegan_trainer(tmp_path, "--lr-decay", "--lr-g", "3e-4", "--lr-d", "1e-4")
    seen = []
    for step in range(1, 5):
        trainer.train_step(step)
        seen.append([group["lr"] for optimizer in (trainer.opt_gen, trainer.opt_disc)
                     for group in optimizer.param_groups])
    assert seen == [[3e-4, 1e-4], [3e-4, 1e-4], [1.5e-4, 0.5e-4], [0.0, 0.0]]


@pytest.mark.parametrize("flags, weights", [([], [2.0, 2.0, 2.0, 2.0]), (["--identity-decay"], [2.0, 2.0, 1.0, 0.0])])
def test_the_identity_weight_decays_with_identity_decay_and_holds_without(tmp_path, flags, weights):
    trainer = tiny_cyclegan_trainer(tmp_path, "--lambda-identity", "2", *flags)
    update, seen = trainer.update, []

    def recording_update(real_a, real_b, rng, identity_weight):
        seen.append(identity_weight)
        return update(real_a, real_b, rng, identity_weight)

    trainer.update = recording_update
    for step in range(1, 5):
        trainer.train_step(step)
    assert seen == weights


@pytest.mark.parametrize("count, batch_size", [(12, 3), (13, 2), (40, 4)])
def test_two_processes_see_disjoint_images_within_an_epoch_and_together_nearly_all(count, batch_size):
    share = count // 2
    steps_per_epoch = share // batch_size
    for epoch in range(3):
        steps = range(epoch * steps_per_epoch + 1, (epoch + 1) * steps_per_epoch + 1)
        seen = [torch.cat([batch_indices(count, batch_size, 7, step, rank, 2) for step in steps]).tolist()
                for rank in (0, 1)]
        assert all(len(set(indices)) == len(indices) == steps_per_epoch * batch_size for indices in seen)
        assert not set(seen[0]) & set(seen[1])
        missed = set(range(count)) - set(seen[0]) - set(seen[1])
        assert len(missed) == count - 2 * steps_per_epoch * batch_size < 2 * batch_size
        if count % (2 * batch_size) == 0:
            assert not missed  # a set that divides evenly is seen whole, every epoch


def test_one_process_sees_every_image_once_an_epoch_in_a_new_order_each_epoch():
    epochs = [torch.cat([batch_indices(12, 3, 7, step) for step in range(first, first + 4)]) for first in (1, 5)]
    assert all(sorted(epoch.tolist()) == list(range(12)) for epoch in epochs)
    assert not torch.equal(epochs[0], epochs[1])


def test_the_trainers_deal_each_epoch_out_among_their_processes(tmp_path, monkeypatch):
    # One trainer plays both processes of a two-process run in turn: its rank and the process count
    # are what Accelerate would report to each; its batches are matched back to the images they hold.
    images = make_images(tmp_path / "images", count=8, seed=0)
    trainer = dcgan.DCGANTrainer(dcgan.parse_args(["--data", str(images), "--out", str(tmp_path / "run"),
                                                   "--image-size", "16", "--conv-dim", "4", "--latent-dim", "8",
                                                   "--batch-size", "2"]))
    monkeypatch.setattr(Accelerator, "num_processes", property(lambda self: 2))
    every_image = augment.basic(trainer.data)  # (8, 3, 16, 16): what a batch of the basic augmentation holds

    def seen_by(rank: int, steps: range) -> list[int]:
        trainer.rank = rank
        batches = [trainer.draw_batch(step)[0] for step in steps]
        return [int((every_image == image).flatten(1).all(1).nonzero()) for batch in batches for image in batch]

    for epoch in range(2):  # 8 images, 2 processes of batches of 2: 2 steps an epoch
        steps = range(2 * epoch + 1, 2 * epoch + 3)
        first, second = seen_by(0, steps), seen_by(1, steps)
        assert sorted(first + second) == list(range(8)), (first, second)
