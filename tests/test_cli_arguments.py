"""What a command says when it cannot start or is stopped. Files named on
the command line are checked before anything else: a missing or unreadable
one stops the command with its usage line, the file and the reason (exit
status 2), never a traceback, and before the store is opened or the model
loaded. Ctrl-C ends a command with one line and status 130."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.cli import main

MISSING = "no-such-file.jsonl"


@pytest.mark.parametrize("argv", [
    ["ingest", MISSING],
    ["evaluate", MISSING],
    ["tune", MISSING],
    ["feeds", MISSING],
    ["restore", MISSING],
    ["run", "--feeds", MISSING],
    ["scale-out", MISSING],
])
def test_a_missing_input_file_stops_the_command_naming_it(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSCLUSTERS_DATA_DIR", str(tmp_path / "var"))
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert f"{MISSING}: No such file or directory" in error and "Traceback" not in error
    assert not (tmp_path / "var").exists()


def test_a_folder_is_not_a_file_to_read(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["ingest", str(tmp_path)])
    assert stopped.value.code == 2
    assert f"{tmp_path}: Is a directory" in capsys.readouterr().err


def test_a_valid_file_and_a_missing_one_stop_before_either_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    readable = tmp_path / "articles.jsonl"
    readable.write_text('{"id": "a", "title": "x", "text": "y", "source": "s"}\n')
    monkeypatch.setenv("NEWSCLUSTERS_DATA_DIR", str(tmp_path / "var"))
    with pytest.raises(SystemExit):
        main(["ingest", str(readable), str(tmp_path / MISSING)])
    assert MISSING in capsys.readouterr().err
    assert not (tmp_path / "var").exists()


def test_ctrl_c_ends_a_command_with_one_line_and_status_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from cluster.cli import operations

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(operations, "rebuild_index", interrupted)
    assert main(["rebuild"]) == 130
    error = capsys.readouterr().err
    assert "interrupted: what was written before is stored" in error
    assert "Traceback" not in error
