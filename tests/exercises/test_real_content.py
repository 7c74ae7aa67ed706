"""The real content under exercises/content: it parses, validates, is spelt right and exports a loadable bank.

Skipped while exercises/content/placement has no files yet.
"""

from __future__ import annotations

import pytest

from exercises import spelling
from exercises.export import build_bank
from exercises.loader import DEFAULT_ROOT, content_files
from exercises.validate import validate

pytestmark = pytest.mark.skipif(not list((DEFAULT_ROOT / "placement").glob("*.yaml")),
                                reason="exercises/content/placement has no files yet")


@pytest.fixture(scope="module")
def validated():
    return validate(DEFAULT_ROOT, counts=False)


def test_real_content_is_valid(validated):
    _, problems = validated
    assert not problems, "content errors:\n" + "\n".join(map(str, problems))


def test_every_file_is_loaded(validated):
    content, _ = validated
    assert len(content.sets) == len(content_files(DEFAULT_ROOT))


def test_real_bank_loads_in_the_placement_engine(validated):
    content, problems = validated
    if problems:
        pytest.skip("the content has errors (see test_real_content_is_valid)")
    bank_module = pytest.importorskip("placement.bank", reason="placement.bank is not available yet")
    bank = bank_module.load_bank(build_bank(content))
    assert len(bank) == sum(1 for item in content.items if item.purpose == "placement")


@pytest.mark.skipif(not spelling.hunspell_available(),
                    reason="hunspell or its et_EE dictionary (Debian myspell-et) is not installed")
def test_real_content_spelling(validated):
    content, _ = validated
    unknown = spelling.spellcheck(content)
    assert not unknown, "unknown Estonian words (fix them or add them to an allowlist):\n" + "\n".join(
        f"{u.word}\t{u.count}\t{u.path}:{u.line}" for u in unknown)
