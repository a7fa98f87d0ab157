"""Adding a published model by repo id: `ModelRegistry.add_from_hub` over real HTTP against the stand-in
Hub of tests/hub_server.py (in this process: the hub functions take the endpoint as an argument), and
the app's /add_model through gradio_client. The revision is pinned to a commit and named in the
model's name, so a later push changes nothing added and no add replaces another model; every refusal
(not a gan-demo export, pickled weights, sizes, format, cost, too large) comes before any weights are
downloaded; the cap on added models holds under concurrent adds, failed adds leave nothing on disk and
hold no place, and every added byte counts against one budget."""

import hashlib
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from benchmarks.gradio_server import gradio_server
from gan_demo import catalog, inference, runtime
from gan_demo.models import CycleGAN, DCGenerator
from tests.app_server import TINY_IMAGE_SIZE, make_tiny_checkpoints
from tests.conftest import SUBPROCESS_ENV
from tests.hub_server import Hostility, StandInHub, _Handler

OWNER = "someone"


def weights_digest(model: torch.nn.Module) -> str:
    state = model.state_dict()
    return hashlib.sha256(b"".join(state[key].numpy().tobytes() for key in sorted(state))).hexdigest()


def export_files(model: torch.nn.Module, folder: Path) -> dict[str, bytes]:
    model.save_pretrained(folder)
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def config_bytes(**config) -> bytes:
    return json.dumps(config).encode()


def weight_downloads(hub: StandInHub, since: int) -> list[str]:
    return [request.path for request in hub.requests[since:]
            if request.method == "GET" and "/resolve/" in request.path and request.path.endswith("model.safetensors")]


def files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


@pytest.fixture(autouse=True)
def hub_allowed(monkeypatch):
    for name in catalog.OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def hub():
    with StandInHub() as server:
        yield server


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory) -> dict[str, bytes]:
    torch.manual_seed(0)
    return export_files(DCGenerator(latent_dim=8, conv_dim=4, image_size=16), tmp_path_factory.mktemp("export"))


def registry_for(tmp_path: Path, **limits) -> catalog.ModelRegistry:
    return catalog.ModelRegistry(catalog.AddLimits(**limits), downloads=tmp_path / "downloads")


def test_a_revision_is_pinned_to_its_commit_and_named_so_a_later_push_replaces_nothing(hub, tmp_path):
    torch.manual_seed(0)
    first, second = (DCGenerator(latent_dim=8, conv_dim=4, image_size=16, norm=norm) for norm in ("instance", "pixel"))
    cyclegan = CycleGAN("apple", "orange", image_size=16, conv_dim=4, n_res_blocks=1, skips=True)
    older_cyclegan = CycleGAN("apple", "orange", image_size=16, conv_dim=4, n_res_blocks=1)
    first_commit = hub.publish(f"{OWNER}/cats", export_files(first, tmp_path / "first"))
    fruit_commit = hub.publish(f"{OWNER}/fruit", export_files(cyclegan, tmp_path / "cyclegan"), branch="v1")
    older_files = export_files(older_cyclegan, tmp_path / "older")
    older_config = json.loads(older_files["config.json"])
    del older_config["skips"]  # exported before the generators had the option
    hub.publish(f"{OWNER}/older-fruit", {**older_files, "config.json": json.dumps(older_config).encode()})
    registry = registry_for(tmp_path, models=5)

    note = registry.add_from_hub(f" {OWNER}/cats ", "", endpoint=hub.url)
    first_name = f"{OWNER}/cats@{first_commit[:12]}"
    assert note.startswith(f"Added `{first_name}` (dcgan, ") and first_commit in note
    second_commit = hub.publish(f"{OWNER}/cats", export_files(second, tmp_path / "second"))  # a later push
    again = registry.add_from_hub(f"{OWNER}/cats", first_commit, endpoint=hub.url)
    assert again.startswith(f"`{first_name}` is here already")
    registry.add_from_hub(f"{OWNER}/cats", "main", endpoint=hub.url)
    registry.add_from_hub(f"{OWNER}/fruit", "v1", endpoint=hub.url)
    registry.add_from_hub(f"{OWNER}/older-fruit", None, endpoint=hub.url)

    second_name, fruit_name = f"{OWNER}/cats@{second_commit[:12]}", f"{OWNER}/fruit@{fruit_commit[:12]}"
    assert registry.names("dcgan") == [first_name, second_name]  # both revisions, neither replaced
    assert weights_digest(registry.get(first_name).model) == weights_digest(first)
    assert weights_digest(registry.get(second_name).model) == weights_digest(second)
    assert registry.get(first_name).source == f"added: {OWNER}/cats @ {first_commit[:12]}"
    assert weights_digest(registry.get(fruit_name).model) == weights_digest(cyclegan)
    older_name = registry.names("cyclegan")[1]
    assert weights_digest(registry.get(older_name).model) == weights_digest(older_cyclegan)
    # The snapshot of the pinned commit still holds the first weights after the push.
    folder = registry.get(first_name).progress_folder
    assert weights_digest(DCGenerator.from_pretrained(folder)) == weights_digest(first)
    assert registry.download_bytes == sum(path.stat().st_size for path in files_under(tmp_path / "downloads"))


# (name, files over a real export, the refusal's text)
REFUSALS = [
    ("too-wide", {"config.json": config_bytes(latent_dim=8, conv_dim=4096, image_size=16)},
     "conv_dim 4096 is outside what this app serves (1 to 128)"),
    ("not-power-of-two", {"config.json": config_bytes(latent_dim=8, conv_dim=4, image_size=48)},
     "image_size 48 is not a power of two"),
    ("slow-to-draw", {"config.json": config_bytes(latent_dim=1024, conv_dim=128, image_size=256)},
     "the network has 167.7 M parameters, more than the 16 M this app serves"),
    ("huge-config", {"config.json": config_bytes(latent_dim=8, conv_dim=4, image_size=16, padding="x" * 70_000)},
     "bytes, more than a gan-demo config ever needs (65,536 bytes)"),
    ("foreign-config", {"config.json": config_bytes(hidden_size=768, num_layers=12)},
     "not a gan-demo export (config.json keys hidden_size, num_layers are those of neither DCGenerator nor CycleGAN)"),
    ("old-format", {"config.json": config_bytes(domain_a="a", domain_b="b", image_size=16, conv_dim=4,
                                                n_res_blocks=1)},
     "this CycleGAN export has format 1, whose networks differ from today's (format 2)"),
    ("unknown-norm", {"config.json": config_bytes(latent_dim=8, conv_dim=4, image_size=16, norm="batch")},
     "norm must be one of pixel, instance, not 'batch'"),
    ("skips-not-an-option", {"config.json": config_bytes(domain_a="a", domain_b="b", image_size=16, conv_dim=4,
                                                         n_res_blocks=1, skips=7, format_version=2)},
     "skips must be "),
    ("unknown-first-block-norm", {"config.json": config_bytes(domain_a="a", domain_b="b", image_size=16, conv_dim=4,
                                                              n_res_blocks=1, first_block_norm=[1], format_version=2)},
     "first_block_norm must be one of instance, none, not [1]"),
    ("unknown-output-block", {"config.json": config_bytes(domain_a="a", domain_b="b", image_size=16, conv_dim=4,
                                                          n_res_blocks=1, output_block="deconv", format_version=2)},
     "output_block must be one of upsampled, full-resolution, not 'deconv'"),
    ("newer-format", {"config.json": config_bytes(latent_dim=8, conv_dim=4, image_size=16, format_version=99)},
     "this DCGenerator export has format 99, newer than this gan-demo (format 2): update gan-demo to load it"),
    ("pickle-only", {"model.safetensors": None, "pytorch_model.bin": b"pickle"},
     "not a gan-demo export (no model.safetensors; pickled weights (pytorch_model.bin) are never loaded)"),
    ("slow-per-image", {"config.json": config_bytes(domain_a="a", domain_b="b", image_size=256, conv_dim=48,
                                                    n_res_blocks=3, format_version=2)},
     "GFLOP per image, more than the 5 this app serves"),
    ("long-domain-name", {"config.json": config_bytes(domain_a="a" * 41, domain_b="b", image_size=16, conv_dim=4,
                                                      n_res_blocks=1, format_version=2)},
     "domain_a must be a name of 1 to 40 printable characters"),
    ("bad-json", {"config.json": b"[1, 2"}, "config.json is not valid JSON"),
    ("not-a-number", {"config.json": b'{"latent_dim": NaN, "conv_dim": 4, "image_size": 16}'},
     "config.json holds NaN, which is not a number a gan-demo config uses"),
    # issue 22 item 10: refused before Python's parser overflows its recursion or its int limit
    ("deep-config", {"config.json": b"[" * 30_000 + b"]" * 30_000},
     "config.json nests deeper than the 8 levels a gan-demo config could use"),
    ("huge-integer", {"config.json": b'{"latent_dim": ' + b"9" * 5000 + b', "conv_dim": 4, "image_size": 16}'},
     "config.json holds a number of 5,000 characters, more than 32"),
]


def test_what_cannot_be_served_is_refused_in_one_line_before_the_weights_download(hub, tiny_export, tmp_path):
    hub.publish(f"{OWNER}/present", tiny_export)
    for name, files, _ in REFUSALS:
        merged = {**tiny_export, **files}
        hub.publish(f"{OWNER}/{name}", {path: content for path, content in merged.items() if content is not None})
    registry, before = registry_for(tmp_path, models=1), len(hub.requests)
    for name, _, message in REFUSALS:
        with pytest.raises(catalog.AddRefused) as refused:
            registry.add_from_hub(f"{OWNER}/{name}", None, endpoint=hub.url)
        assert str(refused.value).startswith(f"{OWNER}/{name}@") and message in str(refused.value), name
        assert "\n" not in str(refused.value) and len(str(refused.value)) < 300
    with pytest.raises(catalog.AddRefused, match=f"^{OWNER}/absent: no such repo on {hub.url} "
                                                 r"\(or it is private and the token cannot read it\)$"):
        registry.add_from_hub(f"{OWNER}/absent", None, endpoint=hub.url)
    with pytest.raises(catalog.AddRefused, match=f"^{OWNER}/present: no revision 'no-such-branch' on {hub.url}$"):
        registry.add_from_hub(f"{OWNER}/present", "no-such-branch", endpoint=hub.url)
    assert weight_downloads(hub, before) == []
    # None of those failures held a place: the one place still takes a model, and nothing else is on disk.
    registry.add_from_hub(f"{OWNER}/present", None, endpoint=hub.url)
    assert len(registry.names()) == 1 and len(files_under(tmp_path / "downloads")) == len(tiny_export)

    with StandInHub() as hub_down:
        pass  # a port nobody answers on
    with pytest.raises(catalog.AddRefused) as refused:
        registry_for(tmp_path).add_from_hub(f"{OWNER}/present", None, endpoint=hub_down.url)
    assert str(refused.value).startswith(f"cannot reach the Hugging Face Hub at {hub_down.url} (")
    assert str(refused.value).endswith("check the network or HF_ENDPOINT, then retry")


def test_invalid_and_overlong_repo_ids_get_the_projects_one_line_and_never_reach_the_hub(hub, tmp_path):
    registry, before = registry_for(tmp_path), len(hub.requests)
    for repo_id in ("x" * 10_000, f"{OWNER}/" + "y" * 10_000, "dcgan-grumpy-basic", "a/b/c", "../etc", "a--b/c",
                    "someone/cat\nname", "", "someone/cat?x=1"):
        with pytest.raises(catalog.AddRefused) as refused:
            registry.add_from_hub(repo_id, None, endpoint=hub.url)
        message = str(refused.value)
        assert "is not a Hub repo id: give namespace/name" in message, repo_id
        assert len(message) < 250 and "\n" not in message and "@main" not in message
    with pytest.raises(catalog.AddRefused, match="is not a branch, tag or commit id") as refused:
        registry.add_from_hub(f"{OWNER}/present", "../" * 5000, endpoint=hub.url)
    assert len(str(refused.value)) < 250
    assert len(hub.requests) == before


def test_a_bundled_name_is_never_replaced(hub, tiny_export, tmp_path):
    bundled = catalog.ModelRegistry(downloads=tmp_path / "downloads")
    bundled.add("dcgan-grumpy-basic", "dcgan", DCGenerator(latent_dim=8, conv_dim=4, image_size=16), "bundled")
    original = bundled.get("dcgan-grumpy-basic")
    hub.publish(f"{OWNER}/dcgan-grumpy-basic", tiny_export)
    note = bundled.add_from_hub(f"{OWNER}/dcgan-grumpy-basic", None, endpoint=hub.url)
    assert bundled.get("dcgan-grumpy-basic") is original and f"`{OWNER}/dcgan-grumpy-basic@" in note
    with pytest.raises(catalog.AddRefused, match="is not a Hub repo id"):
        bundled.add_from_hub("dcgan-grumpy-basic", None, endpoint=hub.url)


def test_concurrent_adds_respect_the_cap_and_the_same_model_is_added_once(hub, tiny_export, tmp_path):
    for index in range(3):
        hub.publish(f"{OWNER}/slow-{index}", tiny_export)
        # each answer dripped, so that the three adds overlap
        hub.hostile[f"{OWNER}/slow-{index}"] = Hostility(drip_seconds=0.0002)
    registry, outcomes = registry_for(tmp_path, models=2), []

    def add(repo_id: str) -> None:
        try:
            outcomes.append(registry.add_from_hub(repo_id, None, endpoint=hub.url))
        except catalog.AddRefused as error:
            outcomes.append(f"refused: {error}")

    adds = [threading.Thread(target=add, args=(f"{OWNER}/slow-{index}",)) for index in (0, 1, 2, 2)]
    for thread in adds:
        thread.start()
    for thread in adds:
        thread.join()
    # Two places: two models, and at least one of the three names refused for the cap; the second add
    # of slow-2 finds it being added or added already, whichever its timing meets.
    assert len(registry.names()) == 2 and len(outcomes) == 4, outcomes
    assert any("holds 2 added models already (or is adding them)" in outcome for outcome in outcomes)
    assert all(outcome.startswith("Added ") or "holds 2 added models" in outcome or "is here already" in outcome
               or "is being added by another request" in outcome for outcome in outcomes), outcomes
    assert len(files_under(tmp_path / "downloads")) == 2 * len(tiny_export)


def test_one_budget_on_received_bytes_for_every_commit_and_failed_downloads_leave_nothing(hub, tmp_path):
    torch.manual_seed(3)
    commits = [hub.publish(f"{OWNER}/many-commits",
                           export_files(DCGenerator(latent_dim=8, conv_dim=8, image_size=16), tmp_path / f"{index}"))
               for index in range(3)]
    one_export = sum(len(content) for name, content in hub.repos[f"{OWNER}/many-commits"].commits[commits[0]]
                     .files.items() if name != ".gitattributes")
    registry = registry_for(tmp_path, models=4, download_bytes=int(2.5 * one_export))
    registry.add_from_hub(f"{OWNER}/many-commits", commits[0], endpoint=hub.url)
    registry.add_from_hub(f"{OWNER}/many-commits", commits[1], endpoint=hub.url)
    with pytest.raises(catalog.AddRefused, match="the downloads of added models would pass this app's .* budget"):
        registry.add_from_hub(f"{OWNER}/many-commits", commits[2], endpoint=hub.url)
    on_disk = files_under(tmp_path / "downloads")
    assert registry.download_bytes == sum(path.stat().st_size for path in on_disk) == 2 * one_export
    assert not any(commits[2] in str(path) for path in on_disk)  # the third's partial download is gone


def test_an_add_from_a_hub_dripping_its_answers_fails_at_the_deadline_and_holds_nothing(hub, tiny_export, tmp_path):
    hub.publish(f"{OWNER}/dripping", tiny_export)
    hub.hostile[f"{OWNER}/dripping"] = Hostility(drip_seconds=1.0)  # one byte a second
    registry, started = registry_for(tmp_path, models=1, seconds=3), time.monotonic()
    with pytest.raises(catalog.AddRefused, match=f"^{OWNER}/dripping@main: the Hub did not deliver within 3 s; "
                                                 "try again later$"):
        registry.add_from_hub(f"{OWNER}/dripping", None, endpoint=hub.url)
    assert time.monotonic() - started < 5
    del hub.hostile[f"{OWNER}/dripping"]  # the Hub recovers: the place the failed add held is free again
    registry.add_limits = catalog.AddLimits(models=1)  # and the usual deadline
    assert registry.add_from_hub(f"{OWNER}/dripping", None, endpoint=hub.url).startswith("Added ")


def test_add_model_over_http_then_sample_it_under_its_name_at_the_pinned_commit(tmp_path):
    torch.manual_seed(1)
    first, second = (DCGenerator(latent_dim=16, conv_dim=4, image_size=TINY_IMAGE_SIZE) for _ in range(2))
    checkpoints = make_tiny_checkpoints(tmp_path / "checkpoints")
    with StandInHub() as hub:
        first_commit = hub.publish(f"{OWNER}/http-dcgan", export_files(first, tmp_path / "first"))
        hub.publish(f"{OWNER}/too-wide", {"config.json": config_bytes(latent_dim=8, conv_dim=4096, image_size=16),
                                          "model.safetensors": b"never downloaded"})
        hub.publish(f"{OWNER}/deep", {"config.json": b"[" * 30_000 + b"]" * 30_000, "model.safetensors": b"never"})
        hub.publish(f"{OWNER}/traversal", {"config.json": b"{}", "model.safetensors": b"never"})
        hub.hostile[f"{OWNER}/traversal"] = Hostility(sha=f"../../../../../../..{tmp_path}/planted")
        env = {**SUBPROCESS_ENV, "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf-home"),
               "GAN_DEMO_CHECKPOINTS": str(checkpoints)}
        # gradio_server serves offline; this app must reach the stand-in Hub.
        command = ["env", "-u", "GAN_DEMO_OFFLINE", "-u", "HF_HUB_OFFLINE", sys.executable, "app.py"]
        with gradio_server(command, env, tmp_path, startup_timeout=600) as (url, _):
            client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
            name = f"{OWNER}/http-dcgan@{first_commit[:12]}"
            note = client.predict(f"{OWNER}/http-dcgan", "", api_name="/add_model")
            assert note.startswith(f"Added `{name}` (dcgan, ")
            second_commit = hub.publish(f"{OWNER}/http-dcgan", export_files(second, tmp_path / "second"))  # a push

            grid, sample_note = client.predict(name, 0, 1.0, 1, *(0,) * 6, "", api_name="/sample")
            assert f"added: {OWNER}/http-dcgan @ {first_commit[:12]}" in sample_note
            with Image.open(grid) as served:
                served_pixels = np.asarray(served.convert("RGB"), dtype=np.int16)
            runtime.set_drawing_precision("auto")  # as the app's default
            try:
                expected = np.asarray(inference.sample_grid(first.eval(), [0], seed_captions=True), dtype=np.int16)
            finally:
                runtime.set_drawing_precision("fp32")
            assert np.abs(served_pixels - expected).max() <= 1

            # The repo's new commit is another model beside the first, named by its commit.
            note = client.predict(f"{OWNER}/http-dcgan", "main", api_name="/add_model")
            assert note.startswith(f"Added `{OWNER}/http-dcgan@{second_commit[:12]}` (dcgan, ")
            with pytest.raises(AppError, match="config.json nests deeper than the 8 levels"):
                client.predict(f"{OWNER}/deep", "", api_name="/add_model")
            with pytest.raises(AppError, match="the Hub answered a malformed commit id"):
                client.predict(f"{OWNER}/traversal", "", api_name="/add_model")
            assert not (tmp_path / "planted").exists()
            with pytest.raises(AppError, match=f"{OWNER}/absent: no such repo on"):
                client.predict(f"{OWNER}/absent", "", api_name="/add_model")
            with pytest.raises(AppError, match="conv_dim 4096 is outside what this app serves"):
                client.predict(f"{OWNER}/too-wide", "", api_name="/add_model")
            for repo_id, message in (("x" * 150, "is not a Hub repo id: give namespace/name"),
                                     ("x" * 10_000, "Hub repo id is 10,000 characters long")):
                with pytest.raises(AppError, match=message) as refused:
                    client.predict(repo_id, "", api_name="/add_model")
                assert "x" * 100 not in str(refused.value) and "@main" not in str(refused.value)
            hub.stop()  # the Hub goes down; the app keeps serving what it added
            time.sleep(_Handler.timeout + 2)  # until the app's idle keep-alive connections are closed too
            with pytest.raises(AppError, match="cannot reach the Hugging Face Hub"):
                client.predict(f"{OWNER}/http-dcgan", "main", api_name="/add_model")
            client.predict(name, 0, 1.0, 1, *(0,) * 6, "", api_name="/sample")
