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
