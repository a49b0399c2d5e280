from __future__ import annotations

import re
from pathlib import Path

import pytest

from cluster.errors import ConfigurationError
from cluster.settings import ClusterParams, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_load_without_environment() -> None:
    settings = load_settings(environ={})
    assert settings.embedder == "sentence-transformers"
    assert settings.host == "127.0.0.1"


def test_environment_overrides_with_prefix_and_nested_cluster_params() -> None:
    settings = load_settings(environ={"NEWSCLUSTERS_PORT": "9001",
                                      "NEWSCLUSTERS_CLUSTER__JOIN_THRESHOLD": "0.7"})
    assert settings.port == 9001
    assert settings.cluster.join_threshold == 0.7


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    config = tmp_path / "service.toml"
    config.write_text('port = 7000\nmax_batch = 10\n[cluster]\nneighbours = 5\n')
    settings = load_settings({"max_batch": 20}, environ={
        "NEWSCLUSTERS_CONFIG": str(config), "NEWSCLUSTERS_PORT": "7001"})
    assert (settings.port, settings.max_batch, settings.cluster.neighbours) == (7001, 20, 5)


@pytest.mark.parametrize(("environ", "named"), [
    ({"NEWSCLUSTERS_PORT": "eighty"}, "port"),
    ({"NEWSCLUSTERS_CLUSTER__JOIN_THRESHOLD": "2"}, "cluster.join_threshold"),
    ({"NEWSCLUSTERS_EMBEDDER": "word2vec"}, "embedder"),
    ({"NEWSCLUSTERS_NO_SUCH_THING": "1"}, "NEWSCLUSTERS_NO_SUCH_THING"),
])
def test_invalid_settings_are_refused_naming_the_setting(environ: dict[str, str],
                                                         named: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(named)):
        load_settings(environ=environ)


def test_unreadable_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="NEWSCLUSTERS_CONFIG"):
        load_settings(environ={"NEWSCLUSTERS_CONFIG": str(tmp_path / "missing.toml")})


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name, info in Settings.model_fields.items():
        if name != "cluster":
            assert f"`{name}`" in readme, f"setting {name} missing from README"
        assert info.description, f"setting {name} has no help text"
    for name, info in ClusterParams.model_fields.items():
        assert f"`cluster.{name}`" in readme, f"setting cluster.{name} missing from README"
        assert info.description


def _documented_values() -> list[tuple[str, str, str]]:
    """(document, setting, value) for every table row in the README and the
    docs whose first cell names a setting: the value is the first cell after
    it that is not its environment variable."""
    rows = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line in path.read_text(encoding="utf-8").splitlines():
            cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
            if len(cells) < 2 or not line.startswith("| `"):
                continue
            name, rest = cells[0], [c for c in cells[1:] if not c.startswith("NEWSCLUSTERS_")]
            if rest and (name.removeprefix("cluster.") in ClusterParams.model_fields
                         if name.startswith("cluster.") else name in Settings.model_fields):
                rows.append((path.name, name, rest[0]))
    return rows


def test_values_the_docs_give_for_settings_are_the_codes() -> None:
    defaults = load_settings(environ={})
    rows = _documented_values()
    assert len(rows) > 40  # the README's table and the docs' tables were read
    for document, name, value in rows:
        if name.startswith("cluster."):
            actual = getattr(defaults.cluster, name.removeprefix("cluster."))
        else:
            actual = getattr(defaults, name)
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            continue  # paths, words and key lists: the README test covers their names
        assert float(value.replace(",", "")) == float(actual), (document, name, value)


def test_short_api_keys_are_refused_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match=r"api_keys: .*shorter than 16 characters"):
        load_settings(environ={"NEWSCLUSTERS_API_KEYS": "letmein, a-long-enough-key-1234"})
    assert load_settings(environ={"NEWSCLUSTERS_API_KEYS": "a-long-enough-key-1234"}).keys


def test_an_embedder_brings_its_own_calibration_under_explicit_settings() -> None:
    english = load_settings(environ={})
    multilingual = load_settings(environ={"NEWSCLUSTERS_EMBEDDER": "multilingual"})
    assert (english.cluster.join_threshold, english.cluster.dense_join_threshold) == (0.375, 0.5)
    assert (multilingual.cluster.join_threshold, multilingual.cluster.headline_threshold,
            multilingual.cluster.dense_join_threshold) == (0.4, 0.35, 1.01)
    chosen = load_settings(environ={"NEWSCLUSTERS_EMBEDDER": "multilingual",
                                    "NEWSCLUSTERS_CLUSTER__DENSE_JOIN_THRESHOLD": "0.55"})
    assert (chosen.cluster.join_threshold, chosen.cluster.dense_join_threshold) == (0.4, 0.55)
