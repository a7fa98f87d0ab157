"""`python -m gan_demo.examples`: the Translate examples are written from the project's own models
only, with a manifest the app reads, and models that are missing are skipped rather than fatal."""

import json

from gan_demo import examples
from tests.app_server import make_tiny_checkpoints


def test_examples_come_from_the_models_and_are_listed(tmp_path):
    checkpoints = make_tiny_checkpoints(tmp_path / "checkpoints")
    manifest = examples.make_examples(tmp_path / "examples", checkpoints)
    assert json.loads((tmp_path / "examples" / "examples.json").read_text()) == manifest
    assert {item["direction"] for item in manifest} == {"Grumpy -> Russian Blue", "Russian Blue -> Grumpy",
                                                         "apple -> orange", "orange -> apple"}
    assert all((tmp_path / "examples" / item["file"]).is_file() and item["made_by"] for item in manifest)


def test_missing_models_are_skipped(tmp_path, capsys):
    checkpoints = make_tiny_checkpoints(tmp_path / "checkpoints", leave_out=("cyclegan-cats", "cyclegan-apple2orange"))
    manifest = examples.make_examples(tmp_path / "examples", checkpoints)
    assert [item["direction"] for item in manifest] == ["Grumpy -> Russian Blue"] * len(examples.CAT_SEEDS)
    assert "skipped the examples of cyclegan-cats" in capsys.readouterr().out
