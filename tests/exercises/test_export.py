"""Placement bank export in the placement engine's JSON format."""

from __future__ import annotations

import json

import pytest

from exercises.__main__ import main
from exercises.export import build_bank, content_version

from .conftest import GOOD


def test_bank_format(good_content):
    bank = build_bank(good_content)
    assert bank["cut_scores"] == {"A2": -1.5, "B1.1": -0.5, "B1.2": 0.1, "B2": 0.75, "C1": 1.75}
    assert bank["base_level"] == "A1"
    assert bank["version"] == content_version(GOOD) and len(bank["version"]) == 64
    items = {item["id"]: item for item in bank["items"]}
    assert sorted(items) == ["p-a1-g-001", "p-a1-g-002", "p-a1-g-003", "p-a2-l-001", "p-b1-r-001", "p-b1-r-002"]
    assert items["p-a1-g-001"] == {"id": "p-a1-g-001", "a": 1.0, "b": -2.2, "c": 0.25,
                                   "skill": "grammar", "level": "A1"}
    assert items["p-b1-r-001"]["level"] == "B1.2" and items["p-b1-r-001"]["enemies"] == ["p-b1-r-002"]
    assert items["p-b1-r-002"]["level"] == "B1.1" and "enemies" not in items["p-b1-r-002"]


def test_version_changes_with_content(content_copy):
    before = content_version(content_copy)
    path = content_copy / "practice" / "a2-grammar.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert content_version(content_copy) != before


def test_export_cli_writes_json(tmp_path, capsys):
    out = tmp_path / "bank.json"
    assert main(["export-bank", "--root", str(GOOD), "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["base_level"] == "A1"
    assert "6 placement items written" in capsys.readouterr().out


def test_exported_bank_loads_in_the_placement_engine(good_content):
    bank_module = pytest.importorskip("placement.bank", reason="placement.bank is not available yet")
    simulation = pytest.importorskip("placement.simulation", reason="placement.simulation is not available yet")
    bank = bank_module.load_bank(build_bank(good_content))
    assert len(bank) == 6
    thetas, priors = simulation.synthetic_learners(bank, 3, seed=1)
    rows = simulation.simulate(bank, thetas, priors, seed=1)
    assert len(rows) == 3 and all(row["items_used"] >= 1 for row in rows)
