"""What every command shares: the settings help, quiet libraries, progress bars."""

from __future__ import annotations

import argparse
import logging
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cluster.embedding.models import offline_model_environment

Handler = Callable[[argparse.Namespace], int | None]
Commands = Any  # argparse's private _SubParsersAction


def quiet_libraries() -> None:
    """The model loads offline and quietly; our own log lines are INFO."""
    offline_model_environment()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("sentence_transformers", "transformers", "httpx", "faiss", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def readable_file(text: str) -> Path:
    """An argument naming a file the command reads: one that exists, is a
    file and can be opened, or the command stops with the usage line and the
    reason, before it opens the store or loads the model."""
    path = Path(text)
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise argparse.ArgumentTypeError(f"{text}: {error.strerror or error}") from None
    return path


def settings_help(names: Iterable[str]) -> str:
    """An epilog naming the settings a command reads, with their variables,
    defaults and descriptions, taken from the settings model itself."""
    from cluster.settings import ENV_PREFIX, Settings

    lines = ["settings read (environment variables, or keys of the NEWSCLUSTERS_CONFIG file):"]
    for name in names:
        field = Settings.model_fields[name]
        default = field.default if field.default is not None else "unset"
        text = f"{ENV_PREFIX}{name.upper()} (default {default}): {field.description or ''}"
        lines += textwrap.wrap(text, 78, initial_indent="  ", subsequent_indent="      ")
    return "\n".join(lines)


def add_command(commands: Commands, name: str, handler: Handler, summary: str,
                description: str, settings: Iterable[str] = ()) -> argparse.ArgumentParser:
    """A sub-command with a one-line summary (in ``newsclusters --help``), a
    full description and the settings it reads (in its own ``--help``)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=summary, description=textwrap.dedent(description).strip(),
        epilog=settings_help(settings) if settings else None,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(handler=handler)
    return parser


def progress_bar(description: str, unit: str = "article") -> Any:
    """A tqdm bar driven by ``progress(done, total)`` calls (see ``bar_progress``)."""
    from tqdm import tqdm

    return tqdm(unit=unit, desc=description)


def bar_progress(bar: Any) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback that moves ``bar``."""

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return progress
