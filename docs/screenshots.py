#!/usr/bin/env python3
"""Makes the report screenshots in docs/ from the shipped fixtures, in headless Chromium
(Debian's, driven by Playwright through its executable path; no browser download):

    pip install playwright
    python3 docs/screenshots.py [path/to/losscmp]

- docs/workbench.png: the README's pair, hovering the loss-by-samples chart;
- docs/workbench5.png: five runs of the real batch-size sweep (fixtures/sweep), one hidden with a
  legend click, the loss-by-samples chart zoomed by a drag and read with the hover, log y.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
BINARY = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target" / "debug" / "losscmp"
CHROMIUM = "/usr/bin/chromium"
FIVE = ["b16_lr0.002", "b32_lr0.002828", "b64_lr0.004", "b128_lr0.005657", "b256_lr0.008"]


def report(tmp, runs, name):
    out = Path(tmp) / name
    subprocess.run([str(BINARY), *runs, "--out", str(out)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out.as_uri()


def chart_box(page, n):
    return page.locator(f'.wb-chart[data-chart="{n}"] svg').bounding_box()


def main():
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1320, "height": 900}, device_scale_factor=1)

        page.goto(report(tmp, ["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"], "pair.html"))
        page.wait_for_selector(".wb-chart svg path.wb-line")
        box = chart_box(page, 0)
        page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.45)
        page.locator(".wb-controls").scroll_into_view_if_needed()
        grid = page.locator(".wb-charts")
        top = page.locator(".wb-controls").bounding_box()
        g = grid.bounding_box()
        page.screenshot(path=str(ROOT / "docs" / "workbench.png"), full_page=True,
                        clip={"x": g["x"], "y": top["y"], "width": g["width"],
                              "height": box["y"] + box["height"] + 40 - top["y"]})

        page.goto(report(tmp, [f"fixtures/sweep/{r}" for r in FIVE], "five.html"))
        page.wait_for_selector(".wb-chart svg path.wb-line")
        page.locator('.wb-item[data-run="4"]').click()
        box = chart_box(page, 0)
        y = box["y"] + box["height"] * 0.5
        page.mouse.move(box["x"] + box["width"] * 0.12, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=8)
        page.mouse.up()
        page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.4)
        top = page.locator(".wb-controls").bounding_box()
        g = page.locator(".wb-charts").bounding_box()
        page.screenshot(path=str(ROOT / "docs" / "workbench5.png"), full_page=True,
                        clip={"x": g["x"], "y": top["y"], "width": g["width"],
                              "height": box["y"] + box["height"] + 40 - top["y"]})
        browser.close()
    print("wrote docs/workbench.png, docs/workbench5.png")


if __name__ == "__main__":
    main()
