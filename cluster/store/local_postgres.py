"""A private PostgreSQL server in a folder, on loopback only: for the tests,
and for trying the PostgreSQL store on one machine without an administrator.

It runs the server binaries of the machine's PostgreSQL installation
(Debian's ``postgresql`` package puts them in ``/usr/lib/postgresql/N/bin``).
PostgreSQL refuses to run as root, so under root the server runs as the
``postgres`` system user, which owns the folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

from cluster.errors import ConfigurationError

USER = "newsclusters"


class PostgresUnavailable(ConfigurationError):
    """No PostgreSQL server binaries installed, or they could not start."""


def server_binaries() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                      key=lambda p: int(Path(p).parent.parent.name)
                      if Path(p).parent.parent.name.isdigit() else 0)
    if not versions:
        raise PostgresUnavailable(
            "PostgreSQL's server is not installed (Debian: apt-get install postgresql)")
    return Path(versions[-1]).parent


def _first_unreachable(folder: Path, uid: int, gid: int) -> Path | None:
    """The first of ``folder`` and its parents that the user cannot pass through."""
    for path in [folder, *folder.parents]:
        mode = path.stat()
        if mode.st_uid == uid:
            allowed = mode.st_mode & 0o100
        elif mode.st_gid == gid:
            allowed = mode.st_mode & 0o010
        else:
            allowed = mode.st_mode & 0o001
        if not allowed:
            return path
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalPostgres:
    """A server with its data in ``folder``, listening on 127.0.0.1:``port``
    only; ``start()`` creates the cluster on first use."""

    def __init__(self, folder: Path, port: int | None = None, *, durable: bool = True) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = port or free_port()
        self.durable = durable
        self.binaries = server_binaries()
        self._run_as: str | None = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{name}"

    def _command(self, *args: str) -> list[str]:
        if self._run_as is None:
            return list(args)
        return ["runuser", "-u", self._run_as, "--", *args]

    def _run(self, *args: str) -> None:
        done = subprocess.run(self._command(*args), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PostgresUnavailable(
                f"{Path(args[0]).name} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-600:]}")

    def start(self) -> LocalPostgres:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._run_as is not None:
            owner = pwd.getpwnam(self._run_as)
            blocked = _first_unreachable(self.folder.resolve().parent, owner.pw_uid,
                                         owner.pw_gid)
            if blocked is not None:
                raise PostgresUnavailable(
                    f"PostgreSQL runs as the {self._run_as} user here (it refuses root), "
                    f"and that user cannot enter {blocked}: put the folder where it can "
                    "(for example under /tmp or /srv), or run as another user")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        if not (self.data / "PG_VERSION").exists():
            self._run(str(self.binaries / "initdb"), "-D", str(self.data), "-U", USER,
                      "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions",
                      *([] if self.durable else ["--no-sync"]))
        settings = [
            "-c listen_addresses=127.0.0.1", f"-c port={self.port}",
            f"-c unix_socket_directories={self.folder}", "-c max_connections=200",
        ]
        if not self.durable:  # a test server: a machine crash may lose it, a process crash not
            settings += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        running = _server_running(self.data)
        if running is not None:
            raise PostgresUnavailable(
                f"a PostgreSQL server already runs on {self.data} (pid {running}): another "
                "`newsclusters scale-out --local` uses this data folder; stop it, or give "
                "this one another NEWSCLUSTERS_DATA_DIR")
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.folder / "server.log"), "-w", "-t", "60", "-o", " ".join(settings),
                  "start")
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(
                        f"PostgreSQL did not answer on 127.0.0.1:{self.port}") from None
                time.sleep(0.1)

    def create_database(self, name: str, *, exist_ok: bool = False) -> str:
        """A new, empty database (or with ``exist_ok`` the one there is); its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True) as connection:
            there = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if there is None or not exist_ok:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", mode,
                      "-w", "stop")


def _server_running(data: Path) -> int | None:
    """The pid of the live server that holds ``data`` (its postmaster.pid), if any."""
    try:
        pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # left by a crash: pg_ctl starts over it
    except PermissionError:
        return pid
    return pid
