"""The catalog's source rule: the Hub at the pinned revision when a repo id is set and the Hub is
allowed and answers, the bundled folder otherwise (with the reason shown and logged), a missing
model reported as unavailable rather than raised at start. The Hub client is replaced by a stub."""

import dataclasses
import logging
import sys
import types
from pathlib import Path

import pytest
import torch

import gan_demo
from gan_demo import catalog
from gan_demo.inference import ModelLoadError
from gan_demo.models import DCGenerator

ENTRY = catalog.entry_named("dcgan-grumpy-basic")
PUBLISHED = dataclasses.replace(ENTRY, repo_id="someone/dcgan-grumpy-basic", revision="0123456789" * 4)


class HubError(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def fresh_catalog(monkeypatch):
    for name in (*catalog.OFFLINE_VARIABLES, catalog.CHECKPOINTS_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    catalog.resolve_cached.cache_clear()
    yield
    catalog.resolve_cached.cache_clear()


@pytest.fixture
def bundled(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    DCGenerator(latent_dim=8, conv_dim=4, image_size=16).save_pretrained(tmp_path / ENTRY.name)
    return tmp_path


def stub_hub(monkeypatch, pull_model) -> list[tuple]:
    """Replace gan_demo.hub with a module whose pull_model is `pull_model`; returns the calls made."""
    calls: list[tuple] = []

    def recording_pull(*arguments):
        calls.append(arguments)
        return pull_model(*arguments)

    hub = types.SimpleNamespace(pull_model=recording_pull, HubError=HubError)
    monkeypatch.setitem(sys.modules, "gan_demo.hub", hub)
    monkeypatch.setattr(gan_demo, "hub", hub, raising=False)
    return calls


def test_bundled_folder_when_no_repo_id(bundled, monkeypatch):
    calls = stub_hub(monkeypatch, lambda *arguments: pytest.fail("the Hub must not be asked"))
    resolved = catalog.resolve(ENTRY, bundled)
    assert isinstance(resolved.model, DCGenerator) and not resolved.model.training
    assert resolved.folder == bundled / ENTRY.name
    assert resolved.source == f"bundled: {bundled / ENTRY.name}" and calls == []
    assert catalog.resolve(ENTRY, bundled) is resolved  # loaded once per process


def test_hub_at_the_pinned_revision_when_published(bundled, monkeypatch, tmp_path):
    snapshot = tmp_path / "snapshot"
    model = DCGenerator(latent_dim=8, conv_dim=4, image_size=16)
    pulled = types.SimpleNamespace(model=model, folder=snapshot, commit_id=PUBLISHED.revision)
    calls = stub_hub(monkeypatch, lambda *arguments: pulled)
    resolved = catalog.resolve(PUBLISHED, bundled)
    assert calls == [(DCGenerator, PUBLISHED.repo_id, PUBLISHED.revision)]
    assert resolved.model is model and resolved.folder == snapshot
    assert resolved.source == f"Hub: {PUBLISHED.repo_id} @ {PUBLISHED.revision[:12]}"


@pytest.mark.parametrize("variable", catalog.OFFLINE_VARIABLES)
def test_offline_variables_forbid_the_hub(bundled, monkeypatch, variable):
    monkeypatch.setenv(variable, "1")
    stub_hub(monkeypatch, lambda *arguments: pytest.fail("the Hub must not be asked offline"))
    resolved = catalog.resolve(PUBLISHED, bundled)
    assert resolved.source.startswith("bundled: ") and "Hub disabled by" in resolved.source


def test_unreachable_hub_falls_back_to_the_bundled_copy_and_says_why(bundled, monkeypatch, caplog):
    def unreachable(*arguments):
        raise HubError("cannot reach the Hub (connection refused)")

    stub_hub(monkeypatch, unreachable)
    with caplog.at_level(logging.WARNING, logger="gan_demo.catalog"):
        resolved = catalog.resolve(PUBLISHED, bundled)
    assert resolved.folder == bundled / ENTRY.name
    assert "Hub unavailable: cannot reach the Hub (connection refused)" in resolved.source
    assert "using the bundled copy" in caplog.text


def test_missing_model_is_unavailable_not_fatal(tmp_path, monkeypatch):
    with pytest.raises(ModelLoadError, match="not an exported model"):
        catalog.resolve(ENTRY, tmp_path)
    rows = catalog.availability(tmp_path)
    assert [entry.name for entry, _, _ in rows] == [entry.name for entry in catalog.ENTRIES]
    assert all(resolved is None and "not an exported model" in reason for _, resolved, reason in rows)


def test_model_copied_in_later_is_found(tmp_path):
    with pytest.raises(ModelLoadError):
        catalog.resolve(ENTRY, tmp_path)
    DCGenerator(latent_dim=8, conv_dim=4, image_size=16).save_pretrained(tmp_path / ENTRY.name)
    assert catalog.resolve(ENTRY, tmp_path).folder == tmp_path / ENTRY.name


def test_checkpoints_variable_moves_the_bundled_folders(bundled, monkeypatch):
    assert catalog.checkpoints_root() == catalog.DEFAULT_CHECKPOINTS
    monkeypatch.setenv(catalog.CHECKPOINTS_VARIABLE, str(bundled))
    assert ENTRY.bundled_folder() == bundled / ENTRY.name
    assert catalog.resolve(ENTRY).folder == bundled / ENTRY.name


def test_translation_choices_cover_both_directions_of_every_cyclegan():
    labels = {choice.label: (choice.model_name, choice.direction) for choice in catalog.translation_choices()}
    assert labels["Russian Blue -> Grumpy"] == ("cyclegan-cats", "a2b")
    assert labels["Grumpy -> Russian Blue"] == ("cyclegan-cats", "b2a")
    assert labels["apple -> orange"] == ("cyclegan-apple2orange", "a2b")
    assert labels["orange -> apple"] == ("cyclegan-apple2orange", "b2a")
    assert labels["Russian Blue -> Grumpy (no cycle loss)"] == ("cyclegan-cats-nocycle", "a2b")
    assert len(labels) == 2 * len(catalog.entries("cyclegan"))
