"""Adding a published model by repo id (gan_demo.hub.add_published) against the stand-in Hub of
tests/hub_server.py: the revision is pinned to a commit, so a later push changes nothing added;
every refusal (not a gan-demo export, pickled weights, sizes, format, too large) comes before any
weights are downloaded; missing repos and revisions and a Hub that is down are one clear line; and
the app's /add_model, after which the model answers /sample under its repo id. The client runs in a
subprocess, because huggingface_hub reads HF_ENDPOINT when it is imported."""

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from benchmarks.gradio_server import gradio_server
from gan_demo import inference, runtime
from gan_demo.models import CycleGAN, DCGenerator
from tests.app_server import TINY_IMAGE_SIZE, make_tiny_checkpoints
from tests.conftest import ROOT, SUBPROCESS_ENV
from tests.hub_server import INITIAL_FILES, StandInHub, _Handler

OWNER = "someone"

# Runs add_published for each [repo_id, revision, download limit or null] and prints, for each,
# the pinned commit, the class, a digest of the loaded weights and the snapshot folder, or the
# HubError's text.
ADD = """
import hashlib, json, sys
from gan_demo import hub

report = []
for repo_id, revision, limit in json.loads(sys.argv[1]):
    hub.MAX_DOWNLOAD_BYTES = limit or hub.MAX_DOWNLOAD_BYTES
    try:
        export, pulled = hub.add_published(repo_id, revision)
    except hub.HubError as error:
        report.append("HubError: " + str(error))
        continue
    state = pulled.model.state_dict()
    digest = hashlib.sha256(b"".join(state[key].numpy().tobytes() for key in sorted(state))).hexdigest()
    report.append({"commit": pulled.commit_id, "class": export.model_class.__name__, "weights": digest,
                   "folder": str(pulled.folder), "bytes": export.download_bytes})
print("REPORT " + json.dumps(report))
"""


def weights_digest(model: torch.nn.Module) -> str:
    state = model.state_dict()
    return hashlib.sha256(b"".join(state[key].numpy().tobytes() for key in sorted(state))).hexdigest()


def export_files(model: torch.nn.Module, folder: Path) -> dict[str, bytes]:
    model.save_pretrained(folder)
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def publish(hub: StandInHub, name: str, files: dict[str, bytes], branch: str = "main") -> str:
    """Commit `files` to OWNER/name on `branch` of the stand-in directly (creating the repo and
    branch), as a push would; returns the commit id."""
    repo_id = f"{OWNER}/{name}"
    if repo_id not in hub.repos:
        hub.create_repo({"name": name, "organization": OWNER})
    repo = hub.repos[repo_id]
    repo.branches.setdefault(branch, repo.branches["main"])
    return hub.commit(repo, branch, f"upload {name}", {**INITIAL_FILES, **files}, set(files)).oid


def add(hub_url: str, hf_home: Path, *requests: tuple) -> list:
    env = {key: value for key, value in SUBPROCESS_ENV.items()
           if key not in ("HF_TOKEN", "HF_HUB_OFFLINE", "GAN_DEMO_OFFLINE", "HF_HUB_CACHE")}
    env.update(HF_ENDPOINT=hub_url, HF_HOME=str(hf_home))
    result = subprocess.run([sys.executable, "-c", ADD, json.dumps([list(request) for request in requests])],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("REPORT "))
    return json.loads(line.removeprefix("REPORT "))


def weight_downloads(hub: StandInHub, since: int) -> list[str]:
    return [request.path for request in hub.requests[since:]
            if request.method == "GET" and "/resolve/" in request.path and request.path.endswith("model.safetensors")]


@pytest.fixture(scope="module")
def hub():
    with StandInHub() as server:
        yield server


def test_a_revision_is_pinned_to_its_commit_and_a_later_push_changes_nothing_added(hub, tmp_path):
    torch.manual_seed(0)
    first, second = (DCGenerator(latent_dim=8, conv_dim=4, image_size=16, norm=norm) for norm in ("instance", "pixel"))
    cyclegan = CycleGAN("apple", "orange", image_size=16, conv_dim=4, n_res_blocks=1, skips=True)
    older_cyclegan = CycleGAN("apple", "orange", image_size=16, conv_dim=4, n_res_blocks=1)
    first_commit = publish(hub, "cats", export_files(first, tmp_path / "first"))
    publish(hub, "fruit", export_files(cyclegan, tmp_path / "cyclegan"), branch="v1")
    older_files = export_files(older_cyclegan, tmp_path / "older")
    older_config = json.loads(older_files["config.json"])
    del older_config["skips"]  # exported before the generators had the option
    publish(hub, "older-fruit", {**older_files, "config.json": json.dumps(older_config).encode()})
    hf_home = tmp_path / "hf-home"

    (added,) = add(hub.url, hf_home, (f"{OWNER}/cats", None, None))
    second_commit = publish(hub, "cats", export_files(second, tmp_path / "second"))
    again, latest, fruit, older_fruit = add(hub.url, hf_home, (f"{OWNER}/cats", first_commit, None),
                                            (f"{OWNER}/cats", "main", None), (f"{OWNER}/fruit", "v1", None),
                                            (f"{OWNER}/older-fruit", None, None))

    assert added["commit"] == again["commit"] == first_commit and added["class"] == "DCGenerator"
    assert added["weights"] == again["weights"] == weights_digest(first)
    assert added["bytes"] > 0
    # The snapshot of the pinned commit still holds the first weights after the push.
    assert DCGenerator.from_pretrained(added["folder"]).state_dict().keys() == first.state_dict().keys()
    assert weights_digest(DCGenerator.from_pretrained(added["folder"])) == weights_digest(first)
    assert latest["commit"] == second_commit and latest["weights"] == weights_digest(second)
    assert fruit["class"] == "CycleGAN" and fruit["weights"] == weights_digest(cyclegan)
    assert older_fruit["class"] == "CycleGAN" and older_fruit["weights"] == weights_digest(older_cyclegan)


def config_bytes(**config) -> bytes:
    return json.dumps(config).encode()


# (name, files beside a real export's model.safetensors of over 2000 bytes, download limit, message)
REFUSALS = [
    ("too-wide", {"config.json": config_bytes(latent_dim=8, conv_dim=4096, image_size=16)}, None,
     "conv_dim 4096 is outside what this app serves (1 to 128)"),
    ("not-power-of-two", {"config.json": config_bytes(latent_dim=8, conv_dim=4, image_size=48)}, None,
     "image_size 48 is not a power of two"),
    ("huge-config", {"config.json": config_bytes(latent_dim=8, conv_dim=4, image_size=16, padding="x" * 70_000)},
     None, "bytes, more than a gan-demo config ever needs (65,536 bytes)"),
    ("foreign-config", {"config.json": config_bytes(hidden_size=768, num_layers=12)}, None,
     "not a gan-demo export (config.json keys hidden_size, num_layers are those of neither DCGenerator nor CycleGAN)"),
    ("old-format", {"config.json": config_bytes(domain_a="a", domain_b="b", image_size=16, conv_dim=4,
                                                n_res_blocks=1)}, None,
     "this CycleGAN export has format 1, whose networks differ from today's (format 2)"),
    ("unknown-norm", {"config.json": config_bytes(latent_dim=8, conv_dim=4, image_size=16, norm="batch")}, None,
     "norm must be one of pixel, instance, not 'batch'"),
    ("skips-not-bool", {"config.json": config_bytes(domain_a="a", domain_b="b", image_size=16, conv_dim=4,
                                                    n_res_blocks=1, skips="yes", format_version=2)}, None,
     "skips must be one of none, features, features+input (or true or false), not 'yes'"),
    ("newer-format", {"config.json": config_bytes(latent_dim=8, conv_dim=4, image_size=16, format_version=99)}, None,
     "this DCGenerator export has format 99, newer than this gan-demo (format 2): update gan-demo to load it"),
    ("pickle-only", {"model.safetensors": None, "pytorch_model.bin": b"pickle"}, None,
     "not a gan-demo export (no model.safetensors; pickled weights (pytorch_model.bin) are never loaded)"),
    ("bad-json", {"config.json": b"[1, 2"}, None, "config.json is not valid JSON"),
    ("too-large", {}, 2000, "bytes, more than the 2,000 bytes this app takes"),
]


def test_missing_repos_and_revisions_and_what_cannot_be_served_are_refused_before_the_weights_download(hub, tmp_path):
    weights = export_files(DCGenerator(latent_dim=8, conv_dim=4, image_size=16), tmp_path / "export")
    publish(hub, "present", weights)
    for name, files, _, _ in REFUSALS:
        merged = {**weights, **files}
        publish(hub, name, {path: content for path, content in merged.items() if content is not None})
    before = len(hub.requests)
    missing_repo, missing_revision, *refusals = add(
        hub.url, tmp_path / "hf-home", (f"{OWNER}/absent", None, None), (f"{OWNER}/present", "no-such-branch", None),
        *[(f"{OWNER}/{name}", None, limit) for name, _, limit, _ in REFUSALS])

    assert missing_repo == (f"HubError: {OWNER}/absent: no such repo on {hub.url} "
                            "(or it is private and the token cannot read it)")
    assert missing_revision == f"HubError: {OWNER}/present: no revision 'no-such-branch' on {hub.url}"
    for (name, _, _, message), refusal in zip(REFUSALS, refusals, strict=True):
        assert refusal.startswith(f"HubError: {OWNER}/{name}@main: ") and message in refusal, name
        assert "\n" not in refusal
    assert weight_downloads(hub, before) == []

    with StandInHub() as hub_down:
        pass  # a port nobody answers on
    (down,) = add(hub_down.url, tmp_path / "hf-home", (f"{OWNER}/present", None, None))
    assert down.startswith(f"HubError: cannot reach the Hugging Face Hub at {hub_down.url} (")
    assert down.endswith("check the network or HF_ENDPOINT, then retry") and "\n" not in down


def test_add_model_over_http_then_sample_it_under_its_repo_id_at_the_pinned_commit(tmp_path):
    torch.manual_seed(1)
    first, second = (DCGenerator(latent_dim=16, conv_dim=4, image_size=TINY_IMAGE_SIZE) for _ in range(2))
    checkpoints = make_tiny_checkpoints(tmp_path / "checkpoints")
    with StandInHub() as hub:
        first_commit = publish(hub, "http-dcgan", export_files(first, tmp_path / "first"))
        publish(hub, "too-wide", {"config.json": config_bytes(latent_dim=8, conv_dim=4096, image_size=16),
                                  "model.safetensors": b"never downloaded"})
        env = {**SUBPROCESS_ENV, "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf-home"),
               "GAN_DEMO_CHECKPOINTS": str(checkpoints)}
        # gradio_server serves offline; this app must reach the stand-in Hub.
        command = ["env", "-u", "GAN_DEMO_OFFLINE", "-u", "HF_HUB_OFFLINE", sys.executable, "app.py"]
        with gradio_server(command, env, tmp_path, startup_timeout=600) as (url, _):
            client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
            note = client.predict(f"{OWNER}/http-dcgan", "", api_name="/add_model")
            assert note.startswith(f"Added `{OWNER}/http-dcgan` at commit {first_commit[:12]} (dcgan, ")
            publish(hub, "http-dcgan", export_files(second, tmp_path / "second"))  # a later push

            grid, sample_note = client.predict(f"{OWNER}/http-dcgan", 0, 1.0, 1, *(0,) * 6, "", api_name="/sample")
            assert f"added: {OWNER}/http-dcgan @ {first_commit[:12]}" in sample_note
            with Image.open(grid) as served:
                served_pixels = np.asarray(served.convert("RGB"), dtype=np.int16)
            runtime.set_drawing_precision("auto")  # as the app's default
            try:
                expected = np.asarray(inference.sample_grid(first.eval(), [0], seed_captions=True), dtype=np.int16)
            finally:
                runtime.set_drawing_precision("fp32")
            assert np.abs(served_pixels - expected).max() <= 1

            with pytest.raises(AppError, match=f"{OWNER}/absent: no such repo on"):
                client.predict(f"{OWNER}/absent", "", api_name="/add_model")
            with pytest.raises(AppError, match="conv_dim 4096 is outside what this app serves"):
                client.predict(f"{OWNER}/too-wide", "", api_name="/add_model")
            hub.stop()  # the Hub goes down; the app keeps serving what it added
            time.sleep(_Handler.timeout + 2)  # until the app's idle keep-alive connections are closed too
            with pytest.raises(AppError, match="cannot reach the Hugging Face Hub"):
                client.predict(f"{OWNER}/http-dcgan", "main", api_name="/add_model")
            client.predict(f"{OWNER}/http-dcgan", 0, 1.0, 1, *(0,) * 6, "", api_name="/sample")
