"""The Train tab in a real browser (headless Chromium through Playwright), as a person uses it: upload a
handful of images, start a 40-step DCGAN, watch its GIF and loss curves grow, stop it, resume it to the
end, sample from it as run:<name>, publish it to the stand-in Hub with a pasted token and find it among
the app's models at its pinned commit; then a tiny CycleGAN from two uploads, offered in Translate.
Screenshots at 1400x900 and 390x844 go to the test's temporary folder, or to $GAN_DEMO_SCREENSHOTS."""

import os
import re
import sys
from pathlib import Path

import pytest

from benchmarks.gradio_server import gradio_server
from tests.app_server import make_tiny_checkpoints
from tests.conftest import CHROMIUM, SUBPROCESS_ENV, make_images
from tests.hub_server import StandInHub
from tests.test_browser import (
    DESKTOP,
    PHONE,
    SCREENSHOTS_VARIABLE,
    TIMEOUT_MS,
    choose,
    open_tab,
)
from tests.test_train_tab import TOKEN, answer_whoami

MACHINE_TOKEN = "hf_ThisMachinesOwnLoginToken0123456789"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


@pytest.fixture
def app(tmp_path, monkeypatch):
    """(URL, runs folder, screenshots folder, stand-in Hub): `python app.py --allow-training` against the Hub."""
    from tests import hub_server

    monkeypatch.setattr(hub_server._Handler, "route", answer_whoami(hub_server._Handler.route))
    screenshots = Path(os.environ.get(SCREENSHOTS_VARIABLE) or tmp_path / "screenshots")
    screenshots.mkdir(parents=True, exist_ok=True)
    runs = tmp_path / "runs"
    checkpoints = make_tiny_checkpoints(tmp_path / "checkpoints")
    with StandInHub() as hub:
        env = {**SUBPROCESS_ENV, "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf-home"),
               "GAN_DEMO_CHECKPOINTS": str(checkpoints), "OMP_NUM_THREADS": "2"}
        # HF_TOKEN plays this machine's `hf auth login`, which gradio's local login button stands for.
        env["HF_TOKEN"] = MACHINE_TOKEN
        command = ["env", "-u", "GAN_DEMO_OFFLINE", "-u", "HF_HUB_OFFLINE", sys.executable, "app.py",
                   "--allow-training", "--runs", str(runs)]
        with gradio_server(command, env, tmp_path, startup_timeout=600) as (url, _):
            yield url, runs, screenshots, hub


def status_text(page) -> str:
    return page.locator("#train-status").inner_text()


def wait_for_status(page, pattern: str) -> None:
    page.wait_for_function("(pattern) => new RegExp(pattern).test(document.querySelector('#train-status')?.innerText)",
                           arg=pattern)


def set_number(page, elem_id: str, value: int) -> None:
    field = page.locator(f"#{elem_id} input")
    field.fill(str(value))
    field.press("Enter")


def test_train_stop_resume_sample_and_publish_in_chromium(browser, app, tmp_path):
    url, runs, screenshots, hub = app
    images = make_images(tmp_path / "my-cats", count=6, seed=1, size=(80, 72))
    page = browser.new_page(viewport=DESKTOP)
    page.set_default_timeout(TIMEOUT_MS * 3)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.locator("#samples img").wait_for()
    open_tab(page, "Train")

    # Upload, settings, start.
    page.locator("#train-images-a input[type=file]").set_input_files(sorted(images.iterdir()))
    page.locator('#train-images-a td.filename[aria-label="image-005.png"]').wait_for()
    page.locator("#train-name input, #train-name textarea").first.fill("browser-cats")
    set_number(page, "train-iters", 40)
    page.wait_for_function("() => document.querySelector('#train-command')?.innerText.includes('--iters 40')")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function("() => document.querySelector('#train-note')?.innerText.includes('Started')")
    assert "6 images" in page.locator("#train-note").inner_text()

    # Live: the GIF and the loss curves appear and grow while it trains.
    page.locator("#train-gif img").wait_for()
    first_gif = page.locator("#train-gif img").get_attribute("src")
    page.wait_for_function("(first) => document.querySelector('#train-gif img')?.src !== first", arg=first_gif)
    page.locator("#train-losses canvas, #train-losses svg").first.wait_for()
    wait_for_status(page, r"Training .*step \d+ of 40 · [\d.]+ it/s · about \d+ s left")
    page.screenshot(path=screenshots / "train-live.png", full_page=True)
    open_tab(page, "Training progress")  # the view keeps following while its tab is hidden
    page.wait_for_timeout(2 * 2000)
    open_tab(page, "Train")

    # Stop: it saves; Resume: it runs to its end.
    page.get_by_role("button", name="Stop", exact=True).click()
    wait_for_status(page, "Stopped .* at step \\d+ of 40; its state is saved")
    stopped_at = int(re.search(r"step (\d+) of 40", status_text(page)).group(1))
    assert 0 < stopped_at < 40
    assert (runs / "browser-cats" / "state.pt").is_file()
    page.get_by_role("button", name="Resume").click()
    wait_for_status(page, "Finished .*step 40 of 40")
    page.screenshot(path=screenshots / "train-finished.png", full_page=True)

    # Sample from it as run:browser-cats.
    open_tab(page, "Sample cats")
    before = page.locator("#samples img").get_attribute("src")
    choose(page, "#variant", "run:browser-cats")
    page.wait_for_function("(before) => document.querySelector('#samples img')?.src !== before", arg=before)
    page.wait_for_function("() => document.querySelector('#sample-note')?.innerText.includes('run:browser-cats')")

    # Publish with a pasted token: the repo id and the commit are shown, the box is emptied, and the model
    # joins the app at that commit.
    open_tab(page, "Train")
    page.locator("#train-repo input, #train-repo textarea").first.fill("browser-cats")
    page.locator("#train-token input").fill(TOKEN)
    page.get_by_role("button", name="Publish").click()
    page.wait_for_function("() => /Published|Cannot/.test(document.querySelector('#train-publish-note')?.innerText)")
    note = page.locator("#train-publish-note").inner_text()
    commit = hub.repos["stand-in-user/browser-cats"].branches["main"]
    assert f"Published stand-in-user/browser-cats at commit {commit}" in note, note
    assert page.locator("#train-token input").input_value() == ""
    assert TOKEN not in page.content()
    page.screenshot(path=screenshots / "train-published.png", full_page=True)
    open_tab(page, "Models")
    page.wait_for_function("(commit) => document.querySelector('#model-sources')?.innerText"
                           ".includes('stand-in-user/browser-cats @ ' + commit.slice(0, 12))", arg=commit)

    # Publish again, signed in with the login button (run locally, it stands for this machine's login).
    page.set_default_timeout(TIMEOUT_MS)
    open_tab(page, "Train")
    with page.expect_navigation():  # the login's redirects, back to the app
        page.get_by_role("button", name="Sign in with Hugging Face").click()
    page.locator("#samples img").wait_for()
    open_tab(page, "Train")
    page.get_by_role("button", name="Logout (stand-in-user)").wait_for()
    page.locator("#train-repo input, #train-repo textarea").first.fill("browser-cats-signed-in")
    page.get_by_role("button", name="Publish").click()
    page.wait_for_function("() => /Published|Cannot/.test(document.querySelector('#train-publish-note')?.innerText)")
    note = page.locator("#train-publish-note").inner_text()
    assert "Published stand-in-user/browser-cats-signed-in at commit" in note, note
    assert hub.repos["stand-in-user/browser-cats-signed-in"].branches["main"]
    assert MACHINE_TOKEN not in page.content()

    # The same tab on a phone.
    phone = browser.new_page(viewport=PHONE)
    phone.set_default_timeout(TIMEOUT_MS)
    phone.goto(url)
    phone.locator("#samples img").wait_for()
    open_tab(phone, "Train")
    wait_for_status(phone, "Finished .*step 40 of 40")
    phone.locator("#train-gif img").wait_for()
    phone.screenshot(path=screenshots / "train-phone.png", full_page=True)
    phone.close()

    # A tiny CycleGAN from two uploads, then offered in Translate.
    open_tab(page, "Train")
    page.get_by_label("CycleGAN: two folders, A and B -> translate between them").check()
    page.locator("#train-images-b").wait_for()
    apples = make_images(tmp_path / "apples", count=3, seed=2, tint=(60, 0, 0))
    oranges = make_images(tmp_path / "oranges", count=3, seed=3, tint=(60, 40, 0))
    page.locator("#train-images-a input[type=file]").set_input_files(sorted(apples.iterdir()))
    page.locator("#train-images-b input[type=file]").set_input_files(sorted(oranges.iterdir()))
    page.locator('#train-images-b td.filename[aria-label="image-002.png"]').wait_for()
    page.locator("#train-name input, #train-name textarea").first.fill("browser-fruit")
    page.locator("#train-name-a input, #train-name-a textarea").first.fill("apple")
    page.locator("#train-name-b input, #train-name-b textarea").first.fill("orange")
    set_number(page, "train-iters", 10)
    page.locator("#train-size input").first.click()
    page.get_by_role("option", name="32", exact=True).click()
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function("() => document.querySelector('#train-note')?.innerText.includes('3 images and 3 images')")
    wait_for_status(page, "Finished `?browser-fruit`?: step 10 of 10")
    page.locator("#train-gif img").wait_for()
    page.screenshot(path=screenshots / "train-cyclegan.png", full_page=True)
    open_tab(page, "Translate")
    page.locator("#direction input").first.click()
    page.get_by_role("option", name="apple -> orange (run:browser-fruit)").first.wait_for()
    assert errors == []
    page.close()
