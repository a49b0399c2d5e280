"""Fixtures: a real SQLite file and a real FAISS index under tmp_path, with the
hashing embedder (fast, deterministic) unless a test asks for the real model."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from cluster.articles.incoming import Article
from cluster.service.facade import StoryService
from cluster.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
DEMO = ROOT / "cluster" / "demo" / "demo.jsonl"
BASE_TIME = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path / "var", "index_dir": tmp_path / "indexes",
                              "embedder": "hashing",
                              # inline presentation: a story's label is current when the
                              # write returns (the background thread has its own tests)
                              "presentation_delay_s": 0.0}
    values.update(overrides)
    return load_settings(values, environ={})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def service(settings: Settings) -> Iterator[StoryService]:
    svc = StoryService(settings).open()
    yield svc
    svc.close()


@pytest.fixture
def app(service: StoryService) -> Flask:
    return create_app(service=service)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class PostgresDatabases:
    """Databases on one private PostgreSQL server: one per test folder."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self._urls: dict[Path, str] = {}
        self._names = itertools.count(1)

    def url_for(self, folder: Path) -> str:
        """The database of ``folder`` (created empty on first use)."""
        if folder not in self._urls:
            self._urls[folder] = self.server.create_database(f"test_{next(self._names)}")
        return self._urls[folder]


@pytest.fixture(scope="session")
def postgres_installed() -> None:
    """Skip, saying why, where PostgreSQL's server binaries are not installed."""
    from cluster.store.local_postgres import PostgresUnavailable, server_binaries

    try:
        server_binaries()
    except PostgresUnavailable as error:
        pytest.skip(f"PostgreSQL tests need a PostgreSQL server: {error}")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresDatabases]:
    """A real PostgreSQL server for the whole test run, in a temp folder, on 127.0.0.1 only.
    ``make`` installs Debian's server; without it the PostgreSQL tests skip, saying so."""
    import shutil
    import tempfile

    from cluster.store.local_postgres import LocalPostgres, PostgresUnavailable

    # not under pytest's own temp folder: under root the server runs as the
    # postgres user, who cannot enter that folder's root-only parents
    folder = Path(tempfile.mkdtemp(prefix="newsclusters-test-pg-"))
    try:
        server = LocalPostgres(folder, durable=False).start()
    except PostgresUnavailable as error:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL tests need a PostgreSQL server: {error}")
    try:
        yield PostgresDatabases(server)
    finally:
        server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


_counter = itertools.count(1)


@pytest.fixture
def make_article() -> Callable[..., Article]:
    def factory(title: str = "Storm floods city centre", text: str = "", *,
                id: str | None = None, source: str = "Wire", hours: float = 0.0,
                url: str | None = None) -> Article:
        return Article(
            id=id or f"a-{next(_counter)}", title=title, text=text, source=source, url=url,
            published_at=BASE_TIME + timedelta(hours=hours), lang="en",
        )

    return factory


def free_port() -> int:
    """A loopback port nothing listens on now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_ready(port: int, process: subprocess.Popen[Any], seconds: float = 60.0) -> None:
    """Wait for a server started as ``process`` to answer /readyz on ``port``."""
    import time
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                return
        except OSError:
            assert time.monotonic() < deadline and process.poll() is None, "not ready"
            time.sleep(0.1)


def role_pids(supervisor: int) -> dict[str, list[int]]:
    """The processes a ``newsclusters serve`` supervisor runs, by role, from /proc."""
    found: dict[str, list[int]] = {"writer": [], "reader": []}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == supervisor and b"api.roles.process" in command:
            found[command[command.index(b"api.roles.process") + 1].decode()].append(
                int(entry.name))
    return found


@contextmanager
def scratch_server(folder: Path, **settings: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A real ``newsclusters serve`` on loopback over a scratch store in
    ``folder`` (hashing embedder, anonymous writes, 4 threads, plus
    ``settings`` as NEWSCLUSTERS_* variables), ready when the block starts;
    its whole process group is killed when the block ends."""
    import os
    import signal
    import sys

    port = free_port()
    env = {**os.environ, "NEWSCLUSTERS_EMBEDDER": "hashing", "NEWSCLUSTERS_PORT": str(port),
           "NEWSCLUSTERS_DATA_DIR": str(folder / "var"),
           "NEWSCLUSTERS_INDEX_DIR": str(folder / "idx"),
           "NEWSCLUSTERS_ALLOW_ANONYMOUS_WRITES": "true", "NEWSCLUSTERS_THREADS": "4",
           **{f"NEWSCLUSTERS_{name.upper()}": value for name, value in settings.items()}}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen([str(Path(sys.executable).with_name("newsclusters")), "serve"],
                               cwd=folder, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until_ready(port, process)
        yield process, port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
