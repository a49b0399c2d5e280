"""The package as a user installs it: the wheel built from this checkout,
installed into a fresh virtual environment and used from another folder
(the dependencies are borrowed from the running environment, so nothing
is downloaded; the checkout itself is not importable there)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import DEMO, ROOT, free_port, wait_until_ready


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the fresh environment's bin folder)."""
    folder = tmp_path_factory.mktemp("packaging")
    # from a copy of the checkout's files (as git sees them): an in-place
    # build would leave a build/ folder whose stale modules a later wheel ships
    source = folder / "source"
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                 ROOT).stdout
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "-w", str(folder / "dist"), str(source)], folder)
    (wheel,) = (folder / "dist").glob("newsclusters-*.whl")
    venv = folder / "venv"
    run([sys.executable, "-m", "venv", str(venv)], folder)
    bin_dir = venv / "bin"
    fresh_site = run([str(bin_dir / "python"), "-c",
                      "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     folder).stdout.strip()
    # the running environment's packages, without its editable link to the checkout
    Path(fresh_site, "borrowed_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n")
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-index", str(wheel)], folder)
    return wheel, bin_dir


def user_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"NEWSCLUSTERS_DATA_DIR": str(tmp / "var"),
                "NEWSCLUSTERS_INDEX_DIR": str(tmp / "indexes"),
                "NEWSCLUSTERS_EMBEDDER": "hashing"})
    return env


def test_the_wheel_holds_every_package_and_data_file(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in ("cluster", "api"):
        for init in (ROOT / package).rglob("__init__.py"):
            assert init.relative_to(ROOT).as_posix() in names
    assert {"cluster/demo/demo.jsonl", "cluster/py.typed", "api/py.typed",
            "api/templates/base.html"} <= names
    assert not any(name.startswith(("tests/", "benchmarks/", "scripts/")) for name in names)
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)


def test_the_installed_command_runs_from_another_folder(
    installed: tuple[Path, Path], tmp_path: Path,
) -> None:
    _, bin_dir = installed
    env = user_env(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    python = str(bin_dir / "python")
    where = run([python, "-c", "import cluster, api; print(cluster.__file__)"], elsewhere, env)
    assert not where.stdout.strip().startswith(str(ROOT))
    helped = run([str(bin_dir / "newsclusters"), "ingest", "--help"], elsewhere, env)
    assert "NEWSCLUSTERS_DATA_DIR" in helped.stdout
    ingested = run([str(bin_dir / "newsclusters"), "ingest", str(DEMO)], elsewhere, env)
    total = len(DEMO.read_text(encoding="utf-8").splitlines())
    assert f"created {total}," in ingested.stdout
    rebuilt = run([str(bin_dir / "newsclusters"), "rebuild", "--recluster"], elsewhere, env)
    assert f"rebuilt index: {total} articles" in rebuilt.stdout
    # the app, its templates and the feeds package come from the installed wheel
    probe = ("import json; from api import create_app; import cluster.feeds.poller;"
             "client = create_app().test_client();"
             "page = client.get('/'); body = client.get('/api/v1/stories').get_json();"
             "print(json.dumps([page.status_code, len(body['items'])]))")
    status, stories = json.loads(run([python, "-c", probe], elsewhere, env).stdout)
    assert status == 200 and stories > 0
    meta = run([python, "-c", "from importlib.metadata import metadata; m = metadata("
                "'newsclusters'); print(m['License-Expression'], m['Author'])"],
               elsewhere, env).stdout
    assert meta.startswith("MIT ")


def test_configuration_errors_and_interrupts_end_without_a_traceback(
    installed: tuple[Path, Path], tmp_path: Path,
) -> None:
    _, bin_dir = installed
    env = {**user_env(tmp_path), "NEWSCLUSTERS_CLUSTER__JOIN_THRESHOLD": "2"}
    result = subprocess.run([str(bin_dir / "newsclusters"), "rebuild"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert "join_threshold" in result.stderr and "Traceback" not in result.stderr
    keyless = {**user_env(tmp_path), "NEWSCLUSTERS_API_KEYS": ""}
    refused = subprocess.run([str(bin_dir / "newsclusters"), "serve"], cwd=tmp_path,
                             env=keyless, capture_output=True, text=True, timeout=120,
                             check=False)
    assert refused.returncode == 2 and "NEWSCLUSTERS_API_KEYS" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_ctrl_c_stops_the_local_server_cleanly(
    installed: tuple[Path, Path], tmp_path: Path,
) -> None:
    import signal
    import urllib.request

    _, bin_dir = installed
    port = free_port()
    env = {**user_env(tmp_path), "NEWSCLUSTERS_PORT": str(port)}
    server = subprocess.Popen([str(bin_dir / "newsclusters"), "run"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_ready(port, server, 120)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
            assert page.status == 200
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode in (0, 130), err
    assert "Traceback" not in err and "imported the demo corpus" in out
    # one log line per request: the app's own, not the development server's too
    assert err.count('"path": "/"') == 1 and "GET / HTTP" not in err
