"""train.evaluate on a user's own CycleGAN: the held-out split, the domain classifier, and the figures."""

import json

from gan_demo.models import CycleGAN
from tests.conftest import make_images, run_cli
from train.data import list_images, split_holdout


def test_holdout_split_is_stable_and_disjoint(tmp_path):
    folder = make_images(tmp_path / "images", count=20, seed=0)
    training, held = split_holdout(list_images(folder, "--data"), folder, 0.25)
    assert len(held) == 5 and len(training) == 15 and not set(training) & set(held)
    make_images(tmp_path / "images" / "more", count=4, seed=1)  # new files do not reshuffle the old ones
    _, held_again = split_holdout(list_images(folder, "--data"), folder, 0.25)
    assert len(set(held) & set(held_again)) >= 4


def test_evaluate_a_cyclegan_on_its_held_out_images(tmp_path):
    data_a = make_images(tmp_path / "red", count=16, seed=0, size=(16, 16), tint=(120, 0, 0))
    data_b = make_images(tmp_path / "blue", count=16, seed=1, size=(16, 16), tint=(0, 0, 120))
    export = tmp_path / "export"
    CycleGAN(domain_a="red", domain_b="blue", image_size=16, conv_dim=4, n_res_blocks=1).save_pretrained(export)
    result = run_cli("train.evaluate", "--cyclegan", str(export), "--data-a", str(data_a), "--data-b", str(data_b),
                     "--holdout", "0.25", "--json", str(tmp_path / "figures.json"))
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads((tmp_path / "figures.json").read_text())[str(export)]
    assert (figures["images_a"], figures["images_b"], figures["held_out"]) == (4, 4, True)
    # Red and blue are trivially told apart; an untrained generator's output is neither and comes back blurred.
    assert figures["classifier_accuracy_on_real"] == 1.0
    for key in ("a_to_b_classified_b", "b_to_a_classified_a"):
        assert 0 <= figures[key] <= 1
    assert figures["l1_a_to_b_to_a"] > 0.05 and figures["l1_b_to_a_to_b"] > 0.05


def test_evaluate_refuses_what_is_not_a_cyclegan(tmp_path):
    folder = make_images(tmp_path / "images", count=4, seed=0)
    result = run_cli("train.evaluate", "--cyclegan", str(tmp_path / "nothing"), "--data-a", str(folder),
                     "--data-b", str(folder))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "not a loadable CycleGAN export" in result.stderr
