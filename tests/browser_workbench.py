#!/usr/bin/env python3
"""The report's interactive charts in real headless Chromium (issue 14), driven by Playwright
through Debian's /usr/bin/chromium (no browser download):

    pip install playwright
    python3 tests/browser_workbench.py [path/to/losscmp]

Writes the README pair's report, opens it from file://, and checks what a user does: hovering a
chart shows both runs' values with their step and samples; a legend click hides a run on every
chart; dragging across a chart zooms its x range (and double-click resets it); the log switch,
the x-axis choice and the smoothing slider redraw; no console error, and no request leaves the
file. Exits non-zero on any failure.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
BINARY = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target" / "debug" / "losscmp"
CHROMIUM = "/usr/bin/chromium"


def main():
    with tempfile.TemporaryDirectory() as tmp:
        page_path = Path(tmp) / "report.html"
        subprocess.run([str(BINARY), "fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8", "--out",
                        str(page_path)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        url = page_path.as_uri()
        errors, requests = [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            page = browser.new_page(viewport={"width": 1320, "height": 1400})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url) if not r.url.startswith("file:") else None)
            page.goto(url)
            page.wait_for_selector(".wb-chart svg path.wb-line")

            # The static copies of the same charts are hidden once the script drew its own.
            assert page.locator(".chart.replaced").first.is_hidden(), "static charts still shown"
            lines = page.locator('.wb-chart[data-chart="0"] path.wb-line')
            assert lines.count() == 2, lines.count()

            # Hover: both runs' values, with step and samples.
            chart = page.locator('.wb-chart[data-chart="0"] svg')
            box = chart.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
            tip = page.locator('.wb-chart[data-chart="0"] .wb-tip')
            text = tip.inner_text()
            assert "lf_1gpu_ga8" in text and "lf_8proc_ga8" in text, text
            assert "step" in text and "samples" in text, text

            # Legend click hides a run on every chart; a second click brings it back.
            page.locator('.wb-item[data-run="1"]').click()
            for n in range(page.locator(".wb-chart").count()):
                hidden = page.locator(f'.wb-chart[data-chart="{n}"] path.wb-line[data-run="1"]').count()
                assert hidden == 0, f"chart {n} still draws the hidden run"
            page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
            assert "lf_8proc_ga8" not in tip.inner_text(), "the hidden run is in the readout"
            page.locator('.wb-item[data-run="1"]').click()
            assert page.locator('.wb-chart[data-chart="0"] path.wb-line').count() == 2

            # Drag across the chart: the x range zooms (the first tick label changes), and charts
            # of the same x follow; double-click resets.
            def x_labels(n):
                return page.locator(f'.wb-chart[data-chart="{n}"] svg text').evaluate_all(
                    "els => els.map(e => e.textContent)")
            before0, before2 = x_labels(0), x_labels(2)
            page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=5)
            page.mouse.up()
            after0, after2 = x_labels(0), x_labels(2)
            assert after0 != before0, "the drag did not zoom"
            assert after2 != before2, "the eval chart on the same x did not follow"
            chart.dblclick(position={"x": box["width"] * 0.5, "y": box["height"] * 0.5})
            assert x_labels(0) == before0, "double-click did not reset the zoom"

            # Log/linear, the x-axis and smoothing redraw (display only).
            path_before = page.locator('.wb-chart[data-chart="0"] path.wb-line').first.get_attribute("d")
            page.locator("#wb-log").click()
            assert page.locator('.wb-chart[data-chart="0"] path.wb-line').first.get_attribute("d") != path_before
            page.select_option("#wb-x", "step")
            assert "optimizer step" in " ".join(x_labels(0))
            page.locator("#wb-smooth").fill("0.9")
            page.locator("#wb-smooth").dispatch_event("input")
            assert page.locator("#wb-smooth-value").inner_text() == "0.9"
            page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
            assert "smoothed" in tip.inner_text(), tip.inner_text()

            # A report made with --smooth opens with the slider there and its curves smoothed,
            # and the schedule markers (warmup end, epoch ends) drawn as in the static charts.
            smooth_path = Path(tmp) / "smooth.html"
            subprocess.run([str(BINARY), "fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8", "--smooth", "0.6",
                            "--out", str(smooth_path)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            page.goto(smooth_path.as_uri())
            page.wait_for_selector(".wb-chart svg path.wb-line")
            assert page.locator("#wb-smooth-value").inner_text() == "0.6"
            assert page.locator("#wb-smooth").input_value() == "0.6"
            chart = page.locator('.wb-chart[data-chart="0"] svg')
            box = chart.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
            tip = page.locator('.wb-chart[data-chart="0"] .wb-tip')
            assert "smoothed" in tip.inner_text(), tip.inner_text()
            labels = page.locator('.wb-chart[data-chart="0"] svg text').evaluate_all(
                "els => els.map(e => e.textContent)")
            assert page.locator('.wb-chart[data-chart="0"] line.wb-mark').count() > 0, "no markers"
            assert any(l.startswith("warmup end") or l.startswith("epoch") for l in labels), labels
            browser.close()
        assert not errors, f"console errors: {errors}"
        assert not requests, f"requests left the file: {requests}"
    print("browser workbench: ok")


if __name__ == "__main__":
    main()
