"""Course matching: the open courses at the learner's level, ranked, each with the reasons for its
place, and the excluded ones with the rule that excludes them.

Order (lexicographic): the programme meant for the learner; then place (same town, same county,
online if the learner accepts it, elsewhere); then how well the weekdays and time of day fit the
learner's availability; then the start date.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from langjourney.auth.models import User
from langjourney.courses.models import PROGRAMME_LABELS, Course, Mode
from langjourney.courses.rules import Problem, enrolment_problems, preferred_programme
from langjourney.courses.services import learner_enrolments, local_today
from langjourney.extensions import db
from langjourney.learners.models import COUNTIES, DAY_PARTS, WEEKDAYS

MAX_CANDIDATES = 500


@dataclass
class Match:
    """One course for one learner: its sort key, and the reasons, worded only when read (a page
    shows a few dozen of several hundred ranked courses)."""

    course: Course
    profile: object
    key: tuple = ()
    problems: list[Problem] = field(default_factory=list)

    @property
    def is_eligible(self) -> bool:
        return not self.problems

    @cached_property
    def reasons(self) -> list[str]:
        programme_tier = self.key[0]
        if programme_tier == 0:
            programme = _l("The programme meant for you: %(programme)s.",
                           programme=PROGRAMME_LABELS[self.course.programme])
        else:
            programme = _l("Another programme than the one meant for you: %(programme)s.",
                           programme=PROGRAMME_LABELS[self.course.programme])
        return [str(_l("Right level: %(level)s.", level=self.course.level)), str(programme),
                _place(self.course, self.profile)[1], _time_fit(self.course, self.profile)[1],
                str(_l("Starts on %(date)s.", date=format_date(self.course.start_date)))]


@dataclass
class MatchResult:
    level: str | None
    ranked: list[Match]
    excluded: list[Match]


def _place(course: Course, profile) -> tuple[int, str | None]:
    """The place tier and, when ``profile`` wants words, the reason."""
    online_ok = course.mode in (Mode.ONLINE, Mode.HYBRID) and profile.accepts_online
    if course.mode is not Mode.ONLINE and course.town and course.town.casefold() == profile.town.strip().casefold():
        return 0, str(_l("In your town, %(town)s.", town=course.town))
    if course.mode is not Mode.ONLINE and course.county == profile.county:
        return 1, str(_l("In your county (%(county)s), in %(town)s.",
                         county=COUNTIES.get(course.county, course.county), town=course.town))
    if online_ok:
        return 2, str(_l("Online: you said you can study online."))
    return 3, str(_l("Outside your county, in %(town)s.", town=course.town or "–"))


def _place_tier(course: Course, profile) -> int:
    if course.mode is not Mode.ONLINE and course.town and course.town.casefold() == profile.town.strip().casefold():
        return 0
    if course.mode is not Mode.ONLINE and course.county == profile.county:
        return 1
    return 2 if course.mode in (Mode.ONLINE, Mode.HYBRID) and profile.accepts_online else 3


def _time_tier(course: Course, profile) -> int:
    if not profile.availability:
        return 1
    slots = course.slots
    fitting = sum(slot in profile.availability for slot in slots)
    return 0 if fitting == len(slots) else (1 if fitting else 2)


def _time_fit(course: Course, profile) -> tuple[int, str]:
    slots = course.slots
    if not profile.availability:
        return 1, str(_l("You have not said when you can study."))
    fitting = [slot for slot in slots if slot in profile.availability]
    when = ", ".join(f"{WEEKDAYS[s.split(':')[0]]} {DAY_PARTS[s.split(':')[1]]}" for s in slots)
    if len(fitting) == len(slots):
        return 0, str(_l("All lessons fit your availability (%(when)s).", when=when))
    if fitting:
        return 1, str(_l("%(n)d of %(total)d lesson days fit your availability (%(when)s).",
                         n=len(fitting), total=len(slots), when=when))
    return 2, str(_l("The lesson times do not fit your availability (%(when)s).", when=when))


def rank_course(course: Course, profile, history, today: date) -> Match:
    """Rank one course for one learner, with the rules it breaks (if any)."""
    match = Match(course, profile, problems=enrolment_problems(profile, course, history, today))
    if course.mode is Mode.ONLINE and not profile.accepts_online:
        match.problems.append(Problem("online", _l("This course is online, and you said you prefer to "
                                                   "study in person.")))
    programme_tier = 0 if course.programme is preferred_programme(profile, today) else 1
    match.key = (programme_tier, _place_tier(course, profile), _time_tier(course, profile),
                 course.start_date, course.id)
    return match


def match_courses(learner: User, today: date | None = None) -> MatchResult:
    """Rank the open, published courses at the learner's level for ``learner``."""
    today = today or local_today()
    profile = learner.profile
    if profile is None or profile.level is None:
        return MatchResult(None, [], [])
    closes = func.coalesce(Course.enrolment_deadline, Course.start_date)
    candidates = db.session.scalars(
        select(Course).options(joinedload(Course.provider))
        .where(Course.is_published.is_(True), Course.level == profile.level, closes >= today)
        .order_by(
            # nearby and online first, so the cap never cuts the learner's own town
            or_(Course.town == profile.town, Course.county == profile.county, Course.mode != Mode.IN_PERSON).desc(),
            Course.start_date, Course.id)
        .limit(MAX_CANDIDATES))
    history = learner_enrolments(learner)
    matches = [rank_course(course, profile, history, today) for course in candidates]
    ranked = sorted((m for m in matches if m.is_eligible), key=lambda m: m.key)
    excluded = sorted((m for m in matches if not m.is_eligible), key=lambda m: m.key)
    return MatchResult(profile.level, ranked, excluded)
