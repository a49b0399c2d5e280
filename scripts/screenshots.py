#!/usr/bin/env python3
"""Take the README's screenshots: the demo corpus in a scratch store, served on
127.0.0.1, visited in Debian's headless Chromium (Playwright), at a desktop
width and at a phone's (``*-phone.png``).

    python -m scripts.screenshots [--out docs]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

if not __package__:  # run as a file, the checkout's packages are not importable
    raise SystemExit("run from the repository root: python -m scripts.screenshots [OPTIONS]")

from scripts._common import run

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs",
                        help="where to write the PNG files (default docs/)")
    args = parser.parse_args()

    from api import create_app
    from cluster.articles.importer import import_articles, read_files
    from cluster.service.facade import StoryService
    from cluster.settings import load_settings
    from tests.browser import PHONE, browser_page, missing_browser, served, tour

    reason = missing_browser()
    if reason is not None:
        raise SystemExit(f"cannot take screenshots: {reason}")
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings({"data_dir": Path(folder) / "var",
                                  "index_dir": Path(folder) / "indexes"})
        service = StoryService(settings).open()
        import_articles(service, read_files([ROOT / "cluster" / "demo" / "demo.jsonl"]))
        # what a reader sees once the background presenter has caught up
        service.wait_for_presentation(timeout=120, hurry=True)
        with served(create_app(service=service)) as base:
            with browser_page() as page:
                seen = tour(base, page, args.out)
            with browser_page(*PHONE) as page:  # the same pages at a phone's width
                tour(base, page, args.out, "-phone")
        service.close()
    for name in ("home", "story", "storyline", "related"):
        print(f"{args.out / (name + '.png')}  ({seen[name].splitlines()[0][:60]}); "
              f"{args.out / (name + '-phone.png')}")


if __name__ == "__main__":
    run(main)
