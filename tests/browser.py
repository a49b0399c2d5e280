"""Driving Debian's Chromium with Playwright (never a downloaded browser), for
the end-to-end page test and for the README's screenshots."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_browser() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (make test installs it)"
    if chromium_path() is None:
        return "no chromium on PATH (make test installs Debian's chromium package)"
    return None


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """The app on a real HTTP server on 127.0.0.1, for as long as the block runs."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@contextmanager
def browser_page(width: int = 1100, height: int = 900) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(),
                                             args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


PHONE = (390, 844)
"""A phone's viewport in CSS pixels (an iPhone 12 to 15)."""

OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
"""How far a page is wider than its window: more than 0 makes a reader scroll sideways."""


def tour(base: str, page: Any, shots: Path, suffix: str = "") -> dict[str, str]:
    """Home page → first story → first storyline → related-coverage form; a screenshot of each
    (``name{suffix}.png``), and how far each page overflows the window
    sideways (``seen["overflow"]``, the widest)."""
    shots.mkdir(parents=True, exist_ok=True)
    seen: dict[str, str] = {}
    overflow = 0
    page.goto(base + "/")
    page.wait_for_selector("article.story h2 a")
    seen["home"] = page.inner_text("h1")
    overflow = max(overflow, int(page.evaluate(OVERFLOW)))
    page.screenshot(path=str(shots / f"home{suffix}.png"), full_page=True)
    page.click("article.story h2 a")
    page.wait_for_selector("#summary-h")
    seen["story"] = page.inner_text("h1")
    overflow = max(overflow, int(page.evaluate(OVERFLOW)))
    page.screenshot(path=str(shots / f"story{suffix}.png"), full_page=True)
    page.goto(base + "/")
    page.click("section.storylines article h3 a")
    page.wait_for_selector("#stories-h")
    seen["storyline"] = page.inner_text("h1")
    overflow = max(overflow, int(page.evaluate(OVERFLOW)))
    page.screenshot(path=str(shots / f"storyline{suffix}.png"), full_page=True)
    page.goto(base + "/related")
    page.fill("#title", "Russia and America hold talks on Pyongyang's missile tests")
    page.fill("#text", "Diplomats met before the APEC leaders' summit in Shenzhen.")
    page.click("form.related button")
    page.wait_for_selector("#coverage-h")
    seen["related"] = page.inner_text("ol.coverage")
    overflow = max(overflow, int(page.evaluate(OVERFLOW)))
    page.screenshot(path=str(shots / f"related{suffix}.png"), full_page=True)
    seen["overflow"] = str(overflow)
    return seen
