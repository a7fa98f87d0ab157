"""Deploying your own Space (train/deploy.py) against the stand-in Hub, and what the deployment
serves: the models file (gan_demo/served_models.py) and the registry reading it, the deploy command
(one commit of exactly the app's files, README front matter with the pinned gradio and the served
repos, models pinned to their commits, checkpoints only when asked, bad models refused before
anything is sent), the uploaded tree started in an empty folder as Spaces starts it, answering
/sample and /translate with the models pulled at their pinned commits, and ui/gpu.py's ZeroGPU hook."""

import json
import re
import sys
import types

import pytest
from gradio_client import Client, handle_file
from PIL import Image

from benchmarks.space_start import space_server, write_space_tree
from gan_demo import catalog, served_models
from tests.app_server import make_tiny_checkpoints
from tests.conftest import ROOT, run_cli
from tests.hub_server import INITIAL_FILES, StandInHub, space_key
from tests.test_hub import NAMESPACE, TOKEN, client_env, commit_id_printed
from train.deploy import APP_PATHS, pinned_gradio
from ui import gpu

SPACE = f"{NAMESPACE}/cat-demo"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def models_text(**changes) -> str:
    entry = {"repo_id": "you/dcgan-cats", "revision": COMMIT, "name": "my cats", "kind": "dcgan"}
    return json.dumps({"format_version": 1, "bundled": False, "models": [{**entry, **changes}]})


# -- the models file --------------------------------------------------------------------------


def test_the_models_file_round_trips_and_becomes_pinned_catalog_entries(tmp_path):
    served = served_models.ServedModels((served_models.ServedModel("you/dcgan-cats", COMMIT, "my cats", "dcgan"),),
                                        bundled=True)
    path = tmp_path / served_models.FILE_NAME
    path.write_text(served_models.to_json(served))
    assert served_models.read(path) == served
    entries = served_models.entries_to_serve(catalog.ENTRIES, path)
    assert entries[:-1] == catalog.ENTRIES
    assert entries[-1] == catalog.CatalogEntry("you/dcgan-cats", "dcgan", "my cats", repo_id="you/dcgan-cats",
                                               revision=COMMIT)


@pytest.mark.parametrize("text, message", [
    (models_text(revision="main"), "revision 'main' is not a commit id"),
    (models_text(repo_id="../../etc"), "is not a Hub repo id"),
    (models_text(kind="stylegan"), "kind 'stylegan' is not one of dcgan, cyclegan"),
    (models_text(name="x" * 61), "name must be 1 to 60 printable characters"),
    (models_text(extra="?"), "expected an object with exactly kind, name, repo_id, revision"),
    ('{"format_version": 2, "bundled": false, "models": []}', "format_version 2 is not 1"),
    ("[1, 2", "not valid JSON"),
    ("{}" + " " * served_models.MAX_FILE_BYTES, "larger than 65536 bytes"),
])
def test_a_bad_models_file_is_one_line_and_the_registry_serves_the_bundled_models(text, message, tmp_path, caplog):
    path = tmp_path / served_models.FILE_NAME
    path.write_text(text)
    with pytest.raises(served_models.ServedModelsError, match=re.escape(message)) as refused:
        served_models.read(path)
    assert "\n" not in str(refused.value) and str(path) in str(refused.value)
    assert served_models.entries_to_serve(catalog.ENTRIES, path) == catalog.ENTRIES
    assert message in caplog.text


def test_without_a_models_file_the_registry_serves_the_catalog(monkeypatch, tmp_path):
    monkeypatch.delenv(served_models.PATH_VARIABLE, raising=False)
    assert not served_models.DEFAULT_PATH.exists()  # the checkout serves its bundled models
    assert served_models.entries_to_serve(catalog.ENTRIES) == catalog.ENTRIES
    monkeypatch.setenv(served_models.PATH_VARIABLE, str(tmp_path / "missing.json"))
    with pytest.raises(served_models.ServedModelsError, match="no such file"):
        served_models.read()


# -- ZeroGPU ----------------------------------------------------------------------------------


def handler(x):
    return x + 1


def test_the_gpu_decorator_is_the_identity_off_zero_gpu(monkeypatch):
    monkeypatch.delenv(gpu.ZERO_GPU_VARIABLE, raising=False)
    assert gpu.gpu_task()(handler) is handler
    monkeypatch.setenv(gpu.ZERO_GPU_VARIABLE, "true")  # a ZeroGPU flag, but no `spaces` package here
    monkeypatch.setitem(sys.modules, "spaces", None)  # None in sys.modules: the import fails
    assert gpu.gpu_task()(handler) is handler and gpu.serving_device() == "cpu"


def test_on_zero_gpu_the_handler_runs_under_spaces_gpu(monkeypatch):
    calls = []

    def GPU(duration):  # noqa: N802 (spaces.GPU's name)
        def wrap(function):
            def wrapped(*args):
                calls.append(duration)
                return function(*args)
            return wrapped
        return wrap

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=GPU))
    monkeypatch.setenv(gpu.ZERO_GPU_VARIABLE, "true")
    decorated = gpu.gpu_task(duration=20)(handler)
    assert decorated is not handler and decorated(1) == 2 and calls == [20]
    assert gpu.serving_device() == "cuda"


# -- deploy against the stand-in Hub, then start the Space's tree as Spaces does ------------------


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """Two tiny models published to the stand-in, then `train.deploy` serving both."""
    root = tmp_path_factory.mktemp("deploy")
    tiny = make_tiny_checkpoints(root / "tiny")
    with StandInHub() as hub:
        env = client_env(hub.url, root / "hf-home")
        published = {}
        for name, repo in (("dcgan-grumpy-basic", "tiny-dcgan"), ("cyclegan-cats", "tiny-cyclegan")):
            result = run_cli("train.publish", str(tiny / name), "--repo", f"{NAMESPACE}/{repo}", env=env)
            published[repo] = commit_id_printed(result)
        deployed = run_cli("train.deploy", SPACE, "--model", f"{NAMESPACE}/tiny-dcgan=Tiny cats",
                           "--model", f"{NAMESPACE}/tiny-cyclegan@main", env=env)
        yield {"hub": hub, "env": env, "root": root, "published": published, "result": deployed}


def local_app_files() -> dict[str, bytes]:
    files = {}
    for name in APP_PATHS:
        path = ROOT / name
        for file in ([path] if path.is_file() else sorted(path.rglob("*"))):
            if file.is_file() and "__pycache__" not in file.parts and file.suffix not in (".pyc", ".pyi"):
                files[file.relative_to(ROOT).as_posix()] = file.read_bytes()
    return files


def test_deploy_is_one_commit_of_the_app_the_models_file_and_the_front_matter(deployment):
    hub, result, published = deployment["hub"], deployment["result"], deployment["published"]
    initial, commit = hub.history(space_key(SPACE))
    assert commit_id_printed(result) == commit.oid
    assert f"Space: {hub.url}/spaces/{SPACE}" in result.stdout
    assert set(commit.files) == {*INITIAL_FILES, *local_app_files(), "README.md", "served_models.json"}
    assert all(commit.files[path] == content for path, content in local_app_files().items())
    assert not any(path.startswith("checkpoints/") for path in commit.files)
    served = served_models.parse(commit.files["served_models.json"].decode(), "the Space's file")
    assert served == served_models.ServedModels((
        served_models.ServedModel(f"{NAMESPACE}/tiny-dcgan", published["tiny-dcgan"], "Tiny cats", "dcgan"),
        served_models.ServedModel(f"{NAMESPACE}/tiny-cyclegan", published["tiny-cyclegan"], "tiny-cyclegan",
                                  "cyclegan")), bundled=False)
    readme = commit.files["README.md"].decode()
    front_matter = readme.split("---\n")[1]
    assert f"sdk: gradio\nsdk_version: {pinned_gradio()}\n" in front_matter and "app_file: app.py\n" in front_matter
    assert f"models:\n  - {NAMESPACE}/tiny-dcgan\n  - {NAMESPACE}/tiny-cyclegan\n" in front_matter
    assert TOKEN not in result.stdout + result.stderr


def test_the_uploaded_tree_starts_as_on_spaces_and_answers_sample_and_translate(deployment, tmp_path):
    hub, published = deployment["hub"], deployment["published"]
    folder = write_space_tree(hub, SPACE, tmp_path / "space")
    requests_before = len(hub.requests)
    with space_server(folder, SPACE, hub.url, tmp_path / "hf-home") as url:
        client = Client(url, verbose=False)
        grid, note = client.predict(f"{NAMESPACE}/tiny-dcgan", 3, 1.0, 4, 0, 0, 0, 0, 0, 0, api_name="/sample")
        photo = tmp_path / "photo.png"
        Image.new("RGB", (40, 24), (200, 40, 40)).save(photo)
        seen, translated, cycled, translate_note = client.predict(handle_file(photo), "a -> b", "model size",
                                                                  api_name="/translate")
    assert Image.open(grid).size[0] > 32 and Image.open(translated).size == (32, 32), (note, translate_note)
    # Both models came from the stand-in, at the commits the models file pins.
    fetched = [request.path for request in hub.requests[requests_before:]]
    for repo, commit_id in published.items():
        assert any(f"/{NAMESPACE}/{repo}/" in path and commit_id in path for path in fetched), fetched


def test_a_second_deploy_with_checkpoints_updates_the_space_in_one_commit(deployment):
    hub, env = deployment["hub"], deployment["env"]
    result = run_cli("train.deploy", SPACE, "--bundle-checkpoints", env=env)
    history = hub.history(space_key(SPACE))
    assert len(history) == 3 and commit_id_printed(result) == history[-1].oid
    files = history[-1].files
    assert files["checkpoints/cyclegan-cats/model.safetensors"] == (
        ROOT / "checkpoints/cyclegan-cats/model.safetensors").read_bytes()
    assert served_models.parse(files["served_models.json"].decode(), "file") == served_models.ServedModels((), True)
    assert "models: []\n" in files["README.md"].decode()


def test_a_model_that_is_not_a_gan_demo_export_is_refused_before_anything_is_sent(deployment):
    hub, env = deployment["hub"], deployment["env"]
    commits_before = len(hub.history(space_key(SPACE)))
    result = run_cli("train.deploy", SPACE, "--model", f"{NAMESPACE}/no-such-model", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"error: --model {NAMESPACE}/no-such-model: ")
    assert "nothing was deployed" in result.stderr
    assert len(hub.history(space_key(SPACE))) == commits_before


@pytest.mark.slow
def test_the_space_cold_start_benchmark_quick_runs_end_to_end(tmp_path):
    result = run_cli("benchmarks.serve_speed", "--space-cold-start", "--quick", "--json", str(tmp_path / "space.json"),
                     timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    space = json.loads((tmp_path / "space.json").read_text())["space"]
    assert space["first_start_s"] > 0 and len(space["cached_starts_s"]) == 1 and len(space["floor_starts_s"]) == 2


def test_the_models_file_is_checked_before_it_is_written():
    model = served_models.ServedModel("you/dcgan-cats", COMMIT, "two\nlines", "dcgan")
    with pytest.raises(served_models.ServedModelsError, match="name must be 1 to 60 printable characters"):
        served_models.to_json(served_models.ServedModels((model,), bundled=False))
    twice = served_models.ServedModel("you/dcgan-cats", COMMIT, "my cats", "dcgan")
    with pytest.raises(served_models.ServedModelsError, match="you/dcgan-cats is listed twice"):
        served_models.to_json(served_models.ServedModels((twice, twice), bundled=False))
