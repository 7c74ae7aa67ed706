import copy
import json

import pytest

from placement import BankError, load_bank, next_item, record, result, start
from placement.bank import registered_bank


def test_loads_and_describes_levels(bank):
    assert bank.levels == ["A1", "A2", "B1", "B2", "C1"]
    assert bank.level_of(-2.0) == "A1"
    assert bank.level_of(-1.75) == "A2"
    assert bank.level_of(3.0) == "C1"
    assert bank.level_middle("B1") == pytest.approx(-0.25)
    assert registered_bank(bank.fingerprint) is bank


def test_load_from_file(tmp_path, bank_data):
    path = tmp_path / "bank.json"
    path.write_text(json.dumps(bank_data))
    assert load_bank(path).fingerprint == load_bank(bank_data).fingerprint


def test_level_names_come_from_file(fresh_bank_data):
    fresh_bank_data["cut_scores"] = {"Two": -1.0, "Three": 1.0}
    fresh_bank_data["base_level"] = "One"
    for item in fresh_bank_data["items"]:
        item["level"] = "Two"
    bank = load_bank(fresh_bank_data)
    assert bank.levels == ["One", "Two", "Three"]
    state = start(bank, prior_level="Three", seed=1)
    assert result(state)["level"] == "Three"


def test_enemies_are_symmetric(fresh_bank_data):
    fresh_bank_data["items"][0]["enemies"] = [fresh_bank_data["items"][1]["id"]]
    bank = load_bank(fresh_bank_data)
    assert list(bank.enemies[1]) == [0]


def test_product_shaped_bank_runs(product_bank):
    assert product_bank.levels == ["A1", "A2", "B1.1", "B1.2", "B2", "C1"]
    state = start(product_bank, prior_level="B1.2", seed=3)
    while (item := next_item(state)) is not None:
        record(state, item, product_bank.b[product_bank.index[item]] < 0.4)
    out = result(state)
    assert out["finished"] and out["level"] in product_bank.levels


def _bad(data, mutate):
    data = copy.deepcopy(data)
    mutate(data)
    return data


BAD_CASES = {
    "missing field": (lambda d: d["items"][3].pop("b"), ["i0003", "'b'"]),
    "missing id": (lambda d: d["items"][3].pop("id"), ["#3", "'id'"]),
    "a zero": (lambda d: d["items"][4].update(a=0), ["i0004", "'a'"]),
    "a negative": (lambda d: d["items"][4].update(a=-0.5), ["i0004", "'a'"]),
    "a not a number": (lambda d: d["items"][4].update(a="1.2"), ["i0004", "'a'"]),
    "c negative": (lambda d: d["items"][5].update(c=-0.1), ["i0005", "'c'"]),
    "c too big": (lambda d: d["items"][5].update(c=0.5), ["i0005", "'c'"]),
    "unsorted cuts": (lambda d: d.update(cut_scores={"A2": -1.0, "B1": -1.5}), ["cut_scores", "B1"]),
    "duplicate ids": (lambda d: d["items"][7].update(id="i0006"), ["i0006", "duplicate"]),
    "unknown enemy": (lambda d: d["items"][8].update(enemies=["nope"]), ["i0008", "'enemies'", "nope"]),
    "unknown level": (lambda d: d["items"][9].update(level="Z9"), ["i0009", "'level'"]),
    "no items": (lambda d: d.update(items=[]), ["'items'"]),
    "no cuts": (lambda d: d.pop("cut_scores"), ["cut_scores"]),
    "bad eligibility": (lambda d: d["items"][2].update(eligibility=0), ["i0002", "eligibility"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_banks_are_rejected_with_a_precise_message(bank_data, case):
    mutate, words = BAD_CASES[case]
    with pytest.raises(BankError) as err:
        load_bank(_bad(bank_data, mutate))
    for word in words:
        assert word in str(err.value)


def test_invalid_json_file(tmp_path):
    path = tmp_path / "bank.json"
    path.write_text("{not json")
    with pytest.raises(BankError, match="not valid JSON"):
        load_bank(path)
