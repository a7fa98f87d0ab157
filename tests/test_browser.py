"""The app in a real browser: headless Chromium (the system's /usr/bin/chromium, through Playwright), at a
desktop size (1400x900) and a phone size (390x844), used as a person would. A phone shows every tab's
name. Sample cats: the grid comes first on a phone, follows a slider's drag, its arrow keys and its
number box, and an invalid seed (or GIF end) leaves the grid (or GIF) and says why on the page.
Translate: the results sit beside the input (below it on a phone), an upload is translated, a refused
one is cleared with its reason on the page. Training progress: every run draws its own loss curves
with its own legend, shows the variants that fit it, offers its GIF and CSV, and no label covers a
frame's "iter N" stamp or a gallery's first picture. No error reaches the browser console.

Serves $GAN_DEMO_CHECKPOINTS if set, else the repository's checkpoints/ when every bundled model is
there, else tiny stand-in models. Screenshots go to the test's temporary folder;
`GAN_DEMO_SCREENSHOTS=docs/screenshots python -m pytest tests/test_browser.py` refreshes the README's."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.gradio_server import gradio_server
from gan_demo import catalog
from gan_demo.models import DCGenerator
from tests.app_server import make_tiny_checkpoints, serve_app
from tests.conftest import CHROMIUM, ROOT, SUBPROCESS_ENV, make_images
from tests.hub_server import INITIAL_FILES, StandInHub

SCREENSHOTS_VARIABLE = "GAN_DEMO_SCREENSHOTS"
TIMEOUT_MS = 120_000  # generous: the machine may be busy training
DESKTOP, PHONE = {"width": 1400, "height": 900}, {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


def bundled_models_complete() -> bool:
    return all((entry.bundled_folder(catalog.DEFAULT_CHECKPOINTS) / "model.safetensors").is_file()
               for entry in catalog.ENTRIES)


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> tuple[str, Path, Path]:
    """(URL, the checkpoints folder served, where the screenshots go)."""
    if os.environ.get(catalog.CHECKPOINTS_VARIABLE) or bundled_models_complete():
        checkpoints = catalog.checkpoints_root()
    else:
        checkpoints = make_tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"))
    screenshots = Path(os.environ.get(SCREENSHOTS_VARIABLE) or tmp_path_factory.mktemp("screenshots"))
    screenshots.mkdir(parents=True, exist_ok=True)
    with serve_app(checkpoints, startup_timeout=300) as url:  # a machine busy training starts slowly
        yield url, checkpoints, screenshots


@pytest.fixture
def open_page(app, browser):
    """open_page(viewport) -> a page on the app, its console errors collected and asserted empty after."""
    url, _, _ = app
    pages = []

    def open_at(viewport: dict):
        page = browser.new_page(viewport=viewport)
        page.set_default_timeout(TIMEOUT_MS)
        page.console_errors = []
        page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        page.goto(url)
        page.locator("#samples img").wait_for()
        pages.append(page)
        return page

    yield open_at
    for page in pages:
        assert page.console_errors == []
        page.close()


@pytest.fixture
def upload(tmp_path) -> Path:
    """A picture to translate: a shipped example when there is one (a Russian Blue, what the tab's
    default direction takes), else a plain generated image."""
    examples = ROOT / "examples"
    shipped = sorted(examples.glob("russian-blue-*.png")) or sorted(examples.glob("*.png"))
    if shipped:
        return shipped[0]
    path = tmp_path / "upload.png"
    Image.new("RGB", (160, 120), (90, 110, 130)).save(path)
    return path


def entries_of(kind: str) -> list[catalog.CatalogEntry]:
    return [entry for entry in catalog.ENTRIES if entry.kind == kind]


def source_of(page, selector: str) -> str | None:
    return page.locator(selector).get_attribute("src") if page.locator(selector).count() else None


def wait_for_new_source(page, selector: str, before: str | None) -> None:
    page.wait_for_function("([selector, before]) => { const image = document.querySelector(selector);"
                           " return image && image.src && image.src !== before; }", arg=[f"{selector}", before])


def box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def open_tab(page, name: str) -> None:
    """Click the tab called `name` (on a phone too: the tab names wrap, none hides behind a menu)."""
    page.get_by_role("tab", name=name, exact=True).click()


WHOLE_IMAGES_JS = """(selector) => [...document.querySelectorAll(selector + ' img')].every(image => {
    const box = image.getBoundingClientRect(), gallery = document.querySelector(selector).getBoundingClientRect();
    return image.naturalWidth > 0 && box.bottom <= gallery.bottom + 1
        && Math.abs(box.height / box.width - image.naturalHeight / image.naturalWidth) < 0.03; })"""
CAPTIONS_UNDER_JS = """(selector) => [...document.querySelectorAll(selector + ' .thumbnail-item')].every(item => {
    const image = item.querySelector('img').getBoundingClientRect();
    const caption = item.querySelector('.caption-label')?.getBoundingClientRect();
    return !caption || caption.top >= image.bottom - 1; })"""
LABEL_ABOVE_JS = """(selector) => { const label = document.querySelector(selector + ' [data-testid=block-label]');
    const first = document.querySelector(selector + ' .thumbnail-item');
    return !label || !first || label.getBoundingClientRect().bottom <= first.getBoundingClientRect().top + 1; }"""
SPACE_BELOW_JS = """(selector) => { const gallery = document.querySelector(selector).getBoundingClientRect();
    const items = [...document.querySelectorAll(selector + ' .thumbnail-item')];
    const bottoms = items.map(item => item.getBoundingClientRect().bottom);
    return gallery.bottom - Math.max(...bottoms); }"""


def assert_gallery_whole(page, selector: str) -> None:
    """Every picture of the gallery whole at its own aspect ratio, its caption under it, no empty band below."""
    assert page.evaluate(WHOLE_IMAGES_JS, selector), f"{selector}: a picture is cropped"
    assert page.evaluate(CAPTIONS_UNDER_JS, selector), f"{selector}: a caption covers its picture"
    assert page.evaluate(LABEL_ABOVE_JS, selector), f"{selector}: the gallery's label covers the first picture"
    assert page.evaluate(SPACE_BELOW_JS, selector) < 48, f"{selector}: empty space under the pictures"


def choose(page, dropdown: str, option: str) -> None:
    page.locator(f"{dropdown} input").first.click()
    page.get_by_role("option", name=option, exact=True).first.click()


# -- Sample cats -------------------------------------------------------------------------------------


def test_sample_sliders_follow_drag_keys_and_number_box(open_page, app):
    page = open_page(DESKTOP)
    grid = "#samples img"
    # A drag: the grid changes while the button is still held down.
    before = source_of(page, grid)
    track = box(page, "#direction-1 input[type=range]")
    middle = track["y"] + track["height"] / 2
    page.mouse.move(track["x"] + track["width"] * 0.5, middle)
    page.mouse.down()
    page.mouse.move(track["x"] + track["width"] * 0.8, middle, steps=8)
    wait_for_new_source(page, grid, before)
    page.mouse.up()
    # Arrow keys on a slider apply.
    page.wait_for_timeout(500)
    before = source_of(page, grid)
    page.locator("#direction-2 input[type=range]").focus()
    page.keyboard.press("ArrowRight")
    wait_for_new_source(page, grid, before)
    # Enter in a slider's number box applies.
    page.wait_for_timeout(500)
    before = source_of(page, grid)
    number = page.locator("#direction-3 input[type=number]")
    number.fill("1.5")
    number.press("Enter")
    wait_for_new_source(page, grid, before)
    page.screenshot(path=app[2] / "sample.png", full_page=True)


def test_invalid_seed_keeps_the_grid_and_says_why(open_page):
    page = open_page(DESKTOP)
    page.wait_for_timeout(500)
    before = source_of(page, "#samples img")
    seed = page.locator("#seed input")
    seed.fill("-5")
    seed.press("Enter")
    page.locator("#sample-note").get_by_text("seed must be a whole number from 0 to 2147483647").wait_for()
    assert source_of(page, "#samples img") == before
    seed.fill("7")
    seed.press("Enter")
    page.locator("#sample-note").get_by_text("Seeds 7 to 22").wait_for()


def test_an_invalid_gif_end_keeps_the_last_gif_and_says_why(open_page):
    page = open_page(DESKTOP)
    make_gif = page.get_by_role("button", name="Make GIF")
    make_gif.click()
    page.locator("#interpolation img").wait_for()
    gif = source_of(page, "#interpolation img")
    page.get_by_label("to seed").fill("-1")
    make_gif.click()
    page.locator("#interpolation-note").get_by_text("to seed must be a whole number from 0 to 2147483647").wait_for()
    assert source_of(page, "#interpolation img") == gif
    assert page.locator(".toast-body:visible").count() == 0  # told on the page, where it stays
    page.get_by_label("to seed").fill("3")
    make_gif.click()
    wait_for_new_source(page, "#interpolation img", gif)
    page.wait_for_function("() => document.querySelector('#interpolation-note').innerText.trim() === ''")


def test_phone_shows_every_tab_name(open_page):
    page = open_page(PHONE)
    names = ["Sample cats", "Translate", "Training progress", "Models", "Train"]
    for name in names:
        tab = page.get_by_role("tab", name=name, exact=True)
        assert tab.is_visible(), name
        position = tab.bounding_box()
        assert position["x"] >= 0 and position["x"] + position["width"] <= PHONE["width"], name
    assert page.get_by_role("button", name="More tabs").count() == 0


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_compare_variants_shows_every_dcgan(open_page, viewport):
    page = open_page(viewport)
    page.get_by_text("Compare variants: the same seeds and sliders").click()
    page.get_by_role("button", name="Compare variants", exact=True).click()
    page.locator("#comparison img").first.wait_for()
    assert page.locator("#comparison img").count() == len(entries_of("dcgan"))
    page.wait_for_timeout(500)
    assert_gallery_whole(page, "#comparison")


def test_phone_shows_the_grid_before_its_controls(open_page, app):
    page = open_page(PHONE)
    assert box(page, "#samples")["y"] < box(page, "#variant")["y"]
    # Nothing floats over the first row of cats: no label, no toolbar.
    assert page.locator("#samples [data-testid=block-label]:visible, #samples .icon-button:visible").count() == 0
    grid = box(page, "#samples")
    assert grid["y"] < PHONE["height"] / 2 and grid["y"] + grid["height"] < PHONE["height"]  # on the first screen
    page.screenshot(path=app[2] / "sample-phone.png", full_page=True)


# -- Translate ---------------------------------------------------------------------------------------


def test_translate_results_beside_the_input_and_refusals_on_the_page(open_page, app, upload, tmp_path):
    page = open_page(DESKTOP)
    open_tab(page, "Translate")
    page.locator("#translate-input input[type=file]").set_input_files(upload)
    page.locator("#translation img").wait_for()
    page.locator("#reconstruction img").wait_for()
    source, translation = box(page, "#translate-input"), box(page, "#translation")
    assert abs(source["y"] - translation["y"]) < 5 and translation["x"] > source["x"]  # side by side
    assert translation["y"] + translation["height"] < DESKTOP["height"]  # on the first screen
    if page.locator("#translate-examples").count():
        assert box(page, "#translate-examples")["y"] > translation["y"] + translation["height"]
    # Before and after in one slider: both pictures there, the handle moves the boundary between them.
    page.wait_for_function("() => document.querySelectorAll('#translate-compare img').length === 2")
    page.screenshot(path=app[2] / "translate.png", full_page=True)

    corrupt = tmp_path / "broken.png"
    data = upload.read_bytes()
    corrupt.write_bytes(data[: len(data) // 3])
    page.locator("#translate-input input[type=file]").set_input_files(corrupt)
    page.locator("#translate-note").get_by_text("broken.png: corrupt or unreadable image").wait_for()
    page.wait_for_function("() => !document.querySelector('#translation img')"
                           " && !document.querySelector('#translate-input img')"
                           " && !document.querySelector('#translate-compare img')")
    page.screenshot(path=app[2] / "translate-refused.png", full_page=True)

    examples = page.locator("#translate-examples tbody tr, #translate-examples button.gallery-item")
    if examples.count():  # a click on a shipped example fills the inputs and translates it
        examples.last.click()
        page.locator("#translation img").wait_for()
        page.locator("#translate-note").get_by_text("orange -> apple").wait_for()


def test_translate_on_a_phone_is_input_then_results(open_page, app, upload):
    page = open_page(PHONE)
    open_tab(page, "Translate")
    page.locator("#translate-input input[type=file]").set_input_files(upload)
    page.locator("#translation img").wait_for()
    source, translation = box(page, "#translate-input"), box(page, "#translation")
    assert translation["y"] >= source["y"] + source["height"] - 1
    assert box(page, "#reconstruction")["y"] > translation["y"]
    name_width = page.evaluate("() => document.querySelector('#direction input').scrollWidth")
    assert name_width <= box(page, "#direction input")["width"] + 1  # the direction's name is not cut off
    page.screenshot(path=app[2] / "translate-phone.png", full_page=True)


# -- Training progress -------------------------------------------------------------------------------


def loss_terms(path: Path) -> list[str]:
    """The loss terms of a losses.csv (or of the one in a model folder), in order."""
    with open(path / "losses.csv" if path.is_dir() else path, newline="") as handle:
        return [term for term in next(csv.reader(handle)) if term != "step"]


def comparable(entry: catalog.CatalogEntry) -> int:
    """How many variants the progress tab shows beside `entry`'s run."""
    return len([other for other in entries_of(entry.kind)
                if entry.kind == "dcgan" or other.domains == entry.domains])


LEGEND_IS = """(expected) => JSON.stringify([...document.querySelectorAll('#losses .role-legend text')]
                .map(text => text.textContent).filter(text => text !== 'term')) === JSON.stringify(expected)"""
STROKES_JS = """() => [...document.querySelectorAll('#losses path')].filter(path => path.closest('.mark-line'))
                      .map(path => path.getAttribute('stroke'))"""


def test_every_run_draws_its_own_losses_variants_and_downloads(open_page, app):
    url, checkpoints, screenshots = app
    page = open_page(DESKTOP)
    open_tab(page, "Training progress")
    page.locator("#progress-gif img").wait_for()
    # Titles sit above the pictures: no label box over the "iter N" stamp in their corner.
    labels = page.locator("#progress-gif [data-testid=block-label]:visible, "
                          "#progress-frame [data-testid=block-label]:visible")
    assert labels.count() == 0
    for entry in catalog.ENTRIES:
        choose(page, "#run", entry.name)
        terms = loss_terms(checkpoints / entry.name)
        page.wait_for_function(LEGEND_IS, arg=terms)
        strokes = page.evaluate(STROKES_JS)
        assert len(strokes) == len(terms) and None not in strokes and "none" not in strokes, entry.name
        if comparable(entry) > 1:
            page.wait_for_function(f"() => document.querySelectorAll('#variants img').length === {comparable(entry)}")
            page.wait_for_timeout(300)
            assert_gallery_whole(page, "#variants")
        else:  # alone (the fruit): no gallery repeating the frame, a line saying why
            page.locator("#variants-note").get_by_text("none to show").wait_for()
            assert page.locator("#variants img:visible").count() == 0, entry.name
        downloaded = {}
        for button, name in (("#download-gif", "progress.gif"), ("#download-csv", "losses.csv")):
            with page.expect_download() as download:
                page.locator(button).click()
            assert download.value.suggested_filename == name
            downloaded[name] = Path(download.value.path())
        assert downloaded["progress.gif"].read_bytes().startswith(b"GIF8")
        assert loss_terms(downloaded["losses.csv"]) == terms  # this run's file, not the previous one
        if entry.name == "cyclegan-cats":
            page.wait_for_timeout(1000)
            page.screenshot(path=screenshots / "progress-cyclegan.png", full_page=True)
    # The iteration slider scrubs to an earlier frame.
    last_frame = source_of(page, "#progress-frame img")
    page.locator("#iteration input[type=range]").focus()
    page.keyboard.press("Home")
    wait_for_new_source(page, "#progress-frame img", last_frame)
    page.wait_for_timeout(1500)  # the line plot draws after its data arrives
    page.screenshot(path=screenshots / "progress.png", full_page=True)


def test_progress_on_a_phone_shows_run_names_and_every_variant(open_page, app):
    page = open_page(PHONE)
    open_tab(page, "Training progress")
    page.locator("#variants img").first.wait_for()
    run_box = box(page, "#run input")
    name_width = page.evaluate("() => document.querySelector('#run input').scrollWidth")
    assert name_width <= run_box["width"] + 1  # the run's name is not cut off
    images = page.locator("#variants img")
    page.wait_for_function("() => document.querySelectorAll('#variants img').length === 4")
    for index in range(images.count()):
        image = images.nth(index).bounding_box()
        assert image["x"] >= 0 and image["x"] + image["width"] <= PHONE["width"]
    cut_captions = page.evaluate("() => [...document.querySelectorAll('#variants .caption-label')]"
                                 ".filter(label => label.scrollWidth > label.clientWidth + 1).map(l => l.textContent)")
    assert cut_captions == []  # each variant's name is whole
    assert_gallery_whole(page, "#variants")
    page.wait_for_timeout(1500)
    page.screenshot(path=app[2] / "progress-phone.png", full_page=True)


# -- Bring your own ------------------------------------------------------------------------------------


def test_bring_your_own_cat_model_and_run_in_chromium(browser, tmp_path):
    """Project a photo (upload, crop, project), edit it with a slider and make a GIF from it; add a
    model published on the stand-in Hub; watch a training run grow in the progress tab."""
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
        command = ["env", "-u", "GAN_DEMO_OFFLINE", "-u", "HF_HUB_OFFLINE", sys.executable, "app.py",
                   "--runs", str(runs)]
        with gradio_server(command, env, tmp_path, startup_timeout=600) as (url, _):
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
            open_tab(page, "Models")
            page.locator("#add-repo textarea, #add-repo input").first.fill("someone/my-dcgan")
            page.get_by_role("button", name="Add model").click()
            page.wait_for_function("() => document.querySelector('#add-note')?.innerText.includes('Added')")
            # ... and listed, with its pinned commit, in the table of where the models come from.
            page.wait_for_function(
                "() => document.querySelector('#model-sources')?.innerText.includes('added: someone/my-dcgan @')")
            page.screenshot(path=screenshots / "add-model.png", full_page=True)

            # A run that trains while the tab watches it: the iteration shown grows by itself.
            images = make_images(tmp_path / "images", count=8, seed=0)
            training = subprocess.Popen([sys.executable, "-m", "train.dcgan", "--data", str(images), "--out",
                                         str(runs / "live"), "--iters", "200", "--sample-every", "10",
                                         "--checkpoint-every", "50", "--image-size", "16", "--conv-dim", "4",
                                         "--latent-dim", "8", "--batch-size", "4"], cwd=ROOT, env=SUBPROCESS_ENV)
            try:
                open_tab(page, "Training progress")
                while not (runs / "live" / "progress.gif").is_file():
                    page.wait_for_timeout(500)
                page.get_by_role("button", name="Refresh runs").click()
                page.locator("#run input").first.click()
                page.get_by_role("option", name="live (local run)").click()
                page.locator("#progress-gif img").wait_for()
                first = page.locator("#iteration input[type=number]").input_value()
                page.wait_for_function(
                    "(first) => document.querySelector('#iteration input[type=number]')?.value !== first", arg=first)
                # A local run is compared with nothing, and the page says so instead of an empty gallery.
                page.locator("#variants-note").get_by_text("none to show").wait_for()
                assert page.locator("#variants img:visible").count() == 0
                page.screenshot(path=screenshots / "live-run.png", full_page=True)
                # Its export is offered in Sample cats as soon as that tab is opened: no "Refresh runs" there.
                while not (runs / "live" / "export" / "model.safetensors").is_file():
                    page.wait_for_timeout(500)
                open_tab(page, "Sample cats")
                page.locator("#variant input").first.click()
                page.get_by_role("option", name="run:live").wait_for()
            finally:
                training.kill()
                training.wait()
            page.close()

            # The same on a phone: the Models tab, an invalid repo id told in the
            # project's own words, the local run saying why it has no variants, and its export in the menu.
            phone = browser.new_page(viewport=PHONE)
            phone.set_default_timeout(TIMEOUT_MS * 5)
            phone.goto(url)
            phone.locator("#samples img").wait_for()
            open_tab(phone, "Models")
            phone.locator("#add-repo textarea, #add-repo input").first.fill("not a repo id!")
            phone.get_by_role("button", name="Add model").click()
            phone.locator(".toast-body", has_text="is not a Hub repo id").first.wait_for()
            assert "@main" not in phone.locator(".toast-body").first.inner_text()
            phone.screenshot(path=screenshots / "add-model-refused-phone.png", full_page=True)
            open_tab(phone, "Training progress")
            phone.locator("#run input").first.click()
            phone.get_by_role("option", name="live (local run)").click()
            phone.locator("#variants-note").get_by_text("none to show").wait_for()
            open_tab(phone, "Sample cats")
            phone.locator("#variant input").first.click()
            phone.get_by_role("option", name="run:live").wait_for()
            phone.close()


# -- Your cat: refusals, the crop box, and where the result is ---------------------------------------


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_your_cat_refuses_a_non_image_once_and_clears_the_old_result(open_page, app, upload, tmp_path, viewport):
    page = open_page(viewport)
    page.get_by_text("Your cat: project a photo").click()
    page.locator("#project-input input[type=file]").set_input_files(upload)
    page.locator("#project-square img").wait_for()
    # Typing a square size and pressing Enter moves the preview.
    before = source_of(page, "#project-square img")
    number = page.locator("#crop-square input[type=number]")
    number.fill("50")
    number.press("Enter")
    wait_for_new_source(page, "#project-square img", before)
    page.get_by_role("button", name="Project into the latent space").click()
    # On a phone the page scrolls to the grid, and the reconstruction, out of view, loads lazily.
    page.locator("#project-reconstruction img").wait_for(state="attached")
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("these are my notes, not a photo")
    page.locator("#project-input input[type=file]").set_input_files(not_an_image)
    page.locator("#project-note").get_by_text("notes.png").wait_for()
    page.wait_for_function("() => !document.querySelector('#project-reconstruction img')"
                           " && !document.querySelector('#project-input img')"
                           " && !document.querySelector('#project-square img')")
    page.wait_for_timeout(500)
    assert page.locator(".toast-body:visible").count() == 0  # told once, on the page, not in a toast as well
    page.screenshot(path=app[2] / f"your-cat-refused-{viewport['width']}.png", full_page=True)


def test_phone_brings_the_projected_cat_and_its_sliders_into_view(open_page, app, upload):
    page = open_page(PHONE)
    page.get_by_text("Your cat: project a photo").click()
    page.locator("#project-input input[type=file]").set_input_files(upload)
    page.locator("#project-square img").wait_for()
    page.get_by_role("button", name="Project into the latent space").click()
    # Once projected, the page scrolls to the grid, so the reconstruction is out of view (and loads lazily).
    page.locator("#project-reconstruction img").wait_for(state="attached")
    page.wait_for_function("() => { const box = document.querySelector('#samples img').getBoundingClientRect();"
                           " return box.top > -40 && box.bottom < window.innerHeight + 40; }")  # the cat in view
    page.screenshot(path=app[2] / "your-cat-phone.png")
