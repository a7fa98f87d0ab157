"""The app against hostile and careless callers, over raw HTTP to `/gradio_api/call/<api_name>` (a POST,
then the event stream), with payloads gradio_client never sends: server paths in image payloads, with
and without Gradio's `meta` marker; data: URLs holding decompression bombs; NaN, infinities and
wrong types for every number; broken progress files in the bundled models; a symlink planted where
GIFs are written. Every refusal is one clear line, and the server keeps answering afterwards."""

import base64
import concurrent.futures
import io
import json
import os
import stat
import struct
import tempfile
import threading
import time
import urllib.request
import zlib
from pathlib import Path

import psutil
import pytest
from PIL import Image

from benchmarks.gradio_server import call_endpoint, upload_file
from gan_demo import inference
from tests.app_server import TINY_IMAGE_SIZE, crafted_gif, make_tiny_checkpoints, serve_app_process, write_progress
from ui.served_files import FileRefused, ServedFiles

DIRECTION = "Grumpy -> Russian Blue"
META = {"_type": "gradio.FileData"}
BOMB_SIDE = 13_000  # 169 megapixels: 507 MB of RGB once decoded, about 0.6 MB as a PNG
MEMORY_LIMIT_BYTES = 200 * 2**20


# -- the server: tiny models, some with broken progress files, private temp folders ---------------


def break_progress(checkpoints: Path) -> dict[str, str]:
    """Break one progress file per model, as a careless copy or a hostile export would;
    returns {model name: what is broken}."""
    (checkpoints / "dcgan-grumpy-basic" / "progress.gif").write_bytes(b"")
    (checkpoints / "dcgan-grumpy-deluxe" / "progress.gif").write_bytes(crafted_gif(65535, 65535))
    gif = checkpoints / "dcgan-grumpy-diffaug" / "progress.gif"
    gif.write_bytes(gif.read_bytes()[:40])
    (checkpoints / "dcgan-grumpy-deluxe-diffaug" / "losses.csv").write_text("step,g\n1,lots\n2,\n")
    (checkpoints / "dcgan-grumpy-deluxe-diffaug" / "README.md").write_bytes(b"# card\n\xff\xfe not UTF-8 \x80\n")
    (checkpoints / "cyclegan-cats" / "README.md").write_text(
        '## Training settings\n\n```json\n{"sample_every": "often", "iters": -3, "seed": [1]}\n```\n')
    return {"dcgan-grumpy-basic": "empty", "dcgan-grumpy-deluxe": "65535x65535",
            "dcgan-grumpy-diffaug": "corrupt", "dcgan-grumpy-deluxe-diffaug": "losses.csv and card",
            "cyclegan-cats": "odd settings"}


class Server:
    """The app under test: its URL, process, private temp folder and Gradio upload folder."""

    def __init__(self, url: str, process: psutil.Process, temp: Path, checkpoints: Path):
        self.url, self.process, self.temp, self.checkpoints = url, process, temp, checkpoints
        self.uploads = temp / "gradio"

    def call(self, api_name: str, *data, timeout: float = 60) -> tuple[str, object]:
        """("complete", outputs), ("error", message) or ("refused", detail): see `call_endpoint`."""
        return call_endpoint(self.url, api_name, list(data), timeout)

    def refusal(self, api_name: str, *data, timeout: float = 60) -> str:
        outcome, message = self.call(api_name, *data, timeout=timeout)
        assert outcome == "error", f"expected a refusal, got {message}"
        assert isinstance(message, str) and message, "the refusal must say why"
        assert "\n" not in message and "Traceback" not in message and " at 0x" not in message, message
        return message

    def upload(self, path: Path) -> str:
        return upload_file(self.url, path)

    def assert_still_serving(self) -> None:
        outcome, outputs = self.call("sample", "dcgan-grumpy-basic", 1, 1.0, 4, *[0] * 6, "")
        assert outcome == "complete", outputs
        with Image.open(outputs[0]["path"]) as grid:
            assert grid.width == 2 * (TINY_IMAGE_SIZE + 2) + 2  # 2 x 2 cats


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    checkpoints = make_tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"), leave_out=("cyclegan-cats-nocycle",))
    break_progress(checkpoints)
    temp = tmp_path_factory.mktemp("server-tmp")
    runs = plant_runs(temp)
    private = {"TMPDIR": str(temp), "GRADIO_TEMP_DIR": str(temp / "gradio"), "GAN_DEMO_RUNS": str(runs),
               "HF_HOME": str(plant_hub_cache(temp))}
    with serve_app_process(checkpoints, private) as (url, process):
        yield Server(url, psutil.Process(process.pid), temp, checkpoints)


def plant_runs(temp: Path) -> Path:
    """A runs folder holding one good run with files no visitor may download (state.pt, a page of
    HTML), a run whose progress files are FIFOs, a run whose configs are nested 30,000 deep, and beside
    the runs folder a "run" a visitor must not reach by name."""
    runs = temp / "runs"
    for name in ("good", "fifos", "nested"):
        (runs / name).mkdir(parents=True)
    write_progress(runs / "good", seed=5)
    (runs / "good" / "config.json").write_text(json.dumps({"sample_every": 100, "iters": 300}))
    (runs / "good" / "state.pt").write_bytes(b"private training state")
    (runs / "good" / "page.html").write_text("<script>alert(1)</script>")
    for name in ("progress.gif", "losses.csv", "config.json"):
        os.mkfifo(runs / "fifos" / name)
    deep = "[" * 30_000 + "]" * 30_000
    write_progress(runs / "nested", seed=6)
    (runs / "nested" / "config.json").write_text(deep)
    (runs / "nested" / "export").mkdir()
    (runs / "nested" / "export" / "config.json").write_text(deep)
    (runs / "nested" / "export" / "model.safetensors").write_bytes(b"not weights")
    outside = temp / "secret"
    outside.mkdir()
    write_progress(outside, seed=7)
    (outside / "config.json").write_text(json.dumps({"api_key": "do-not-leak"}))
    return runs


def plant_hub_cache(temp: Path) -> Path:
    """An HF home whose cache holds a private model someone downloaded earlier on this machine."""
    home = temp / "hf-home"
    snapshot = home / "hub" / "models--someone--private" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").write_bytes(b"private weights")
    return home


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> dict:
    return {"url": f"data:{mime};base64,{base64.b64encode(data).decode()}"}


# -- (1) only files Gradio received for the request are opened ------------------------------------


def test_server_paths_get_one_refusal_whatever_is_there(server, tmp_path):
    secret = tmp_path / "secret.png"
    Image.new("RGB", (40, 40), "red").save(secret)
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    (tmp_path / "folder.png").mkdir()
    symlink = server.uploads / "planted-link.png"  # a link inside the upload folder to a file outside
    server.uploads.mkdir(exist_ok=True)
    symlink.symlink_to(secret)
    paths = [secret, tmp_path / "missing.png", fifo, tmp_path / "folder.png", "/etc/passwd", "../../etc/hostname",
             f"{server.uploads}/../../{secret.relative_to('/')}", symlink, server.uploads / "never-uploaded.png",
             server.uploads, "http://127.0.0.1:1/cat.png"]
    messages = set()
    for path in paths:
        for payload in ({"path": str(path)}, {"path": str(path), "meta": META},
                        {"path": str(path), "meta": META, "orig_name": "cat.png", "url": "x"}):
            messages.add(server.refusal("translate", payload, DIRECTION, "model size", timeout=30))
    assert messages == {inference.NOT_UPLOADED}
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and secret.is_file()
    server.assert_still_serving()


def test_two_fifos_do_not_block_the_workers(server, tmp_path):
    fifos = [tmp_path / f"fifo-{index}" for index in range(2)]
    for fifo in fifos:
        os.mkfifo(fifo)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        messages = list(pool.map(lambda fifo: server.refusal("translate", {"path": str(fifo)}, DIRECTION,
                                                             "model size", timeout=30), fifos))
    assert messages == [inference.NOT_UPLOADED] * 2
    server.assert_still_serving()


def test_payloads_that_are_not_images_are_refused(server):
    for payload in ("/etc/passwd", 42, ["/etc/passwd"], {"meta": META}, {"path": None, "url": None},
                    {"path": 7}, {"url": "http://127.0.0.1:1/cat.png"}):
        assert "not an image" in server.refusal("translate", payload, DIRECTION, "model size").lower()
    server.assert_still_serving()


def test_uploaded_files_are_read_with_or_without_meta(server, tmp_path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (50, 40), (90, 120, 30)).save(photo)
    uploaded = server.upload(photo)
    for payload in ({"path": uploaded, "meta": META, "orig_name": "photo.png"}, {"path": uploaded}):
        outcome, outputs = server.call("translate", payload, DIRECTION, "full image")
        assert outcome == "complete", outputs
        with Image.open(outputs[1]["path"]) as translation:
            assert translation.size == (48, 40)


# -- (2) every image is size-checked from its header before it is decoded --------------------------


def png_of_zeros(width: int, height: int) -> bytes:
    """An RGB PNG of width x height black pixels, written row by row (the pixels are never held)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = bytes(1 + 3 * width)  # filter byte + RGB
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = png_of_zeros(BOMB_SIDE, BOMB_SIDE)
    assert len(data) < 2**20
    return data


def test_data_url_bomb_is_too_large(server, bomb):
    message = server.refusal("translate", data_url(bomb), DIRECTION, "model size")
    assert "too large" in message and "<" not in message
    server.assert_still_serving()


def test_data_urls_are_checked_like_uploads(server):
    over_25_megapixels = png_of_zeros(5001, 5001)
    assert "more than 25 megapixels" in server.refusal("translate", data_url(over_25_megapixels), DIRECTION,
                                                       "model size")
    over_20_mb = png_bytes(Image.new("RGB", (8, 8))) + os.urandom(21 * 2**20)
    assert "more than 20 MB" in server.refusal("translate", data_url(over_20_mb), DIRECTION, "model size")
    assert "not a readable image" in server.refusal("translate", data_url(b"just text", "text/plain"), DIRECTION,
                                                    "model size")
    assert "not valid base64" in server.refusal("translate", {"url": "data:image/png;base64,%%%%"}, DIRECTION,
                                                "model size")
    fine = data_url(png_bytes(Image.new("RGB", (40, 40), "orange")))
    outcome, outputs = server.call("translate", fine, DIRECTION, "model size")
    assert outcome == "complete", outputs


def test_uploaded_bomb_is_too_large(server, tmp_path, bomb):
    (tmp_path / "bomb.png").write_bytes(bomb)
    uploaded = server.upload(tmp_path / "bomb.png")
    message = server.refusal("translate", {"path": uploaded, "meta": META}, DIRECTION, "model size")
    assert "too large" in message and "bomb.png" in message
    server.assert_still_serving()


def peak_memory_during(process: psutil.Process, action) -> int:
    """The most resident memory `process` (the server) had while `action()` ran, sampled every 5 ms."""
    peak, done = process.memory_info().rss, threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        action()
    finally:
        done.set()
        watcher.join()
    return peak


def test_four_concurrent_data_url_bombs_barely_move_the_memory(server, bomb):
    payload = data_url(bomb)
    server.refusal("translate", payload, DIRECTION, "model size")  # warm: the request path itself is not measured
    before = server.process.memory_info().rss

    def four_bombs() -> None:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            messages = list(pool.map(lambda _: server.refusal("translate", payload, DIRECTION, "model size"),
                                     range(4)))
        assert all("too large" in message for message in messages)

    growth = peak_memory_during(server.process, four_bombs) - before
    print(f"server resident memory grew by {growth / 2**20:.0f} MB under four concurrent data-URL bombs")
    assert growth < MEMORY_LIMIT_BYTES
    server.assert_still_serving()


# -- (3) broken progress files: the app starts, the run says why it has no progress ----------------


def test_broken_progress_files_do_not_stop_the_app(server):
    config = urllib.request.urlopen(f"{server.url}config", timeout=30).read().decode()
    for name in ("dcgan-grumpy-basic", "dcgan-grumpy-deluxe", "dcgan-grumpy-diffaug"):
        assert f"`{name}`: progress unavailable" in config, name
    assert "too large" in config  # the 65535 x 65535 GIF, refused from its header
    outcome, outputs = server.call("sample", "dcgan-grumpy-deluxe", 2, 1.0, 4, *[0] * 6, "")
    assert outcome == "complete", outputs  # the model still serves
    message = server.refusal("progress", "dcgan-grumpy-basic", 100)
    assert "dcgan-grumpy-basic" in message and "progress.gif" in message


def test_run_with_broken_losses_and_card_still_shows_its_frames(server):
    outcome, (gif, frame, losses, settings, variants) = server.call("progress", "dcgan-grumpy-deluxe-diffaug", 200)
    assert outcome == "complete"
    assert losses["data"] == [] and settings == {}  # rows that are not numbers are skipped
    # the one DCGAN whose GIF reads; without settings or losses its 3 frames count as iterations 1 to 3
    assert [item["caption"] for item in variants] == ["deluxe + DiffAugment (iteration 3)"]
    outcome, (_, frame, *_) = server.call("progress", "cyclegan-cats", 150)  # odd settings: frames spread evenly
    assert outcome == "complete" and frame["path"]


# -- (4) numbers: finite, of the right type, in range, or a message saying which -------------------


SAMPLE_DEFAULTS = ["dcgan-grumpy-basic", 1, 1.0, 4, *[0] * 6, ""]  # the latent last: empty means seeds


@pytest.mark.parametrize(("position", "value", "expected"), [
    (1, float("nan"), "seed must be a whole number from 0 to 2147483647, not NaN"),
    (1, "seven", "seed must be a whole number from 0 to 2147483647, not text"),
    (1, 2.5, "seed must be a whole number from 0 to 2147483647, not 2.5"),
    (1, 2**64, "seed must be a whole number from 0 to 2147483647, not 18446744073709551616"),
    (2, float("nan"), "truncation must be a number from 0 to 1, not NaN"),
    (2, float("inf"), "truncation must be a number from 0 to 1, not infinity"),
    (2, True, "truncation must be a number from 0 to 1, not true"),
    (2, 1e308, "truncation must be a number from 0 to 1, not 1e+308"),  # not its 309 digits
    (2, 5.0, "truncation must be a number from 0 to 1, not 5"),
    (3, float("nan"), "number of samples must be a whole number from 1 to 16, not NaN"),
    (3, "4", "number of samples must be a whole number from 1 to 16, not text"),
    (3, None, "number of samples must be a whole number from 1 to 16, not empty"),
    (3, [4], "number of samples must be a whole number from 1 to 16, not a list"),
    (4, float("-inf"), "direction 1 must be a number from -3 to 3, not -infinity"),
    (9, float("nan"), "direction 6 must be a number from -3 to 3, not NaN"),
    (9, {"value": 1}, "direction 6 must be a number from -3 to 3, not an object"),
])
def test_sample_numbers_are_validated(server, position, value, expected):
    data = list(SAMPLE_DEFAULTS)
    data[position] = value
    assert server.refusal("sample", *data) == expected


@pytest.mark.parametrize(("position", "value", "expected"), [
    (1, float("nan"), "seed must be a whole number from 0 to 2147483647, not NaN"),
    (2, "x", "to seed must be a whole number from 0 to 2147483647, not text"),
    (3, float("nan"), "frames must be a whole number from 4 to 48, not NaN"),
    (3, 1000, "frames must be a whole number from 4 to 48, not 1000"),
    (4, float("inf"), "truncation must be a number from 0 to 1, not infinity"),
])
def test_interpolate_numbers_are_validated(server, position, value, expected):
    data = ["dcgan-grumpy-basic", 1, 2, 6, 1.0, ""]
    data[position] = value
    assert server.refusal("interpolate", *data) == expected


def test_progress_iteration_is_validated(server):
    assert server.refusal("progress", "dcgan-grumpy-deluxe-diffaug", float("nan")) == \
        "iteration must be a whole number from 0 to 10000000, not NaN"
    server.assert_still_serving()


def test_an_emptied_seed_box_still_means_seed_zero(server):
    outcome, outputs = server.call("sample", "dcgan-grumpy-basic", None, 1.0, 1, *[0] * 6, "")
    assert outcome == "complete" and "Seeds 0 to 0" in outputs[1]


# -- (5) interpolation GIFs go to a private folder, never through a planted link ------------------


def test_interpolation_gifs_ignore_links_planted_in_the_temp_folder(server, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    for name in ("gan-demo-served", "gan-demo-served.gif", "interpolation.gif"):
        (server.temp / name).symlink_to(victim, target_is_directory=True)
    outcome, outputs = server.call("interpolate", "dcgan-grumpy-basic", 1, 2, 5, 1.0, "")
    assert outcome == "complete", outputs
    with Image.open(outputs["path"] if isinstance(outputs, dict) else outputs[0]["path"]) as gif:
        assert gif.n_frames == 5
    assert list(victim.iterdir()) == []


def test_served_files_are_written_once_in_a_private_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    served = ServedFiles()
    first, second = served.write(b"GIF89a one", "a.gif"), served.write(b"GIF89a one", "a.gif")
    other = served.write(b"GIF89a two", "a.gif")
    assert first == second and other != first  # named by content: the same file is stored once
    assert served.folder.parent == tmp_path and stat.S_IMODE(served.folder.stat().st_mode) == 0o700
    assert first.read_bytes() == b"GIF89a one" and other.read_bytes() == b"GIF89a two"
    assert [path.name for path in first.parent.iterdir()] == ["a.gif"]  # no staging file left behind


def test_served_copies_refuse_links_fifos_and_oversized_files(tmp_path):
    served = ServedFiles(max_bytes=100)
    (tmp_path / "big.csv").write_bytes(b"x" * 101)
    (tmp_path / "secret").write_text("secret")
    (tmp_path / "link.gif").symlink_to(tmp_path / "secret")
    os.mkfifo(tmp_path / "fifo.gif")
    for name in ("big.csv", "link.gif", "fifo.gif", "missing.gif"):
        with pytest.raises(FileRefused):
            served.copy_of(tmp_path / name)
    (tmp_path / "ok.csv").write_text("step,g\n1,0.5\n")
    assert served.copy_of(tmp_path / "ok.csv").read_text() == "step,g\n1,0.5\n"


# -- (6) the server hands out only the files a response named --------------------------------------


def fetch_status(server: Server, path: "str | Path") -> int:
    try:
        with urllib.request.urlopen(f"{server.url}gradio_api/file={path}", timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_no_cache_runs_or_checkpoint_file_is_served(server):
    outcome, outputs = server.call("progress", "run:good", 200)
    assert outcome == "complete", outputs
    handed_out = outputs[0]["path"]
    assert fetch_status(server, handed_out) == 200  # what the response named is served
    cached = server.temp / "hf-home" / "hub" / "models--someone--private" / "snapshots" / ("0" * 40)
    good = server.temp / "runs" / "good"
    private = [server.checkpoints / "cyclegan-cats" / "model.safetensors", server.checkpoints / "cyclegan-cats"
               / "progress.gif", cached / "model.safetensors", good / "state.pt", good / "page.html",
               good / "config.json", good / "progress.gif", server.temp / "secret" / "config.json", Path(__file__)]
    assert {str(path): fetch_status(server, path) for path in private} == {str(path): 403 for path in private}


# -- (7) a burst of expensive calls never fills the queue for the cheap ones ----------------------


def test_sample_answers_while_project_is_hammered(server, tmp_path):
    photo = tmp_path / "cat.png"
    Image.new("RGB", (64, 64), "orange").save(photo)
    uploaded = server.upload(photo)
    payload = {"path": uploaded, "meta": META}

    def project(_: int) -> tuple[str, object]:
        return server.call("project", payload, "dcgan-grumpy-basic", 100, 50, 50, timeout=300)

    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        burst = [pool.submit(project, index) for index in range(40)]
        time.sleep(0.5)  # the burst is queued or refused by now
        started = time.perf_counter()
        server.assert_still_serving()
        sample_seconds = time.perf_counter() - started
        outcomes = [future.result() for future in burst]
    refused = [message for outcome, message in outcomes if outcome == "refused"]
    assert refused and all("busy" in message for message in refused), refused[:3]
    assert any(outcome == "complete" for outcome, _ in outcomes)
    assert sample_seconds < 20, sample_seconds  # answered beside the projections, not after all of them


# -- (8) run names reach only direct children of the runs folder ----------------------------------


def test_run_names_outside_the_runs_folder_get_one_message(server):
    names = ["run:../secret", f"run:{server.temp / 'secret'}", "run:good/../../secret", "run:.", "run:..",
             "run:", "run:missing", "run:good/", "not-a-model", "run:good\x00"]
    messages = {server.refusal("progress", name, 200) for name in names}
    assert len(messages) == 1 and "do-not-leak" not in messages.pop()


def test_fifos_and_nested_configs_in_runs_neither_block_nor_crash(server):
    started = time.perf_counter()
    messages = [server.call("progress", name, 200) for name in ("run:fifos", "run:nested")]
    assert time.perf_counter() - started < 20
    fifo_outcome, _ = messages[0]
    assert fifo_outcome == "error"
    nested_outcome, nested = messages[1]
    if nested_outcome == "complete":  # the frames show; the nested settings are not echoed
        assert "[[[[" not in json.dumps(nested[3])
    server.assert_still_serving()


# -- (9) text is bounded before it is parsed ------------------------------------------------------


def test_huge_latent_costs_a_length_check(server):
    started = time.perf_counter()
    message = server.refusal("sample", *SAMPLE_DEFAULTS[:-1], "[" + "0," * 10_000_000 + "0]")
    assert "characters long" in message and time.perf_counter() - started < 15
    body = json.dumps({"data": [*SAMPLE_DEFAULTS[:-1], "0" * (40 * 2**20)]}).encode()
    request = urllib.request.Request(f"{server.url}gradio_api/call/sample", data=body,
                                     headers={"Content-Type": "application/json"})
    with pytest.raises((urllib.error.HTTPError, urllib.error.URLError, ConnectionError)) as refused:
        urllib.request.urlopen(request, timeout=60)
    if isinstance(refused.value, urllib.error.HTTPError):
        assert refused.value.code == 413
    server.assert_still_serving()


# -- (10) every other odd value gets one line ----------------------------------------------------


@pytest.mark.parametrize("value", [float("nan"), "x", None, [50], {"value": 1}, 10**400])
def test_crop_controls_are_validated(server, tmp_path, value):
    photo = tmp_path / "cat.png"
    Image.new("RGB", (64, 64), "orange").save(photo)
    uploaded = server.upload(photo)
    for position in (2, 3, 4):
        data = [{"path": uploaded, "meta": META}, "dcgan-grumpy-basic", 100, 50, 50]
        data[position] = value
        assert "must be" in server.refusal("project", *data)


def test_a_cyclegan_is_not_sampled_nor_a_dcgan_translated(server):
    assert "is a cyclegan" in server.refusal("sample", "cyclegan-cats", *SAMPLE_DEFAULTS[1:])
    assert "is a cyclegan" in server.refusal("interpolate", "cyclegan-cats", 1, 2, 6, 1.0, "")
    for latent in ("[" * 5000 + "]" * 5000, json.dumps([10**400] * 16), json.dumps([[0.0] * 16])):
        message = server.refusal("sample", *SAMPLE_DEFAULTS[:-1], latent)
        assert len(message) < 300


def test_an_unchanged_source_is_copied_once_and_a_changed_one_again(tmp_path):
    served = ServedFiles()
    source = tmp_path / "losses.csv"
    source.write_text("step,g\n1,0.5\n")
    first = served.copy_of(source)
    assert served.copy_of(source) == first
    source.write_text("step,g\n1,0.5\n2,0.4\n")  # a new version (size and times) is read anew
    assert served.copy_of(source).read_text().endswith("2,0.4\n")
    source.unlink()
    os.mkfifo(source)  # replaced by a FIFO: a new version, refused without blocking
    with pytest.raises(FileRefused):
        served.copy_of(source)
