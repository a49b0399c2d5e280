"""The supervisor: one command starts every role, keeps them running and
stops them together.

It binds the public address itself and hands the socket to every reader,
so they share one listening queue (the kernel gives each connection to
whichever reader accepts first), and binds a loopback socket for the
writer, so the writer's address stays the same across its restarts. A role
that exits is started again after a pause that doubles with each quick
failure (1 s up to 30 s). The roles' state is kept in a small JSON file
that the readers' ``/readyz`` reads, so a probe says which role is not
ready. SIGTERM or Ctrl-C stops the readers first (their requests in flight,
writes passed on to the writer included, finish), then the writer (which
writes an index snapshot).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from cluster.errors import ConfigurationError
from cluster.settings import Settings

LOG = logging.getLogger("newsclusters")
BACKLOG = 2048
FIRST_PAUSE_S = 1.0
LONGEST_PAUSE_S = 30.0
STEADY_AFTER_S = 60.0
"""A role that ran this long before it died is restarted after the first pause again."""
STOP_GRACE_S = 45.0
"""The roles' own grace (30 s for requests in flight) plus the writer's snapshot."""


CONFIGURATION_EXIT = 2
"""How a role's process says that its settings or the store refused it."""


class RoleRefused(ConfigurationError):
    """A role could not start at all."""


RUN_DIR_PREFIX = "newsclusters-roles-"


def _remove_abandoned_run_dirs() -> None:
    """Run folders of supervisors that are gone (SIGKILLed before they could
    clean up): their status and metrics files are of no use to anyone."""
    for folder in Path(tempfile.gettempdir()).glob(f"{RUN_DIR_PREFIX}*"):
        try:
            pid = int((folder / "supervisor.pid").read_text())
        except (OSError, ValueError):
            continue  # not written by this version, or still being set up
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            continue  # another user's supervisor, alive


def _check_store_is_free(settings: Settings) -> None:
    """Refuse at once, as the one-process server does, when another process
    writes the store (the writer role would be refused at every restart)."""
    from cluster.store.lock import StoreLock
    from cluster.store.opening import is_postgres

    if is_postgres(settings.store_location):
        from cluster.store.postgres import PostgresStore

        PostgresStore(settings.store_location).close()  # its writer's lock is the server's
        return
    settings.store_path.parent.mkdir(parents=True, exist_ok=True)
    StoreLock(settings.store_path).release()


@dataclass
class Role:
    name: str
    argv: list[str]
    fd: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    pause: float = FIRST_PAUSE_S
    start_after: float = 0.0
    serving: bool = False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def state(self) -> str:
        if not self.running:
            return "restarting"
        return "ready" if self.serving else "starting"


class Supervisor:
    def __init__(self, settings: Settings, feeds: Path | None = None) -> None:
        self.settings = settings
        queued = settings.writes == "queue"  # the scale-out deployment's actor writes
        if queued and feeds is not None:
            raise ConfigurationError("feeds are polled by the writer process, and with "
                                     "writes = queue there is none: poll them elsewhere")
        if not queued:
            _check_store_is_free(settings)
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        self.public = socket.create_server((settings.host, settings.port), family=family,
                                           backlog=BACKLOG)
        self.internal = socket.create_server(("127.0.0.1", 0), backlog=BACKLOG)
        self.writer_url = f"http://127.0.0.1:{self.internal.getsockname()[1]}"
        _remove_abandoned_run_dirs()
        self.run_dir = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))
        (self.run_dir / "supervisor.pid").write_text(str(os.getpid()))
        self.metrics_dir = self.run_dir / "metrics"
        self.metrics_dir.mkdir()
        self.status_file = self.run_dir / "roles.json"
        self.ready_dir = self.run_dir / "ready"
        self.ready_dir.mkdir()
        base = [sys.executable, "-m", "api.roles.process"]
        writer = [*base, "writer", "--fd", str(self.internal.fileno()),
                  "--status", str(self.status_file)]
        if feeds is not None:
            writer += ["--feeds", str(feeds)]
        self.roles = [] if queued else [Role("writer", writer, self.internal.fileno())]
        for number in range(1, settings.readers + 1):
            self.roles.append(Role(f"reader-{number}", [
                *base, "reader", "--fd", str(self.public.fileno()), "--status",
                str(self.status_file), *([] if queued else ["--writer-url", self.writer_url])],
                self.public.fileno()))
        self.env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir)}
        self.stopping = False

    @property
    def address(self) -> str:
        host, port = self.public.getsockname()[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    # -- roles ---------------------------------------------------------------
    def _start(self, role: Role) -> None:
        role.process = subprocess.Popen(role.argv, env=self.env, pass_fds=(role.fd,))
        role.started_at = time.monotonic()
        LOG.info("supervisor: started %s (pid %d)", role.name, role.process.pid)

    def _reap(self, role: Role) -> None:
        """A role that exited: note it and schedule its restart."""
        from prometheus_client import multiprocess

        assert role.process is not None
        code = role.process.returncode
        multiprocess.mark_process_dead(  # type: ignore[no-untyped-call]
            role.process.pid, str(self.metrics_dir))
        ran = time.monotonic() - role.started_at
        role.pause = FIRST_PAUSE_S if ran >= STEADY_AFTER_S else min(
            LONGEST_PAUSE_S, role.pause * 2 if role.restarts else FIRST_PAUSE_S)
        role.start_after = time.monotonic() + role.pause
        role.restarts += 1
        if code == CONFIGURATION_EXIT and not role.serving and role.restarts == 0:
            # refused at start (settings, a store in use): starting it again cannot help
            role.process = None
            raise RoleRefused(f"the {role.name} could not start (exit code {code}); see "
                              "its message above")
        role.process, role.serving = None, False
        LOG.warning("supervisor: %s exited with code %s after %.1f s; starting it again in "
                    "%.0f s", role.name, code, ran, role.pause)

    def write_status(self) -> None:
        state = {role.name: {"state": role.state,
                             "pid": role.process.pid if role.process else None,
                             "restarts": role.restarts} for role in self.roles}
        fresh = self.status_file.with_suffix(".tmp")
        fresh.write_text(json.dumps(state))
        fresh.replace(self.status_file)

    def step(self) -> None:
        changed = False
        for role in self.roles:
            if role.process is not None and role.process.poll() is not None:
                self._reap(role)
                changed = True
            if role.process is None and not self.stopping and time.monotonic() >= role.start_after:
                self._start(role)
                changed = True
            if role.process is not None and not role.serving and (
                    self.ready_dir / str(role.process.pid)).exists():
                role.serving = changed = True
        if changed:
            self.write_status()

    # -- lifetime ------------------------------------------------------------
    def run(self) -> int:
        def stop(signum: int, frame: FrameType | None) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            self.write_status()
            while not self.stopping:
                self.step()
                time.sleep(0.2)
        finally:
            self.stop()
        return 0

    def stop(self) -> None:
        """Readers first, then the writer; each gets STOP_GRACE_S."""
        self.stopping = True
        readers = [r for r in self.roles if r.name != "writer"]
        writer = [r for r in self.roles if r.name == "writer"]
        for group in (readers, writer):
            for role in group:
                if role.running:
                    assert role.process is not None
                    role.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S
            for role in group:
                if role.process is None:
                    continue
                try:
                    role.process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    LOG.error("supervisor: %s did not stop in %.0f s; killing it", role.name,
                              STOP_GRACE_S)
                    role.process.kill()
                    role.process.wait()
        self.public.close()
        self.internal.close()
        shutil.rmtree(self.run_dir, ignore_errors=True)


def supervise(settings: Settings, feeds: Path | None = None) -> int:
    """Run the writer and ``settings.readers`` readers until SIGTERM or Ctrl-C."""
    supervisor = Supervisor(settings, feeds)
    LOG.info("serving on %s: one writer and %d readers (%d threads each)",
             supervisor.address, settings.readers, settings.threads)
    return supervisor.run()
