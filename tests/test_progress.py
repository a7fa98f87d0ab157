"""Reading a bundled run back for the Training progress tab: which iteration each GIF frame shows,
the training settings from the model card, and a loss table light enough for the browser."""

from pathlib import Path

from gan_demo import progress
from tests.app_server import TINY_SETTINGS, write_progress


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
