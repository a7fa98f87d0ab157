"""The settings of a training run (train/settings.py): the command line fills them, config.json
stores them and --resume reads them back, the saved values winning over the command line for all
but the settings README.md lists, each saved value checked to have its flag's type and choices.
Parsing only: nothing trains here."""

import dataclasses
import json
from pathlib import Path

import pytest

from train import cyclegan, dcgan
from train.errors import UserError
from train.settings import CHANGEABLE_ON_RESUME

DCGAN_ARGV = ["--data", "images", "--image-size", "32", "--conv-dim", "8", "--latent-dim", "16", "--lr", "1e-3",
              "--seed", "5", "--ema-decay", "0.9"]


def saved_run(tmp_path: Path, config: dict) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps(config))
    return out


def test_settings_go_through_config_json_unchanged(tmp_path):
    for settings in (dcgan.parse_args([*DCGAN_ARGV, "--out", str(tmp_path / "run"), "--push-to-hub", "someone/cats"]),
                     cyclegan.parse_args(["--data-a", "a/apple", "--data-b", "b/orange", "--out", "run",
                                          "--lr-decay", "--name-b", "citrus"])):
        text = json.loads(json.dumps(settings.to_json()))  # what config.json holds
        assert type(settings).from_json(text, defaults=settings, where=tmp_path) == settings
        with pytest.raises(dataclasses.FrozenInstanceError):
            settings.iters = 1


def test_config_json_keeps_one_key_per_flag_as_written_before_the_settings_object(tmp_path):
    # The keys and value types older versions wrote (argparse's dests), so their run folders resume.
    settings = cyclegan.parse_args(["--data-a", "a/apple", "--data-b", "b/orange", "--out", "run"])
    assert settings.to_json() == {
        "aug": "basic", "batch_size": 16, "checkpoint_every": 800, "conv_dim": 32, "cpu": False, "data_a": "a/apple",
        "data_b": "b/orange", "diffaug": False, "disc": "patch", "ema_decay": 0.999, "first_block_norm": "instance",
        "holdout": 0.0, "identity_decay": False, "identity_generators": "both", "image_size": 64,
        "iters": 5000, "lambda_cycle": 10.0, "lambda_identity": 0.0, "lr_d": 2e-4, "lr_decay": False, "lr_g": 2e-4,
        "n_res_blocks": 3, "name_a": "apple", "name_b": "orange", "no_cycle": False, "out": "run",
        "output_block": "upsampled", "patch_layers": 3,
        "pool_size": 50, "precision": "fp32", "private": False, "push_to_hub": None, "report_to": "none",
        "resume": False, "sample_every": 100, "seed": 0, "skips": settings.skips}


def test_a_resumed_run_takes_its_settings_from_config_json_but_the_changeable_ones(tmp_path):
    written = dcgan.parse_args([*DCGAN_ARGV, "--out", str(tmp_path / "elsewhere")]).to_json()
    out = saved_run(tmp_path, written)
    resumed = dcgan.parse_args(["--data", "other", "--out", str(out), "--resume", "--lr", "0.5", "--seed", "9",
                                "--image-size", "64", "--iters", "7", "--push-to-hub", "someone/cats", "--private",
                                "--report-to", "tensorboard", "--cpu"])
    # From the command line: exactly CHANGEABLE_ON_RESUME.
    assert {name: getattr(resumed, name) for name in CHANGEABLE_ON_RESUME} == {
        "out": out, "iters": 7, "resume": True, "push_to_hub": "someone/cats", "private": True,
        "report_to": "tensorboard", "cpu": True}
    # From config.json: all the others, whatever the command line said.
    assert (resumed.data, resumed.lr, resumed.seed, resumed.image_size, resumed.ema_decay) == (
        Path("images"), 1e-3, 5, 32, 0.9)


def test_a_config_json_from_before_a_flag_resumes_with_the_value_runs_had_then(tmp_path):
    written = dcgan.parse_args([*DCGAN_ARGV, "--out", "run"]).to_json()
    del written["norm"], written["ema_decay"]  # --norm: runs had instance norm; --ema-decay: today's default
    resumed = dcgan.parse_args(["--data", "images", "--out", str(saved_run(tmp_path, written)), "--resume"])
    assert (resumed.norm, resumed.ema_decay) == ("instance", 0.999)


@pytest.mark.parametrize("saved, skips", [(False, "none"), (True, "features+input"), ("features", "features")])
def test_a_cycle_gan_run_from_before_the_skip_options_resumes_with_its_network(tmp_path, saved, skips):
    written = cyclegan.parse_args(["--data-a", "a/apple", "--data-b", "b/orange", "--out", "run"]).to_json()
    out = saved_run(tmp_path, {**written, "skips": saved})
    resumed = cyclegan.parse_args(["--data-a", "a/apple", "--data-b", "b/orange", "--out", str(out), "--resume"])
    assert resumed.skips == skips


def test_a_cycle_gan_run_from_before_the_generator_options_resumes_with_its_network_whatever_the_flags_say(tmp_path):
    written = cyclegan.parse_args(["--data-a", "a/apple", "--data-b", "b/orange", "--out", "run"]).to_json()
    del written["first_block_norm"], written["output_block"]
    resumed = cyclegan.parse_args(["--data-a", "a/apple", "--data-b", "b/orange", "--out",
                                   str(saved_run(tmp_path, written)), "--resume", "--first-block-norm", "none",
                                   "--output-block", "full-resolution"])
    assert (resumed.first_block_norm, resumed.output_block) == ("instance", "upsampled")


@pytest.mark.parametrize("key, value, message", [
    ("lr", "fast", "'lr' is \"fast\", not a value of --lr"),
    ("image_size", True, "'image_size' is true, not a value of --image-size"),
    ("seed", 1.5, "'seed' is 1.5, not a value of --seed"),
    ("aug", "weird", "'aug' is \"weird\", not a value of --aug"),
    ("diffaug", 1, "'diffaug' is 1, not a value of --diffaug"),
    ("data", None, "'data' is null, not a value of --data"),
    ("norm", "x" * 10_000, "'norm' is \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..., not a value of --norm"),
    ("ema_decay", 1.0, "--ema-decay must be at least 0 and below 1, got 1.0"),
])
def test_a_hand_edited_config_json_is_refused_naming_the_file_and_the_setting(tmp_path, key, value, message):
    written = dcgan.parse_args([*DCGAN_ARGV, "--out", "run"]).to_json()
    out = saved_run(tmp_path, {**written, key: value})
    with pytest.raises(UserError) as refused:
        dcgan.parse_args(["--data", "images", "--out", str(out), "--resume"])
    assert str(refused.value).startswith(f"{out / 'config.json'}: {message}")
    assert len(str(refused.value)) < 300


@pytest.mark.parametrize("content, message", [
    ("[1, 2]", "not a JSON object of settings"),
    ("{" * 100_000, "not valid JSON"),
    ('{"seed": ' + "1" * 4000 + "}", "'seed' is 1111111111111111111111111111111111111111..., not a value of --seed"),
    (" " * 2_000_000 + "{}", "bytes, not a config.json of this project"),
])
def test_a_config_json_that_is_no_settings_object_is_refused_in_one_line(tmp_path, content, message):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(content)
    with pytest.raises(UserError, match=message):
        dcgan.parse_args(["--data", "images", "--out", str(out), "--resume"])
