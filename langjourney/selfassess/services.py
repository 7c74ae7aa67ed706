"""The self-assessment on the CEFR "I can" grid: one skill per step, saved after every step.

A learner has at most one :class:`SelfAssessment`. ``ratings`` maps each skill of the grid to the
level chosen (A1..C1) or :data:`NONE` ("I can't do any of this yet"); ``step`` is the 0-based index
of the step the learner is on, so leaving and returning resumes there. Step *numbers* (1-based)
are what the web shows.

Once finished (``completed_at`` set) the assessment stays finished: changing an answer afterwards
updates the ratings in place, and finishing again refreshes ``completed_at``. The self-rated levels
are the prior of the placement test (:func:`prior_level`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from exercises.model import Descriptors, Statement
from langjourney.auth.models import User
from langjourney.content import content
from langjourney.db import utcnow
from langjourney.errors import DomainError
from langjourney.extensions import db
from langjourney.selfassess.models import SelfAssessment

#: The answer "I can't do any of this yet": below the grid's first level.
NONE = "none"

#: Grid level → the placement bank's level name used as the test's prior. The grid has one B1;
#: the bank splits it into B1.1 and B1.2, and a self-rated B1 starts the test at the lower half.
PLACEMENT_LEVEL_NAMES = MappingProxyType({"A1": "A1", "A2": "A2", "B1": "B1.1", "B2": "B2", "C1": "C1"})

#: The languages the grid is written in (the attributes of a Statement).
GRID_LOCALES = ("et", "en", "ru", "uk")
_FALLBACK_LOCALE = "en"


def descriptors() -> Descriptors:
    """The "I can" grid from the exercise content (parsed once per process)."""
    found = content().descriptors
    if found is None:
        raise RuntimeError("the exercise content has no self-assessment descriptors")
    return found


@dataclass(frozen=True)
class GridTexts:
    """The grid's texts in one language, as the templates need them."""

    locale: str
    skills: tuple[str, ...]
    levels: tuple[str, ...]
    #: skill → its name ("Listening").
    skill_labels: Mapping[str, str]
    #: level → what the level means in one sentence.
    level_labels: Mapping[str, str]
    #: skill → level → the "I can" statements.
    statements: Mapping[str, Mapping[str, tuple[str, ...]]]

    def skill_label(self, skill: str) -> str:
        return self.skill_labels.get(skill, skill)


def _text(statement: Statement | None, locale: str, default: str) -> str:
    if statement is None:
        return default
    return getattr(statement, locale, None) or getattr(statement, _FALLBACK_LOCALE)


@cache
def grid_texts(locale: str) -> GridTexts:
    """The grid's skill names, level meanings and statements in ``locale`` (et, en, ru or uk;
    anything else falls back to English). Cached per locale."""
    d = descriptors()
    locale = locale if locale in GRID_LOCALES else _FALLBACK_LOCALE
    skill_labels = d.labels.get("skills", {})
    level_labels = d.labels.get("levels", {})
    return GridTexts(
        locale=locale,
        skills=d.skills,
        levels=d.levels,
        skill_labels=MappingProxyType({s: _text(skill_labels.get(s), locale, s) for s in d.skills}),
        level_labels=MappingProxyType({lv: _text(level_labels.get(lv), locale, lv) for lv in d.levels}),
        statements=MappingProxyType({
            s: MappingProxyType({lv: tuple(_text(st, locale, "") for st in d.grid[s][lv]) for lv in d.levels})
            for s in d.skills
        }),
    )


def step_count() -> int:
    """How many steps there are: one per skill."""
    return len(descriptors().skills)


def skill_of_step(number: int) -> str | None:
    """The skill asked on step ``number`` (1-based), or None if there is no such step."""
    skills = descriptors().skills
    return skills[number - 1] if 1 <= number <= len(skills) else None


def is_known_rating(level: str) -> bool:
    """Whether ``level`` is an answer the grid offers (one of its levels or :data:`NONE`)."""
    return level == NONE or level in descriptors().levels


def find(learner: User) -> SelfAssessment | None:
    """The learner's self-assessment, finished or not, or None if they have not started one."""
    return db.session.scalar(_find_query(), {"learner_id": learner.id})


@cache
def _find_query():
    # Built once: the dashboard runs it on every visit, and building and keying it cost more than running it.
    return select(SelfAssessment).where(SelfAssessment.learner_id == bindparam("learner_id"))


def get_completed(learner: User) -> SelfAssessment | None:
    """The learner's self-assessment if it is finished, else None."""
    sa = find(learner)
    return sa if sa is not None and sa.completed_at is not None else None


def get_or_start(learner: User) -> SelfAssessment:
    """The learner's self-assessment, started (on step 1, nothing rated) if there is none yet."""
    sa = find(learner)
    if sa is not None:
        return sa
    sa = SelfAssessment(learner_id=learner.id, ratings={}, step=0)
    try:
        with db.session.begin_nested():  # another tab may be starting it at this very moment
            db.session.add(sa)
    except IntegrityError:
        return find(learner)
    return sa


def current_step(sa: SelfAssessment | None) -> int:
    """The number (1-based) of the step to show when the learner comes back."""
    skills = descriptors().skills
    if sa is None:
        return 1
    # Never past the first unanswered step (say, a skill added to the grid since), so the step
    # returned can always be opened.
    unanswered = [number for number, skill in enumerate(skills, start=1) if skill not in sa.ratings]
    return min(max(sa.step, 0) + 1, len(skills), *unanswered[:1])


def can_open(sa: SelfAssessment | None, number: int) -> bool:
    """Whether step ``number`` may be shown: every earlier step is answered (no skipping ahead)."""
    skills = descriptors().skills
    if not 1 <= number <= len(skills):
        return False
    ratings = sa.ratings if sa is not None else {}
    return all(skill in ratings for skill in skills[:number - 1])


def save_step(sa: SelfAssessment, skill: str, level: str | None, *, back: bool = False) -> None:
    """Record ``level`` for ``skill`` and move to the next step (or, with ``back``, the previous one).

    ``level`` may be None only when going back: the earlier answer, if any, is kept. Moving forward
    from the last step stays there (:func:`finish` ends the assessment). Raises ``ValueError`` for a
    skill or level the grid does not have: the form offers only those, so it is not the user's error.
    """
    skills = descriptors().skills
    if skill not in skills:
        raise ValueError(f"unknown skill {skill!r}")
    if level is None:
        if not back:
            raise ValueError("a level is needed to go forward")
    elif not is_known_rating(level):
        raise ValueError(f"unknown level {level!r}")
    else:
        # A new dict: the JSON column does not see changes made inside the old one.
        sa.ratings = {**sa.ratings, skill: level}
    index = skills.index(skill)
    sa.step = max(index - 1, 0) if back else min(index + 1, len(skills) - 1)
    db.session.flush()


def finish(sa: SelfAssessment) -> None:
    """Mark the self-assessment finished (again, after changes). Every skill must be rated."""
    missing = [skill for skill in descriptors().skills if skill not in sa.ratings]
    if missing:
        raise DomainError(_l("Answer every step before you finish."))
    sa.completed_at = utcnow()
    db.session.flush()


def self_rated_levels(sa: SelfAssessment) -> dict[str, str]:
    """Skill → the level the learner chose (A1..C1, or :data:`NONE`), in the grid's skill order.

    Skills not yet rated are left out.
    """
    return {skill: sa.ratings[skill] for skill in descriptors().skills if skill in sa.ratings}


def prior_level(sa: SelfAssessment | None) -> str | None:
    """The placement test's prior: the median of the self-rated levels as a placement level name.

    "None of this yet" counts as A1 (the test starts no lower). With an even number of ratings the
    lower middle one is taken, so the test starts rather too low than too high. None if the
    self-assessment is missing or not finished.
    """
    if sa is None or sa.completed_at is None:
        return None
    levels = descriptors().levels
    ranks = sorted(levels.index(level) if level in levels else 0
                   for level in self_rated_levels(sa).values())
    if not ranks:
        return None
    median = levels[ranks[(len(ranks) - 1) // 2]]
    return PLACEMENT_LEVEL_NAMES.get(median)


def answer_step(learner: User, number: int, level: str | None, *, back: bool = False) -> int | None:
    """Save the answer to step ``number`` (1-based) and move on: the step to show next, or None
    when this answered the last step and the self-assessment is finished.

    Going ``back`` saves ``level`` if given and returns the previous step. Raises ``ValueError``
    for an unknown step or level, :class:`DomainError` if an earlier step is unanswered.
    """
    skill = skill_of_step(number)
    if skill is None:
        raise ValueError(f"no step {number}")
    sa = get_or_start(learner)
    if not can_open(sa, number):
        raise DomainError(_l("Answer the earlier steps first."))
    save_step(sa, skill, level, back=back)
    if back:
        return max(number - 1, 1)
    if number == step_count():
        finish(sa)
        return None
    return number + 1
