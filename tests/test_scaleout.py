"""The scale-out deployment on a real local Ray cluster (a head and two
worker nodes, loopback only) and a real PostgreSQL server, both started
here: it builds the stories the single-machine service builds, the same twice,
and loses or doubles nothing when actors are killed mid-stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster.articles.importer import batches_of
from cluster.articles.incoming import Article
from cluster.articles.jsonl import read_labelled
from cluster.evaluation.replay import labelled_items, run_clusterer
from cluster.evaluation.scores import bcubed
from cluster.scaleout.deployment import Deployment
from cluster.service.facade import StoryService
from cluster.settings import Settings
from cluster.store.postgres import PostgresStore
from tests.conftest import DEMO, SHARED_DATA, PostgresDatabases, make_settings
from tests.partitioned_stream import each_article_stored_once, town_storms

pytest.importorskip("ray", reason="the scale-out tests need Ray (make installs it)")


def _listening(skip_ports: set[int]) -> set[tuple[str, int]]:
    """TCP sockets listening on anything but loopback, from /proc."""
    found: set[tuple[str, int]] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            address, port_hex = fields[1].rsplit(":", 1)
            port = int(port_hex, 16)
            if not _is_loopback(address) and port not in skip_ports:
                found.add((address, port))
    return found


def _is_loopback(hex_address: str) -> bool:
    """An address as /proc/net/tcp{,6} writes it (32-bit words in host order)."""
    import ipaddress
    import struct

    words = [int(hex_address[i:i + 8], 16) for i in range(0, len(hex_address), 8)]
    packed = b"".join(struct.pack("=I", w) for w in words)
    address = ipaddress.ip_address(packed)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[tuple[str, set[tuple[str, int]]]]:
    """(address, the non-loopback listeners Ray added)."""
    import shutil
    import tempfile

    from cluster.scaleout.local_ray import LocalRay

    before = _listening(set())
    # short: Ray's unix sockets live under RAY_TMPDIR and their paths are limited
    folder = Path(tempfile.mkdtemp(prefix="nc-ray-"))
    cluster = LocalRay(folder, nodes=3).start()
    try:
        yield cluster.address, _listening(set()) - before
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def scale_settings(tmp_path: Path, postgres: PostgresDatabases) -> Settings:
    url = postgres.url_for(tmp_path)
    PostgresStore(url).close()  # create the schema, as the writer would
    return make_settings(tmp_path, store_url=url, embed_batch_size=16)


def run_distributed(settings: Settings, address: str, batches: list[list[Article]],
                    embedders: int = 2) -> dict[str, int]:
    deployment = Deployment(settings, embedders, embed_batch=32).start(address)
    try:
        for batch in batches:
            deployment.queue.enqueue(batch)
        assert deployment.wait_until_drained(timeout=240), deployment.status()
        status = deployment.status()
        assert sum(e["embedded"] for e in status["embedders"]) == sum(map(len, batches))
    finally:
        deployment.stop()
    service = StoryService(settings).open()
    try:
        with service.store.read() as reader:
            return {k: int(v) for k, v in reader.assignments().items()}
    finally:
        service.close()


def test_ray_stays_on_loopback(ray_cluster: tuple[str, set[tuple[str, int]]]) -> None:
    address, outward = ray_cluster
    assert address.startswith("127.0.0.1:")
    assert outward == set(), f"Ray listens beyond loopback: {outward}"


def test_the_distributed_service_builds_the_single_machine_stories_and_the_same_twice(
    tmp_path: Path, postgres: PostgresDatabases,
    ray_cluster: tuple[str, set[tuple[str, int]]],
) -> None:
    path = SHARED_DATA / "ecbplus_dev.jsonl"
    items = labelled_items(path) if path.exists() else read_labelled(DEMO)
    articles = [item.article for item in items]
    batches = batches_of(items, 64)  # as the single-machine replay cuts them
    single = make_settings(tmp_path / "single", embed_batch_size=16)
    from cluster.embedding.models import create_embedder

    predicted, _ = run_clusterer(single, create_embedder(single), items, batch_size=64)
    gold = [item.cluster for item in items]
    first = run_distributed(scale_settings(tmp_path / "one", postgres), ray_cluster[0],
                            batches)
    again = run_distributed(scale_settings(tmp_path / "two", postgres), ray_cluster[0],
                            batches)
    assert len(first) == len(articles)
    distributed = [first[a.id] for a in articles]
    f1_single, f1_distributed = bcubed(gold, predicted)[2], bcubed(gold, distributed)[2]
    print(f"{path.name if path.exists() else 'demo'}: B3 F1 single {f1_single:.4f}, "
          f"distributed {f1_distributed:.4f}")
    assert abs(f1_single - f1_distributed) <= 0.01
    assert first == again  # the same input in the same order: the same stories


def test_killed_actors_lose_and_double_nothing(
    tmp_path: Path, postgres: PostgresDatabases,
    ray_cluster: tuple[str, set[tuple[str, int]]],
) -> None:
    settings = scale_settings(tmp_path, postgres)
    articles = town_storms(900, towns=40, outlets=7)
    deployment = Deployment(settings, 2, embed_batch=16).start(ray_cluster[0])
    try:
        before = deployment.status()
        for start in range(0, 300, 30):
            deployment.queue.enqueue(articles[start:start + 30])
        time.sleep(0.5)
        os.kill(before["embedders"][0]["pid"], signal.SIGKILL)
        for start in range(300, 600, 30):
            deployment.queue.enqueue(articles[start:start + 30])
        os.kill(before["writer"]["pid"], signal.SIGKILL)
        for start in range(600, 900, 30):
            deployment.queue.enqueue(articles[start:start + 30])
        assert deployment.wait_until_drained(timeout=240), deployment.depth()
        after = deployment.status()
        assert after["writer"]["pid"] != before["writer"]["pid"]  # Ray restarted it
        assert after["embedders"][0]["pid"] != before["embedders"][0]["pid"]
    finally:
        deployment.stop()
    store = PostgresStore(settings.store_location, read_only=True)
    try:
        with store.read() as reader:
            assert reader.article_count() == 900
            assignments = reader.assignments()
            assert sorted(assignments) == sorted(a.id for a in articles)
            assert reader.index_seq() == 900  # each article indexed once
    finally:
        store.close()


def test_a_killed_embedder_partition_or_coordinator_loses_and_doubles_nothing(
    tmp_path: Path, postgres: PostgresDatabases,
    ray_cluster: tuple[str, set[tuple[str, int]]],
) -> None:
    settings = scale_settings(tmp_path, postgres)
    articles = town_storms(900, towns=40, outlets=7)
    # two partitions, the coordinator and one embedder on the three one-CPU nodes
    deployment = Deployment(settings, 1, embed_batch=16, partitions=2).start(ray_cluster[0])
    try:
        for start in range(0, 300, 30):
            deployment.queue.enqueue(articles[start:start + 30])
        assert _waited(lambda: deployment.status()["partitions"][1]["batches"] > 0)
        before = deployment.status()
        os.kill(before["embedders"][0]["pid"], signal.SIGKILL)
        os.kill(before["partitions"][1]["pid"], signal.SIGKILL)
        for start in range(300, 600, 30):
            deployment.queue.enqueue(articles[start:start + 30])
        os.kill(before["coordinator"]["pid"], signal.SIGKILL)
        for start in range(600, 900, 30):
            deployment.queue.enqueue(articles[start:start + 30])
        assert deployment.wait_until_drained(timeout=240), deployment.depth()
        after = deployment.status()
        assert after["partitions"][1]["pid"] != before["partitions"][1]["pid"]  # restarted
        assert after["coordinator"]["pid"] != before["coordinator"]["pid"]
        assert after["embedders"][0]["pid"] != before["embedders"][0]["pid"]
    finally:
        deployment.stop()
    owners, _ = each_article_stored_once(settings.store_location, articles)
    assert set(owners.values()) == {0, 1}


def _waited(condition: Any, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


COMMAND = str(Path(sys.executable).with_name("newsclusters"))


@pytest.fixture
def local_data(tmp_path: Path, postgres_installed: None) -> Iterator[tuple[Path, dict[str, str]]]:
    """A data folder the local server's postgres user can reach (PostgreSQL
    refuses to run as root), and the command's environment over it."""
    import shutil
    import tempfile

    data = Path(tempfile.mkdtemp(prefix="nc-scale-cli-"))
    data.chmod(0o755)
    env = {**os.environ, "NEWSCLUSTERS_DATA_DIR": str(data / "var"),
           "NEWSCLUSTERS_INDEX_DIR": str(tmp_path / "indexes"),
           "NEWSCLUSTERS_EMBEDDER": "hashing"}
    try:
        yield data, env
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_the_local_command_starts_everything_on_loopback_and_clusters_the_files(
    local_data: tuple[Path, dict[str, str]],
) -> None:
    data, env = local_data
    done = subprocess.run(
        [COMMAND, "scale-out", "--local", "--embedders", "2", "--exit-when-drained", str(DEMO)],
        env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "started: the writer and 2" in done.stdout
    assert "store holds 46 articles" in done.stdout
    # the store stays in <data_dir>/postgres: a second run re-posts the same articles
    again = subprocess.run(
        [COMMAND, "scale-out", "--local", "--exit-when-drained", str(DEMO)],
        env=env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "store holds 46 articles" in again.stdout
    assert done.stdout.split("store holds")[1].splitlines()[0] \
        == again.stdout.split("store holds")[1].splitlines()[0]  # the same stories
    assert (data / "var" / "postgres" / "data" / "PG_VERSION").exists()


def test_sigterm_stops_the_local_deployment_and_its_servers(
    local_data: tuple[Path, dict[str, str]],
) -> None:
    data, env = local_data
    driver = subprocess.Popen([COMMAND, "scale-out", "--local", str(DEMO)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    try:
        assert driver.stdout is not None
        lines: list[str] = []
        for line in driver.stdout:  # runs until the files are clustered
            lines.append(line)
            if line.startswith("store holds"):
                break
        assert lines[-1].startswith("store holds 46 articles"), lines
        driver.send_signal(signal.SIGTERM)
        assert driver.wait(120) == 0
        rest = driver.stdout.read()
        assert "stopped:" in rest
        postmaster = data / "var" / "postgres" / "data" / "postmaster.pid"
        assert not postmaster.exists()  # the local PostgreSQL server stopped too
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait(30)
        if driver.stdout is not None:
            driver.stdout.close()


def test_an_actor_that_cannot_start_is_a_clear_error(
    tmp_path: Path, ray_cluster: tuple[str, set[tuple[str, int]]],
) -> None:
    from cluster.errors import ConfigurationError
    from tests.conftest import free_port

    settings = make_settings(
        tmp_path, store_url=f"postgresql://nobody@127.0.0.1:{free_port()}/nothing")
    with pytest.raises(ConfigurationError, match=r"an actor could not start.*cannot reach"):
        Deployment(settings, 1, start_timeout_s=120).start(ray_cluster[0])


def test_settings_reach_the_actors_whole_with_the_driver_s_folders(tmp_path: Path) -> None:
    from cluster.scaleout.actors import _settings, settings_values
    from cluster.settings import load_settings

    settings = load_settings({"data_dir": "var", "index_dir": "indexes",
                              "store_url": "postgresql://u:secret@db/news",
                              "api_keys": "k" * 40}, environ={})
    rebuilt = _settings(settings_values(settings))
    assert rebuilt.store_url.get_secret_value() == "postgresql://u:secret@db/news"
    assert rebuilt.api_keys.get_secret_value() == "k" * 40
    assert rebuilt.data_dir == Path("var").resolve() and rebuilt.index_dir.is_absolute()
    assert rebuilt.cluster == settings.cluster
