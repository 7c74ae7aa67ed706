"""Read the YAML content into the typed model, keeping the line of every field.

Structural problems (missing or mistyped fields, unknown keys, bad level or skill
values) are found here; checks across items and files live in :mod:`exercises.validate`.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import yaml

from .model import (
    IRT,
    ITEM_TYPES,
    LEVELS,
    LOCALES,
    PASSAGE_KINDS,
    SKILLS,
    Content,
    Descriptors,
    Explanation,
    Item,
    ItemSet,
    Passage,
    Source,
    Statement,
)

DEFAULT_ROOT = Path(__file__).resolve().parent / "content"
CONTENT_DIRS = ("placement", "practice")
DESCRIPTORS_FILE = Path("selfassessment") / "descriptors.yaml"

COMMON_FIELDS = {"id", "type", "level", "skill", "topic", "prompt", "explanation", "irt", "enemies"}
REQUIRED_COMMON = ("id", "type", "level", "skill", "prompt", "explanation")
TYPE_FIELDS = {
    "choice": ({"options", "answer"}, set()),
    "gap": ({"text", "answers"}, {"hints"}),
    "order": ({"words", "answers"}, set()),
    "match": ({"pairs"}, set()),
    "reading": ({"passage", "options", "answer"}, set()),
    "listening": ({"passage", "options", "answer"}, set()),
    "writing": ({"rubric", "min_words"}, set()),
}


class Problem(NamedTuple):
    """One content error, printed as ``path:line: message``."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ContentError(ValueError):
    """Raised by :func:`load_content` when the content has structural problems."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class YMap(dict):
    """A YAML mapping that remembers its line and the line of each key."""

    line: int = 0
    key_lines: dict

    def line_of(self, key: str) -> int:
        """Return the line of ``key``, or of the mapping itself when absent."""
        return self.key_lines.get(key, self.line)


class YList(list):
    """A YAML sequence that remembers its line and the line of each element."""

    line: int = 0
    item_lines: list


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences carry the lines of the composed nodes."""

    duplicates: list

    def construct_ymap(self, node: yaml.MappingNode) -> YMap:
        self.flatten_mapping(node)
        result = YMap()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, "found an unhashable key", key_node.start_mark
                )
            line = key_node.start_mark.line + 1
            if key in result:
                self.duplicates.append((line, f"duplicate key {key!r} (first on line {result.key_lines[key]})"))
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines.setdefault(key, line)
        return result

    def construct_ylist(self, node: yaml.SequenceNode) -> YList:
        result = YList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_ymap)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _LineLoader.construct_ylist)


def display_path(path: Path | str) -> str:
    """Return ``path`` relative to the working directory when it lies under it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def read_yaml(path: Path | str, problems: list[Problem]) -> Any:
    """Parse one YAML file into YMap/YList values; syntax errors and duplicate keys go to ``problems``."""
    shown = display_path(path)
    text = Path(path).read_text(encoding="utf-8")
    loader = _LineLoader(text)
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else 1
        problems.append(Problem(shown, line, f"YAML syntax: {getattr(exc, 'problem', None) or exc}"))
        return None
    finally:
        loader.dispose()
    problems.extend(Problem(shown, line, msg) for line, msg in loader.duplicates)
    return data


class _Reader:
    """Typed field access on YMaps that records problems with their lines."""

    def __init__(self, path: str, problems: list[Problem]):
        self.path = path
        self.problems = problems
        self.failed = False

    def error(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, message))
        self.failed = True

    def mapping(self, value: Any, line: int, what: str) -> YMap | None:
        if isinstance(value, YMap):
            return value
        self.error(line, f"{what} must be a mapping")
        return None

    def text(self, m: YMap, key: str, what: str, required: bool = True) -> str | None:
        if key not in m or m[key] is None:
            if required:
                self.error(m.line, f"{what}: missing required field {key!r}")
            return None
        value = m[key]
        if not isinstance(value, str) or not value.strip():
            self.error(m.line_of(key), f"{what}: {key!r} must be a non-empty string")
            return None
        return value

    def choice(self, m: YMap, key: str, allowed: tuple[str, ...], what: str) -> str | None:
        value = self.text(m, key, what)
        if value is not None and value not in allowed:
            self.error(m.line_of(key), f"{what}: {key} {value!r} is not one of {', '.join(allowed)}")
            return None
        return value

    def integer(self, m: YMap, key: str, what: str, minimum: int = 0) -> int | None:
        if key not in m:
            self.error(m.line, f"{what}: missing required field {key!r}")
            return None
        value = m[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.error(m.line_of(key), f"{what}: {key!r} must be an integer >= {minimum}")
            return None
        return value

    def strings(self, m: YMap, key: str, what: str, minimum: int = 1, maximum: int | None = None,
                required: bool = True) -> tuple[str, ...] | None:
        if key not in m:
            if required:
                self.error(m.line, f"{what}: missing required field {key!r}")
            return None
        value = m[key]
        line = m.line_of(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.error(line, f"{what}: {key!r} must be a list of non-empty strings")
            return None
        if len(value) < minimum or (maximum is not None and len(value) > maximum):
            bound = f"{minimum}–{maximum}" if maximum is not None else f"at least {minimum}"
            self.error(line, f"{what}: {key!r} must have {bound} entries, not {len(value)}")
            return None
        return tuple(value)

    def string_lists(self, m: YMap, key: str, what: str, width: int | None = None) -> tuple[tuple[str, ...], ...] | None:
        if key not in m:
            self.error(m.line, f"{what}: missing required field {key!r}")
            return None
        value = m[key]
        line = m.line_of(key)
        shape = "a list of [left, right] pairs" if width == 2 else "a list of lists of strings"
        if (not isinstance(value, list) or not value
                or not all(isinstance(row, list) and all(isinstance(v, str) and v.strip() for v in row)
                           for row in value)):
            self.error(line, f"{what}: {key!r} must be {shape}")
            return None
        for row, row_line in zip(value, value.item_lines):
            if width is not None and len(row) != width:
                self.error(row_line, f"{what}: each entry of {key!r} must have exactly {width} strings")
                return None
        return tuple(tuple(row) for row in value)

    def unknown_keys(self, m: YMap, allowed: set[str], what: str) -> None:
        for key in m:
            if key not in allowed:
                self.error(m.line_of(key), f"{what}: unknown field {key!r}")


def _source(path: str, m: YMap) -> Source:
    """Lines of the fields of ``m``, and one level down: ``explanation.et``, ``options.2``."""
    lines = {str(k): v for k, v in m.key_lines.items()}
    for key, value in m.items():
        if isinstance(value, YMap):
            lines.update({f"{key}.{sub}": line for sub, line in value.key_lines.items()})
        elif isinstance(value, YList):
            lines.update({f"{key}.{n}": line for n, line in enumerate(value.item_lines)})
    return Source(path, m.line, MappingProxyType(lines))


def _explanation(r: _Reader, m: YMap, what: str) -> Explanation | None:
    if "explanation" not in m:
        return None  # reported with the other required fields
    value = r.mapping(m["explanation"], m.line_of("explanation"), f"{what}: explanation")
    if value is None:
        return None
    texts = {}
    for locale in LOCALES:
        if value.get(locale) is None:
            r.error(m.line_of("explanation"), f"{what}: explanation: missing required field {locale!r}")
            texts[locale] = None
        else:
            texts[locale] = r.text(value, locale, f"{what}: explanation")
    r.unknown_keys(value, set(LOCALES), f"{what}: explanation")
    return None if None in texts.values() else Explanation(**texts)


def _irt(r: _Reader, m: YMap, what: str) -> IRT | None:
    if "irt" not in m:
        return None
    value = r.mapping(m["irt"], m.line_of("irt"), f"{what}: irt")
    if value is None:
        return None
    numbers = {}
    for key in ("a", "b", "c"):
        number = value.get(key)
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            r.error(value.line_of(key), f"{what}: irt.{key} must be a number")
            return None
        numbers[key] = float(number)
    r.unknown_keys(value, {"a", "b", "c"}, f"{what}: irt")
    return IRT(**numbers)


def _item(r: _Reader, m: YMap, purpose: str, set_name: str) -> Item | None:
    item_id = m.get("id") if isinstance(m.get("id"), str) else None
    what = f"item {item_id}" if item_id else "item"
    r.failed = False
    for key in REQUIRED_COMMON:
        if key not in m:
            r.error(m.line, f"{what}: missing required field {key!r}")
    item_type = r.choice(m, "type", ITEM_TYPES, what) if "type" in m else None
    fields: dict[str, Any] = {
        "id": r.text(m, "id", what) if "id" in m else None,
        "level": r.choice(m, "level", LEVELS, what) if "level" in m else None,
        "skill": r.choice(m, "skill", SKILLS, what) if "skill" in m else None,
        "prompt": r.text(m, "prompt", what) if "prompt" in m else None,
        "topic": r.text(m, "topic", what, required=False),
        "explanation": _explanation(r, m, what),
        "irt": _irt(r, m, what),
        "enemies": r.strings(m, "enemies", what, required=False) or (),
    }
    if item_type is None:
        return None
    required, optional = TYPE_FIELDS[item_type]
    r.unknown_keys(m, COMMON_FIELDS | required | optional, f"{what} ({item_type})")
    if item_type in ("choice", "reading", "listening"):
        fields["options"] = r.strings(m, "options", what, minimum=2, maximum=5)
        fields["answer"] = r.integer(m, "answer", what)
    if item_type in ("reading", "listening"):
        fields["passage"] = r.text(m, "passage", what)
    if item_type == "gap":
        fields["text"] = r.text(m, "text", what)
        fields["answers"] = r.string_lists(m, "answers", what)
        fields["hints"] = r.strings(m, "hints", what, required=False) or ()
    if item_type == "order":
        fields["words"] = r.strings(m, "words", what, minimum=2)
        fields["answers"] = r.string_lists(m, "answers", what)
    if item_type == "match":
        fields["pairs"] = r.string_lists(m, "pairs", what, width=2)
    if item_type == "writing":
        fields["rubric"] = r.strings(m, "rubric", what)
        fields["min_words"] = r.integer(m, "min_words", what, minimum=1)
    if r.failed:
        return None
    return Item(type=item_type, purpose=purpose, set_name=set_name, source=_source(r.path, m), **fields)


def _passages(r: _Reader, value: Any, line: int) -> list[Passage]:
    passages: list[Passage] = []
    block = r.mapping(value, line, "passages")
    if block is None:
        return passages
    for passage_id, body in block.items():
        what = f"passage {passage_id}"
        r.failed = False
        m = r.mapping(body, block.line_of(passage_id), what)
        if m is None or not isinstance(passage_id, str):
            if m is not None:
                r.error(block.line_of(passage_id), f"{what}: the id must be a string")
            continue
        kind = r.choice(m, "kind", PASSAGE_KINDS, what)
        text = r.text(m, "text", what)
        title = r.text(m, "title", what, required=False)
        r.unknown_keys(m, {"kind", "text", "title"}, what)
        if not r.failed:
            source = Source(r.path, block.line_of(passage_id),
                            MappingProxyType({str(k): v for k, v in m.key_lines.items()}))
            passages.append(Passage(passage_id, kind, text, title, source))
    return passages


def parse_set(path: Path | str, problems: list[Problem]) -> ItemSet | None:
    """Parse one set file; problems go to ``problems``, and broken items or passages are left out."""
    shown = display_path(path)
    data = read_yaml(path, problems)
    r = _Reader(shown, problems)
    if data is None and not any(p.path == shown for p in problems):
        r.error(1, "the file is empty")
    m = r.mapping(data, 1, "set file") if data is not None else None
    if m is None:
        return None
    name = r.text(m, "set", "set file")
    purpose = r.choice(m, "purpose", ("placement", "practice"), "set file")
    r.unknown_keys(m, {"set", "purpose", "passages", "items"}, "set file")
    passages = _passages(r, m["passages"], m.line_of("passages")) if "passages" in m else []
    items: list[Item] = []
    raw_items = m.get("items")
    if not isinstance(raw_items, list):
        r.error(m.line_of("items"), "set file: 'items' must be a list of items")
    else:
        for raw, line in zip(raw_items, raw_items.item_lines):
            if not isinstance(raw, YMap):
                r.error(line, "item must be a mapping")
                continue
            item = _item(r, raw, purpose or "", name or "")
            if item is not None:
                items.append(item)
    return ItemSet(name or "", purpose or "", tuple(items), tuple(passages), _source(shown, m))


def _translations(r: _Reader, value: Any, line: int, what: str, path: str) -> Statement | None:
    m = r.mapping(value, line, what)
    if m is None:
        return None
    texts = {locale: r.text(m, locale, what) for locale in LOCALES}
    r.unknown_keys(m, set(LOCALES), what)
    return None if None in texts.values() else Statement(**texts, source=_source(path, m))


def _labels(r: _Reader, m: YMap, path: str) -> dict[str, dict[str, Statement]]:
    labels: dict[str, dict[str, Statement]] = {}
    block = r.mapping(m["labels"], m.line_of("labels"), "descriptors: labels")
    if block is None:
        return labels
    r.unknown_keys(block, {"skills", "levels"}, "descriptors: labels")
    for group in ("skills", "levels"):
        entries = r.mapping(block[group], block.line_of(group), f"descriptors: labels.{group}") \
            if group in block else None
        labels[group] = {}
        for key, value in (entries or {}).items():
            label = _translations(r, value, entries.line_of(key), f"descriptors: labels.{group}.{key}", path)
            if label is not None:
                labels[group][str(key)] = label
    return labels


def parse_descriptors(path: Path | str, problems: list[Problem]) -> Descriptors | None:
    """Parse the self-assessment grid; completeness is checked by the validator."""
    shown = display_path(path)
    r = _Reader(shown, problems)
    data = read_yaml(path, problems)
    m = r.mapping(data, 1, "descriptors") if data is not None else None
    if m is None:
        return None
    skills = r.strings(m, "skills", "descriptors") or ()
    levels = r.strings(m, "levels", "descriptors") or ()
    r.unknown_keys(m, {"skills", "levels", "grid", "labels"}, "descriptors")
    labels = _labels(r, m, shown) if "labels" in m else {}
    grid: dict[str, dict[str, tuple[Statement, ...]]] = {}
    raw_grid = r.mapping(m.get("grid"), m.line_of("grid"), "descriptors: grid")
    for skill, by_level in (raw_grid or {}).items():
        cells = r.mapping(by_level, raw_grid.line_of(skill), f"descriptors: grid.{skill}")
        grid[str(skill)] = {}
        for level, statements in (cells or {}).items():
            where = f"descriptors: grid.{skill}.{level}"
            if not isinstance(statements, YList):
                r.error(cells.line_of(level), f"{where} must be a list of statements")
                continue
            built: list[Statement] = []
            for raw, line in zip(statements, statements.item_lines):
                statement = _translations(r, raw, line, f"{where} statement", shown)
                if statement is not None:
                    built.append(statement)
            grid[str(skill)][str(level)] = tuple(built)
    return Descriptors(tuple(skills), tuple(levels), MappingProxyType(grid), _source(shown, m),
                       MappingProxyType(labels))


def content_files(root: Path | str) -> list[Path]:
    """Return the set files under ``root`` (placement, then practice), sorted by name."""
    root = Path(root)
    return [path for sub in CONTENT_DIRS for path in sorted((root / sub).glob("*.yaml"))]


def resolve_root(root: Path | str | None = None) -> Path:
    """Return the content root: ``root`` if given, else the package's ``content`` folder."""
    return Path(root) if root is not None else DEFAULT_ROOT


def parse_content(root: Path | str | None = None) -> tuple[Content, list[Problem]]:
    """Parse everything under ``root`` and return the content with the structural problems found."""
    root = resolve_root(root)
    problems: list[Problem] = []
    sets = [s for s in (parse_set(path, problems) for path in content_files(root)) if s is not None]
    descriptors_path = root / DESCRIPTORS_FILE
    descriptors = parse_descriptors(descriptors_path, problems) if descriptors_path.exists() else None
    return Content(os.fspath(root), tuple(sets), descriptors), problems


def load_content(root: Path | str | None = None) -> Content:
    """Load the content under ``root`` (default: the package's content); not cached, cache it in the caller.

    Raises :class:`ContentError` listing every structural problem; run the validator for the rest.
    """
    content, problems = parse_content(root)
    if problems:
        raise ContentError(problems)
    return content
