"""The Train tab without a browser: the zip checks (a bomb, names that leave the folder, too many
entries, links, encryption), uploads only from Gradio's upload folder, one job at a time with a clear
refusal for a second, a run left resumable when the app that started it is killed, the token never
reaching a response, a log or a file, and the tab's explanation when training is off. The whole path in
a browser is tests/test_browser_train.py."""

import json
import logging
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import gradio as gr
import pytest
from gradio import utils
from huggingface_hub import constants

from gan_demo import catalog
from gan_demo.models import DCGenerator
from tests.conftest import ROOT, SUBPROCESS_ENV, make_images
from tests.hub_server import StandInHub
from ui import train_tab, training_data
from ui.state import AppState
from ui.training_data import DataRefused, store_uploads
from ui.training_jobs import JOB_FILE, TrainingJobs, TrainingPlan, TrainingRefused, training_allowed

TOKEN = "hf_TheVisitorsOwnSecretToken0123456789"
TINY_PLAN = dict(kind="dcgan", iters=40, image_size=32)


@pytest.fixture
def upload_folder() -> Path:
    """A fresh folder inside Gradio's upload folder, where uploaded files arrive."""
    folder = Path(utils.get_upload_folder()) / f"test-train-{os.getpid()}-{time.monotonic_ns()}"
    folder.mkdir(parents=True)
    yield folder
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if not path.is_dir() else path.rmdir()
    folder.rmdir()


def png_bytes(folder: Path) -> bytes:
    return make_images(folder, count=1, seed=3).joinpath("image-000.png").read_bytes()


def write_zip(path: Path, entries: dict[str, bytes], **options) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data, **options)
    return path


# -- the images ------------------------------------------------------------------------------------


def test_uploads_and_zips_become_pngs_named_by_the_app(upload_folder, tmp_path):
    images = make_images(upload_folder / "loose", count=2, seed=0)
    picture = png_bytes(tmp_path)
    archive = write_zip(upload_folder / "cats.zip", {"cats/one.png": picture, "cats/nested/two.png": picture,
                                                     "__MACOSX/cats/._one.png": b"metadata", "notes.txt": b"hi",
                                                     "cats/broken.png": b"not a png"})
    stored = store_uploads([str(path) for path in sorted(images.iterdir())] + [str(archive)], tmp_path / "data")
    assert stored.count == 4
    assert sorted(path.name for path in stored.folder.iterdir()) == [f"image-0000{index}.png" for index in range(1, 5)]
    assert len(stored.skipped) == 1 and "broken.png" in stored.skipped[0]


def test_an_upload_from_outside_the_upload_folder_is_refused(tmp_path):
    outside = make_images(tmp_path / "elsewhere", count=1, seed=0) / "image-000.png"
    with pytest.raises(DataRefused, match="only uploaded images are read"):
        store_uploads([str(outside)], tmp_path / "data")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("name, entries, options, message", [
    ("bomb", {"zeros.png": bytes(15 * 2**20)}, {}, "expands .* times, more than 100"),
    ("huge", {"big.png": bytes(21 * 2**20)}, {"compress_type": zipfile.ZIP_STORED}, "MB uncompressed, more than 20"),
    ("climbs", {"../../escape.png": b"x"}, {}, "would be unpacked outside its folder"),
    ("absolute", {"/etc/cron.d/x.png": b"x"}, {}, "would be unpacked outside its folder"),
    ("windows", {"C:\\Windows\\x.png": b"x"}, {}, "would be unpacked outside its folder"),
    ("backslashes", {"a\\..\\..\\x.png": b"x"}, {}, "would be unpacked outside its folder"),
])
def test_a_zip_is_refused_from_its_directory_before_anything_is_unpacked(upload_folder, tmp_path, name, entries,
                                                                         options, message):
    archive = write_zip(upload_folder / f"{name}.zip", entries, **options)
    with pytest.raises(DataRefused, match=message):
        store_uploads([str(archive)], tmp_path / "data")
    assert list((tmp_path / "data").iterdir()) == []


def test_a_zip_with_too_many_entries_or_a_link_is_refused(upload_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(training_data, "MAX_ZIP_ENTRIES", 50)
    many = write_zip(upload_folder / "many.zip", {f"{index}.png": b"x" for index in range(51)})
    with pytest.raises(DataRefused, match="51 entries, more than the 50 read"):
        store_uploads([str(many)], tmp_path / "many")
    link = zipfile.ZipInfo("cat.png")
    link.external_attr = (0o120777 << 16)  # a symbolic link to /etc/passwd, as `zip --symlinks` stores it
    with zipfile.ZipFile(upload_folder / "link.zip", "w") as archive:
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(DataRefused, match="'cat.png' is a link"):
        store_uploads([str(upload_folder / "link.zip")], tmp_path / "link")


def test_more_images_than_the_cap_are_refused(upload_folder, tmp_path):
    images = make_images(upload_folder / "four", count=4, seed=0)
    with pytest.raises(DataRefused, match="more than 3 images"):
        store_uploads([str(path) for path in images.iterdir()], tmp_path / "data", max_images=3)


def test_a_folder_on_the_server_is_refused_unless_the_app_serves_this_machine_alone(tmp_path, monkeypatch):
    images = make_images(tmp_path / "mine", count=3, seed=0)
    assert training_data.local_folder(str(images)).count == 3
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    with pytest.raises(DataRefused, match="only when the app runs on your own machine"):
        training_data.local_folder(str(images))


# -- the job ---------------------------------------------------------------------------------------


def wait_for(condition, timeout: float = 300, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_settings_are_checked_by_the_command_line_and_a_second_job_is_refused(tmp_path):
    jobs = TrainingJobs(tmp_path / "runs")
    with pytest.raises(TrainingRefused, match="--seed must be between 0 and 2"):
        jobs.prepare(TrainingPlan(name="negative-seed", seed=-1, **TINY_PLAN))
    with pytest.raises(TrainingRefused, match="iterations must be from 1 to 5000"):
        jobs.prepare(TrainingPlan(name="too-long", **{**TINY_PLAN, "iters": 5001}))
    with pytest.raises(TrainingRefused, match="a run name is"):
        jobs.prepare(TrainingPlan(name="../escape", **TINY_PLAN))
    plan = TrainingPlan(name="first", **TINY_PLAN)
    data = jobs.prepare(plan)
    make_images(data[0], count=4, seed=0)
    jobs.start(plan, data)
    try:
        assert jobs.current() == "first"
        with pytest.raises(TrainingRefused, match="the run first is training now and this app trains one model "
                                                  "at a time: wait until it ends, or stop it"):
            jobs.prepare(TrainingPlan(name="second", **TINY_PLAN))
        assert not (jobs.data_root / "second").exists()
        with pytest.raises(TrainingRefused, match="a run named first exists already"):
            TrainingJobs(tmp_path / "runs").prepare(plan)
    finally:
        jobs.stop_at_exit()


@pytest.mark.slow
def test_a_killed_app_leaves_a_run_that_resumes_to_its_end(tmp_path):
    """The app is a process that started a job; SIGKILL it mid-run: the kernel stops the job as Ctrl-C
    does, it saves, and a new app resumes it from the saved step to the end."""
    runs = tmp_path / "runs"
    app = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from tests.conftest import make_images\n"
        "from ui.training_jobs import TrainingJobs, TrainingPlan\n"
        f"jobs = TrainingJobs(Path({str(runs)!r})); plan = TrainingPlan(name='killed', kind='dcgan', iters=200, "
        "image_size=32)\n"
        "data = jobs.prepare(plan); make_images(data[0], count=4, seed=0); jobs.start(plan, data)\n"
        "print('started', flush=True); time.sleep(600)")], cwd=ROOT, env=SUBPROCESS_ENV, stdout=subprocess.PIPE,
        text=True)
    try:
        assert app.stdout.readline().strip() == "started"
        wait_for(lambda: (runs / "killed" / "losses.csv").is_file(), what="the first losses")
        holder = (runs / "killed" / ".lock").read_text().split()[1]
    finally:
        app.kill()
        app.wait()
    wait_for(lambda: not Path(f"/proc/{holder}").exists(), timeout=120, what="the orphaned trainer to stop")
    jobs = TrainingJobs(runs)
    stopped = jobs.status("killed")
    assert stopped.state == "stopped" and 0 < stopped.step < 200 and (runs / "killed" / "state.pt").is_file()
    jobs.resume("killed")
    wait_for(lambda: jobs.current() is None, what="the resumed run to end")
    finished = jobs.status("killed")
    assert (finished.state, finished.step, finished.iters) == ("finished", 200, 200), jobs.output("killed")
    assert (runs / "killed" / "export" / "model.safetensors").is_file()


# -- publishing ------------------------------------------------------------------------------------


def answer_whoami(route):
    """The stand-in Hub's router, also answering who a token belongs to, as the Hub's whoami-v2 does."""
    def routed(handler, hub, segments, query, body):
        if handler.command == "GET" and segments == ["api", "whoami-v2"]:
            return 200, {"type": "user", "name": "stand-in-user", "fullname": "Stand-in User", "avatarUrl": ""}, {}
        return route(handler, hub, segments, query, body)

    return routed


@pytest.fixture
def hub(monkeypatch):
    """The stand-in Hub, answering whoami, with this process's Hub client pointed at it."""
    from tests import hub_server

    monkeypatch.setattr(hub_server._Handler, "route", answer_whoami(hub_server._Handler.route))
    for name in ("GAN_DEMO_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    with StandInHub() as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        yield server


def made_in_the_tab(runs: Path, name: str) -> Path:
    """A run folder with an exported tiny DCGAN, recorded as the Train tab records its runs."""
    DCGenerator(latent_dim=8, conv_dim=4, image_size=16).save_pretrained(runs / name / "export")
    (runs / ".training-data" / name).mkdir(parents=True)
    arguments = ["-m", "train.dcgan", "--data", str(runs), "--out", str(runs / name)]
    (runs / ".training-data" / name / JOB_FILE).write_text(json.dumps({"kind": "dcgan", "arguments": arguments}))
    return runs / name


def test_publishing_adds_the_model_at_its_commit_and_the_token_goes_nowhere_else(hub, tmp_path, caplog, capsys):
    caplog.set_level(logging.INFO)  # what the app logs, and more (app.py: WARNING, gan_demo INFO)
    runs = tmp_path / "runs"
    made_in_the_tab(runs, "mine")
    state = AppState(catalog.ModelRegistry(), runs)
    handlers = train_tab.TrainHandlers(state, TrainingJobs(runs))

    note, token_box = handlers.publish("mine", "my-cats", TOKEN)

    commit = hub.repos["stand-in-user/my-cats"].branches["main"]
    assert note.startswith(f"Published `stand-in-user/my-cats` at commit `{commit}`. Added"), note
    assert token_box == ""
    assert any(model.source.startswith("added: stand-in-user/my-cats") for model in state.registry.models())
    hub.echo_headers = True  # a careless proxy quotes the request's headers, the token among them
    refused, token_box = handlers.publish("mine", "again", TOKEN)
    assert refused.startswith("**Cannot publish:**") and "hf_***" in refused and token_box == ""
    captured = capsys.readouterr()
    written = b"".join(path.read_bytes() for folder in (runs, state.served.folder) for path in folder.rglob("*")
                       if path.is_file())
    for place in (note, refused, caplog.text, captured.out, captured.err):
        assert TOKEN not in place
    assert TOKEN.encode() not in written


def test_publishing_needs_a_token_and_a_run_of_the_tab(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "")
    runs = tmp_path / "runs"
    made_in_the_tab(runs, "mine")
    handlers = train_tab.TrainHandlers(AppState(catalog.ModelRegistry(), runs), TrainingJobs(runs))
    assert handlers.publish("mine", "x", "")[0] == ("**Cannot publish:** sign in with Hugging Face or paste a token "
                                                    "with write access")
    assert handlers.publish("other", "x", TOKEN)[0] == "**Cannot publish:** choose a run made in this tab"


# -- who may train ---------------------------------------------------------------------------------


def markdown_of(demo: gr.Blocks, elem_id: str) -> str | None:
    return next((block.value for block in demo.blocks.values() if getattr(block, "elem_id", None) == elem_id), None)


def test_without_the_flag_the_tab_says_how_to_train_elsewhere(tmp_path, monkeypatch):
    monkeypatch.delenv("GAN_DEMO_ALLOW_TRAINING", raising=False)
    assert not training_allowed()
    state = AppState(catalog.ModelRegistry(), tmp_path / "runs")
    with gr.Blocks() as demo:
        train_tab.build(state, demo, training_allowed())
    explanation = markdown_of(demo, "train-off")
    assert "Duplicate this Space" in explanation and "python app.py --allow-training" in explanation
    assert markdown_of(demo, "train-start") is None
    monkeypatch.setenv("GAN_DEMO_ALLOW_TRAINING", "1")
    with gr.Blocks() as demo:
        train_tab.build(state, demo, training_allowed())
    assert markdown_of(demo, "train-off") is None
    assert any(getattr(block, "elem_id", None) == "train-start" for block in demo.blocks.values())
    assert not (tmp_path / "runs").exists()  # building the tab writes nothing


def test_no_sign_in_button_where_gradios_login_would_stop_the_app(monkeypatch):
    """gradio's LoginButton needs its `oauth` extra at launch, and the Hub's answer locally: without them the
    tab offers the pasted token only, and the app starts."""
    from ui import training_publish

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(training_publish.importlib.util, "find_spec", lambda name: None)
    assert not training_publish.login_available()
    monkeypatch.setenv("SPACE_ID", "someone/gan-demo")
    assert not training_publish.login_available()
