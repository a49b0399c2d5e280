"""The README's API examples, run top to bottom against the demo corpus with
the packaged model, as a reader following along would run them after
`make run`: the same calls, and answers that match what the README shows
("…" stands for what it leaves out)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from api import create_app
from cluster.articles.importer import import_articles, read_files
from cluster.service.facade import StoryService
from tests.conftest import DEMO, ROOT, make_settings

pytestmark = pytest.mark.model

ELLIPSIS = "…"
SCORE_TOLERANCE = 0.02
"""Scores may move in the third decimal with the model's number format."""


def examples() -> list[tuple[list[str], Any]]:
    """(curl arguments, the answer shown) for each example, in README order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## API by example", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(sh|json)\n(.*?)```", section, flags=re.S)
    found: list[tuple[list[str], Any]] = []
    for n, (kind, body) in enumerate(blocks):
        if kind != "sh" or "curl " not in body:
            continue
        command, _, printed = body.partition("\n") if "-w" in body else (body, "", "")
        arguments = shlex.split(command.replace("\\\n", " "))
        if printed.strip():  # the answer is printed under the command (a status code)
            found.append((arguments, int(printed.strip())))
        else:
            following = blocks[n + 1] if n + 1 < len(blocks) else ("", "")
            assert following[0] == "json", f"no answer shown after {command[:60]}"
            found.append((arguments, json.loads(following[1])))
    return found


def request_of(arguments: list[str]) -> tuple[str, str, str | None]:
    method, url, data = "GET", "", None
    words = iter(arguments[1:])
    for word in words:
        if word == "-X":
            method = next(words)
        elif word in ("-d", "--data"):
            data = next(words)
        elif word in ("-H", "-o", "-w"):
            next(words)
        elif not word.startswith("-"):
            url = word
    return method, url.split("localhost:8000", 1)[1], data


def matches(shown: Any, actual: Any, where: str = "") -> list[str]:
    """Where ``actual`` differs from what the README shows."""
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return [f"{where}: {actual!r} is not an object"]
        problems = []
        for key, value in shown.items():
            if key == ELLIPSIS:
                continue
            if key not in actual:
                problems.append(f"{where}.{key}: missing")
            elif key == "next_cursor":  # opaque: only whether there is one
                if (value is None) != (actual[key] is None):
                    problems.append(f"{where}.{key}: {actual[key]!r}")
            else:
                problems += matches(value, actual[key], f"{where}.{key}")
        return problems
    if isinstance(shown, list):
        if not isinstance(actual, list):
            return [f"{where}: {actual!r} is not a list"]
        cut = bool(shown) and shown[-1] == ELLIPSIS
        items = shown[:-1] if cut else shown
        if len(actual) < len(items) or (not cut and len(actual) != len(items)):
            return [f"{where}: {len(actual)} items, the README shows {len(shown)}"]
        return [p for n, item in enumerate(items) for p in matches(item, actual[n],
                                                                  f"{where}[{n}]")]
    if isinstance(shown, str) and shown.endswith(ELLIPSIS):
        if not isinstance(actual, str) or not actual.startswith(shown[:-1].rstrip()):
            return [f"{where}: {actual!r} does not start as shown"]
        return []
    if isinstance(shown, float) and isinstance(actual, int | float):
        return [] if abs(shown - actual) <= SCORE_TOLERANCE else [f"{where}: {actual!r}"]
    return [] if shown == actual else [f"{where}: {actual!r}, the README shows {shown!r}"]


def test_the_readme_examples_run_in_order_and_answer_as_shown(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, embedder="sentence-transformers",
                             presentation_delay_s=0.0)
    with StoryService(settings) as service:  # what `make run` does the first time
        import_articles(service, read_files([DEMO]))
        service.refresh_presentations()
        service.snapshot()
    service = StoryService(settings).open()  # and what its roles open
    try:
        client = create_app(service=service).test_client()
        steps = examples()
        assert len(steps) >= 10
        problems = []
        for arguments, shown in steps:
            method, path, data = request_of(arguments)
            reply = client.open(path, method=method, data=data,
                                headers={"Content-Type": "application/json"})
            if isinstance(shown, int):
                answer: Any = reply.status_code
                problems += [] if answer == shown else [f"{method} {path}: {answer}"]
            else:
                problems += [f"{method} {path}{p}" for p in matches(shown, reply.get_json())]
        assert not problems, "\n".join(problems)
    finally:
        service.close()
