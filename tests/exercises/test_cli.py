"""The command line: help texts, exit codes and output of each subcommand."""

from __future__ import annotations

import shutil

import pytest

from exercises import audio, spelling
from exercises.__main__ import build_parser, main

from .conftest import BAD, GOOD


@pytest.mark.parametrize("argv", [["--help"], ["validate", "--help"], ["spellcheck", "--help"],
                                  ["audio", "--help"], ["export-bank", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert "usage: python -m exercises" in capsys.readouterr().out


def test_every_subcommand_is_documented():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) == {"validate", "spellcheck", "audio", "export-bank"}


def test_validate_ok_prints_table(capsys):
    assert main(["validate", "--root", str(GOOD), "--no-counts"]) == 0
    out = capsys.readouterr().out
    assert "content OK" in out and "purpose" in out.splitlines()[0]


def test_validate_errors_exit_non_zero(content_copy, capsys, monkeypatch):
    shutil.copy(BAD / "answer_range" / "placement" / "c1-grammar.yaml", content_copy / "placement")
    monkeypatch.chdir(content_copy.parent)
    assert main(["validate", "--root", "content", "--no-counts"]) == 1
    out = capsys.readouterr().out
    assert "content/placement/c1-grammar.yaml:10: item p-c1-g-001: answer 3 is out of range for 3 options" in out
    assert "1 error(s)" in out


def test_validate_counts_by_default(capsys):
    assert main(["validate", "--root", str(GOOD)]) == 1
    assert "at least 30 are needed" in capsys.readouterr().out


@pytest.mark.skipif(not spelling.hunspell_available(), reason="hunspell or et_EE is not installed")
def test_spellcheck_lists_word_count_and_place(content_copy, capsys, monkeypatch):
    path = content_copy / "practice" / "a2-grammar.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("Iga loom", "Iga lxom"), encoding="utf-8")
    monkeypatch.chdir(content_copy.parent)
    assert main(["spellcheck", "--root", "content"]) == 1
    assert "lxom\t1\tcontent/practice/a2-grammar.yaml:" in capsys.readouterr().out
    assert main(["spellcheck", "--root", str(GOOD)]) == 0


def test_structural_errors_stop_other_commands(content_copy, tmp_path, capsys):
    shutil.copy(BAD / "missing_field" / "placement" / "c1-grammar.yaml", content_copy / "placement")
    assert main(["export-bank", "--root", str(content_copy), "--out", str(tmp_path / "b.json")]) == 1
    assert "missing required field 'options'" in capsys.readouterr().err


@pytest.mark.skipif(not audio.espeak_available(), reason="espeak-ng is not installed")
def test_audio_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(audio.ENV_VAR, str(tmp_path / "env"))
    assert main(["audio", "--root", str(GOOD), "--only", "a2-l-01"]) == 0
    assert (tmp_path / "env" / "a2-l-01.wav").stat().st_size > 1000
    assert main(["audio", "--root", str(GOOD), "--cache", str(tmp_path / "env")]) == 0
    assert "0 file(s) synthesised, 1 already present" in capsys.readouterr().out
    assert main(["audio", "--root", str(GOOD), "--only", "nope"]) == 1
