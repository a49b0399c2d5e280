#!/usr/bin/env python3
"""Concurrent load on loopback: N clients for a bounded time, a mix of reads,
text queries, pages and ingest batches; requests/s, p50/p95/p99 per
endpoint, errors by status, and a check that every acknowledged write is
stored.

    python -m scripts.loadtest --start [--corpus FILE ...] [--clients 32] [--duration 60]
    python -m scripts.loadtest --start --mix read-only
    python -m scripts.loadtest --start --burst 500      # a 500-article batch mid-run
    python -m scripts.loadtest --url http://127.0.0.1:8000 --api-key KEY

``--start`` runs the production server (``newsclusters serve``, with
``--readers`` reader processes; 0 is the one-process server) on a scratch
store loaded with the corpus (default: the demo corpus), reports the memory
of each of its processes, and stops it afterwards. ``--burst N`` posts N
articles in one request a quarter into the run and reports the reads that
overlapped it on their own rows ("... during burst").
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
MIXES = {
    "mixed": (("related", 0.27), ("story", 0.25), ("listing", 0.15), ("page", 0.05),
              ("search", 0.08), ("related_text", 0.10), ("ingest", 0.10)),
    "read-only": (("related", 0.30), ("story", 0.28), ("listing", 0.17), ("page", 0.05),
                  ("search", 0.10), ("related_text", 0.10)),
}
"""related: GET related by article id; story: GET one story; listing: GET
the story list; page: the home page; search: GET stories?q=; related_text:
POST /api/v1/related; ingest: POST a batch of --batch articles."""
QUERIES = ("storm floods harbour", "central bank interest rates", "pilots strike airline",
           "earthquake coast tsunami warning", "summit talks missiles", "election results vote",
           "court ruling law appeal", "climate summit emissions deal")


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


def start_server(corpus: list[Path], embedder: str, key: str, readers: int | None,
                 store: Path | None) -> tuple[subprocess.Popen[bytes], str]:
    folder = Path(tempfile.mkdtemp(prefix="newsclusters-load-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data, indexes = (folder / "var", folder / "indexes") if store is None else (
        store / "var", store / "indexes")
    env = {**os.environ, "NEWSCLUSTERS_DATA_DIR": str(data),
           "NEWSCLUSTERS_INDEX_DIR": str(indexes), "NEWSCLUSTERS_PORT": str(port),
           "NEWSCLUSTERS_EMBEDDER": embedder, "NEWSCLUSTERS_API_KEYS": key,
           "HF_HUB_OFFLINE": "1"}
    if readers is not None:
        env["NEWSCLUSTERS_READERS"] = str(readers)
    if store is None:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "ingest.py"),
                        *map(str, corpus)], env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
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


def corpus_samples(files: list[Path], count: int) -> list[tuple[str, str, str]]:
    """``count`` (title, text, source) of the corpus files' articles, cycling."""
    found = []
    for path in files:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                found.append((str(row.get("title") or "Untitled"),
                              str(row.get("text") or "")[:20_000],
                              str(row.get("source") or "Wire")))
    if not found:
        raise SystemExit("--burst needs a --corpus with articles")
    return [found[n % len(found)] for n in range(count)]


def process_memory(root: int) -> list[dict[str, object]]:
    """Resident and proportional memory (MB) and CPU seconds used so far of a
    process and its descendants: PSS shares each mapped page (the model's
    weights, a mapped index) among the processes that map it, so the PSS
    figures add up to the total."""
    ticks = os.sysconf("SC_CLK_TCK")
    table: dict[int, tuple[int, list[bytes], dict[str, int]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().split(b"\0")
            rollup = (entry / "smaps_rollup").read_text()
        except OSError:
            continue
        fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup.splitlines()[1:]}
        fields["cpu_ticks"] = int(stat[11]) + int(stat[12])  # utime + stime
        table[int(entry.name)] = (int(stat[1]), command, fields)
    tree, grown = {root}, True
    while grown:
        found = {pid for pid, (parent, _, _) in table.items() if parent in tree} - tree
        tree |= found
        grown = bool(found)
    rows = []
    for pid in sorted(tree & set(table)):
        _, command, fields = table[pid]
        if b"api.roles.process" in command:
            role = command[command.index(b"api.roles.process") + 1].decode()
        elif pid == root:
            role = "supervisor" if any(b"api.roles.process" in table[p][1]
                                       for p in tree if p in table) else "server"
        else:
            role = "presentation worker" if b"cluster.stories.worker" in command else "other"
        rows.append({"pid": pid, "role": role, "rss_mb": round(fields.get("Rss", 0) / 1024, 1),
                     "pss_mb": round(fields.get("Pss", 0) / 1024, 1),
                     "cpu_s": round(fields["cpu_ticks"] / ticks, 1)})
    return rows


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
    parser.add_argument("--corpus", type=Path, nargs="+",
                        default=[ROOT / "cluster" / "demo" / "demo.jsonl"],
                        help="JSONL files loaded before the run (default: the demo corpus)")
    parser.add_argument("--store", type=Path, default=None,
                        help="with --start: serve this folder's var/ and indexes/ (an existing "
                             "store, e.g. a synthetic one) instead of loading --corpus")
    parser.add_argument("--readers", type=int, default=None,
                        help="with --start: reader processes (0: the one-process server; "
                             "default: the setting's default)")
    parser.add_argument("--mix", choices=sorted(MIXES), default="mixed",
                        help="what the clients do (default: mixed, with 10%% ingest)")
    parser.add_argument("--burst", type=int, default=0, metavar="N",
                        help="post N articles in one request a quarter into the run")
    parser.add_argument("--embedder", default="sentence-transformers",
                        choices=["sentence-transformers", "multilingual", "hashing"])
    parser.add_argument("--api-key", default=None,
                        help="the key for writes, against a server started elsewhere (--url)")
    parser.add_argument("--clients", type=int, default=32,
                        help="concurrent clients (default 32)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds")
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
        print(f"starting the production server on "
              f"{args.store or ', '.join(c.name for c in args.corpus)} ({args.embedder})...",
              file=sys.stderr)
        server, base = start_server(args.corpus, args.embedder, key, args.readers, args.store)
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

        mix = MIXES[args.mix]
        latencies: dict[str, list[float]] = defaultdict(list)
        statuses: dict[str, Counter[int]] = defaultdict(Counter)
        acknowledged: list[str] = []
        spans: list[tuple[str, float, float]] = []  # (kind, start, end) on the monotonic clock
        burst_window: list[float] = []
        lock = threading.Lock()
        deadline = time.monotonic() + args.duration
        run_id = f"{int(time.time())}"

        def worker(number: int) -> None:
            rng = random.Random(number)
            sent = 0
            while time.monotonic() < deadline:
                kind = rng.choices([m for m, _ in mix], [w for _, w in mix])[0]
                batch_ids: list[str] = []
                begun = time.monotonic()
                started = time.perf_counter()
                if kind == "related":
                    code, _ = client.call("GET", f"/api/v1/articles/{rng.choice(articles)}"
                                                 "/related?k=10")
                elif kind == "story":
                    code, _ = client.call("GET", f"/api/v1/stories/{rng.choice(stories)}")
                elif kind == "listing":
                    code, _ = client.call("GET", "/api/v1/stories?limit=20")
                elif kind == "page":
                    code, _ = client.call("GET", "/")
                elif kind == "search":
                    query = urllib.parse.quote(rng.choice(QUERIES))
                    code, _ = client.call("GET", f"/api/v1/stories?q={query}&limit=10")
                elif kind == "related_text":
                    code, _ = client.call("POST", "/api/v1/related", {
                        "title": rng.choice(QUERIES).capitalize(),
                        "text": f"Reports on the {rng.choice(QUERIES)} as it develops."})
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
                    spans.append((kind, begun, begun + elapsed))
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

        samples = corpus_samples(args.corpus, args.burst) if args.burst else []

        def burst() -> None:
            time.sleep(args.duration / 4)
            ids = [f"burst-{run_id}-{n}" for n in range(args.burst)]
            # the corpus's own articles, retitled so that each is embedded anew
            batch = [{"id": i, "title": f"Update {n}: {title}", "source": source,
                      "text": text}
                     for n, (i, (title, text, source)) in enumerate(zip(ids, samples,
                                                                         strict=True))]
            begun = time.monotonic()
            code, _ = client.call("POST", "/api/v1/articles", batch)
            burst_window.extend([begun, time.monotonic()])
            with lock:
                latencies["burst ingest"].append(burst_window[1] - begun)
                statuses["burst ingest"][code] += 1
                if code in (200, 201):
                    acknowledged.extend(ids)

        cpu_before = {int(str(p["pid"])): float(str(p["cpu_s"]))
                      for p in (process_memory(server.pid) if server is not None else [])}
        own_before = time.process_time()
        started = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.clients)]
        threads.append(threading.Thread(target=probe_health))
        if args.burst:
            threads.append(threading.Thread(target=burst))
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
        kinds = [kind for kind, _ in mix] + (["burst ingest"] if args.burst else [])
        for kind in kinds:
            values = latencies.get(kind, [])
            errors = {str(c): n for c, n in sorted(statuses[kind].items()) if c not in (200, 201)}
            rows.append({"endpoint": kind, "requests": len(values),
                         "per_s": round(len(values) / wall, 1),
                         "p50_ms": round(percentile(values, 0.50) * 1000, 1),
                         "p95_ms": round(percentile(values, 0.95) * 1000, 1),
                         "p99_ms": round(percentile(values, 0.99) * 1000, 1),
                         "errors": errors})
        if len(burst_window) == 2:  # the reads that overlapped the burst's request
            lo, hi = burst_window
            for kind, _ in mix:
                values = [end - start for k, start, end in spans
                          if k == kind and start < hi and end > lo]
                if kind != "ingest" and values:
                    rows.append({"endpoint": f"{kind} during burst", "requests": len(values),
                                 "per_s": round(len(values) / (hi - lo), 1),
                                 "p50_ms": round(percentile(values, 0.50) * 1000, 1),
                                 "p95_ms": round(percentile(values, 0.95) * 1000, 1),
                                 "p99_ms": round(percentile(values, 0.99) * 1000, 1),
                                 "errors": {}})
        memory = process_memory(server.pid) if server is not None else []
        for proc in memory:  # CPU seconds spent during the run
            proc["cpu_s"] = round(float(str(proc["cpu_s"])) - cpu_before.get(
                int(str(proc["pid"])), 0.0), 1)
        client_cpu_s = round(time.process_time() - own_before, 1)
        fivexx = sum(n for kind in statuses for c, n in statuses[kind].items() if c >= 500)
        report = {"clients": args.clients, "seconds": round(wall, 1), "requests": total,
                  "per_s": round(total / wall, 1), "rows": rows, "status_5xx": fivexx,
                  "acknowledged_writes": len(acknowledged), "lost_writes": len(lost),
                  "stalled_connections": len(held), "stalled_still_open": still_open,
                  "healthz_p50_ms": round(percentile(healthz, 0.5) * 1000, 1),
                  "healthz_max_ms": round(max(healthz, default=0.0) * 1000, 1),
                  "burst_seconds": round(burst_window[1] - burst_window[0], 1)
                  if len(burst_window) == 2 else None,
                  "memory": memory, "client_cpu_s": client_cpu_s,
                  "memory_pss_total_mb": round(sum(float(str(p["pss_mb"])) for p in memory), 1)}
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
            if report["burst_seconds"] is not None:
                print(f"burst of {args.burst} articles: {report['burst_seconds']} s")
            for proc in memory:
                print(f"memory: {proc['role']} (pid {proc['pid']}): RSS {proc['rss_mb']} MB, "
                      f"PSS {proc['pss_mb']} MB; CPU during the run {proc['cpu_s']} s")
            print(f"CPU of the load-test clients during the run: {client_cpu_s} s")
            if memory:
                print(f"memory: PSS total {report['memory_pss_total_mb']} MB")
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
