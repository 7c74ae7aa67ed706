"""Validator: the good fixture passes; each bad fixture yields its error at the marked file:line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from exercises.loader import ContentError, load_content
from exercises.validate import format_table, validate

from .conftest import BAD, GOOD

MARKER = re.compile(r"#\s*ERROR:\s*(.+?)\s*$")
BAD_KINDS = sorted(p.name for p in BAD.iterdir() if p.is_dir())


def test_good_fixture_is_valid():
    content, problems = validate(GOOD, counts=False)
    assert problems == []
    assert len(content.items) == 10


def test_counts_are_checked_when_asked():
    _, problems = validate(GOOD, counts=True)
    messages = [p.message for p in problems]
    assert "placement A1 vocabulary has 0 items; at least 30 are needed" in messages
    assert "practice has 4 items; at least 300 are needed" in messages


def _markers(path: Path) -> dict[int, str]:
    found = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = MARKER.search(line)
        if match:
            found[number] = match.group(1)
    return found


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_fixture_reports_file_and_line(kind, content_copy, monkeypatch):
    overlay = BAD / kind
    for source in overlay.rglob("*.yaml"):
        target = content_copy / source.relative_to(overlay)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    monkeypatch.chdir(content_copy.parent)
    _, problems = validate(content_copy, counts=False)
    expected = {}
    for source in overlay.rglob("*.yaml"):
        shown = str(Path("content") / source.relative_to(overlay))
        expected.update({(shown, line): text for line, text in _markers(source).items()})
    assert expected, f"fixture {kind} has no # ERROR: marker"
    for problem in problems:
        assert (problem.path, problem.line) in expected, f"unexpected error: {problem}"
        assert expected[problem.path, problem.line] in problem.message, str(problem)
    reported = {(p.path, p.line) for p in problems}
    assert set(expected) <= reported, f"missing errors at {sorted(set(expected) - reported)}: got {problems}"


def test_load_content_raises_on_structural_errors(content_copy):
    shutil.copy(BAD / "missing_field" / "placement" / "c1-grammar.yaml", content_copy / "placement")
    with pytest.raises(ContentError, match="missing required field 'options'"):
        load_content(content_copy)


def _descriptor_problems(root: Path, text: str):
    (root / "selfassessment" / "descriptors.yaml").write_text(text, encoding="utf-8")
    return [p for p in validate(root, counts=False)[1]]


def test_descriptor_cell_missing(content_copy):
    path = content_copy / "selfassessment" / "descriptors.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("    C1:", text.index("  writing:"))
    problems = _descriptor_problems(content_copy, text[:start])
    assert [p.message for p in problems] == ["grid.writing.C1 is missing"]


def test_descriptor_cell_with_one_statement(content_copy):
    path = content_copy / "selfassessment" / "descriptors.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    first = lines.index("    A1:\n") + 1  # listening A1: its second statement follows four lines later
    del lines[first + 4:first + 8]
    problems = _descriptor_problems(content_copy, "".join(lines))
    assert len(problems) == 1
    assert problems[0].message == "grid.listening.A1 needs 2–4 statements, not 1"
    assert problems[0].line == first + 1


def test_descriptor_file_missing(content_copy):
    (content_copy / "selfassessment" / "descriptors.yaml").unlink()
    problems = validate(content_copy, counts=False)[1]
    assert [p.message for p in problems] == ["the self-assessment descriptors file is missing"]


def test_count_table_lists_every_cell(good_content):
    table = format_table(good_content).splitlines()
    assert table[0].split() == ["purpose", "level", "vocabulary", "grammar", "reading", "listening",
                                "writing", "total"]
    assert table[1].split() == ["placement", "A1", "0", "3", "0", "0", "0", "3"]
    assert table[6].split() == ["placement", "all", "0", "3", "2", "1", "0", "6"]
    assert len(table) == 13
