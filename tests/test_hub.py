"""Publishing to and loading from the Hugging Face Hub, end to end over real HTTP. The Hub is a
stand-in (tests/hub_server.py) on 127.0.0.1; the project's code runs in subprocesses whose
huggingface_hub is pointed at it with HF_ENDPOINT (read at import), a fresh HF_HOME and a dummy
token, and the tests check what landed on the server, what came back, and that the token was
never printed or written. What the stand-in does not cover: LFS and Xet storage, auth checks.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gan_demo.hub import EXPORT_FILES
from tests.conftest import ROOT, SUBPROCESS_ENV, make_images, run_cli
from tests.hub_server import INITIAL_FILES, StandInHub
from train.model_card import point_to_repo

TOKEN = "hf_standInDummyToken_neverPrintMe_4821"
NAMESPACE = "stand-in-user"
TINY_DCGAN = ["--iters", "20", "--sample-every", "10", "--checkpoint-every", "10", "--image-size", "32",
              "--conv-dim", "8", "--latent-dim", "16", "--batch-size", "4"]
TINY_CYCLEGAN = ["--iters", "4", "--sample-every", "2", "--checkpoint-every", "4", "--image-size", "32",
                 "--conv-dim", "8", "--n-res-blocks", "1", "--batch-size", "2", "--pool-size", "0"]

# Pulls each (class, repo, revision, local export) and compares the pulled model with the local one:
# weights, and what the app makes of them (samples for seeds, a translation and its cycle).
PULL_AND_COMPARE = """
import json, sys
import numpy as np, torch
from PIL import Image
from gan_demo.hub import pull_model
from gan_demo.inference import sample, translate
from gan_demo.models import CycleGAN, DCGenerator

def outputs(model):
    if isinstance(model, DCGenerator):
        return [np.asarray(image) for image in sample(model, [0, 1, 2])]
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8))
    result = translate(model, photo, "a2b")
    return [np.asarray(result.translation), np.asarray(result.reconstruction)]

report = []
for class_name, repo_id, revision, local_folder in json.loads(sys.argv[1]):
    model_class = {"DCGenerator": DCGenerator, "CycleGAN": CycleGAN}[class_name]
    pulled = pull_model(model_class, repo_id, revision)
    local = model_class.from_pretrained(local_folder).eval()
    pulled_state, local_state = pulled.model.state_dict(), local.state_dict()
    report.append({
        "commit": pulled.commit_id,
        "files": sorted(path.name for path in pulled.folder.iterdir()),
        "same_weights": pulled_state.keys() == local_state.keys()
                        and all(torch.equal(pulled_state[key], local_state[key]) for key in local_state),
        "same_outputs": all(np.array_equal(a, b) for a, b in zip(outputs(pulled.model), outputs(local))),
    })
print("REPORT " + json.dumps(report))
"""

# Runs JSON actions in order and reports each one's outcome: ["push", folder, repo] -> commit id,
# ["pull", class, repo, revision] -> commit id, ["resolve", name, kind, repo, revision] -> where the
# catalog took the model from (its bundled folders are in argv[1]); a HubError is reported as text.
HUB_ACTIONS = """
import json, logging, sys
from gan_demo import catalog
from gan_demo.hub import HubError, pull_model
from gan_demo.models import CycleGAN, DCGenerator
from train.publish import push_folder

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
checkpoints, report = sys.argv[1], []
for action, *arguments in json.loads(sys.argv[2]):
    try:
        if action == "push":
            report.append(push_folder(*arguments).commit_id)
        elif action == "pull":
            class_name, repo_id, revision = arguments
            model_class = {"DCGenerator": DCGenerator, "CycleGAN": CycleGAN}[class_name]
            report.append(pull_model(model_class, repo_id, revision).commit_id)
        else:
            name, kind, repo_id, revision = arguments
            entry = catalog.CatalogEntry(name, kind, name, repo_id=repo_id, revision=revision)
            report.append(catalog.resolve(entry, checkpoints).source)
    except HubError as error:
        report.append("HubError: " + str(error))
print("REPORT " + json.dumps(report))
"""


def client_env(hub_url: str, hf_home: Path, token: str | None = TOKEN) -> dict:
    """The environment of a subprocess that talks to the stand-in: its own HF cache, a dummy token
    (or none: then no login token either, since HF_HOME is fresh), no offline switches."""
    env = {key: value for key, value in SUBPROCESS_ENV.items()
           if key not in ("HF_TOKEN", "HF_HUB_OFFLINE", "GAN_DEMO_OFFLINE", "HF_HUB_CACHE")}
    env.update(HF_ENDPOINT=hub_url, HF_HOME=str(hf_home), HF_HUB_DISABLE_TELEMETRY="1")
    if token is not None:
        env["HF_TOKEN"] = token
    return env


def run_python(code: str, env: dict, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *arguments], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def report_of(result: subprocess.CompletedProcess):
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("REPORT "))
    return json.loads(line.removeprefix("REPORT "))


def commit_id_printed(result: subprocess.CompletedProcess) -> str:
    """The id in train.publish's `commit <id>: <url>` line."""
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("commit "))
    return line.split()[1].rstrip(":")


def assert_token_absent(outputs: list[subprocess.CompletedProcess], folders: list[Path]) -> None:
    for result in outputs:
        assert TOKEN not in result.stdout and TOKEN not in result.stderr
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), path


def export_bytes(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in EXPORT_FILES}


@pytest.fixture(scope="module")
def hub():
    with StandInHub() as server:
        yield server


@pytest.fixture(scope="module")
def dcgan_run(hub, tmp_path_factory):
    """A tiny real DCGAN run whose --push-to-hub lands in the stand-in; returns the run folder,
    a copy of its export as pushed, the training command's output and its HF_HOME."""
    root = tmp_path_factory.mktemp("dcgan-hub")
    images = make_images(root / "images", count=8, seed=0)
    env = client_env(hub.url, root / "hf-home")
    result = run_cli("train.dcgan", "--data", str(images), "--out", str(root / "run"), *TINY_DCGAN,
                     "--push-to-hub", f"{NAMESPACE}/dcgan", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    shutil.copytree(root / "run" / "export", root / "export-as-pushed")
    return {"run": root / "run", "pushed_export": root / "export-as-pushed", "result": result,
            "hf_home": root / "hf-home", "images": images, "env": env}


def test_push_to_hub_at_the_end_of_training_is_one_commit_of_the_export(hub, dcgan_run):
    result, pushed = dcgan_run["result"], dcgan_run["pushed_export"]
    initial, commit = hub.history(f"{NAMESPACE}/dcgan")
    assert commit_id_printed(result) == commit.oid
    assert f"{hub.url}/{NAMESPACE}/dcgan/commit/{commit.oid}" in result.stdout
    assert commit.changed == set(EXPORT_FILES)
    assert commit.files == {**INITIAL_FILES, **export_bytes(pushed)}
    card = commit.files["README.md"].decode()
    assert f'DCGenerator.from_pretrained("{NAMESPACE}/dcgan")' in card
    assert card.startswith("---\nlibrary_name: gan-demo\nlicense: mit\npipeline_tag: unconditional-image-generation\n")
    # The token travelled in the Authorization header of every request of the push, and nowhere else.
    assert all(request.authorized for request in hub.requests if f"{NAMESPACE}/dcgan" in request.path)
    assert not any(TOKEN in json.dumps(request.headers) for request in hub.requests)
    assert_token_absent([result], [dcgan_run["run"], dcgan_run["hf_home"]])


def test_a_second_push_is_a_new_revision_and_the_first_still_pulls_the_old_weights(hub, dcgan_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(dcgan_run["run"], run)
    env = dcgan_run["env"]
    resumed = run_cli("train.dcgan", "--data", str(dcgan_run["images"]), "--out", str(run), "--resume",
                      "--iters", "30", "--push-to-hub", f"{NAMESPACE}/dcgan", env=env)
    first, second = hub.history(f"{NAMESPACE}/dcgan")[1:]
    assert commit_id_printed(resumed) == second.oid
    assert second.files["model.safetensors"] != first.files["model.safetensors"]

    hf_home = tmp_path / "hf-home"
    pulls = [["DCGenerator", f"{NAMESPACE}/dcgan", first.oid, str(dcgan_run["pushed_export"])],
             ["DCGenerator", f"{NAMESPACE}/dcgan", "main", str(run / "export")]]
    pulled = run_python(PULL_AND_COMPARE, client_env(hub.url, hf_home), json.dumps(pulls))
    old, new = report_of(pulled)
    assert old["commit"] == first.oid and new["commit"] == second.oid
    for report in (old, new):
        assert report["same_weights"] and report["same_outputs"]
        assert report["files"] == sorted(EXPORT_FILES)  # .gitattributes and anything else stays on the Hub
    assert_token_absent([resumed, pulled], [run, hf_home])


def test_publish_a_cyclegan_export_to_a_new_branch_of_a_private_repo_and_pull_it(hub, tmp_path):
    apple = make_images(tmp_path / "apple", count=4, seed=1, tint=(60, 0, 0))
    orange = make_images(tmp_path / "orange", count=4, seed=2, tint=(60, 30, 0))
    env = client_env(hub.url, tmp_path / "hf-home")
    trained = run_cli("train.cyclegan", "--data-a", str(apple), "--data-b", str(orange), "--out", str(tmp_path / "run"),
                      *TINY_CYCLEGAN, env=env)
    assert trained.returncode == 0, trained.stderr[-3000:]
    export, repo_id = tmp_path / "run" / "export", f"{NAMESPACE}/cyclegan"
    published = run_cli("train.publish", str(export), "--repo", repo_id, "--revision", "experiment", "--private",
                        env=env)
    commit_id = commit_id_printed(published)
    (initial,), (_, commit) = hub.history(repo_id), hub.history(repo_id, "experiment")
    assert hub.repos[repo_id].private and commit.oid == commit_id and initial.files == INITIAL_FILES
    card = (export / "README.md").read_text()
    assert commit.changed == set(EXPORT_FILES)  # the export as it is, but for the card's load snippet:
    assert commit.files == {**INITIAL_FILES, **export_bytes(export),
                            "README.md": point_to_repo(card, repo_id, "experiment").encode()}
    assert 'CycleGAN.from_pretrained("path/to/export")' in card
    assert f'CycleGAN.from_pretrained("{repo_id}", revision="experiment")' in commit.files["README.md"].decode()

    pulls = [["CycleGAN", repo_id, commit_id, str(export)], ["CycleGAN", repo_id, "experiment", str(export)]]
    pulled = run_python(PULL_AND_COMPARE, env, json.dumps(pulls))
    for report in report_of(pulled):
        assert report["commit"] == commit_id and report["same_weights"] and report["same_outputs"]
    assert_token_absent([trained, published, pulled], [tmp_path])


def test_publish_without_a_token_stops_with_one_line_and_sends_nothing(hub, dcgan_run, tmp_path):
    requests_before = len(hub.requests)
    result = run_cli("train.publish", str(dcgan_run["run"]), "--repo", f"{NAMESPACE}/no-token",
                     env=client_env(hub.url, tmp_path / "hf-home", token=None))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: no Hugging Face token: log in with `hf auth login` or set HF_TOKEN")
    assert len(hub.requests) == requests_before


def test_the_catalog_falls_back_to_the_bundled_folder_with_the_reason(hub, dcgan_run, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    for name in ("missing-repo", "missing-revision", "corrupt", "pinned", "hub-down"):
        shutil.copytree(dcgan_run["pushed_export"], checkpoints / name)
    broken = tmp_path / "broken-export"
    shutil.copytree(dcgan_run["pushed_export"], broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    dcgan, first_commit = f"{NAMESPACE}/dcgan", hub.history(f"{NAMESPACE}/dcgan")[1].oid
    hub.corrupt(f"{NAMESPACE}/corrupt", "model.safetensors")  # pushed intact, served with every byte flipped
    hf_home = tmp_path / "hf-home"

    live = run_python(HUB_ACTIONS, client_env(hub.url, hf_home), str(checkpoints), json.dumps([
        ["push", str(dcgan_run["pushed_export"]), f"{NAMESPACE}/corrupt"],
        ["push", str(broken), f"{NAMESPACE}/broken"],
        ["resolve", "missing-repo", "dcgan", f"{NAMESPACE}/no-such-repo", "main"],
        ["resolve", "missing-revision", "dcgan", dcgan, "no-such-branch"],
        ["resolve", "corrupt", "dcgan", f"{NAMESPACE}/corrupt", "main"],
        ["resolve", "pinned", "dcgan", dcgan, first_commit],
        ["pull", "DCGenerator", f"{NAMESPACE}/broken", "main"],
        ["pull", "CycleGAN", dcgan, first_commit],
    ]))
    corrupt_commit, _, missing_repo, missing_revision, corrupt, pinned, broken_pull, wrong_class = report_of(live)
    assert missing_repo.startswith("bundled: ") and missing_repo.endswith(
        f"(Hub unavailable: {NAMESPACE}/no-such-repo: no such repo on {hub.url} "
        "(or it is private and the token cannot read it))")
    assert missing_revision.startswith("bundled: ") and f"{dcgan}: no revision 'no-such-branch'" in missing_revision
    assert corrupt.startswith("bundled: ") and "corrupt download, checksum mismatch in model.safetensors" in corrupt
    assert pinned == f"Hub: {dcgan} @ {first_commit[:12]}"
    for name in ("missing-repo", "missing-revision", "corrupt"):
        assert f"WARNING gan_demo.catalog: {name}: Hub unavailable: " in live.stderr  # the logged reason
    assert broken_pull.startswith(f"HubError: {NAMESPACE}/broken@main: DCGenerator cannot load the download")
    assert "not a CycleGAN export" in wrong_class
    # A bad download is not left in the cache to be trusted next time; a good one is.
    snapshots = {path.name for path in hf_home.glob("hub/models--*/snapshots/*")}
    assert first_commit in snapshots and corrupt_commit not in snapshots

    with StandInHub() as hub_down:
        pass  # from here on, a port nobody answers on
    down = run_python(HUB_ACTIONS, client_env(hub_down.url, hf_home), str(checkpoints), json.dumps([
        ["resolve", "hub-down", "dcgan", dcgan, "main"],
        ["resolve", "pinned", "dcgan", dcgan, first_commit],  # a pinned commit in the cache needs no Hub
        ["push", str(broken), f"{NAMESPACE}/down"],
    ]))
    hub_down_source, pinned, push = report_of(down)
    assert hub_down_source.startswith("bundled: ")
    assert f"cannot reach the Hugging Face Hub at {hub_down.url}" in hub_down_source
    assert "WARNING gan_demo.catalog: hub-down: Hub unavailable: " in down.stderr
    assert pinned == f"Hub: {dcgan} @ {first_commit[:12]}"
    assert push.startswith("HubError: cannot reach the Hugging Face Hub")
    assert_token_absent([live, down], [hf_home])
