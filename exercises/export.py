"""Export the placement items as the placement engine's JSON bank."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from .loader import DESCRIPTORS_FILE, content_files
from .model import BASE_LEVEL, CUT_SCORES, Content, Item


def bank_level(item: Item) -> str:
    """The product level of a placement item: its content level, with B1 split at b = 0.1 into B1.1 / B1.2."""
    if item.level == "B1":
        return "B1.1" if item.irt.b < CUT_SCORES["B1.2"] else "B1.2"
    return item.level


def content_version(root: Path | str) -> str:
    """SHA-256 over the content files under ``root`` (relative path and bytes of each, in sorted order)."""
    root = Path(root)
    digest = hashlib.sha256()
    files = content_files(root)
    if (root / DESCRIPTORS_FILE).exists():
        files.append(root / DESCRIPTORS_FILE)
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_bank(content: Content) -> dict[str, Any]:
    """Return the placement bank: items with a, b, c, skill, level (and enemies when given), cut scores, version."""
    items = []
    for item in sorted((i for i in content.items if i.purpose == "placement" and i.irt), key=lambda i: i.id):
        entry: dict[str, Any] = {"id": item.id, "a": item.irt.a, "b": item.irt.b, "c": item.irt.c,
                                 "skill": item.skill, "level": bank_level(item)}
        if item.enemies:
            entry["enemies"] = list(item.enemies)
        items.append(entry)
    return {"items": items, "cut_scores": dict(CUT_SCORES), "base_level": BASE_LEVEL,
            "version": content_version(content.root)}

