"""Load the dashboard in Debian's headless Chromium; print the page's text as JSON.

    .venv-dashboard/bin/python -m tests.dashboard.browser URL SCREENSHOT.png PROFILE_DIR [BROWSER]

Playwright drives BROWSER (default Debian's /usr/bin/chromium; never a browser build of its
own, which `playwright install` would download) with a fresh profile;
it waits until the totals, the sources table and both charts are drawn, saves a full-page
screenshot, and prints {"text": the page's visible text}.
"""

from __future__ import annotations

import json
import sys

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Chromium as root, with nothing but the page: no sandbox, GPU, QUIC, sync or updates.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DRAWN = (
    '[data-testid="stMetricValue"]',
    '[data-testid="stTable"]',
    '[data-testid="stDataFrame"] canvas',
)
CHART = '[data-testid="stVegaLiteChart"] svg'  # Vega draws each chart as SVG here
TIMEOUT_MS = 90_000


def main(url: str, screenshot: str, profile: str, browser: str = CHROMIUM) -> None:
    """Open `url`, wait for the page to be drawn, save `screenshot`, print its text."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=browser,
            headless=True,
            args=list(FLAGS),
            viewport={"width": 1440, "height": 1400},
            locale="en-US",
        )
        try:
            page = context.new_page()
            page.goto(url, timeout=TIMEOUT_MS)
            for selector in DRAWN:
                page.wait_for_selector(selector, timeout=TIMEOUT_MS)
            page.locator(CHART).nth(1).wait_for(timeout=TIMEOUT_MS)  # both charts
            page.wait_for_timeout(1500)  # Vega's and the grid's last frame
            page.screenshot(path=screenshot, full_page=True)
            text = page.inner_text("body")
        finally:
            context.close()
    sys.stdout.write(json.dumps({"text": text}, ensure_ascii=False))


if __name__ == "__main__":
    main(*sys.argv[1:5])
