"""The real content under exercises/content: it validates with the minimum counts met, is spelt right
and exports a bank the placement engine loads and runs."""

from __future__ import annotations

import pytest

from exercises import spelling
from exercises.export import build_bank
from exercises.loader import DEFAULT_ROOT, content_files
from exercises.validate import validate
from placement import load_bank, next_item, record, result, start


@pytest.fixture(scope="module")
def validated():
    return validate(DEFAULT_ROOT, counts=True)


def test_real_content_is_valid_and_complete(validated):
    _, problems = validated
    assert not problems, "content errors:\n" + "\n".join(map(str, problems))


def test_every_file_is_loaded(validated):
    content, _ = validated
    assert len(content.sets) == len(content_files(DEFAULT_ROOT))


def test_real_bank_loads_and_runs_in_the_placement_engine(validated):
    content, _ = validated
    bank = load_bank(build_bank(content))
    assert len(bank) == sum(1 for item in content.items if item.purpose == "placement")
    state = start(bank, prior_level="A2", seed=7)
    while (item_id := next_item(state)) is not None:
        record(state, item_id, True)
    outcome = result(state)
    assert outcome["finished"] and outcome["level"] == "C1"  # all right: the top level


@pytest.mark.skipif(not spelling.hunspell_available(),
                    reason="hunspell or its et_EE dictionary (Debian myspell-et) is not installed")
def test_real_content_spelling(validated):
    content, _ = validated
    unknown = spelling.spellcheck(content)
    assert not unknown, "unknown Estonian words (fix them or add them to an allowlist):\n" + "\n".join(
        f"{u.word}\t{u.count}\t{u.path}:{u.line}" for u in unknown)
