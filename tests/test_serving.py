"""The production server as clients meet it: stalled connections cost a
buffer, never a request thread; the server's own refusals are problem+json;
SIGTERM lets it finish and snapshot. A real ``newsclusters serve`` on
loopback."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import scratch_server

STALLED = 256


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    with scratch_server(tmp_path) as (process, port):
        yield process, port, tmp_path


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def post(port: int, path: str, body: object) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return int(reply.status)


def test_stalled_clients_never_hold_the_server(
    server: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    _, port, _ = server
    held = []
    try:
        for n in range(STALLED):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if n % 2:  # a body that never arrives
                sock.sendall(b"POST /api/v1/related HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             b"application/json\r\nContent-Length: 1000\r\n\r\n{")
            else:  # one byte of a request line
                sock.sendall(b"G")
            held.append(sock)
        # with every request thread parked on a stalled client these would hang
        for _ in range(5):
            assert get(port, "/healthz")[0] == 200
        assert post(port, "/api/v1/articles", {"title": "Harbour wall collapses in storm",
                                               "source": "Wire"}) == 201
        assert get(port, "/api/v1/stories")[0] == 200
    finally:
        for sock in held:
            sock.close()


def test_the_servers_own_refusals_are_problem_json(
    server: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    _, port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 300_000 +
                     b"\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"431" and b"application/problem+json" in head
    assert json.loads(body)["status"] == 431


def test_sigterm_finishes_and_leaves_a_snapshot(
    server: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    process, port, folder = server
    assert post(port, "/api/v1/articles", {"title": "Pilots strike at two airports",
                                           "source": "Wire"}) == 201
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    assert (folder / "idx" / "CURRENT").exists()
