"""Sliders that follow the hand: `python -m benchmarks.browser_drag [--quick] [--json PATH]`.

Serves app.py with the models of checkpoints/ (stand-ins where one is not bundled, as serve_speed does),
opens it in headless Chromium (/usr/bin/chromium, through Playwright) at 1400x900 with 16 cats in the
grid, and drags the "direction 1" slider back and forth for 2 seconds, one mouse move every 20 ms, as a
hand would. It counts the new sample grids the page shows while the button is down: grid updates per
second, the figure people feel (the target is at least 6). Repeated, the median reported, with the load
of the machine next to it.
"""

import argparse
import math
import sys
import time
from pathlib import Path

from benchmarks import report
from benchmarks.serve_speed import served, work_folder

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
FULL = {"drags": 5, "drag_seconds": 2.0}
QUICK = {"drags": 1, "drag_seconds": 1.0}
MOVE_EVERY_SECONDS = 0.02
# Every new grid the page shows, with its time: a MutationObserver on the grid's <img>.
WATCH_GRID = """() => {
  window.gridUpdates = [];
  const record = () => {
    const image = document.querySelector('#samples img');
    if (image && image.src && image.src !== window.lastGrid) {
      window.lastGrid = image.src;
      window.gridUpdates.push(performance.now());
    }
  };
  record();
  new MutationObserver(record).observe(document.querySelector('#samples'),
                                       {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""


def drag(page, seconds: float) -> float:
    """Drag direction 1 back and forth for `seconds`; returns the grid updates per second meanwhile."""
    track = page.locator("#direction-1 input[type=range]").bounding_box()
    middle = track["y"] + track["height"] / 2
    page.mouse.move(track["x"] + track["width"] / 2, middle)
    page.mouse.down()
    started_ms = page.evaluate("() => performance.now()")
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        # one full swing per second, between 20% and 80% of the track
        position = 0.5 + 0.3 * math.sin(2 * math.pi * elapsed)
        page.mouse.move(track["x"] + track["width"] * position, middle)
        time.sleep(MOVE_EVERY_SECONDS)
    ended_ms = page.evaluate("() => performance.now()")
    page.mouse.up()
    updates = page.evaluate("([start, end]) => window.gridUpdates.filter(t => t > start && t <= end).length",
                            [started_ms, ended_ms])
    page.wait_for_timeout(1000)  # let the last grid arrive before the next drag
    return updates / ((ended_ms - started_ms) / 1000)


def measure(url: str, plan: dict) -> list[float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        page.locator("#samples img").wait_for(timeout=120_000)
        page.evaluate(WATCH_GRID)
        rates = [drag(page, plan["drag_seconds"]) for _ in range(plan["drags"])]
        browser.close()
    return rates


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.browser_drag", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short drag (CI): checks it runs, not the numbers")
    parser.add_argument("--json", type=Path, help="where to write the results (default: benchmarks/results/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict | None:
    args = parse_args(argv)
    if not CHROMIUM.exists():
        print(f"browser_drag: no Chromium at {CHROMIUM} (apt-get install chromium); nothing measured")
        return None
    plan = QUICK if args.quick else FULL
    result: dict = {"benchmark": "browser_drag", "quick": args.quick, "plan": plan}
    with work_folder("browser-drag") as (work, checkpoints, result["models"]):
        result["conditions_at_start"] = report.conditions()
        with served([sys.executable, "app.py"], checkpoints, work) as (url, _, _):
            rates = measure(url, plan)
        result["conditions_at_end"] = report.conditions()
    result["grid_updates_per_second"] = {"median": round(report.median(rates), 2),
                                         "each_drag": [round(rate, 2) for rate in rates]}
    start = result["conditions_at_start"]
    report.print_table(f"Grid updates per second while dragging a direction slider, 16 cats ({start['cpu']}, "
                       f"{start['cores']} cores, load average {start['load_average_1min']} at start)",
                       ["drags", "median updates/s", "each drag"],
                       [(len(rates), result["grid_updates_per_second"]["median"],
                         ", ".join(f"{rate:.1f}" for rate in rates))])
    report.write_json(result, args.json, "browser_drag")
    return result


if __name__ == "__main__":
    main()
