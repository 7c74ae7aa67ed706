import csv
import json

import numpy as np
import pytest

from placement import model
from placement.bank import load_bank
from placement.calibrate import calibrate_files, read_responses
from placement.cli import main
from placement.simulation import synthetic_bank_dict


@pytest.fixture(scope="module")
def calibration_case(tmp_path_factory):
    """40 true items, a start bank with noisy b and a = 1, and 1,000 simulated learners."""
    tmp = tmp_path_factory.mktemp("cal")
    rng = np.random.default_rng(0)
    true = load_bank(synthetic_bank_dict(40, seed=4, enemy_pairs=0))
    start = synthetic_bank_dict(40, seed=4, enemy_pairs=0)
    for item in start["items"]:
        item["b"] = round(item["b"] + rng.normal(0, 0.4), 4)
        item["a"] = 1.0
    (tmp / "start.json").write_text(json.dumps(start))
    theta = rng.normal(0, 1, 1000)
    with open(tmp / "responses.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["learner_id", "item_id", "correct"])
        for n in range(1000):
            for i in rng.choice(len(true), 20, replace=False):
                p = model.prob(theta[n], true.a[i], true.b[i], true.c[i])
                writer.writerow([f"L{n}", true.ids[i], int(rng.random() < p)])
        writer.writerow(["L0", "retired-item", 1])
    return tmp, true


def test_calibration_recovers_difficulty(calibration_case):
    tmp, true = calibration_case
    report = calibrate_files(tmp / "responses.csv", tmp / "start.json", tmp / "new.json", min_responses=50)
    new = load_bank(tmp / "new.json")
    assert new.ids == true.ids
    assert np.corrcoef(new.b, true.b)[0, 1] >= 0.95
    assert np.corrcoef(new.a, true.a)[0, 1] >= 0.5
    np.testing.assert_array_equal(new.c, true.c)  # c is kept
    assert report.fit["converged"]
    assert report.responses.unknown_items == {"retired-item": 1}
    assert "re-estimated" in report.text()


def test_scale_stays_anchored_to_the_current_bank(calibration_case):
    tmp, _ = calibration_case
    calibrate_files(tmp / "responses.csv", tmp / "start.json", tmp / "anchored.json", min_responses=50)
    old, new = load_bank(tmp / "start.json"), load_bank(tmp / "anchored.json")
    assert new.b.mean() == pytest.approx(old.b.mean(), abs=1e-3)
    assert new.b.std() == pytest.approx(old.b.std(), abs=1e-3)
    assert list(new.cuts) == list(old.cuts)


def test_under_used_items_keep_parameters(calibration_case):
    tmp, _ = calibration_case
    report = calibrate_files(tmp / "responses.csv", tmp / "start.json", tmp / "few.json", min_responses=500)
    old, new = load_bank(tmp / "start.json"), load_bank(tmp / "few.json")
    kept = [item_id for item_id, _ in report.under_used()]
    assert kept, "with 500 required responses some items must be under-used"
    for item_id in kept:
        assert new.b[new.index[item_id]] == old.b[old.index[item_id]]


def test_bad_response_rows_are_rejected(tmp_path, bank):
    path = tmp_path / "r.csv"
    path.write_text("learner_id,item_id,correct\nL1,i0001,yes\n")
    with pytest.raises(ValueError, match=":2: correct must be 0 or 1"):
        read_responses(path, bank)


def test_calibrate_cli(calibration_case, capsys):
    tmp, _ = calibration_case
    main(["calibrate", "--responses", str(tmp / "responses.csv"), "--bank", str(tmp / "start.json"),
          "--out", str(tmp / "cli.json"), "--min-responses", "50"])
    assert "misfitting items" in capsys.readouterr().out
    load_bank(tmp / "cli.json")
