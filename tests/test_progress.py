"""Reading a bundled run back for the Training progress tab: which iteration each GIF frame shows,
the training settings from the model card, and a loss table light enough for the browser; broken
or hostile files give one-line reasons, and frames are bounded before they are decoded."""

import os
from pathlib import Path

import pytest

from gan_demo import progress
from gan_demo.progress import read_losses
from gan_demo.render import read_gif_frames
from tests.app_server import TINY_SETTINGS, crafted_gif, write_progress


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
