import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from placement.cli import OUT_COLUMNS, main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def files(tmp_path, bank_data):
    (tmp_path / "bank.json").write_text(json.dumps(bank_data))
    (tmp_path / "examinees.csv").write_text("id,theta,prior_level\na,-1.0,A2\nb,0.4,\nc,1.8,C1\n")
    return tmp_path


def test_simulate_writes_exactly_the_documented_columns(files):
    result = subprocess.run(
        [sys.executable, "-m", "placement", "simulate", "--bank", str(files / "bank.json"),
         "--examinees", str(files / "examinees.csv"), "--out", str(files / "out.csv"), "--seed", "3"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    assert "RMSE" in result.stdout and "exact level" in result.stdout
    assert "3/3" in result.stderr  # progress bar
    with open(files / "out.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == OUT_COLUMNS == ("id", "theta_true", "theta_hat", "sem", "items_used", "level")
    assert [r[0] for r in rows[1:]] == ["a", "b", "c"]
    for row in rows[1:]:
        assert 8 <= int(row[4]) <= 30 and row[5] in {"A1", "A2", "B1", "B2", "C1"}


def test_simulate_is_deterministic_with_a_seed(files, capsys):
    args = ["simulate", "--bank", str(files / "bank.json"), "--examinees", str(files / "examinees.csv"),
            "--seed", "9", "--out"]
    main([*args, str(files / "one.csv")])
    main([*args, str(files / "two.csv")])
    assert (files / "one.csv").read_text() == (files / "two.csv").read_text()


def test_bad_prior_level_is_reported(files):
    (files / "examinees.csv").write_text("id,theta,prior_level\na,0,Z9\n")
    with pytest.raises(SystemExit, match="prior_level 'Z9'"):
        main(["simulate", "--bank", str(files / "bank.json"), "--examinees", str(files / "examinees.csv"),
              "--out", str(files / "o.csv")])


@pytest.mark.parametrize("command", [[], ["simulate"], ["calibrate"], ["exposure"]])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: python -m placement" in capsys.readouterr().out
