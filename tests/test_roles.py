"""The service as roles: a real ``newsclusters serve`` with one writer and two
reader processes under its supervisor, on loopback. Writes pass through a
reader to the writer; every reader sees them; metrics add up across
processes; a role killed with SIGKILL is started again while the others
serve; SIGTERM stops them all."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import role_pids, scratch_server, wait_until_ready

Server = tuple[subprocess.Popen[bytes], int, Path]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with scratch_server(tmp_path, readers="2") as (process, port):
        yield process, port, tmp_path


def call(port: int, method: str, path: str, body: object | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_for(condition: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def article(number: int, topic: str = "harbour storm floods quay") -> dict[str, str]:
    return {"id": f"r-{number}", "title": f"{topic} {number}", "source": f"Outlet {number % 5}",
            "text": f"The {topic} report number {number}.",
            "published_at": "2026-11-01T12:00:00Z"}


def test_writes_pass_through_readers_and_every_reader_sees_them(server: Server) -> None:
    process, port, _ = server
    assert len(role_pids(process.pid)["reader"]) == 2 and len(role_pids(process.pid)["writer"]) == 1
    status, headers, body = call(port, "POST", "/api/v1/articles", [article(1), article(2)])
    assert status == 201, body
    results = json.loads(body)["results"]
    assert results[0]["story_id"] == results[1]["story_id"]  # the response says where
    seq = headers["X-Store-Seq"]
    # whichever reader answers, with the write's sequence it has caught up to it
    for _ in range(12):
        status, _, body = call(port, "GET", "/api/v1/articles/r-1/related?per_source=0",
                               headers={"X-Min-Store-Seq": seq})
        assert status == 200 and "r-2" in {i["id"] for i in json.loads(body)["items"]}
    # the same article re-posted is still one article (idempotent through the roles)
    status, _, body = call(port, "POST", "/api/v1/articles", [article(1)])
    assert status == 200 and json.loads(body)["results"][0]["status"] == "unchanged"
    status, _, body = call(port, "DELETE", "/api/v1/articles/r-2")
    assert status == 204
    assert call(port, "GET", "/api/v1/articles/r-2")[0] == 404
    # a bad write is refused with the field named, by the writer, through a reader
    status, _, body = call(port, "POST", "/api/v1/articles", {"title": ""})
    assert status == 422 and json.loads(body)["errors"][0]["field"] == "title"
    status, _, body = call(port, "GET", "/api/v1/stories", headers={"X-Min-Store-Seq": "x"})
    assert status == 400 and json.loads(body)["errors"][0]["field"] == "X-Min-Store-Seq"


def test_metrics_add_up_across_the_processes(server: Server) -> None:
    _, port, _ = server
    for _ in range(30):  # spread over both readers by the kernel
        assert call(port, "GET", "/api/v1/stories")[0] == 200
    call(port, "POST", "/api/v1/articles", [article(7)])
    _, headers, body = call(port, "GET", "/metrics")
    assert headers["Content-Type"].startswith("text/plain")
    lines = body.decode().splitlines()
    listed = [float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(
        'newsclusters_requests_total{endpoint="/api/v1/stories",method="GET",status="200"}')]
    assert listed == [30.0]
    assert 'newsclusters_ingested_articles_total{status="created"} 1.0' in lines
    processes = [line for line in lines if line.startswith("newsclusters_processes{")]
    assert sorted(processes) == ['newsclusters_processes{role="reader"} 2.0',
                                 'newsclusters_processes{role="writer"} 1.0']
    assert any(line.startswith("newsclusters_reader_behind ") for line in lines)
    assert any(line.startswith("newsclusters_write_waiting ") for line in lines)
    assert "newsclusters_store_articles 1.0" in lines


def test_a_killed_role_is_started_again_while_the_others_serve(server: Server) -> None:
    process, port, _ = server
    acknowledged = []
    for number in range(5):
        assert call(port, "POST", "/api/v1/articles", [article(number)])[0] == 201
        acknowledged.append(f"r-{number}")
    # a reader dies: the other serves every read meanwhile
    victim = role_pids(process.pid)["reader"][0]
    os.kill(victim, signal.SIGKILL)
    for _ in range(20):
        assert call(port, "GET", "/api/v1/stories")[0] == 200
    wait_for(lambda: len(role_pids(process.pid)["reader"]) == 2
             and victim not in role_pids(process.pid)["reader"])
    wait_until_ready(port, process)
    # a writer that does not answer makes /readyz name it, and reads go on
    writer = role_pids(process.pid)["writer"][0]
    os.kill(writer, signal.SIGSTOP)
    try:
        status, _, body = call(port, "GET", "/readyz")
        assert status == 503 and "writer" in json.loads(body)["detail"]
        assert call(port, "GET", "/api/v1/articles/r-1")[0] == 200
    finally:
        os.kill(writer, signal.SIGCONT)
    # the writer dies: reads go on, writes wait for the new writer or are refused
    os.kill(writer, signal.SIGKILL)
    assert call(port, "GET", "/api/v1/articles/r-1")[0] == 200
    status, _, body = call(port, "POST", "/api/v1/articles", [article(50)])
    assert status in (201, 503), body
    if status == 201:
        acknowledged.append("r-50")
    else:
        assert json.loads(body)["type"].endswith("writer-unavailable")
    wait_for(lambda: role_pids(process.pid)["writer"] not in ([], [writer]))
    wait_until_ready(port, process)
    assert call(port, "POST", "/api/v1/articles", [article(51)])[0] == 201
    acknowledged.append("r-51")
    for article_id in acknowledged:  # nothing acknowledged was lost
        assert call(port, "GET", f"/api/v1/articles/{article_id}")[0] == 200


def test_sigterm_stops_every_role_and_leaves_a_snapshot(server: Server) -> None:
    process, port, tmp_path = server
    assert call(port, "POST", "/api/v1/articles", [article(1), article(2)])[0] == 201
    children = [pid for pids in role_pids(process.pid).values() for pid in pids]
    process.send_signal(signal.SIGTERM)
    assert process.wait(90) == 0
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(
            f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    assert (tmp_path / "idx" / "CURRENT").exists()


def test_a_killed_supervisors_run_folder_is_cleared_by_the_next_one() -> None:
    from api.roles.supervisor import RUN_DIR_PREFIX, _remove_abandoned_run_dirs

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    abandoned = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))
    (abandoned / "supervisor.pid").write_text(str(gone.pid))
    alive = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))
    (alive / "supervisor.pid").write_text(str(os.getpid()))
    try:
        _remove_abandoned_run_dirs()
        assert not abandoned.exists() and alive.exists()
    finally:
        shutil.rmtree(alive, ignore_errors=True)
        shutil.rmtree(abandoned, ignore_errors=True)
