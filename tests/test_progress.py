"""Reading a bundled run back for the Training progress tab: which iteration each GIF frame shows,
the training settings from the model card, and a loss table light enough for the browser; broken
or hostile files give one-line reasons, and everything is bounded before it is read: a GIF by its
blocks (frames, pixels per frame, bytes), losses.csv by sampling stretches of a long file, JSON by
bytes and depth, and only regular files are opened (FIFOs, links and sparse giants are real here).
Time bounds are generous for a loaded 2-core machine; the readers before these bounds took seconds
to minutes on the same inputs."""

import json
import os
import struct
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from gan_demo import progress
from gan_demo.files import why_unreadable
from gan_demo.progress import read_losses
from gan_demo.render import MAX_GIF_BYTES, MAX_GIF_FRAMES, gif_layout, read_gif_frames
from tests.app_server import TINY_SETTINGS, crafted_gif, write_progress


def gif_of_frames(screen: tuple[int, int], frames: list[tuple[int, int]]) -> bytes:
    """A GIF with a `screen` logical screen and one frame of each (width, height), each holding one
    pixel of image data: a few bytes per frame on disk, width * height pixels to whoever decodes it."""
    blocks = b"".join(b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x4c\x01\x00"
                      for width, height in frames)
    return b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + bytes(3) + b"\xff\xff\xff" + blocks + b"\x3b"


def finishes_within(seconds: float, work) -> object:
    """`work()`'s result, failing (instead of hanging the suite) if it takes longer than `seconds`,
    as a read that blocks on a FIFO would."""
    outcome = {}

    def run():
        try:
            outcome["value"] = work()
        except Exception as error:  # handed to the test, which expects some
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still reading after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_frame_steps_follow_sample_every_and_the_last_step():
    assert progress.frame_steps(4, {"sample_every": 200, "iters": 800}, {}) == (200, 400, 600, 800)
    assert progress.frame_steps(3, {"sample_every": 200, "iters": 500}, {}) == (200, 400, 500)
    assert progress.frame_steps(2, {"sample_every": 200, "iters": 6400}, {}) == (200, 400)  # a run still going
    assert progress.frame_steps(4, {}, {"step": [1.0, 2.0, 400.0]}) == (100, 200, 300, 400)


def test_load_run_reads_frames_settings_and_losses(tmp_path: Path):
    write_progress(tmp_path, seed=3)
    run = progress.load_run(tmp_path)
    assert run.steps == (100, 200, 300) and len(run.frames) == 3
    assert run.settings == {**TINY_SETTINGS, "seed": 3}
    assert run.frame_at(250) == (run.frames[1], 200)
    assert run.frame_at(0) == (run.frames[0], 100)
    assert run.frame_at(10_000) == (run.frames[2], 300)
    assert run.gif_path == tmp_path / "progress.gif" and progress.has_progress(tmp_path)


def test_settings_missing_or_broken_give_an_empty_dict(tmp_path: Path):
    assert progress.training_settings(tmp_path) == {}
    (tmp_path / "README.md").write_text("## Training settings\n\n```json\n{not json}\n```\n")
    assert progress.training_settings(tmp_path) == {}


def test_loss_table_is_long_format_and_thinned():
    losses = {"step": [float(step) for step in range(1, 6401)], "d": [1.0] * 6400, "g": [2.0] * 6400}
    table = progress.loss_table(losses, max_points=300)
    assert set(table) == {"iteration", "loss", "term"}
    assert table["term"].count("d") <= 300 and table["term"].count("g") <= 300
    assert set(table["loss"]) == {1.0, 2.0} and max(table["iteration"]) <= 6400


def test_broken_gifs_raise_one_line(tmp_path: Path):
    write_progress(tmp_path, seed=1)
    gif = tmp_path / "progress.gif"
    for content, reason in [(b"", "empty, or not a GIF"), (gif.read_bytes()[:3000], "corrupt GIF"),
                            (crafted_gif(65535, 65535), "too large"), (crafted_gif(6000, 6000), "too large")]:
        gif.write_bytes(content)
        os.utime(gif, ns=(0, len(content) + 1))  # a new mtime each time: the cache is keyed by it
        with pytest.raises(progress.ProgressError, match=f"^progress.gif: {reason}") as error:
            progress.load_run(tmp_path)
        assert "\n" not in str(error.value)
    with pytest.raises(progress.ProgressError, match="progress.gif: missing"):
        progress.load_run(tmp_path / "nothing-here")


def test_gif_frames_are_bounded_in_total(tmp_path: Path):
    write_progress(tmp_path, seed=1)  # 3 frames of 64 x 64
    assert len(read_gif_frames(tmp_path / "progress.gif", max_pixels=3 * 64 * 64)) == 3
    with pytest.raises(ValueError, match=r"too large to show \(64x64, 3 frames\)"):
        read_gif_frames(tmp_path / "progress.gif", max_pixels=3 * 64 * 64 - 1)


def test_broken_losses_and_card_leave_the_frames(tmp_path: Path):
    write_progress(tmp_path, seed=2)
    (tmp_path / "losses.csv").write_text("step,g\n1,0.5\n2,lots\n3\n")
    (tmp_path / "README.md").write_bytes(b"## Training settings\n\n```json\n{\"sample_every\": 100, \"iters\": 300}"
                                         b"\n```\n\xff\xfe")
    run = progress.load_run(tmp_path)
    assert len(run.frames) == 3 and run.steps == (100, 200, 300)
    assert run.losses == {"step": [1.0], "g": [0.5]} and run.problems == ()  # rows cut off or not numbers: skipped
    (tmp_path / "losses.csv").write_bytes(b"step,g\n1,\xff\n")
    with pytest.raises(ValueError):  # not UTF-8: load_run lists it as a problem of the run
        read_losses(tmp_path / "losses.csv")


def test_one_reader_is_tolerant_for_showing_and_strict_for_resuming(tmp_path: Path):
    path = tmp_path / "losses.csv"
    path.write_text("step,g\n1,0.5\n2,0.25\n3,0.1")  # the last append was cut short by a kill
    assert read_losses(path) == read_losses(path, header=["step", "g"]) == {"step": [1.0, 2.0], "g": [0.5, 0.25]}
    for text, message in [("step,d\n1,0.5\n", "header is not step,g"),
                          ("step,g\n2,0.5\n1,0.4\n", "line 3 is not a row of increasing step"),
                          ("step,g\n1.5,0.5\n", "line 2"), ("step,g\nnan,0.5\n", "line 2"),
                          ("step,g\n1,0.5,7\n", "line 2"), ("step,g\n1,lots\n", "line 2")]:
        path.write_text(text)
        with pytest.raises(progress.LossLogError, match=message):
            read_losses(path, header=["step", "g"])
    assert read_losses(path) == {"step": [], "g": []}  # the app skips what resuming refuses


@pytest.mark.parametrize("settings", [{"sample_every": "often", "iters": 300}, {"sample_every": -1, "iters": 300},
                                      {"sample_every": True, "iters": 300}, {"sample_every": 100, "iters": 1.5}])
def test_odd_settings_spread_the_frames_over_the_logged_steps(settings):
    assert progress.frame_steps(3, settings, {"step": [1.0, 300.0]}) == (100, 200, 300)
    assert progress.frame_steps(2, settings, {"step": [float("nan")]}) == (1, 2)


def test_settings_that_are_not_an_object_give_an_empty_dict(tmp_path: Path):
    (tmp_path / "README.md").write_text("## Training settings\n\n```json\n[1, 2]\n```\n")
    assert progress.training_settings(tmp_path) == {}


def test_loss_table_leaves_out_non_finite_points():
    losses = {"step": [1.0, 2.0, 3.0], "g": [1.0, float("nan"), float("inf")]}
    assert progress.loss_table(losses) == {"iteration": [1], "loss": [1.0], "term": ["g"]}
    assert progress.loss_table({"g": [1.0]}) == {"iteration": [], "loss": [], "term": []}


def test_progress_json_gives_the_real_step_of_every_frame(tmp_path: Path):
    write_progress(tmp_path, seed=3)  # 3 frames; the card says sample_every 100, iters 300
    (tmp_path / "progress.json").write_text('{"frame_steps": [4, 8, 10]}')  # a run extended with --resume --iters
    assert progress.load_run(tmp_path).steps == (4, 8, 10)
    other = tmp_path / "other"
    other.mkdir()
    write_progress(other, seed=4)
    (other / "progress.json").write_text('{"frame_steps": [4, 8]}')  # does not match the GIF: not trusted
    assert progress.load_run(other).steps == (100, 200, 300)


# -- bounded before read (issue: an added model's 81 kB GIF and 100 MB losses.csv stalled /progress) --


def test_a_gif_of_huge_frames_is_refused_from_its_blocks(tmp_path: Path):
    write_progress(tmp_path, seed=5)
    gif = tmp_path / "progress.gif"
    for screen, frames in [((5000, 5000), [(5000, 5000)] * 4),  # 100 megapixels in 80 bytes
                           ((1, 1), [(1, 1), (5000, 5000)])]:  # a small screen, then a frame Pillow grows it to
        gif.write_bytes(gif_of_frames(screen, frames))
        started = time.perf_counter()
        with pytest.raises(progress.ProgressError, match=rf"^progress.gif: too large to show \(5000x5000, "
                                                         rf"{len(frames)} frames\)$"):
            progress.load_run(tmp_path)
        assert time.perf_counter() - started < 0.5  # nothing decoded
    assert gif_layout(gif_of_frames((10, 10), [(4, 4), (12, 3)])) == (12, 10, 2)
    gif.write_bytes(gif_of_frames((1, 1), [(1, 1)] * (MAX_GIF_FRAMES + 1)))
    with pytest.raises(progress.ProgressError, match=f"more than {MAX_GIF_FRAMES} frames"):
        progress.load_run(tmp_path)
    with open(gif, "r+b") as handle:
        handle.truncate(MAX_GIF_BYTES + 1)  # sparse
    with pytest.raises(progress.ProgressError, match=f"^progress.gif: {MAX_GIF_BYTES + 1:,} bytes, over the limit"):
        progress.load_run(tmp_path)


def test_a_sparse_gigabyte_of_losses_is_read_as_spaced_stretches(tmp_path: Path):
    """A 1 GB losses.csv (a hole between its first and last rows) costs a few MB and well under a
    second, and its plot still spans the whole run."""
    write_progress(tmp_path, seed=6)
    with open(tmp_path / "losses.csv", "wb") as handle:
        handle.write(b"step,d_real,d_fake,g\n" + b"".join(b"%d,0.5,0.5,1.0\n" % step for step in range(1, 2001)))
        handle.seek(2**30)
        handle.write(b"".join(b"%d,0.25,0.25,2.0\n" % step for step in range(10**6, 10**6 + 2000)))
    assert (tmp_path / "losses.csv").stat().st_size > 2**30
    tracemalloc.start()
    started = time.perf_counter()
    try:
        run = progress.load_run(tmp_path)
        seconds, peak = time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 5 and peak < 64 * 2**20, (seconds, peak)  # reading it whole took over 2 GB
    steps = run.losses["step"]
    assert steps[0] == 1 and steps[-1] == 10**6 + 1999 and steps == sorted(steps) and run.problems == ()
    assert len(steps) < progress.MAX_LOSS_BYTES // 10  # sampled, not read whole
    table = progress.loss_table(run.losses)
    assert min(table["iteration"]) < 2000 and max(table["iteration"]) > 10**6


def test_a_loss_file_a_little_over_the_limit_keeps_its_rows_in_order(tmp_path: Path):
    path = tmp_path / "losses.csv"
    path.write_text("step,g\n" + "".join(f"{step},{step % 7}\n" for step in range(1, 20001)))
    whole = read_losses(path)
    sampled = read_losses(path, max_bytes=path.stat().st_size - 1000)
    assert sampled["step"] == sorted(set(sampled["step"])) and set(sampled["step"]) <= set(whole["step"])
    assert sampled["step"][0] == 1 and sampled["step"][-1] == 20000 and len(sampled["step"]) > 19000
    assert read_losses(path, max_bytes=10**9) == whole
    path.write_text(",".join(["step", *(f"term{index}" for index in range(progress.MAX_LOSS_COLUMNS))]) + "\n")
    with pytest.raises(ValueError, match=f"^{progress.MAX_LOSS_COLUMNS + 1} columns, more than"):
        read_losses(path)


def test_smoothing_is_linear_and_matches_a_convolution():
    values = np.random.default_rng(0).normal(size=500)
    values[100] = np.nan
    expected = np.convolve(values, np.ones(25) / 25, mode="valid")
    smoothed = progress.smooth(values, 25)
    assert np.allclose(smoothed, expected, equal_nan=True) and np.isnan(smoothed[90]) and not np.isnan(smoothed[60])
    started = time.perf_counter()
    progress.smooth(np.ones(2_000_000), 20_000)  # what a 2-million-row run asks of the plot: 4e10 steps convolved
    assert time.perf_counter() - started < 1.0


def test_reads_are_cached_per_file_version(tmp_path: Path):
    write_progress(tmp_path, seed=7)
    first = progress.load_run(tmp_path)
    assert progress.load_run(tmp_path) is first
    losses = tmp_path / "losses.csv"
    before = losses.stat()
    with open(losses, "a") as handle:
        handle.write("301,0.1,0.1,0.1\n")
    os.utime(losses, ns=(before.st_atime_ns, before.st_mtime_ns))  # the same modification time, a new size
    appended = progress.load_run(tmp_path)
    assert appended is not first and appended.losses["step"][-1] == 301
    replacement = tmp_path / "replacement.csv"
    replacement.write_text(losses.read_text().replace("301,0.1", "301,0.9"))  # the same size
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(replacement, losses)
    assert progress.load_run(tmp_path).losses["d_real"][-1] == 0.9


# -- only regular files, each size-checked --------------------------------------------------------


def test_fifos_and_links_are_refused_without_blocking(tmp_path: Path):
    write_progress(tmp_path, seed=8)
    (tmp_path / "losses.csv").unlink()
    os.mkfifo(tmp_path / "losses.csv")
    (tmp_path / "README.md").unlink()
    os.mkfifo(tmp_path / "README.md")
    run = finishes_within(10, lambda: progress.load_run(tmp_path))
    assert len(run.frames) == 3 and run.losses == {} and run.settings == {}
    assert run.problems == ("README.md: not a regular file", "losses.csv: not a regular file")
    (tmp_path / "losses.csv").unlink()
    (tmp_path / "losses.csv").symlink_to("/etc/passwd")
    assert "losses.csv: a symbolic link, not followed" in progress.load_run(tmp_path).problems
    (tmp_path / "progress.gif").unlink()
    os.mkfifo(tmp_path / "progress.gif")
    with pytest.raises(progress.ProgressError, match="^progress.gif: not a regular file$"):
        finishes_within(10, lambda: progress.load_run(tmp_path))
    assert why_unreadable(PermissionError(13, "Permission denied", str(tmp_path))) == "permission denied"  # no path


def test_an_oversized_card_or_progress_json_is_refused_in_one_line(tmp_path: Path):
    write_progress(tmp_path, seed=9)
    with open(tmp_path / "README.md", "ab") as handle:
        handle.truncate(100 * 2**20)  # sparse: 100 MB on paper
    (tmp_path / "progress.json").write_text(json.dumps({"frame_steps": [1, 2, 3]}) + " " * 2**20)
    run = progress.load_run(tmp_path)
    assert run.settings == {} and run.steps == (100, 200, 300)  # not progress.json's: spread over the logged steps
    assert run.problems == ("README.md: 104,857,600 bytes, over the limit of 1,000,000",)
    assert run.shown_settings == {"problems": list(run.problems)}
