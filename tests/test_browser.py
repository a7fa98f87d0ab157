"""The app in a real browser: headless Chromium (the system's /usr/bin/chromium, through Playwright)
loads the page, moves a latent-direction slider and gets a new grid, uploads an image on the
Translate tab and gets its translation, opens the Training progress tab, and sees no error in the
browser console. Serves $GAN_DEMO_CHECKPOINTS if set, else the repository's checkpoints/ when every
bundled model is there, else tiny stand-in models. Screenshots go to the test's temporary folder;
`GAN_DEMO_SCREENSHOTS=docs/screenshots python -m pytest tests/test_browser.py` refreshes the
README's."""

import os
from pathlib import Path

import pytest

from gan_demo import catalog
from tests.app_server import make_tiny_checkpoints, serve_app
from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS_VARIABLE = "GAN_DEMO_SCREENSHOTS"
TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


def bundled_models_complete() -> bool:
    return all((entry.bundled_folder(catalog.DEFAULT_CHECKPOINTS) / "model.safetensors").is_file()
               for entry in catalog.ENTRIES)


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> tuple[str, Path]:
    """(URL, where the screenshots go)."""
    if os.environ.get(catalog.CHECKPOINTS_VARIABLE) or bundled_models_complete():
        checkpoints = catalog.checkpoints_root()
    else:
        checkpoints = make_tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"))
    screenshots = Path(os.environ.get(SCREENSHOTS_VARIABLE) or tmp_path_factory.mktemp("screenshots"))
    screenshots.mkdir(parents=True, exist_ok=True)
    with serve_app(checkpoints) as url:
        yield url, screenshots


@pytest.fixture
def upload(tmp_path) -> Path:
    """A picture to translate: a shipped example when there is one, else a plain generated image."""
    shipped = sorted((ROOT / "examples").glob("*.png"))
    if shipped:
        return shipped[0]
    from PIL import Image

    path = tmp_path / "upload.png"
    Image.new("RGB", (160, 120), (90, 110, 130)).save(path)
    return path


def test_sample_translate_and_progress_in_chromium(app, upload):
    sync_api = pytest.importorskip("playwright.sync_api")
    url, screenshots = app
    console_errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
        page.on("pageerror", lambda error: console_errors.append(str(error)))
        page.goto(url)

        # Sample cats: the first grid arrives on load; a click on a direction slider (press and
        # release) asks for a new one.
        grid = page.locator("#samples img")
        grid.wait_for()
        first_grid = grid.get_attribute("src")
        track = page.locator("#direction-1 input[type=range]").bounding_box()
        page.mouse.click(track["x"] + track["width"] * 0.9, track["y"] + track["height"] / 2)
        page.wait_for_function("(first) => document.querySelector('#samples img')?.src !== first", arg=first_grid)
        # The same latents through every variant, and an interpolation GIF.
        page.get_by_text("Compare variants: the same latents").click()
        page.get_by_role("button", name="Compare variants", exact=True).click()
        page.locator("#comparison img").first.wait_for()
        page.get_by_role("button", name="Make GIF").click()
        page.locator("#interpolation img").wait_for()
        page.wait_for_timeout(500)  # let the new images paint before the screenshot
        page.screenshot(path=screenshots / "sample.png", full_page=True)

        # Translate: upload a file, the translation appears.
        page.get_by_role("tab", name="Translate").click()
        page.locator("#translate-input input[type=file]").set_input_files(upload)
        translation = page.locator("#translation img")
        translation.wait_for()
        examples = page.locator("#translate-examples tbody tr, #translate-examples button.gallery-item")
        if examples.count():  # a click on a shipped example fills the inputs and translates it
            before = translation.get_attribute("src")
            examples.last.click()
            page.wait_for_function("(before) => document.querySelector('#translation img')?.src !== before",
                                   arg=before)
        page.wait_for_timeout(500)
        page.screenshot(path=screenshots / "translate.png", full_page=True)

        # Training progress: the GIF, the loss plot and the variants appear; the iteration slider
        # scrubs to an earlier frame.
        page.get_by_role("tab", name="Training progress").click()
        page.locator("#progress-gif img").wait_for()
        page.locator("#variants img").first.wait_for()
        last_frame = page.locator("#progress-frame img").get_attribute("src")
        track = page.locator("#iteration input[type=range]").bounding_box()
        page.mouse.click(track["x"] + track["width"] * 0.15, track["y"] + track["height"] / 2)
        page.wait_for_function("(last) => document.querySelector('#progress-frame img')?.src !== last",
                               arg=last_frame)
        page.wait_for_timeout(1500)  # the line plot draws after its data arrives
        page.screenshot(path=screenshots / "progress.png", full_page=True)
        browser.close()
    assert console_errors == []


def test_bring_your_own_cat_model_and_run_in_chromium(tmp_path):
    """Project a photo (upload, crop, project), edit it with a slider and make a GIF from it; add a
    model published on the stand-in Hub; watch a training run grow in the progress tab."""
    sync_api = pytest.importorskip("playwright.sync_api")
    import subprocess
    import sys

    import numpy as np
    from PIL import Image

    from benchmarks.gradio_server import gradio_server
    from gan_demo.models import DCGenerator
    from tests.conftest import SUBPROCESS_ENV, make_images
    from tests.hub_server import INITIAL_FILES, StandInHub

    screenshots = Path(os.environ.get(SCREENSHOTS_VARIABLE) or tmp_path / "screenshots")
    screenshots.mkdir(parents=True, exist_ok=True)
    photo = tmp_path / "my-cat.png"
    Image.fromarray(np.random.default_rng(5).integers(60, 200, (120, 180, 3), dtype=np.uint8)).save(photo)
    published = tmp_path / "published"
    DCGenerator(latent_dim=16, conv_dim=4, image_size=32).save_pretrained(published)
    runs = tmp_path / "runs"
    runs.mkdir()
    checkpoints = make_tiny_checkpoints(tmp_path / "checkpoints")
    with StandInHub() as hub:
        hub.create_repo({"name": "my-dcgan", "organization": "someone"})
        files = {path.name: path.read_bytes() for path in published.iterdir()}
        hub.commit(hub.repos["someone/my-dcgan"], "main", "upload", {**INITIAL_FILES, **files}, set(files))
        env = {**SUBPROCESS_ENV, "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf-home"),
               "GAN_DEMO_CHECKPOINTS": str(checkpoints)}
        command = ["env", "-u", "GAN_DEMO_OFFLINE", "-u", "HF_HUB_OFFLINE", sys.executable, "app.py", "--runs", str(runs)]
        with gradio_server(command, env, tmp_path, startup_timeout=600) as (url, _), \
                sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1360, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS * 5)
            page.goto(url)
            page.locator("#samples img").wait_for()

            # Your cat: upload, move the square, project, then a slider and a GIF act on the latent.
            page.get_by_text("Your cat: project a photo").click()
            page.locator("#project-input input[type=file]").set_input_files(photo)
            page.locator("#project-square img").wait_for()
            track = page.locator("#crop-square input[type=range]").bounding_box()
            page.mouse.click(track["x"] + track["width"] * 0.6, track["y"] + track["height"] / 2)
            page.get_by_role("button", name="Project into the latent space").click()
            page.locator("#project-reconstruction img").wait_for()
            page.wait_for_function("() => document.querySelector('#latent textarea')?.value.startsWith('[')")
            edited = page.locator("#samples img").get_attribute("src")
            track = page.locator("#direction-2 input[type=range]").bounding_box()
            page.mouse.click(track["x"] + track["width"] * 0.9, track["y"] + track["height"] / 2)
            page.wait_for_function("(first) => document.querySelector('#samples img')?.src !== first", arg=edited)
            page.get_by_role("button", name="Make GIF").click()
            page.locator("#interpolation img").wait_for()
            page.wait_for_timeout(500)
            page.screenshot(path=screenshots / "your-cat.png", full_page=True)

            # A published model: added by repo id, then offered in the variant menu.
            page.get_by_text("Where the models come from").click()
            page.locator("#add-repo textarea, #add-repo input").first.fill("someone/my-dcgan")
            page.get_by_role("button", name="Add model").click()
            page.wait_for_function("() => document.querySelector('#add-note')?.innerText.includes('Added')")
            page.screenshot(path=screenshots / "add-model.png", full_page=True)

            # A run that trains while the tab watches it: the iteration shown grows by itself.
            images = make_images(tmp_path / "images", count=8, seed=0)
            training = subprocess.Popen([sys.executable, "-m", "train.dcgan", "--data", str(images), "--out",
                                         str(runs / "live"), "--iters", "200", "--sample-every", "10",
                                         "--checkpoint-every", "50", "--image-size", "16", "--conv-dim", "4",
                                         "--latent-dim", "8", "--batch-size", "4"], cwd=ROOT, env=SUBPROCESS_ENV)
            try:
                page.get_by_role("tab", name="Training progress").click()
                while not (runs / "live" / "progress.gif").is_file():
                    page.wait_for_timeout(500)
                page.get_by_role("button", name="Refresh runs").click()
                page.locator("#run input").first.click()
                page.get_by_role("option", name="live (local run)").click()
                page.locator("#progress-gif img").wait_for()
                first = page.locator("#iteration input[type=number]").input_value()
                page.wait_for_function(
                    "(first) => document.querySelector('#iteration input[type=number]')?.value !== first", arg=first)
                page.screenshot(path=screenshots / "live-run.png", full_page=True)
            finally:
                training.kill()
                training.wait()
            browser.close()
