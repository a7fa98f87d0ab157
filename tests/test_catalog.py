"""The model registry: built at start-up from the catalog with its source rule (the Hub at the pinned
revision when a repo id is set and the Hub is allowed and answers, the bundled folder otherwise, with
the reason shown and logged), a missing or broken model listed as unavailable with its reason rather
than raised, and models added later (a local run) joining it. The Hub client is replaced by a stub
here; adding by repo id over real HTTP is tests/test_add_model.py's."""

import dataclasses
import logging
import threading
import types
from pathlib import Path

import pytest
import torch

from gan_demo import catalog, hub
from gan_demo.inference import ModelLoadError
from gan_demo.models import CycleGAN, DCGenerator

ENTRY = next(entry for entry in catalog.ENTRIES if entry.name == "dcgan-grumpy-basic")
PUBLISHED = dataclasses.replace(ENTRY, repo_id="someone/dcgan-grumpy-basic", revision="0123456789" * 4)


@pytest.fixture(autouse=True)
def no_catalog_variables(monkeypatch):
    for name in (*catalog.OFFLINE_VARIABLES, catalog.CHECKPOINTS_VARIABLE):
        monkeypatch.delenv(name, raising=False)


def tiny_dcgan() -> DCGenerator:
    return DCGenerator(latent_dim=8, conv_dim=4, image_size=16)


@pytest.fixture
def bundled(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    tiny_dcgan().save_pretrained(tmp_path / ENTRY.name)
    return tmp_path


def stub_hub(monkeypatch, pull_model) -> list[tuple]:
    """Replace the catalog's hub.pull_model with `pull_model`; returns the calls made."""
    calls: list[tuple] = []

    def recording_pull(*arguments):
        calls.append(arguments)
        return pull_model(*arguments)

    monkeypatch.setattr(catalog.hub, "pull_model", recording_pull)
    return calls


def test_bundled_folder_when_no_repo_id(bundled, monkeypatch):
    calls = stub_hub(monkeypatch, lambda *arguments: pytest.fail("the Hub must not be asked"))
    resolved = catalog.resolve(ENTRY, bundled)
    assert isinstance(resolved.model, DCGenerator) and not resolved.model.training
    assert resolved.progress_folder == bundled / ENTRY.name
    assert resolved.source == f"bundled: {bundled / ENTRY.name}" and calls == []


def test_hub_at_the_pinned_revision_when_published(bundled, monkeypatch, tmp_path):
    snapshot = tmp_path / "snapshot"
    model = tiny_dcgan()
    pulled = types.SimpleNamespace(model=model, folder=snapshot, commit_id=PUBLISHED.revision)
    calls = stub_hub(monkeypatch, lambda *arguments: pulled)
    resolved = catalog.resolve(PUBLISHED, bundled)
    assert calls == [(DCGenerator, PUBLISHED.repo_id, PUBLISHED.revision)]
    assert resolved.model is model and resolved.progress_folder == snapshot
    assert resolved.source == f"Hub: {PUBLISHED.repo_id} @ {PUBLISHED.revision[:12]}"


@pytest.mark.parametrize("variable", catalog.OFFLINE_VARIABLES)
def test_offline_variables_forbid_the_hub(bundled, monkeypatch, variable):
    monkeypatch.setenv(variable, "1")
    stub_hub(monkeypatch, lambda *arguments: pytest.fail("the Hub must not be asked offline"))
    resolved = catalog.resolve(PUBLISHED, bundled)
    assert resolved.source.startswith("bundled: ") and "Hub disabled by" in resolved.source


def test_unreachable_hub_falls_back_to_the_bundled_copy_and_says_why(bundled, monkeypatch, caplog):
    def unreachable(*arguments):
        raise hub.HubError("cannot reach the Hub (connection refused)")

    stub_hub(monkeypatch, unreachable)
    with caplog.at_level(logging.WARNING, logger="gan_demo.catalog"):
        resolved = catalog.resolve(PUBLISHED, bundled)
    assert resolved.progress_folder == bundled / ENTRY.name
    assert "Hub unavailable: cannot reach the Hub (connection refused)" in resolved.source
    assert "using the bundled copy" in caplog.text


def test_the_registry_lists_every_entry_and_missing_or_broken_ones_as_unavailable(bundled):
    (bundled / "cyclegan-cats").mkdir()
    (bundled / "cyclegan-cats" / "config.json").write_text("{}")
    (bundled / "cyclegan-cats" / "model.safetensors").write_bytes(b"not safetensors")
    registry = catalog.build_registry(bundled)
    assert registry.names() == [ENTRY.name]
    assert registry.names(available=False) == [entry.name for entry in catalog.ENTRIES]
    assert registry.get(ENTRY.name).label == ENTRY.label
    broken = {model.name: model for model in registry.models(available=False)}["cyclegan-cats"]
    assert broken.model is None and broken.reason.startswith(f"{bundled / 'cyclegan-cats'}: cannot load CycleGAN")
    assert "\n" not in broken.reason and broken.source == f"unavailable: {broken.reason}"
    with pytest.raises(catalog.ModelUnavailable, match="cyclegan-cats is not available: .*cannot load CycleGAN"):
        registry.get("cyclegan-cats")
    with pytest.raises(catalog.ModelUnavailable, match="no model named 'nope'; known: dcgan-grumpy-basic, "):
        registry.get("nope")


def test_a_missing_model_raises_for_resolve_but_not_for_the_registry(tmp_path):
    with pytest.raises(ModelLoadError, match="not an exported model"):
        catalog.resolve(ENTRY, tmp_path)
    registry = catalog.build_registry(tmp_path)
    assert registry.names() == []
    assert all("not an exported model" in model.reason for model in registry.models(available=False))


def test_models_added_later_join_the_registry_and_replace_by_name(bundled, tmp_path):
    registry = catalog.build_registry(bundled, entries=(ENTRY,))
    fruit = CycleGAN(domain_a="pear", domain_b="quince", image_size=16, conv_dim=4, n_res_blocks=1)
    added = registry.add("someone/fruit", "cyclegan", fruit, "Hub: someone/fruit @ abc", tmp_path / "snapshot")
    assert registry.get("someone/fruit") is added and added.progress_folder == tmp_path / "snapshot"
    assert added.label == "someone/fruit" and added.domains == ("pear", "quince")
    assert not fruit.training and not any(parameter.requires_grad for parameter in fruit.parameters())
    assert registry.names("cyclegan") == ["someone/fruit"] and registry.names("dcgan") == [ENTRY.name]
    assert [(choice.label, choice.direction) for choice in registry.translation_choices()] == [
        ("pear -> quince", "a2b"), ("quince -> pear", "b2a")]
    newer = tiny_dcgan()
    registry.add("run:mine", "dcgan", newer, "run: runs/mine", None)
    registry.add("run:mine", "dcgan", newer, "run: runs/mine, step 400", None)
    assert registry.names() == [ENTRY.name, "someone/fruit", "run:mine"]
    assert registry.get("run:mine").source == "run: runs/mine, step 400"
    registry.add_unavailable("someone/gone", "dcgan", "someone/gone: no such repo")
    assert "someone/gone" in registry.names(available=False) and "someone/gone" not in registry.names()


def test_add_refuses_a_model_of_the_wrong_kind(bundled):
    registry = catalog.ModelRegistry()
    with pytest.raises(TypeError, match="a cyclegan model must be a CycleGAN, got DCGenerator"):
        registry.add("mixed-up", "cyclegan", tiny_dcgan(), "test")
    with pytest.raises(ValueError, match="unknown model kind 'stylegan'"):
        registry.add("other", "stylegan", tiny_dcgan(), "test")
    assert registry.names(available=False) == []


def test_reading_while_another_thread_adds(bundled):
    registry = catalog.build_registry(bundled, entries=(ENTRY,))
    model = tiny_dcgan()
    adding = threading.Thread(target=lambda: [registry.add(f"run:{n}", "dcgan", model, "run") for n in range(300)])
    adding.start()
    seen = [len(registry.names("dcgan")) for _ in range(300)]
    adding.join()
    assert seen == sorted(seen) and len(registry.names()) == 301


def test_checkpoints_variable_moves_the_bundled_folders(bundled, monkeypatch):
    assert catalog.checkpoints_root() == catalog.DEFAULT_CHECKPOINTS
    monkeypatch.setenv(catalog.CHECKPOINTS_VARIABLE, str(bundled))
    assert ENTRY.bundled_folder() == bundled / ENTRY.name
    assert catalog.build_registry(entries=(ENTRY,)).get(ENTRY.name).progress_folder == bundled / ENTRY.name


def test_translation_choices_cover_both_directions_of_every_cyclegan(tmp_path):
    registry = catalog.build_registry(tmp_path)  # nothing loads: the choices of unavailable models still exist
    assert registry.translation_choices() == []
    labels = {choice.label: (choice.model_name, choice.direction)
              for choice in registry.translation_choices(available=False)}
    assert labels["Russian Blue -> Grumpy"] == ("cyclegan-cats", "a2b")
    assert labels["Grumpy -> Russian Blue"] == ("cyclegan-cats", "b2a")
    assert labels["apple -> orange"] == ("cyclegan-apple2orange", "a2b")
    assert labels["orange -> apple"] == ("cyclegan-apple2orange", "b2a")
    assert labels["Russian Blue -> Grumpy (no cycle loss)"] == ("cyclegan-cats-nocycle", "a2b")
    assert len(labels) == 2 * sum(entry.kind == "cyclegan" for entry in catalog.ENTRIES)
