"""Correct Estonian: every Estonian word of the content must be known to hunspell's et_EE or allowlisted.

The Estonian texts are prompts, options, passages (without dialogue speaker names), gap texts
with each accepted answer filled in, hints, order words, match pairs, rubrics, Estonian
explanations and Estonian descriptors. English, Russian and Ukrainian texts are not checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

from .checkers import GAP
from .loader import resolve_root
from .model import SPEAKER_LINE, Content, Item, Passage

DICTIONARY = "et_EE"
DICTIONARY_DIRS = ("/usr/share/hunspell", "/usr/share/myspell", "/usr/share/myspell/dicts")
_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")
_PARTS = re.compile(r"[-'’]")


class Text(NamedTuple):
    """A piece of Estonian text and where it was written."""

    text: str
    path: str
    line: int


class Unknown(NamedTuple):
    """A word neither hunspell nor the allowlist knows, how often it occurs and where first."""

    word: str
    count: int
    path: str
    line: int


def tokenise(text: str) -> list[str]:
    """Split ``text`` into words (letters, with inner hyphens or apostrophes).

    Numbers are skipped, and so are what are not words: single letters (*täht õ*, *+ d*) and
    endings written as suffixes (*lõpp -sse*).
    """
    return [m.group() for m in _WORD.finditer(text)
            if len(m.group()) > 1 and not (m.start() > 0 and text[m.start() - 1] in "-‐‑–"
                                           and (m.start() == 1 or not text[m.start() - 2].isalnum()))]


def _passage_texts(passage: Passage) -> Iterator[Text]:
    path, source = passage.source.path, passage.source
    if passage.title:
        yield Text(passage.title, path, source.at("title"))
    first = source.at("text") + (1 if "\n" in passage.text else 0)
    for offset, line in enumerate(passage.text.splitlines()):
        if passage.kind == "dialogue" and (m := SPEAKER_LINE.match(line)):
            line = m.group(2)
        if line.strip():
            yield Text(line, path, first + offset)


def _item_texts(item: Item) -> Iterator[Text]:
    path, at = item.source.path, item.source.at
    yield Text(item.prompt, path, at("prompt"))
    yield Text(item.explanation.et, path, item.source.fields.get("explanation.et", at("explanation")))
    yield from (Text(option, path, item.source.fields.get(f"options.{n}", at("options")))
                for n, option in enumerate(item.options))
    if item.text is not None:
        parts = GAP.split(item.text)
        filled = "".join(part + (item.answers[n][0] if n < len(item.answers) else "")
                         for n, part in enumerate(parts))
        yield Text(filled, path, at("text"))
        yield from (Text(answer, path, at("answers")) for answers in item.answers for answer in answers[1:])
    yield from (Text(hint, path, at("hints")) for hint in item.hints)
    yield from (Text(word, path, at("words")) for word in item.words)
    yield from (Text(side, path, at("pairs")) for pair in item.pairs for side in pair)
    yield from (Text(criterion, path, at("rubric")) for criterion in item.rubric)


def estonian_texts(content: Content) -> Iterator[Text]:
    """Yield every Estonian text of ``content`` with its file and line."""
    for item_set in content.sets:
        for passage in item_set.passages:
            yield from _passage_texts(passage)
        for item in item_set.items:
            yield from _item_texts(item)
    if content.descriptors is not None:
        for labels in content.descriptors.labels.values():
            for label in labels.values():
                yield Text(label.et, label.source.path, label.source.line)
        for by_level in content.descriptors.grid.values():
            for statements in by_level.values():
                for st in statements:
                    yield Text(st.et, st.source.path, st.source.line)


def load_allowlist(root: Path | str | None = None) -> set[str]:
    """Return the union of the words in ``<root>/allowlist/*.txt`` (blank lines and ``#`` comments skipped)."""
    words: set[str] = set()
    for path in sorted((resolve_root(root) / "allowlist").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            word = line.split("#", 1)[0].strip()
            if word:
                words.add(word)
    return words


def allowed(word: str, allowlist: set[str]) -> bool:
    """Whether ``word`` is allowlisted, also when capitalised at the start of a sentence."""
    return word in allowlist or (word[:1].isupper() and word[:1].lower() + word[1:] in allowlist)


def _aff_file() -> Path | None:
    for folder in DICTIONARY_DIRS:
        path = Path(folder) / f"{DICTIONARY}.aff"
        if path.exists():
            return path
    return None


def hunspell_available() -> bool:
    """Whether the ``hunspell`` program and the et_EE dictionary are installed."""
    return shutil.which("hunspell") is not None and _aff_file() is not None


def dictionary_encoding() -> str:
    """The character set the et_EE dictionary is written in (its ``SET`` line; ISO8859-15 in myspell-et)."""
    with open(_aff_file(), "rb") as aff:
        for raw in aff:
            if raw.startswith(b"SET "):
                return raw[4:].strip().decode("ascii")
    return "ISO8859-1"


def hunspell_unknown(words: Iterable[str]) -> set[str]:
    """Return the words hunspell's et_EE does not know, in one ``hunspell -l`` call.

    Input is encoded in the dictionary's own character set and passed with ``-i``; a word
    that cannot be written in it cannot be in the dictionary and is unknown.
    """
    encoding = dictionary_encoding()
    unknown: set[str] = set()
    batch: list[bytes] = []
    for word in sorted(set(words)):
        try:
            batch.append(word.encode(encoding))
        except UnicodeEncodeError:
            unknown.add(word)
    if not batch:
        return unknown
    run = subprocess.run(["hunspell", "-d", DICTIONARY, "-i", encoding, "-l"],
                         input=b"\n".join(batch) + b"\n", capture_output=True, check=True)
    reported = {line.strip() for line in run.stdout.decode(encoding).splitlines() if line.strip()}
    for raw in batch:
        word = raw.decode(encoding)
        if word in reported or any(part in reported for part in _PARTS.split(word)):
            unknown.add(word)
    return unknown


def spellcheck(content: Content, root: Path | str | None = None) -> list[Unknown]:
    """Return the words of ``content`` unknown to hunspell and missing from the allowlist under ``root``.

    ``root`` defaults to ``content.root``. Each word is listed once with its count and first place.
    """
    allowlist = load_allowlist(root if root is not None else content.root)
    counts: Counter[str] = Counter()
    first: dict[str, Text] = {}
    for text in estonian_texts(content):
        for word in tokenise(text.text):
            if not allowed(word, allowlist):
                counts[word] += 1
                first.setdefault(word, text)
    unknown = hunspell_unknown(counts)
    return sorted((Unknown(w, counts[w], first[w].path, first[w].line) for w in unknown),
                  key=lambda u: (u.path, u.line, u.word))
