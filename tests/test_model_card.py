"""What training writes about a model besides its weights: the model card's Hub metadata comes from
the class's PyTorchModelHubMixin declaration through huggingface_hub's ModelCard, and its settings
block reads back in the app; the bundle table's final losses come from the one losses.csv reader."""

import torch
from huggingface_hub import ModelCard

from gan_demo import progress
from train import bundle, model_card

CONFIG = {"data": "data/grumpy", "image_size": 32, "latent_dim": 16, "aug": "basic", "diffaug": False,
          "sample_every": 100, "iters": 300, "out": "runs/x"}
FACTS = {"images": 12, "step": 300, "train_seconds": 30.0, "device": "CPU test", "world_size": 1}


def test_the_card_metadata_is_the_class_declaration(tmp_path):
    text = model_card.model_card("dcgan", CONFIG, FACTS, [[1.0, 0.5, 0.25, 2.0]], ["d_real", "d_fake", "g"])
    assert text.startswith("---\nlibrary_name: gan-demo\n")
    card = ModelCard(text)
    assert (card.data.library_name, card.data.license) == ("gan-demo", "mit")
    assert card.data.pipeline_tag == "unconditional-image-generation"
    assert {"gan", "dcgan", "pytorch", "image-generation"} <= set(card.data.tags)
    assert card.text.startswith("\n# DCGAN trained on `grumpy` (32x32)")
    (tmp_path / "README.md").write_text(text)
    assert progress.training_settings(tmp_path) == {key: value for key, value in CONFIG.items() if key != "out"}
    cyclegan = model_card.card_data("cyclegan")
    assert cyclegan.pipeline_tag == "image-to-image" and "cyclegan" in cyclegan.tags


def test_the_bundle_table_averages_the_last_100_logged_steps(tmp_path):
    run = tmp_path / "runs" / "dcgan-grumpy-basic"
    run.mkdir(parents=True)
    torch.save({"step": 150, "train_seconds": 60.0}, run / "state.pt")
    rows = [f"{step},{step},{2 * step}" for step in range(1, 151)]
    (run / "losses.csv").write_text("step,d,g\n" + "\n".join(rows) + "\n150,cut-off\n")
    row = bundle.table_row("dcgan-grumpy-basic", tmp_path / "data", tmp_path / "runs", "test machine")
    assert row.endswith("| 150 | 1 min | 2.5 | test machine | d 100.500, g 201.000 |")


def test_the_cyclegan_card_says_which_generators_the_identity_loss_held_and_how():
    config = {"data_a": "data/apple", "data_b": "data/orange", "image_size": 64, "disc": "patch", "aug": "basic",
              "diffaug": False, "no_cycle": False, "lambda_cycle": 5.0, "lambda_identity": 1.0,
              "sample_every": 100, "iters": 300, "out": "runs/x"}
    facts = {**FACTS, "domain_a": "apple", "domain_b": "orange", "images_a": 9, "images_b": 8}
    names = ["d_a", "d_b", "g_a2b", "g_b2a", "cycle_a", "cycle_b", "identity_a", "identity_b"]

    def card(**settings) -> str:
        return model_card.model_card("cyclegan", {**config, **settings}, facts, [[0.5] * 9], names)

    assert "identity weight 1.0 and" in card()  # a card of a run from before the two options
    assert "identity weight 1.0 and" in card(identity_generators="both", identity_decay=False)
    assert ("identity weight 1.0 (on `gen_a2b` only), decaying to 0 over the second half and"
            in card(identity_generators="a2b", identity_decay=True))
    assert "identity weight 0.0 and" in card(lambda_identity=0.0, identity_generators="b2a", identity_decay=True)
