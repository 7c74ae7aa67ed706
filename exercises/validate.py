"""Content validation: every rule of docs/content-format.md, reported as ``path:line: message``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterator

from .checkers import GAP, normalise
from .loader import DESCRIPTORS_FILE, Problem, display_path, parse_content
from .model import (
    B_BANDS,
    DESCRIPTOR_SKILLS,
    LEVELS,
    LISTENING_KINDS,
    OPTION_TYPES,
    PLACEMENT_TYPES,
    READING_KINDS,
    SKILLS,
    SPEAKER_LINE,
    Content,
    Item,
    ItemSet,
    Passage,
)

MIN_PLACEMENT_PER_CELL = 30
PLACEMENT_SKILLS = ("vocabulary", "grammar", "reading", "listening")
MIN_PRACTICE = 300
C_TOLERANCE = 0.005


def _set_problems(item_set: ItemSet) -> Iterator[Problem]:
    path = Path(item_set.source.path)
    expected = f"{path.parent.name}-{path.stem}"
    if item_set.name and item_set.name != expected:
        yield Problem(item_set.source.path, item_set.source.at("set"),
                      f"set name {item_set.name!r} must equal the path stem joined with '-': {expected!r}")
    if item_set.purpose and item_set.purpose != path.parent.name:
        yield Problem(item_set.source.path, item_set.source.at("purpose"),
                      f"purpose {item_set.purpose!r} does not match the folder {path.parent.name!r}")


def _irt_problems(item: Item, where) -> Iterator[tuple[int, str]]:
    if item.purpose == "practice":
        if item.irt is not None:
            yield where("irt"), "irt parameters are for placement items only"
        return
    if item.irt is None:
        yield where("id"), "placement items need irt parameters {a, b, c}"
        return
    a, b, c = item.irt.a, item.irt.b, item.irt.c
    if a <= 0:
        yield where("irt"), f"irt.a must be > 0, not {a}"
    low, high, inclusive = B_BANDS[item.level]
    if not (low <= b < high or (inclusive and b == high)):
        band = f"[{low}, {high}{']' if inclusive else ')'}"
        yield where("irt"), f"irt.b {b} is outside the {item.level} band {band}"
    if item.type in OPTION_TYPES and len(item.options) < 3:
        yield where("options"), "placement items need at least 3 options: with 2, c = 0.5, " \
                                "which the placement engine rejects (it needs c < 0.5)"
    expected_c = 1 / len(item.options) if item.type in OPTION_TYPES else 0.0
    if abs(c - expected_c) > C_TOLERANCE:
        yield where("irt"), f"irt.c must be {expected_c:.3g} for a {item.type} item with {len(item.options) or 'no'} options, not {c}"


def _type_problems(item: Item, where) -> Iterator[tuple[int, str]]:
    if item.type in OPTION_TYPES:
        if not 0 <= item.answer < len(item.options):
            yield where("answer"), f"answer {item.answer} is out of range for {len(item.options)} options"
        normalised = [normalise(o) for o in item.options]
        duplicates = sorted({o for o in item.options if normalised.count(normalise(o)) > 1})
        if duplicates:
            yield where("options"), f"options must be different (exactly one right option): {', '.join(duplicates)}"
    if item.type == "gap":
        gaps = len(GAP.findall(item.text))
        if gaps == 0:
            yield where("text"), "a gap text needs at least one ___ gap"
        if gaps != len(item.answers):
            yield where("answers"), f"the text has {gaps} gaps but answers has {len(item.answers)} entries"
        if any(not accepted for accepted in item.answers):
            yield where("answers"), "every gap needs at least one accepted answer"
        if item.hints and len(item.hints) != gaps:
            yield where("hints"), f"hints has {len(item.hints)} entries for {gaps} gaps"
        if item.purpose == "placement" and gaps != 1:
            yield where("text"), "placement gap items have exactly one gap"
    if item.type == "order":
        for order in item.answers:
            if sorted(order) != sorted(item.words):
                yield where("answers"), f"accepted order {' '.join(order)!r} is not a permutation of the words"
    if item.type == "match":
        for side, name in ((0, "left"), (1, "right")):
            counts = Counter(normalise(pair[side]) for pair in item.pairs)
            if any(n > 1 for n in counts.values()):
                yield where("pairs"), f"every {name} side of the pairs must be different"
        if len(item.pairs) < 2:
            yield where("pairs"), "a match item needs at least 2 pairs"
    if item.purpose == "placement" and item.type not in PLACEMENT_TYPES:
        if item.type == "writing":
            yield where("type"), "writing items belong in practice only"
        else:
            yield where("type"), f"placement items use {', '.join(PLACEMENT_TYPES)}, not {item.type}"


def _passage_problems(item: Item, passages: dict[str, Passage], where) -> Iterator[tuple[int, str]]:
    if item.passage is None:
        return
    passage = passages.get(item.passage)
    if passage is None:
        yield where("passage"), f"passage {item.passage!r} does not exist"
        return
    kinds = READING_KINDS if item.type == "reading" else LISTENING_KINDS
    if passage.kind not in kinds:
        yield where("passage"), f"a {item.type} item needs a passage of kind {', '.join(kinds)}, " \
                                f"but {passage.id} is a {passage.kind}"


def _dialogue_problems(passage: Passage) -> Iterator[Problem]:
    if passage.kind != "dialogue":
        return
    first = passage.source.at("text") + (1 if "\n" in passage.text else 0)
    for offset, line in enumerate(passage.text.splitlines()):
        match = SPEAKER_LINE.match(line)
        if line.strip() and not (match and match.group(1)[0].isupper() and match.group(2).strip()):
            yield Problem(passage.source.path, first + offset,
                          f"passage {passage.id}: a dialogue line starts with the speaker's first name and a colon")


def _fingerprint(item: Item, passages: dict[str, Passage]) -> tuple | None:
    if item.type in OPTION_TYPES:
        passage = passages.get(item.passage) if item.passage else None
        return (normalise(passage.text) if passage else "", normalise(item.prompt),
                tuple(normalise(o) for o in item.options))
    if item.type == "gap":
        return ("gap", normalise(item.text))
    if item.type == "order":
        return ("order", tuple(normalise(w) for w in item.words))
    if item.type == "match":
        return ("match", tuple(sorted(tuple(normalise(s) for s in pair) for pair in item.pairs)))
    return None


def _leak_problems(content: Content, passages: dict[str, Passage]) -> Iterator[Problem]:
    placement = [s for s in content.sets if s.purpose == "placement"]
    placement_passages = {p.id for s in placement for p in s.passages}
    placement_texts = {normalise(p.text): p.id for s in placement for p in s.passages}
    placement_items = {}
    for item in (i for s in placement for i in s.items):
        placement_items.setdefault(_fingerprint(item, passages), item.id)
    for item_set in content.sets:
        if item_set.purpose != "practice":
            continue
        for passage in item_set.passages:
            other = placement_texts.get(normalise(passage.text))
            if other:
                yield Problem(passage.source.path, passage.source.line,
                              f"passage {passage.id} repeats the text of placement passage {other}")
        for item in item_set.items:
            if item.passage in placement_passages:
                yield Problem(item.source.path, item.source.at("passage"),
                              f"item {item.id} uses placement passage {item.passage}")
            fingerprint = _fingerprint(item, passages)
            if fingerprint is not None and fingerprint in placement_items:
                yield Problem(item.source.path, item.source.line,
                              f"item {item.id} repeats placement item {placement_items[fingerprint]}")


def _unique_problems(content: Content) -> Iterator[Problem]:
    seen: dict[str, tuple[str, int]] = {}
    for item in content.items:
        if item.id in seen:
            path, line = seen[item.id]
            yield Problem(item.source.path, item.source.at("id"), f"duplicate item id {item.id} (also {path}:{line})")
        else:
            seen[item.id] = (item.source.path, item.source.at("id"))
    seen = {}
    for passage in content.passages:
        if passage.id in seen:
            path, line = seen[passage.id]
            yield Problem(passage.source.path, passage.source.line,
                          f"duplicate passage id {passage.id} (also {path}:{line})")
        else:
            seen[passage.id] = (passage.source.path, passage.source.line)


def _item_problems(content: Content) -> Iterator[Problem]:
    passages = {p.id: p for p in content.passages}
    ids = {item.id for item in content.items}
    for item in content.items:
        def where(name: str, item: Item = item) -> int:
            return item.source.at(name)
        found: list[tuple[int, str]] = []
        prefix = "p-" if item.purpose == "placement" else "x-"
        if not item.id.startswith(prefix):
            found.append((where("id"), f"{item.purpose} item ids start with {prefix!r}"))
        found += _irt_problems(item, where)
        found += _type_problems(item, where)
        found += _passage_problems(item, passages, where)
        for enemy in item.enemies:
            if enemy not in ids or enemy == item.id:
                found.append((where("enemies"), f"enemy {enemy!r} is not another item"))
        for line, message in found:
            yield Problem(item.source.path, line, f"item {item.id}: {message}")
    for passage in content.passages:
        yield from _dialogue_problems(passage)


def _descriptor_problems(content: Content) -> Iterator[Problem]:
    descriptors = content.descriptors
    if descriptors is None:
        yield Problem(display_path(Path(content.root) / DESCRIPTORS_FILE), 1,
                      "the self-assessment descriptors file is missing")
        return
    path, line = descriptors.source.path, descriptors.source.line
    if tuple(descriptors.skills) != DESCRIPTOR_SKILLS:
        yield Problem(path, line, f"skills must be {list(DESCRIPTOR_SKILLS)}")
    if tuple(descriptors.levels) != LEVELS:
        yield Problem(path, line, f"levels must be {list(LEVELS)}")
    for skill in descriptors.grid:
        if skill not in DESCRIPTOR_SKILLS:
            yield Problem(path, line, f"grid: unknown skill {skill!r}")
    if descriptors.labels:
        for group, keys in (("skills", DESCRIPTOR_SKILLS), ("levels", LEVELS)):
            given = descriptors.labels.get(group, {})
            where = descriptors.source.at("labels")
            for key in given:
                if key not in keys:
                    yield Problem(path, given[key].source.line, f"labels.{group}: unknown {group[:-1]} {key!r}")
            missing = [key for key in keys if key not in given]
            if missing:
                yield Problem(path, where, f"labels.{group} has no label for {', '.join(missing)}")
    for skill in DESCRIPTOR_SKILLS:
        for level in LEVELS:
            statements = descriptors.grid.get(skill, {}).get(level)
            if statements is None:
                yield Problem(path, line, f"grid.{skill}.{level} is missing")
            elif not 2 <= len(statements) <= 4:
                where = statements[0].source.line if statements else line
                yield Problem(path, where, f"grid.{skill}.{level} needs 2–4 statements, not {len(statements)}")


def count_table(content: Content) -> dict[tuple[str, str, str], int]:
    """Count items per (purpose, level, skill)."""
    return dict(Counter((item.purpose, item.level, item.skill) for item in content.items))


def _count_problems(content: Content) -> Iterator[Problem]:
    counts = count_table(content)
    where = display_path(content.root)
    for level in LEVELS:
        for skill in PLACEMENT_SKILLS:
            n = counts.get(("placement", level, skill), 0)
            if n < MIN_PLACEMENT_PER_CELL:
                yield Problem(where, 1, f"placement {level} {skill} has {n} items; at least "
                                        f"{MIN_PLACEMENT_PER_CELL} are needed")
    practice = sum(n for (purpose, _, _), n in counts.items() if purpose == "practice")
    if practice < MIN_PRACTICE:
        yield Problem(where, 1, f"practice has {practice} items; at least {MIN_PRACTICE} are needed")


def validate_content(content: Content, *, counts: bool = True) -> list[Problem]:
    """Return the problems across items and files of parsed ``content`` (minimum counts when ``counts``)."""
    problems: list[Problem] = []
    for item_set in content.sets:
        problems += _set_problems(item_set)
    problems += _unique_problems(content)
    problems += _item_problems(content)
    problems += _leak_problems(content, {p.id: p for p in content.passages})
    problems += _descriptor_problems(content)
    if counts:
        problems += _count_problems(content)
    return problems


def validate(root: Path | str | None = None, *, counts: bool = True) -> tuple[Content, list[Problem]]:
    """Parse and validate everything under ``root``; return the content and all problems, sorted."""
    content, problems = parse_content(root)
    problems = problems + validate_content(content, counts=counts)
    return content, sorted(set(problems), key=lambda p: (p.path, p.line, p.message))


def format_table(content: Content) -> str:
    """Render the item counts per purpose × level × skill as a text table."""
    counts = count_table(content)
    header = ["purpose", "level", *SKILLS, "total"]
    rows = [header]
    for purpose in ("placement", "practice"):
        for level in LEVELS:
            cells = [counts.get((purpose, level, skill), 0) for skill in SKILLS]
            rows.append([purpose, level, *map(str, cells), str(sum(cells))])
        total = [sum(counts.get((purpose, level, skill), 0) for level in LEVELS) for skill in SKILLS]
        rows.append([purpose, "all", *map(str, total), str(sum(total))])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(row, widths))) for row in rows)
