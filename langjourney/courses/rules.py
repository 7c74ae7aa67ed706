"""The enrolment rules from practice, in one place.

Pure functions over already-loaded objects (no queries, no Flask request): matching uses them to
explain why a course is excluded, and :func:`langjourney.courses.services.create_enrolment` uses them
to refuse a seat. The database backs two of them with partial unique indexes (one active course per
learner, a level once).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import format_date
from flask_babel import lazy_gettext as _l

from langjourney.courses.models import (
    ACTIVE_STATUSES, LEVEL_RANK, LEVEL_TAKEN_STATUSES, Course, Enrolment, EnrolmentStatus, Programme,
)
from langjourney.learners.models import STATUS_LABELS, LearnerProfile, LearnerStatus

ADAPTATION_YEARS = 5
# Beneficiaries of protection have no residence-permit date in their profile but are in the programme.
ADAPTATION_WITHOUT_PERMIT_DATE = (LearnerStatus.INTERNATIONAL_PROTECTION, LearnerStatus.TEMPORARY_PROTECTION)


@dataclass(frozen=True)
class Problem:
    """A reason the learner may not take the course: a stable ``code`` and a sentence for people."""

    code: str
    message: str

    def __str__(self) -> str:
        return str(self.message)


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def in_adaptation_window(profile: LearnerProfile, today: date) -> bool:
    """Whether the adaptation programme is open to the learner (5 years after the first permit)."""
    if profile.residence_permit_date is not None:
        return today < _years_later(profile.residence_permit_date, ADAPTATION_YEARS)
    return profile.status in ADAPTATION_WITHOUT_PERMIT_DATE


def adaptation_cutoff(today: date) -> date:
    """The earliest residence permit date inside the adaptation window on ``today``: for a learner
    with a permit date, :func:`in_adaptation_window` holds exactly when that date is on or after
    this one (so that a database can test it)."""
    # The end of the window moves with the permit date and never back, so the permit dates in
    # the window are those from some day on; start near it and step to it.
    day = _years_later(today, -ADAPTATION_YEARS)
    while not today < _years_later(day, ADAPTATION_YEARS):
        day += timedelta(days=1)
    while today < _years_later(day - timedelta(days=1), ADAPTATION_YEARS):
        day -= timedelta(days=1)
    return day


def preferred_programme(profile: LearnerProfile, today: date) -> Programme:
    """The programme meant for this learner: the adaptation module while its window is open."""
    return Programme.ADAPTATION if in_adaptation_window(profile, today) else Programme.RESIDENTS


def enrolment_problems(profile: LearnerProfile, course: Course, history: list[Enrolment], today: date,
                       *, allow_lower: bool = False, check_deadline: bool = True) -> list[Problem]:
    """Every rule the learner would break by taking ``course``; empty when they may.

    ``history`` is the learner's enrolments (any status). ``allow_lower`` is a staff override (with
    a reason, recorded on the enrolment) of "levels go only upward"; nothing overrides the others.
    """
    problems: list[Problem] = []
    if not course.is_published:
        problems.append(Problem("not_published", _l("This course is not published.")))
    closes = course.enrolment_deadline or course.start_date
    if check_deadline and closes < today:
        problems.append(Problem("closed", _l("Enrolment for this course closed on %(date)s.",
                                             date=format_date(closes))))
    if profile.level is None:
        problems.append(Problem("no_level", _l("Your level has not been set yet: take the placement "
                                               "test or talk to a counsellor.")))
    elif profile.level != course.level:
        problems.append(Problem("wrong_level", _l("This course is at level %(course)s; your level is "
                                                  "%(level)s.", course=course.level, level=profile.level)))

    taken = [e for e in history if e.status in LEVEL_TAKEN_STATUSES]
    for enrolment in taken:
        if enrolment.level == course.level:
            if enrolment.status is EnrolmentStatus.COMPLETED:
                problems.append(Problem("level_completed", _l("You have already completed %(level)s.",
                                                              level=course.level)))
            else:
                problems.append(Problem("level_taken", _l("You already have a seat on a %(level)s course.",
                                                          level=course.level)))
            break
    higher = [e.level for e in taken if LEVEL_RANK.get(e.level, -1) > LEVEL_RANK.get(course.level, -1)]
    if higher and not allow_lower:
        top = max(higher, key=LEVEL_RANK.__getitem__)
        problems.append(Problem("downward", _l("You have already taken %(level)s: courses go only upward.",
                                               level=top)))
    active = [e for e in history if e.status in ACTIVE_STATUSES and e.course_id != course.id]
    if active:
        problems.append(Problem("has_active", _l("You already hold a seat on another language course "
                                                 "(%(title)s).", title=active[0].course.title)))

    if course.eligible_statuses and profile.status.value not in course.eligible_statuses:
        names = ", ".join(str(STATUS_LABELS[LearnerStatus(s)]) for s in course.eligible_statuses)
        problems.append(Problem("status", _l("This course is only for: %(statuses)s.", statuses=names)))
    if course.programme is Programme.ADAPTATION and not in_adaptation_window(profile, today):
        problems.append(Problem("adaptation_window", _l("This programme is for the first 5 years after "
                                                        "a residence permit.")))
    return problems
