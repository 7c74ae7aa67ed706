import copy

import pytest

from placement.bank import load_bank
from placement.simulation import synthetic_bank_dict


@pytest.fixture(scope="session")
def bank_data():
    return synthetic_bank_dict(200, seed=1, enemy_pairs=10)


@pytest.fixture
def fresh_bank_data(bank_data):
    return copy.deepcopy(bank_data)


@pytest.fixture(scope="session")
def bank(bank_data):
    return load_bank(bank_data)


@pytest.fixture(scope="session")
def product_bank():
    """A bank shaped like the one the exercises package exports."""
    skills = ["vocabulary", "grammar", "reading", "listening"]
    levels = ["A1", "A2", "B1.1", "B1.2", "B2", "C1"]
    cuts = {"A2": -1.5, "B1.1": -0.5, "B1.2": 0.1, "B2": 0.75, "C1": 1.75}
    middles = [-2.0, -1.0, -0.2, 0.42, 1.25, 2.25]
    items = []
    for k, (level, mid) in enumerate(zip(levels, middles)):
        for j in range(24):
            items.append(
                {
                    "id": f"{level}-{j}",
                    "a": 1.0,
                    "b": mid + (j % 6 - 2.5) * 0.15,
                    "c": [0, 0.25, 0.333][j % 3],
                    "skill": skills[j % 4],
                    "level": level,
                }
            )
    return load_bank({"items": items, "cut_scores": cuts, "base_level": "A1"})
