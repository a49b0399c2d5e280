#!/usr/bin/env python3
"""Concurrent load on loopback: N clients for a bounded time, a mix of reads,
listings and ingest batches; requests/s, p50/p95/p99 per endpoint, errors by
status, and a check that every acknowledged write is stored.

    python -m scripts.loadtest --start [--corpus FILE] [--clients 32] [--duration 30]
    python -m scripts.loadtest --url http://127.0.0.1:8000 --api-key KEY

``--start`` runs the production server (``newsclusters serve``) on a scratch store loaded
with the corpus (default: the demo corpus) and stops it afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

if not __package__:  # run as a file, the checkout's packages are not importable
    raise SystemExit("run from the repository root: python -m scripts.loadtest [OPTIONS]")

from scripts._common import run

ROOT = Path(__file__).resolve().parent.parent
MIX = (("related", 0.35), ("story", 0.35), ("listing", 0.20), ("ingest", 0.10))


class Client:
    def __init__(self, base: str, key: str | None) -> None:
        self.base = base.rstrip("/")
        self.key = key

    def call(self, method: str, path: str, body: object | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["X-API-Key"] = self.key
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, headers=headers,
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return 0, b""


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def start_server(corpus: Path, embedder: str, key: str) -> tuple[subprocess.Popen[bytes], str]:
    folder = Path(tempfile.mkdtemp(prefix="newsclusters-load-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "NEWSCLUSTERS_DATA_DIR": str(folder / "var"),
           "NEWSCLUSTERS_INDEX_DIR": str(folder / "indexes"), "NEWSCLUSTERS_PORT": str(port),
           "NEWSCLUSTERS_EMBEDDER": embedder, "NEWSCLUSTERS_API_KEYS": key,
           "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, str(ROOT / "scripts" / "ingest.py"), str(corpus)],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    command = Path(sys.executable).with_name("newsclusters")
    server = subprocess.Popen([str(command), "serve"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    probe_client = Client(base, None)
    for _ in range(600):
        if probe_client.call("GET", "/readyz")[0] == 200:
            return server, base
        time.sleep(0.1)
    os.killpg(server.pid, signal.SIGKILL)
    raise SystemExit("the server did not start")


def stall(base: str, count: int) -> list[socket.socket]:
    """``count`` connections that stall: half send one byte of a request
    line, half a related-coverage POST whose promised body never comes."""
    parts = urllib.parse.urlsplit(base)
    held = []
    for n in range(count):
        sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
        if n % 2:
            sock.sendall(b"POST /api/v1/related HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        else:
            sock.sendall(b"G")
        held.append(sock)
    return held


def _is_open(sock: socket.socket) -> bool:
    """Whether the server still holds the connection (it closes it when the
    client has been silent for ``client_timeout_s``)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server")
    parser.add_argument("--start", action="store_true", help="start a scratch server")
    parser.add_argument("--corpus", type=Path, default=ROOT / "cluster" / "demo" / "demo.jsonl",
                        help="articles loaded before the run and posted during it")
    parser.add_argument("--embedder", default="sentence-transformers",
                        choices=["sentence-transformers", "hashing"])
    parser.add_argument("--api-key", default=None,
                        help="the key for writes, against a server started elsewhere (--url)")
    parser.add_argument("--clients", type=int, default=32,
                        help="concurrent clients (default 32)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds")
    parser.add_argument("--batch", type=int, default=5, help="articles per ingest request")
    parser.add_argument("--json", action="store_true",
                        help="print the figures as JSON instead of a table")
    parser.add_argument("--stalled", type=int, default=0, metavar="N",
                        help="also hold N stalled connections through the run (each sent one "
                             "byte of a request, or a request whose body never arrives) and "
                             "time /healthz while they are held")
    args = parser.parse_args()
    if not args.url and not args.start:
        parser.error("give --url or --start")

    server = None
    key = args.api_key
    if args.start:
        key = key or secrets.token_urlsafe(24)
        print(f"starting the production server on {args.corpus.name} ({args.embedder})...",
              file=sys.stderr)
        server, base = start_server(args.corpus, args.embedder, key)
    else:
        base = args.url
    client = Client(base, key)
    try:
        status, body = client.call("GET", "/api/v1/stories?status=all&limit=200")
        if status != 200:
            raise SystemExit(f"cannot list stories: HTTP {status}")
        stories = [s["id"] for s in json.loads(body)["items"]]
        articles: list[str] = []
        for story in stories[:50]:
            _, detail = client.call("GET", f"/api/v1/stories/{story}?limit=20")
            articles += [a["id"] for a in json.loads(detail)["articles"]]
        if not stories or not articles:
            raise SystemExit("the server has no stories to read")

        latencies: dict[str, list[float]] = defaultdict(list)
        statuses: dict[str, Counter[int]] = defaultdict(Counter)
        acknowledged: list[str] = []
        lock = threading.Lock()
        deadline = time.monotonic() + args.duration
        run_id = f"{int(time.time())}"

        def worker(number: int) -> None:
            rng = random.Random(number)
            sent = 0
            while time.monotonic() < deadline:
                kind = rng.choices([m for m, _ in MIX], [w for _, w in MIX])[0]
                batch_ids: list[str] = []
                started = time.perf_counter()
                if kind == "related":
                    code, _ = client.call("GET", f"/api/v1/articles/{rng.choice(articles)}"
                                                 "/related?k=10")
                elif kind == "story":
                    code, _ = client.call("GET", f"/api/v1/stories/{rng.choice(stories)}")
                elif kind == "listing":
                    code, _ = client.call("GET", "/api/v1/stories?limit=20")
                else:
                    batch_ids = [f"load-{run_id}-{number}-{sent + i}" for i in range(args.batch)]
                    sent += args.batch
                    topic = rng.choice(["storm floods harbour", "bank holds rates",
                                        "pilots strike", "summit talks", "quake strikes"])
                    code, _ = client.call("POST", "/api/v1/articles", [
                        {"id": i, "title": f"{topic} update {i}", "source": f"Load {number % 9}",
                         "text": f"Load-test article {i} about the {topic}."}
                        for i in batch_ids])
                elapsed = time.perf_counter() - started
                with lock:
                    latencies[kind].append(elapsed)
                    statuses[kind][code] += 1
                    if kind == "ingest" and code in (200, 201):
                        acknowledged.extend(batch_ids)

        held = stall(base, args.stalled)
        healthz: list[float] = []

        def probe_health() -> None:
            while time.monotonic() < deadline:
                begun = time.perf_counter()
                code, _ = client.call("GET", "/healthz")
                healthz.append(time.perf_counter() - begun if code == 200 else float("inf"))
                time.sleep(0.2)

        started = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.clients)]
        threads.append(threading.Thread(target=probe_health))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        still_open = sum(1 for sock in held if _is_open(sock))
        for sock in held:
            sock.close()

        lost = [i for i in acknowledged if client.call("GET", f"/api/v1/articles/{i}")[0] != 200]
        total = sum(len(v) for v in latencies.values())
        rows = []
        for kind, _ in MIX:
            values = latencies.get(kind, [])
            errors = {str(c): n for c, n in sorted(statuses[kind].items()) if c not in (200, 201)}
            rows.append({"endpoint": kind, "requests": len(values),
                         "per_s": round(len(values) / wall, 1),
                         "p50_ms": round(percentile(values, 0.50) * 1000, 1),
                         "p95_ms": round(percentile(values, 0.95) * 1000, 1),
                         "p99_ms": round(percentile(values, 0.99) * 1000, 1),
                         "errors": errors})
        fivexx = sum(n for kind in statuses for c, n in statuses[kind].items() if c >= 500)
        report = {"clients": args.clients, "seconds": round(wall, 1), "requests": total,
                  "per_s": round(total / wall, 1), "rows": rows, "status_5xx": fivexx,
                  "acknowledged_writes": len(acknowledged), "lost_writes": len(lost),
                  "stalled_connections": len(held), "stalled_still_open": still_open,
                  "healthz_p50_ms": round(percentile(healthz, 0.5) * 1000, 1),
                  "healthz_max_ms": round(max(healthz, default=0.0) * 1000, 1)}
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print(f"{args.clients} clients, {wall:.1f} s, {total} requests, "
                  f"{total / wall:.1f} requests/s")
            print(f"{'endpoint':<10} {'requests':>9} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} "
                  f"{'p99 ms':>8}  errors")
            for row in rows:
                print(f"{row['endpoint']:<10} {row['requests']:>9} {row['per_s']:>7} "
                      f"{row['p50_ms']:>8} {row['p95_ms']:>8} {row['p99_ms']:>8}  "
                      f"{row['errors'] or 'none'}")
            print(f"5xx: {fivexx}; acknowledged writes: {len(acknowledged)}, lost: {len(lost)}")
            print(f"stalled connections held: {len(held)} ({still_open} still open at the end); "
                  f"/healthz p50 {report['healthz_p50_ms']} ms, max {report['healthz_max_ms']} ms "
                  f"over {len(healthz)} probes")
        if fivexx or lost:
            raise SystemExit(1)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=90)


if __name__ == "__main__":
    run(main)
