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


def tour(base: str, page: Any, shots: Path) -> dict[str, str]:
    """Home page → first story → related-coverage form; a screenshot of each."""
    shots.mkdir(parents=True, exist_ok=True)
    seen: dict[str, str] = {}
    page.goto(base + "/")
    page.wait_for_selector("article.story h2 a")
    seen["home"] = page.inner_text("h1")
    page.screenshot(path=str(shots / "home.png"), full_page=True)
    page.click("article.story h2 a")
    page.wait_for_selector("#summary-h")
    seen["story"] = page.inner_text("h1")
    page.screenshot(path=str(shots / "story.png"), full_page=True)
    page.goto(base + "/related")
    page.fill("#title", "Russia and America hold talks on Pyongyang's missile tests")
    page.fill("#text", "Diplomats met before the APEC leaders' summit in Shenzhen.")
    page.click("form.related button")
    page.wait_for_selector("#coverage-h")
    seen["related"] = page.inner_text("ol.coverage")
    page.screenshot(path=str(shots / "related.png"), full_page=True)
    return seen
