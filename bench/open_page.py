#!/usr/bin/env python3
"""How long a losscmp report takes to open in a browser, and how big it is.

Opens the page in headless Chromium (Debian's, driven by Playwright through its executable
path; no browser download) from a file:// URL, with a fresh profile each time, and measures
from navigation start until the interactive charts are drawn (the workbench's legend and every
chart's SVG are in the page) — the time a user waits before hovering. Prints the median of N
opens, the page's size, and whether any request left the file.

    python3 bench/open_page.py bench/data/report20x1m.html [--repeat 5] [--chromium /usr/bin/chromium]
"""

import argparse
import os
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("page")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    url = "file://" + os.path.abspath(a.page)
    size = os.path.getsize(a.page)
    times, outside = [], []
    with sync_playwright() as p:
        for _ in range(a.repeat):
            browser = p.chromium.launch(executable_path=a.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith("file://") and not r.url.startswith("data:") else None)
            start = time.perf_counter()
            page.goto(url, wait_until="load")
            page.wait_for_selector("#wb-legend .wb-item", timeout=30_000)
            page.wait_for_function("document.querySelectorAll('.wb-chart svg').length > 0", timeout=30_000)
            took = time.perf_counter() - start
            times.append(took)
            browser.close()
    med = statistics.median(times)
    print(
        f"{a.page}: {size / 1e6:.2f} MB; opened and drawn in {med:.3f} s (median of {len(times)}: "
        + ", ".join(f"{t:.3f}" for t in times)
        + f"); requests outside the file: {len(outside)}"
    )
    return 0 if not outside else 1


if __name__ == "__main__":
    sys.exit(main())
