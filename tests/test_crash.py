"""Crash safety of the real production server: ingest continuously from a
client, SIGKILL the server at random moments (its whole process tree, and
in some cycles its writer alone first, while the readers keep serving and
the supervisor starts a new writer), restart it,
and check that every acknowledged article is back, once, with its story, and
that the store, the index and the stories agree."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from cluster.service.facade import StoryService
from tests.conftest import free_port, make_settings, role_pids

ROOT = Path(__file__).resolve().parent.parent
CYCLES = int(os.environ.get("CRASH_CYCLES", "6"))
"""SIGKILL cycles; ``CRASH_CYCLES=20`` runs the long variant (README, crash safety)."""


def start_server(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NEWSCLUSTERS_EMBEDDER": "hashing",
           "NEWSCLUSTERS_DATA_DIR": str(tmp / "var"), "NEWSCLUSTERS_INDEX_DIR": str(tmp / "idx"),
           "NEWSCLUSTERS_PORT": str(port), "NEWSCLUSTERS_SNAPSHOT_EVERY": "40",
           "NEWSCLUSTERS_ALLOW_ANONYMOUS_WRITES": "true", "NEWSCLUSTERS_THREADS": "4"}
    command = Path(sys.executable).with_name("newsclusters")  # the production command
    return subprocess.Popen(
        [str(command), "serve"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)


def wait_ready(port: int, deadline_s: float = 60.0) -> dict[str, object]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
                body: dict[str, object] = json.loads(reply.read())
                return body
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise AssertionError("the server did not become ready")


def post_batch(port: int, batch: list[dict[str, str]]) -> bool | None:
    """True when acknowledged, False when sent and not acknowledged (killed
    mid-request), None when no server took the connection (it was down)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/articles", data=json.dumps(batch).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            reply.read()
            return reply.status in (200, 201)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            return None
        return False
    except (ConnectionError, TimeoutError, OSError,
            http.client.HTTPException):  # killed mid-response: not acknowledged
        return False


TOPICS = ["harbour storm floods quay", "central bank holds rates", "pilots strike airline",
          "earthquake strikes coast", "summit talks on missiles", "river floods valley towns"]


@pytest.mark.timeout(300)
def test_acknowledged_writes_survive_repeated_sigkill(tmp_path: Path) -> None:
    rng = random.Random(20261127)
    port = free_port()
    acknowledged: list[str] = []
    attempted = 0
    startup_kills = writer_kills = 0
    for cycle in range(CYCLES):
        server = start_server(tmp_path, port)
        stop = threading.Event()
        thread: threading.Thread | None = None
        if cycle % 3 == 2:  # killed while starting: loading the index, restoring stories
            time.sleep(rng.uniform(0.05, 0.6))
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
            startup_kills += 1
            continue
        try:
            ready = wait_ready(port)
            assert ready["in_sync"] is True, ready

            def client(cycle: int = cycle, stop: threading.Event = stop) -> None:
                nonlocal attempted
                n = 0
                while not stop.is_set():
                    batch = [{"id": f"c{cycle}-{n + i}",
                              "title": f"{TOPICS[(n + i) % len(TOPICS)]} report {n + i}",
                              "text": f"Update {n + i} on the {TOPICS[(n + i) % len(TOPICS)]}.",
                              "source": f"Outlet {(n + i) % 7}",
                              "published_at":
                                  f"2026-11-{10 + cycle % 18:02d}T{(n // 25) % 24:02d}:00:00Z"}
                             for i in range(5)]
                    outcome = post_batch(port, batch)
                    if outcome is None:  # the server is down: nothing was sent
                        time.sleep(0.01)
                        continue
                    attempted += len(batch)
                    if outcome:
                        acknowledged.extend(a["id"] for a in batch)
                    n += 5

            thread = threading.Thread(target=client, daemon=True)
            thread.start()
            time.sleep(rng.uniform(0.4, 2.0))
            if cycle % 3 == 1:  # the writer alone, mid-write; the client goes on
                writers = role_pids(server.pid)["writer"]
                if writers:
                    os.kill(writers[0], signal.SIGKILL)
                    writer_kills += 1
                time.sleep(rng.uniform(0.5, 2.5))
        finally:
            os.killpg(server.pid, signal.SIGKILL)  # the whole process group, mid-write
            server.wait(timeout=30)
            stop.set()
            if thread is not None:
                thread.join(timeout=15)
    assert len(acknowledged) >= 20 * (CYCLES - startup_kills), "too few writes to test anything"

    # A last restart through the real server: ready and in sync.
    server = start_server(tmp_path, port)
    try:
        ready = wait_ready(port)
        assert ready["in_sync"] is True and ready["articles"] == ready["indexed"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)

    service = StoryService(make_settings(tmp_path, index_dir=tmp_path / "idx")).open()
    try:
        placed = service.assignments()
        missing = [a for a in acknowledged if a not in placed]
        assert not missing, f"{len(missing)} acknowledged articles lost, e.g. {missing[:5]}"
        assert len(set(acknowledged)) == len(acknowledged)  # the client never re-sent an id
        assert service.readiness().in_sync
        # Unacknowledged batches are all or nothing: whole batches of 5 or none.
        batches: dict[str, int] = {}
        for article_id in placed:
            cycle, number = article_id.split("-")
            key = f"{cycle}-{int(number) // 5}"
            batches[key] = batches.get(key, 0) + 1
        assert set(batches.values()) == {5}
        # Every article in exactly one live story, and story counts match members.
        with service.store.read() as reader:
            live = {s.id: s for s in reader.stories_with_status(("active", "dormant", "archived"))}
            for story_id in set(placed.values()):
                assert story_id in live, f"article in a missing or merged story {story_id}"
            members: dict[int, int] = {}
            for story_id in placed.values():
                members[story_id] = members.get(story_id, 0) + 1
            for story_id, row in live.items():
                assert row.article_count == members.get(story_id, 0), story_id
                # the stored centroid sum is the sum of the members' vectors
                keys = reader.member_keys(story_id)
                total = reader.vectors(keys).astype(np.float64).sum(axis=0)
                assert np.allclose(row.centroid_sum, total, atol=1e-3), story_id
        print(f"\n{CYCLES} SIGKILL cycles ({startup_kills} during start-up, the rest "
              f"mid-ingest, where maintenance runs in every write; {writer_kills} of them killed "
              f"the writer alone first): {attempted} articles sent, "
              f"{len(acknowledged)} acknowledged, {len(placed)} stored, 0 acknowledged lost")
    finally:
        service.close()


@pytest.mark.timeout(180)
def test_sigterm_lets_an_inflight_write_finish(tmp_path: Path) -> None:
    port = free_port()
    server = start_server(tmp_path, port)
    try:
        wait_ready(port)
        batch = [{"id": f"t-{n}", "title": f"{TOPICS[n % len(TOPICS)]} item {n}",
                  "text": " ".join(TOPICS) * 20, "source": f"Outlet {n % 5}",
                  "published_at": "2026-11-20T10:00:00Z"} for n in range(500)]
        outcome: list[bool] = []
        sender = threading.Thread(target=lambda: outcome.append(post_batch(port, batch)))
        sender.start()
        time.sleep(0.3)  # the batch is being written
        os.killpg(server.pid, signal.SIGTERM)
        sender.join(timeout=120)
        assert server.wait(timeout=90) == 0  # a clean exit
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    service = StoryService(make_settings(tmp_path, index_dir=tmp_path / "idx")).open()
    try:
        stored = service.article_count()
        # acknowledged means stored; an unacknowledged batch left nothing behind
        assert stored == (500 if outcome == [True] else 0)
        assert outcome == [True], "the in-flight write should have been let finish"
        assert service.readiness().in_sync and service.readiness().snapshot_seq > 0
    finally:
        service.close()
