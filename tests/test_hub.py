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
import time
import tracemalloc
from pathlib import Path

import pytest
import safetensors.torch
import torch

from gan_demo import hub as hub_api  # `hub` is the stand-in fixture here
from gan_demo.hub import EXPORT_FILES
from gan_demo.models import DCGenerator
from tests.conftest import ROOT, SUBPROCESS_ENV, make_images, run_cli
from tests.hub_server import INITIAL_FILES, Hostility, StandInHub
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
    assert corrupt.startswith("bundled: ") and "corrupt download, model.safetensors does not match the Hub's" in corrupt
    assert pinned == f"Hub: {dcgan} @ {first_commit[:12]}"
    for name in ("missing-repo", "missing-revision", "corrupt"):
        assert f"WARNING gan_demo.catalog: {name}: Hub unavailable: " in live.stderr  # the logged reason
    assert broken_pull.startswith(f"HubError: {NAMESPACE}/broken@") and broken_pull.endswith(
        ": model.safetensors is not a safetensors file")
    assert "not a CycleGAN export" in wrong_class
    # A bad download is not left in the cache to be trusted next time; a good one is.
    snapshots = {path.name.rsplit("--", 1)[1] for path in hf_home.glob("gan-demo/*")}
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


# -- a hostile Hub (tests/hub_server.py's hostile mode), against the hub functions in this process --
OWNER = "someone"


def tiny_export_files(folder: Path, seed: int = 0) -> dict[str, bytes]:
    torch.manual_seed(seed)
    DCGenerator(latent_dim=8, conv_dim=4, image_size=16).save_pretrained(folder)
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def inspect_and_download(hub_url: str, repo_id: str, into: Path, revision: str | None = None, seconds: float = 30,
                         budget: "hub_api.DownloadBudget | None" = None) -> Path:
    deadline = hub_api.Deadline(seconds)
    commit_id = hub_api.resolve_commit(repo_id, revision, deadline, endpoint=hub_url)
    export = hub_api.inspect_commit(repo_id, commit_id, deadline, endpoint=hub_url)
    return hub_api.download_export(export, into, deadline, budget=budget)


def files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


def entry(path, size=10, oid="0" * 40) -> dict:
    return {"type": "file", "path": path, "size": size, "oid": oid}


@pytest.fixture(scope="module")
def hostile_hub(tmp_path_factory):
    """A stand-in holding one honest tiny DCGAN export per test that lies about it."""
    with StandInHub() as server:
        server.export = tiny_export_files(tmp_path_factory.mktemp("export"))
        yield server


def test_a_commit_id_that_is_a_path_is_refused_before_it_touches_one(hostile_hub, tmp_path):
    planted = tmp_path / "planted"
    hostile_hub.publish(f"{OWNER}/traversal-sha", hostile_hub.export)
    for sha in (f"../../../../../../..{planted}", "0" * 39, "G" * 40, 12345, ["0" * 40], "a" * 40 + "/.."):
        hostile_hub.hostile[f"{OWNER}/traversal-sha"] = Hostility(sha=sha)
        with pytest.raises(hub_api.HubError, match="the Hub answered a malformed commit id"):
            inspect_and_download(hostile_hub.url, f"{OWNER}/traversal-sha", tmp_path / "downloads")
    assert not planted.exists() and files_under(tmp_path) == []


@pytest.mark.parametrize("name", ["../../../../tmp/planted", "/etc/passwd", "nested/config.json", "..", ".",
                                  "con\nfig.json", "config.json\x00", "x" * 200, "model.safetensors ", ""])
def test_file_names_that_are_not_one_plain_name_are_refused(hostile_hub, tmp_path, name):
    hostile_hub.publish(f"{OWNER}/odd-names", hostile_hub.export)
    listing = [entry("config.json"), entry("model.safetensors"), entry(name)]
    hostile_hub.hostile[f"{OWNER}/odd-names"] = Hostility(listing=listing)
    with pytest.raises(hub_api.HubError, match="not a plain file name; refusing the repo") as refused:
        inspect_and_download(hostile_hub.url, f"{OWNER}/odd-names", tmp_path / "downloads")
    assert "\n" not in str(refused.value) and files_under(tmp_path) == []


@pytest.mark.parametrize("size", ["10", -1, True, 2.5, None])
def test_sizes_that_are_not_whole_numbers_within_the_limit_are_refused_before_any_allocation(
        hostile_hub, tmp_path, size):
    hostile_hub.publish(f"{OWNER}/odd-sizes", hostile_hub.export)
    hostile_hub.hostile[f"{OWNER}/odd-sizes"] = Hostility(
        listing=[entry("config.json"), entry("model.safetensors", size=size)])
    with pytest.raises(hub_api.HubError, match="gives model.safetensors the size .*; refusing it"):
        inspect_and_download(hostile_hub.url, f"{OWNER}/odd-sizes", tmp_path / "downloads")


def test_listings_and_exports_past_their_bounds_are_refused_before_a_download(hostile_hub, tmp_path, monkeypatch):
    repo_id = f"{OWNER}/bounds"
    hostile_hub.publish(repo_id, hostile_hub.export)
    listing = [entry("config.json"), entry("model.safetensors")] + [entry(f"file-{index}") for index in range(999)]
    hostile_hub.hostile[repo_id] = Hostility(listing=listing)
    with pytest.raises(hub_api.HubError, match="the Hub's file listing is not a list of at most 1000 entries"):
        inspect_and_download(hostile_hub.url, repo_id, tmp_path / "downloads")
    hostile_hub.hostile[repo_id] = Hostility(listing=[entry("x" * 100)] * 20_000)  # 3.9 MB of JSON
    with pytest.raises(hub_api.HubError, match="announced 3,860,000 bytes where at most 1,048,576 bytes was expected"):
        inspect_and_download(hostile_hub.url, repo_id, tmp_path / "downloads")
    hostile_hub.hostile[repo_id] = Hostility(
        listing=[entry("config.json"), {**entry("model.safetensors"), "lfs": {"oid": "../../x"}}])
    with pytest.raises(hub_api.HubError, match="gives model.safetensors a malformed checksum"):
        inspect_and_download(hostile_hub.url, repo_id, tmp_path / "downloads")
    hostile_hub.hostile[repo_id] = Hostility(listing=[entry("config.json"), entry("model.safetensors", size=10**30)])
    with pytest.raises(hub_api.HubError, match="the export is 1,000,000,000,000,000,000,000,000 MB, more than"):
        inspect_and_download(hostile_hub.url, repo_id, tmp_path / "downloads")
    del hostile_hub.hostile[repo_id]
    monkeypatch.setattr(hub_api, "MAX_DOWNLOAD_BYTES", 2000)
    before = len(hostile_hub.requests)
    with pytest.raises(hub_api.HubError, match="the export is .* bytes, more than the 2,000 bytes this app takes"):
        inspect_and_download(hostile_hub.url, repo_id, tmp_path / "downloads")
    assert not any("/resolve/" in request.path for request in hostile_hub.requests[before:])
    assert files_under(tmp_path) == []


def test_bytes_beyond_the_listed_size_are_never_received_and_nothing_is_kept(hostile_hub, tmp_path):
    """The lying-size attack: the listing gives the true size, the download sends 50 MB with no
    Content-Length; the download stops at the listed size, is removed and gives its bytes back."""
    repo_id = f"{OWNER}/lying-size"
    hostile_hub.publish(repo_id, hostile_hub.export)
    listed = len(hostile_hub.export["model.safetensors"])
    flood = hostile_hub.export["model.safetensors"] + bytes(50 * 1000 * 1000)
    hostile_hub.hostile[repo_id] = Hostility(served={"model.safetensors": flood}, hide_length=True)
    budget, deadline = hub_api.DownloadBudget(200 * 1000 * 1000), hub_api.Deadline(30)
    export = hub_api.inspect_commit(repo_id, hostile_hub.repos[repo_id].branches["main"], deadline,
                                    endpoint=hostile_hub.url)
    tracemalloc.start()
    try:
        with pytest.raises(hub_api.HubError, match="the Hub sent more than the .* it announced or this app allows"):
            hub_api.download_export(export, tmp_path / "downloads", deadline, budget=budget)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_bytes < 5 * 1000 * 1000  # streamed: never the 50 MB, nor a large part of it, in memory
    assert files_under(tmp_path) == [] and budget.used_bytes == 0
    assert hostile_hub.hostile[repo_id].sent_bytes < 10 * 1000 * 1000  # the client hung up early

    # Announced: refused from the Content-Length, before the body is read.
    hostile_hub.hostile[repo_id] = Hostility(served={"model.safetensors": flood})
    with pytest.raises(hub_api.HubError, match="the Hub announced 50 MB where at most .* was expected"):
        inspect_and_download(hostile_hub.url, repo_id, tmp_path / "downloads", budget=budget)
    # Same size, other bytes: the checksum of the listing catches them.
    hostile_hub.hostile[repo_id] = Hostility(served={"model.safetensors": bytes(listed)})
    with pytest.raises(hub_api.HubError, match="corrupt download, model.safetensors does not match the Hub's checksum"):
        inspect_and_download(hostile_hub.url, repo_id, tmp_path / "downloads", budget=budget)
    assert files_under(tmp_path) == [] and budget.used_bytes == 0


def test_the_budget_is_charged_on_bytes_received(hostile_hub, tmp_path):
    hostile_hub.publish(f"{OWNER}/budgeted", hostile_hub.export)
    size = sum(len(content) for content in hostile_hub.export.values())
    budget = hub_api.DownloadBudget(size + 100)
    folder = inspect_and_download(hostile_hub.url, f"{OWNER}/budgeted", tmp_path / "downloads", budget=budget)
    assert budget.used_bytes == size == sum(path.stat().st_size for path in files_under(folder))
    refusal = f"would pass this app's {size + 100:,} bytes budget; it holds {size:,} bytes$"
    with pytest.raises(hub_api.HubError, match=refusal):
        inspect_and_download(hostile_hub.url, f"{OWNER}/budgeted", tmp_path / "elsewhere", budget=budget)
    assert budget.used_bytes == size and files_under(tmp_path / "elsewhere") == []


def test_weights_in_fp8_or_integer_dtypes_are_refused(hostile_hub, tmp_path):
    weights = DCGenerator(latent_dim=8, conv_dim=4, image_size=16).state_dict()
    for dtype, name in ((torch.float8_e4m3fn, "F8_E4M3"), (torch.int8, "I8")):
        repo_id = f"{OWNER}/weights-{name.lower()}"
        stored = safetensors.torch.save({key: value.to(dtype) for key, value in weights.items()})
        hostile_hub.publish(repo_id, {**hostile_hub.export, "model.safetensors": stored})
        with pytest.raises(hub_api.HubError, match=f"model.safetensors stores weights as {name}; this app loads "
                                               "F32, F16, BF16 only"):
            inspect_and_download(hostile_hub.url, repo_id, tmp_path / "downloads")
    half = safetensors.torch.save({key: value.to(torch.bfloat16) for key, value in weights.items()})
    hostile_hub.publish(f"{OWNER}/weights-bf16", {**hostile_hub.export, "model.safetensors": half})
    assert inspect_and_download(hostile_hub.url, f"{OWNER}/weights-bf16", tmp_path / "downloads").is_dir()
    assert len(files_under(tmp_path / "downloads")) == len(hostile_hub.export)  # the refused ones were removed


def test_a_hub_dripping_one_byte_at_a_time_fails_the_add_at_its_deadline(hostile_hub, tmp_path):
    hostile_hub.publish(f"{OWNER}/drip", hostile_hub.export)
    hostile_hub.hostile[f"{OWNER}/drip"] = Hostility(drip_seconds=0.25)  # 4 bytes a second
    started = time.monotonic()
    with pytest.raises(hub_api.HubError, match=r"^someone/drip@main: the Hub did not deliver within 2 s; try again"):
        inspect_and_download(hostile_hub.url, f"{OWNER}/drip", tmp_path / "downloads", seconds=2)
    assert time.monotonic() - started < 4 and files_under(tmp_path) == []


def test_redirects_are_bounded_and_never_carry_the_token_to_another_host(hostile_hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hostile_hub.publish(f"{OWNER}/redirected", hostile_hub.export)
    hostile_hub.hostile[f"{OWNER}/redirected"] = Hostility(redirects=2)
    assert inspect_and_download(hostile_hub.url, f"{OWNER}/redirected", tmp_path / "two-hops").is_dir()
    hostile_hub.hostile[f"{OWNER}/redirected"] = Hostility(redirects=50)
    with pytest.raises(hub_api.HubError, match="the Hub redirected more than 5 times"):
        inspect_and_download(hostile_hub.url, f"{OWNER}/redirected", tmp_path / "loop")
    hostile_hub.hostile[f"{OWNER}/redirected"] = Hostility(redirect_to="file:///etc/")
    with pytest.raises(hub_api.HubError, match="the Hub redirected to 'file:/+etc/config.json', not an http"):
        inspect_and_download(hostile_hub.url, f"{OWNER}/redirected", tmp_path / "file")
    with StandInHub() as other_host:  # localhost on another port: another origin
        other_host.publish(f"{OWNER}/redirected", hostile_hub.export)
        elsewhere = other_host.url.replace("127.0.0.1", "localhost")
        hostile_hub.hostile[f"{OWNER}/redirected"] = Hostility(
            redirect_to=f"{elsewhere}/{OWNER}/redirected/resolve/main/")
        before = len(hostile_hub.requests)
        assert inspect_and_download(hostile_hub.url, f"{OWNER}/redirected", tmp_path / "elsewhere").is_dir()
        followed = [request for request in other_host.requests if "/resolve/" in request.path]
        assert len(followed) == len(hostile_hub.export) and not any(request.authorized for request in followed)
        assert all(request.authorized for request in hostile_hub.requests[before:])  # its own host gets the token
    assert files_under(tmp_path / "loop") == files_under(tmp_path / "file") == []
