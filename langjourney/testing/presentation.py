"""What the result and item pages show: labels, the level's meaning, the per-skill chart."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from langjourney.content import content

SKILL_LABELS = {
    "vocabulary": _l("Vocabulary"),
    "grammar": _l("Grammar"),
    "reading": _l("Reading"),
    "listening": _l("Listening"),
}
ATTEMPT_STATUS_LABELS = {
    "open": _l("in progress"),
    "finished": _l("finished"),
    "expired": _l("closed after a long pause"),
}
# The self-assessment grid has five levels; the product splits B1 into B1.1 and B1.2.
GRID_LEVEL = {"A1": "A1", "A2": "A2", "B1.1": "B1", "B1.2": "B1", "B2": "B2", "C1": "C1"}
LEVEL_ORDER = ("A1", "A2", "B1.1", "B1.2", "B2", "C1")
NEXT_STEPS_FILE = Path(__file__).with_name("next_steps.yaml")


def _locale() -> str:
    return str(get_locale() or "et")


def level_meaning(level: str | None) -> str | None:
    """The everyday meaning of a level, in the user's language, from the self-assessment labels."""
    descriptors = content().descriptors
    labels = descriptors.labels.get("levels", {}) if descriptors else {}
    statement = labels.get(GRID_LEVEL.get(level or "", ""))
    return getattr(statement, _locale()) if statement else None


def certainty(result: dict) -> tuple[str, str]:
    """How sure the test is, in plain words, and a short key (sure, fairly_sure, borderline)."""
    p = result.get("p_level") or 0.0
    neighbour = result.get("neighbour")
    if p >= 0.9:
        return "sure", _l("The test is very sure of this level.")
    if p >= 0.7 and not neighbour:
        return "fairly_sure", _l("The test is fairly sure of this level.")
    if neighbour:
        return "borderline", _l("Your result is near the border between %(level)s and %(neighbour)s. "
                                "A counsellor can help you choose.", level=result["level"], neighbour=neighbour)
    return "fairly_sure", _l("The test is fairly sure of this level.")


@dataclass(frozen=True)
class SkillBar:
    skill: str
    label: str
    theta: float
    low: float
    high: float
    level: str
    items: int
    too_few: bool


@dataclass(frozen=True)
class Chart:
    """An SVG-ready profile: θ on the x axis from ``lo`` to ``hi``, cut scores as vertical lines."""

    lo: float
    hi: float
    cuts: list[tuple[str, float]]
    bars: list[SkillBar]

    def x(self, theta: float, width: float = 460.0, left: float = 120.0) -> float:
        theta = min(max(theta, self.lo), self.hi)
        return round(left + (theta - self.lo) / (self.hi - self.lo) * width, 1)


def level_of(theta: float, cut_scores: dict, base: str) -> str:
    level = base
    for name, cut in cut_scores.items():
        if theta >= cut:
            level = name
    return level


def skill_chart(result: dict, bank: dict) -> Chart:
    cuts = bank["cut_scores"]
    base = bank.get("base_level", "A1")
    bars = []
    for skill, est in result.get("skills", {}).items():
        bars.append(SkillBar(
            skill=skill, label=str(SKILL_LABELS.get(skill, skill)), theta=est["theta"],
            low=est["theta"] - est["sem"], high=est["theta"] + est["sem"],
            level=level_of(est["theta"], cuts, base), items=est["items"], too_few=est["too_few_items"]))
    return Chart(lo=-3.5, hi=3.5, cuts=list(cuts.items()), bars=bars)


def disagreements(self_levels: dict[str, str], chart: Chart) -> list[tuple[str, str, str]]:
    """Skills where the self-assessment and the test differ by a level or more:
    (skill label, self-rated level, test level)."""
    order = ("none", "A1", "A2", "B1", "B2", "C1")
    found = []
    for bar in chart.bars:
        rated = self_levels.get(bar.skill)
        if rated is None or bar.too_few:
            continue
        tested = GRID_LEVEL[bar.level]
        if abs(order.index(rated) - order.index(tested)) >= 1:
            found.append((bar.label, rated, tested))
    return found


@cache
def _next_steps() -> list[dict]:
    with open(NEXT_STEPS_FILE, encoding="utf-8") as fh:
        return yaml.safe_load(fh)["resources"]


def next_steps(level: str | None) -> list[dict]:
    """Self-study suited to the level, in the user's language (from ``next_steps.yaml``)."""
    if level not in LEVEL_ORDER:
        return []
    rank = LEVEL_ORDER.index(level)
    locale = _locale()
    return [{"title": r["title"][locale], "text": r["text"][locale], "url": r.get("url")}
            for r in _next_steps()
            if LEVEL_ORDER.index(r["from"]) <= rank <= LEVEL_ORDER.index(r["to"])]
