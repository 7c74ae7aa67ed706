"""Typed, immutable model of the exercise content (see docs/content-format.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Mapping

LEVELS = ("A1", "A2", "B1", "B2", "C1")
SKILLS = ("vocabulary", "grammar", "reading", "listening", "writing")
PURPOSES = ("placement", "practice")
LOCALES = ("et", "en", "ru", "uk")
ITEM_TYPES = ("choice", "gap", "order", "match", "reading", "listening", "writing")
PLACEMENT_TYPES = ("choice", "gap", "reading", "listening", "order")
OPTION_TYPES = ("choice", "reading", "listening")
READING_KINDS = ("notice", "message", "ad", "article")
LISTENING_KINDS = ("dialogue", "announcement")
PASSAGE_KINDS = READING_KINDS + LISTENING_KINDS
DESCRIPTOR_SKILLS = ("listening", "reading", "spoken_interaction", "spoken_production", "writing")

#: b band of each content level on the product's theta scale: (low, high, high_inclusive).
B_BANDS = {
    "A1": (-3.0, -1.5, False),
    "A2": (-1.5, -0.5, False),
    "B1": (-0.5, 0.75, False),
    "B2": (0.75, 1.75, False),
    "C1": (1.75, 3.0, True),
}
#: Where each product level begins on the theta scale (the placement bank's cut scores).
CUT_SCORES = {"A2": -1.5, "B1.1": -0.5, "B1.2": 0.1, "B2": 0.75, "C1": 1.75}
BASE_LEVEL = "A1"

_NO_LINES: Mapping[str, int] = MappingProxyType({})
#: A dialogue line: the speaker's first name, a colon, then what is said.
SPEAKER_LINE = re.compile(r"^\s*([^\W\d_][\w-]*)\s*:\s*(.*)$")


@dataclass(frozen=True)
class Source:
    """Where something was written: file path, line of its start, and the line of each field."""

    path: str
    line: int
    fields: Mapping[str, int] = field(default_factory=lambda: _NO_LINES, compare=False, repr=False)

    def at(self, name: str) -> int:
        """Return the line of field ``name``, or the start line if the field is absent."""
        return self.fields.get(name, self.line)


@dataclass(frozen=True)
class Explanation:
    """Why the answer is right, in each supported locale."""

    et: str
    en: str
    ru: str
    uk: str

    def get(self, locale: str) -> str:
        """Return the text for ``locale``, falling back to English."""
        return getattr(self, locale) if locale in LOCALES else self.en


@dataclass(frozen=True)
class IRT:
    """3PL item parameters: discrimination a, difficulty b, guessing c."""

    a: float
    b: float
    c: float


@dataclass(frozen=True)
class Passage:
    """A shared text that reading and listening items refer to."""

    id: str
    kind: str
    text: str
    title: str | None = None
    source: Source | None = field(default=None, compare=False)

    def spoken_lines(self) -> list[str]:
        """The text's non-empty lines, without the speaker names of a dialogue."""
        lines = [line.strip() for line in self.text.splitlines() if line.strip()]
        if self.kind != "dialogue":
            return lines
        return [m.group(2) if (m := SPEAKER_LINE.match(line)) else line for line in lines]


@dataclass(frozen=True)
class Item:
    """One exercise item; fields not used by its type stay empty."""

    id: str
    type: str
    level: str
    skill: str
    prompt: str
    explanation: Explanation
    purpose: str = "practice"
    set_name: str = ""
    topic: str | None = None
    options: tuple[str, ...] = ()
    answer: int | None = None
    text: str | None = None
    answers: tuple[tuple[str, ...], ...] = ()
    hints: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()
    passage: str | None = None
    rubric: tuple[str, ...] = ()
    min_words: int | None = None
    irt: IRT | None = None
    enemies: tuple[str, ...] = ()
    source: Source | None = field(default=None, compare=False)

    @property
    def scored(self) -> bool:
        """Whether the item is scored automatically (writing is kept for review)."""
        return self.type != "writing"


@dataclass(frozen=True)
class ItemSet:
    """The items and passages of one set file."""

    name: str
    purpose: str
    items: tuple[Item, ...]
    passages: tuple[Passage, ...] = ()
    source: Source | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Statement:
    """One "I can" statement of the self-assessment grid."""

    et: str
    en: str
    ru: str
    uk: str
    source: Source | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Descriptors:
    """The self-assessment grid: skill -> level -> statements, with optional labels of skills and levels."""

    skills: tuple[str, ...]
    levels: tuple[str, ...]
    grid: Mapping[str, Mapping[str, tuple[Statement, ...]]]
    source: Source | None = field(default=None, compare=False)
    #: Optional display texts: ``labels["skills"][skill]`` and ``labels["levels"][level]``.
    labels: Mapping[str, Mapping[str, Statement]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Content:
    """Everything under a content root."""

    root: str
    sets: tuple[ItemSet, ...]
    descriptors: Descriptors | None = None

    @property
    def items(self) -> tuple[Item, ...]:
        """All items of all sets, in file order."""
        return tuple(item for s in self.sets for item in s.items)

    @property
    def passages(self) -> tuple[Passage, ...]:
        """All passages of all sets, in file order."""
        return tuple(p for s in self.sets for p in s.passages)

    @cached_property
    def _item_index(self) -> dict[str, Item]:
        return {item.id: item for item in self.items}

    @cached_property
    def _passage_index(self) -> dict[str, Passage]:
        return {p.id: p for p in self.passages}

    def item(self, item_id: str) -> Item:
        """Return the item with id ``item_id`` (KeyError if none)."""
        return self._item_index[item_id]

    def passage(self, passage_id: str) -> Passage:
        """Return the passage with id ``passage_id`` (KeyError if none)."""
        return self._passage_index[passage_id]
