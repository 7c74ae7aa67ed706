"""Courses: the catalogue, providers' course editing and approval, enrolments from acceptance to
completion, overdue confirmations, API tokens and API idempotency keys.

Services flush, never commit; they raise :class:`DomainError` with a reason the caller can show.
"""
from __future__ import annotations

import calendar
import hashlib
import json
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, delete, distinct, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from langjourney.auth.models import Provider, Role, User
from langjourney.courses.models import (
    ACTIVE_STATUSES, COURSE_LEVELS, ENROLMENT_STATUS_LABELS, MODE_LABELS, PROGRAMME_LABELS, SUPPORT_LANGUAGES,
    WEEKDAY_BITS, WEEKDAY_CODES, ApiIdempotencyKey, ApiToken, Course, CourseChange, Enrolment, EnrolmentStatus, Mode,
    Programme,
)
from langjourney.courses.rules import enrolment_problems
from langjourney.db import locked, utcnow
from langjourney.errors import DomainError, required_reason
from langjourney.extensions import db
from langjourney.jobs import enqueue
from langjourney.learners.models import COUNTIES, STATUS_LABELS, WEEKDAYS, LearnerStatus

PAGE_SIZE = 20
LOCAL_TZ = ZoneInfo("Europe/Tallinn")
CONFIRMATION_WORKING_DAYS = 5
COMPLETION_MIN_ATTENDANCE = 80  # completion needs more than this
# Every change to these fields of a published course is written to the course change log.
LOGGED_FIELDS = ("title", "level", "programme", "eligible_statuses", "mode", "county", "town", "address",
                 "weekdays", "starts_at_time", "ends_at_time", "start_date", "end_date", "enrolment_deadline",
                 "academic_hours", "capacity", "support_language")
# What learners chose a published course for: a change to these waits for an admin's approval (the
# approved values stay public meanwhile), and once approved the course's learners are told by mail.
APPROVAL_FIELDS = ("title", "level", "mode", "county", "town", "address", "weekdays", "starts_at_time",
                   "ends_at_time", "start_date", "end_date", "enrolment_deadline")
SINGLE_LINE_FIELDS = ("title", "town", "address")
FIELD_LABELS = {
    "title": _l("Title"), "level": _l("Level"), "programme": _l("Programme"),
    "eligible_statuses": _l("Open to learners with status"), "mode": _l("Mode of study"), "county": _l("County"),
    "town": _l("Town"), "address": _l("Address"), "weekdays": _l("Lesson days"),
    "starts_at_time": _l("Lessons start at"), "ends_at_time": _l("Lessons end at"), "start_date": _l("Start date"),
    "end_date": _l("End date"), "enrolment_deadline": _l("Enrolment deadline"),
    "academic_hours": _l("Academic hours"), "capacity": _l("Capacity (seats)"),
    "support_language": _l("Support language"),
}
DAY_PART_TIMES = {"morning": (time(0, 0), time(12, 0)), "afternoon": (time(12, 0), time(17, 0)),
                  "evening": (time(17, 0), time(23, 59, 59))}


def local_today() -> date:
    """Today in Estonia: deadlines and reminders count in local days."""
    return datetime.now(LOCAL_TZ).date()


# -- working days ---------------------------------------------------------------------------------

def _easter(year: int) -> date:
    """Western Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * l_) // 433
    month = (h + l_ - 7 * m + 90) // 25
    return date(year, month, (h + l_ - 7 * m + 33 * month + 19) % 32)


@lru_cache(maxsize=32)
def estonian_holidays(year: int) -> frozenset[date]:
    """Estonia's public holidays that fall on weekdays matter for working days; all are listed."""
    easter = _easter(year)
    fixed = [(1, 1), (2, 24), (5, 1), (6, 23), (6, 24), (8, 20), (12, 24), (12, 25), (12, 26)]
    return frozenset([date(year, m, d) for m, d in fixed]
                     + [easter - timedelta(days=2), easter, easter + timedelta(days=49)])


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in estonian_holidays(day.year)


def add_working_days(start: date, days: int) -> date:
    """The date ``days`` working days after ``start`` (weekends and public holidays skipped)."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            days -= 1
    return current


# -- course editing -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CourseData:
    """What a provider says about a course (the form, the CSV row and the API share it)."""

    title: str
    level: str
    programme: Programme
    mode: Mode
    weekdays: list[str]
    starts_at_time: time
    ends_at_time: time
    start_date: date
    end_date: date
    academic_hours: int
    capacity: int = 20
    eligible_statuses: list[str] = field(default_factory=list)
    county: str | None = None
    town: str | None = None
    address: str | None = None
    support_language: str | None = None
    enrolment_deadline: date | None = None


def _has_control_character(text: str) -> bool:
    """A line break, tab or other control character (Unicode Cc), or a line or paragraph separator:
    in a mail's Subject header they would break it over SMTP, in a page they would break the layout."""
    return any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in text)


def validate_course(data: CourseData) -> None:
    """Raise :class:`DomainError` (naming the field) for the first thing wrong with ``data``."""
    for name in SINGLE_LINE_FIELDS:
        if _has_control_character((getattr(data, name) or "").strip()):
            raise DomainError(_l("Write this on one line, without line breaks or other control characters."), name)
    if not data.title.strip() or len(data.title) > 200:
        raise DomainError(_l("Enter a title of at most 200 characters."), "title")
    if data.level not in COURSE_LEVELS:
        raise DomainError(_l("Choose a level: %(levels)s.", levels=", ".join(COURSE_LEVELS)), "level")
    if any(s not in {v.value for v in LearnerStatus} for s in data.eligible_statuses):
        raise DomainError(_l("Unknown learner status."), "eligible_statuses")
    if data.mode is not Mode.ONLINE:
        if data.county not in COUNTIES:
            raise DomainError(_l("Choose the county where the course takes place."), "county")
        if not (data.town or "").strip():
            raise DomainError(_l("Enter the town where the course takes place."), "town")
    if data.town and len(data.town) > 100:
        raise DomainError(_l("Enter a town of at most 100 characters."), "town")
    if data.address and len(data.address) > 200:
        raise DomainError(_l("Enter an address of at most 200 characters."), "address")
    if not data.weekdays or any(day not in WEEKDAY_CODES for day in data.weekdays):
        raise DomainError(_l("Choose the weekdays of the lessons."), "weekdays")
    if data.ends_at_time <= data.starts_at_time:
        raise DomainError(_l("The lessons must end after they start."), "ends_at_time")
    if data.end_date < data.start_date:
        raise DomainError(_l("The course must end on or after its start date."), "end_date")
    if not 0 < data.academic_hours <= 1000:
        raise DomainError(_l("Academic hours must be between 1 and 1000."), "academic_hours")
    if not 0 < data.capacity <= 500:
        raise DomainError(_l("Capacity must be between 1 and 500."), "capacity")
    if data.support_language not in (None, "ru", "uk", "en"):
        raise DomainError(_l("Choose a support language: ru, uk, en or none."), "support_language")
    if data.enrolment_deadline and data.enrolment_deadline > data.start_date:
        raise DomainError(_l("The enrolment deadline must not be after the start date."), "enrolment_deadline")


def _apply(course: Course, data: CourseData) -> None:
    online = data.mode is Mode.ONLINE
    course.title = data.title.strip()
    course.level = data.level
    course.programme = data.programme
    course.eligible_statuses = sorted(set(data.eligible_statuses))
    course.mode = data.mode
    course.county = None if online and not data.county else data.county
    course.town = (data.town or "").strip() or None
    course.address = (data.address or "").strip() or None
    course.weekdays = [day for day in WEEKDAY_CODES if day in data.weekdays]
    course.starts_at_time = data.starts_at_time
    course.ends_at_time = data.ends_at_time
    course.start_date = data.start_date
    course.end_date = data.end_date
    course.academic_hours = data.academic_hours
    course.capacity = data.capacity
    course.support_language = data.support_language
    course.enrolment_deadline = data.enrolment_deadline


def create_course(provider: Provider, data: CourseData) -> Course:
    """Create a course for ``provider``; it waits for an admin's approval before it is published."""
    validate_course(data)
    course = Course(provider=provider, is_published=False)
    _apply(course, data)
    db.session.add(course)
    db.session.flush()
    return course


def _as_text(value) -> str | None:
    """A field's value as the change log and a pending change keep it."""
    if value is None:
        return None
    if isinstance(value, (Mode, Programme)):
        return value.value
    if isinstance(value, list):
        return " ".join(value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return str(value)  # dates as YYYY-MM-DD


def _from_text(name: str, text: str | None):
    """The column value of a field kept by :func:`_as_text`."""
    if text is None:
        return None
    if name == "mode":
        return Mode(text)
    if name == "weekdays":
        return text.split()
    if name in ("starts_at_time", "ends_at_time"):
        return time.fromisoformat(text)
    if name in ("start_date", "end_date", "enrolment_deadline"):
        return date.fromisoformat(text)
    return text


def _snapshot(course: Course) -> dict[str, str | None]:
    return {name: _as_text(getattr(course, name)) for name in LOGGED_FIELDS}


def shown_value(name: str, text: str | None) -> str:
    """A logged or pending value of a field as people read it, in the current language."""
    if text is None or text == "":
        return "–"
    labels = {"mode": MODE_LABELS, "programme": PROGRAMME_LABELS, "county": COUNTIES,
              "support_language": SUPPORT_LANGUAGES, "weekdays": WEEKDAYS, "eligible_statuses": STATUS_LABELS}.get(name)
    if labels is None:
        return text
    if name in ("weekdays", "eligible_statuses"):
        return ", ".join(str(labels.get(word, word)) for word in text.split())
    return str(labels.get(text, text))  # the str enums' values find their members


def approved_value(course: Course, name: str) -> str | None:
    """A field's approved (public) value as text, to show beside its pending change."""
    return _as_text(getattr(course, name))


def provider_values(course: Course) -> dict:
    """The course's fields as its provider last set them: the approved values with the pending change
    over them (what the edit form and the CSV export show, so that saving them again keeps it)."""
    values = {name: getattr(course, name) for name in LOGGED_FIELDS}
    values.update({name: _from_text(name, text) for name, text in (course.pending_change or {}).items()})
    return values


def lock_course(course_id: int) -> Course | None:
    """Lock the course row for the seat rules: ``SELECT … FOR NO KEY UPDATE`` on PostgreSQL (on
    SQLite the IMMEDIATE transaction holds the lock), replacing any stale copy in the session.

    It serialises allocation, accepting an offer, taking a seat and a capacity edit on one course,
    like ``FOR UPDATE``, but does not block the key-share lock that inserting a row referring to the
    course takes (an expiry sweep writing its allocation event): with ``FOR UPDATE`` the sweep,
    holding an offer, would wait for the course while the accept waits for that offer (a deadlock).
    """
    return db.session.execute(select(Course).where(Course.id == course_id).with_for_update(key_share=True)
                              .execution_options(populate_existing=True)).scalar_one_or_none()


def update_course(course: Course, data: CourseData, by: User | None) -> list[CourseChange]:
    """Change a course; returns the change log rows written.

    A course not yet published simply takes the new values. On a published course every changed
    field is logged (a ``course_change`` row per field, old and new value, by whom). Changes to what
    learners chose the course for (:data:`APPROVAL_FIELDS`: title, level, place, mode, dates, days
    and times) are not applied: they are kept as the course's pending change, which waits in the
    admin's approval queue, while the approved values stay public and the course stays published
    for its enrolled and waiting learners (:func:`approve_course_change`, :func:`return_course_change`).
    Each edit states the whole course, so it replaces an earlier pending change. The other fields
    (programme, statuses, hours, capacity, support language) take effect at once.

    Capacity: it may not go below the seats taken (accepted and confirmed enrolments); that is
    refused with the reason. Open offers above a lowered capacity are withdrawn, the latest made
    first (:func:`langjourney.waitlist.services.withdraw_offers_over_capacity`): each learner is
    told by mail and keeps their place and join time on the waiting list. Refusing the edit instead
    would leave a school unable to shrink a course for up to 48 hours while offers run. The course
    row is locked first, as allocation and accepting an offer lock it, so an accept racing the cut
    has one winner.
    """
    from langjourney.waitlist.services import withdraw_offers_over_capacity

    validate_course(data)
    course = lock_course(course.id)
    taken = active_seat_count(course)
    if data.capacity < taken:
        raise DomainError(_l("Capacity cannot be lower than the seats already taken (%(n)d).", n=taken), "capacity")
    before = _snapshot(course)
    capacity_before = course.capacity
    _apply(course, data)
    if course.returned_at is not None:  # edited after an admin returned it: it waits for approval again
        course.returned_at = course.returned_by_id = course.return_reason = None
    changes = []
    if course.is_published:
        after = _snapshot(course)
        pending = {name: after[name] for name in APPROVAL_FIELDS if after[name] != before[name]}
        for name in pending:  # the approved value stays until an admin approves the new one
            setattr(course, name, _from_text(name, before[name]))
        if pending != (course.pending_change or {}):
            course.pending_change = pending or None
            course.pending_change_at = utcnow() if pending else None
            course.pending_change_by_id = by.id if pending and by else None
        changes = [CourseChange(course=course, changed_by=by, field=name, old_value=before[name],
                                new_value=after[name])
                   for name in LOGGED_FIELDS if name not in APPROVAL_FIELDS and after[name] != before[name]]
        db.session.add_all(changes)
    db.session.flush()
    if course.capacity < capacity_before:
        withdraw_offers_over_capacity(course, actor=f"provider:{by.id}" if by else "system")
    if course.is_published and course.capacity > capacity_before:
        _seats_freed(course)
    return changes


def _course_learners(course: Course) -> list[User]:
    """The learners a change to the course concerns: those holding a seat, an offer or a place on its
    waiting list."""
    from langjourney.waitlist.models import ACTIVE_ENTRY, WaitlistEntry

    seated = select(Enrolment.learner_id).where(Enrolment.course_id == course.id,
                                                Enrolment.status.in_(ACTIVE_STATUSES))
    waiting = select(WaitlistEntry.learner_id).where(WaitlistEntry.course_id == course.id,
                                                     WaitlistEntry.status.in_(ACTIVE_ENTRY))
    return list(db.session.scalars(select(User).where(or_(User.id.in_(seated), User.id.in_(waiting)))
                                   .order_by(User.id)))


def approve_course_change(course_id: int, admin: User) -> list[CourseChange]:
    """Apply the pending change of a published course an admin has checked: each field is logged (by
    the staff member who made the change), and the course's enrolled, offered and waiting learners
    are told by mail, in their language, what changed."""
    from langjourney.mail.services import queue_mail

    course = locked(Course, course_id)  # a second click, or the provider editing at the same moment
    if course is None:
        raise DomainError(_l("There is no such course."))
    if not course.pending_change:
        raise DomainError(_l("This course has no change waiting for approval."))
    changes = []
    for name, value in course.pending_change.items():
        old = _as_text(getattr(course, name))
        setattr(course, name, _from_text(name, value))
        changes.append(CourseChange(course=course, changed_by_id=course.pending_change_by_id, field=name,
                                    old_value=old, new_value=value))
    course.pending_change = course.pending_change_at = course.pending_change_by_id = None
    db.session.add_all(changes)
    db.session.flush()
    link = url_for("courses.detail", course_id=course.id, _external=True)
    for learner in _course_learners(course):
        queue_mail(learner, _l("The course “%(title)s” has changed", title=course.title), "mail/course_changed.txt",
                   course=course, changes=changes, link=link, field_names=FIELD_LABELS, shown=shown_value)
    return changes


def return_course_change(course_id: int, admin: User, reason: str) -> Course:
    """Refuse the pending change of a published course: the approved values stay, and the provider's
    staff are told by e-mail why."""
    from langjourney.mail.services import queue_mail

    course = locked(Course, course_id)
    if course is None:
        raise DomainError(_l("There is no such course."))
    reason = required_reason(reason)
    if not course.pending_change:  # a second click
        return course
    proposed = dict(course.pending_change)
    course.pending_change = course.pending_change_at = course.pending_change_by_id = None
    db.session.flush()
    link = url_for("provider.course", course_id=course.id, _external=True)
    for staff in db.session.scalars(select(User).where(User.provider_id == course.provider_id,
                                                       User.is_active.is_(True)).order_by(User.id)):
        queue_mail(staff, _l("The change to the course “%(title)s” was not approved", title=course.title),
                   "mail/course_change_returned.txt", course=course, proposed=proposed, reason=reason, link=link,
                   field_names=FIELD_LABELS, shown=shown_value)
    return course


def pending_course_changes() -> list[Course]:
    """Published courses with a change waiting for an admin's approval, oldest change first."""
    return list(db.session.scalars(select(Course).options(joinedload(Course.provider))
                                   .where(Course.is_published.is_(True), Course.pending_change_at.is_not(None))
                                   .order_by(Course.pending_change_at, Course.id)))


def approve_course(course: Course, admin: User) -> None:
    """Publish a course an admin has checked."""
    if course.is_published:
        raise DomainError(_l("This course is already published."))
    course.is_published = True
    course.approved_at = utcnow()
    course.approved_by_id = admin.id
    course.returned_at = course.returned_by_id = course.return_reason = None
    db.session.flush()
    _seats_freed(course)  # a newly published course: its waitlist (if any) gets offers


def return_course(course_id: int, admin: User, reason: str) -> Course:
    """Send a course that waits for approval back to its provider with what to change; the provider's
    staff are told by e-mail, and the course waits for approval again once they have edited it."""
    from langjourney.mail.services import queue_mail

    course = locked(Course, course_id)  # an admin approving it at the same moment: one of the two wins
    if course is None:
        raise DomainError(_l("There is no such course."))
    if course.is_published:
        raise DomainError(_l("This course is already published."))
    reason = required_reason(reason)
    if course.returned_at is not None:  # a second click
        return course
    course.returned_at, course.returned_by_id, course.return_reason = utcnow(), admin.id, reason
    db.session.flush()
    link = url_for("provider.edit_course", course_id=course.id, _external=True)
    for staff in db.session.scalars(select(User).where(User.provider_id == course.provider_id,
                                                       User.is_active.is_(True)).order_by(User.id)):
        queue_mail(staff, _l("The course “%(title)s” needs changes before it is published", title=course.title),
                   "mail/course_returned.txt", course=course, reason=reason, link=link)
    return course


def pending_courses() -> list[Course]:
    """Courses waiting for an admin's approval (not those returned to their provider for changes)."""
    return list(db.session.scalars(select(Course).options(joinedload(Course.provider))
                                   .where(Course.is_published.is_(False), Course.returned_at.is_(None))
                                   .order_by(Course.created_at, Course.id)))


def returned_courses() -> list[Course]:
    """Courses an admin has returned to their provider, waiting for the provider's changes."""
    return list(db.session.scalars(select(Course).options(joinedload(Course.provider))
                                   .where(Course.is_published.is_(False), Course.returned_at.is_not(None))
                                   .order_by(Course.returned_at, Course.id)))


def provider_courses(provider_id: int) -> list[tuple[Course, int]]:
    """A provider's courses with their count of active seats, newest start first."""
    seats = (select(Enrolment.course_id, func.count().label("n")).where(Enrolment.status.in_(ACTIVE_STATUSES))
             .group_by(Enrolment.course_id).subquery())
    rows = db.session.execute(
        select(Course, func.coalesce(seats.c.n, 0)).outerjoin(seats, seats.c.course_id == Course.id)
        .where(Course.provider_id == provider_id).order_by(Course.start_date.desc(), Course.id.desc()))
    return [(course, n) for course, n in rows]


def course_changes(course: Course) -> list[CourseChange]:
    return list(db.session.scalars(select(CourseChange).options(joinedload(CourseChange.changed_by))
                                   .where(CourseChange.course_id == course.id).order_by(CourseChange.at.desc())))


# -- the catalogue --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CatalogueFilters:
    level: str | None = None
    county: str | None = None
    town: str | None = None
    online: bool = False  # alone: online courses only; with a place: that place or online
    day_part: str | None = None
    weekday: str | None = None
    start_month: str | None = None  # "2027-01"
    programme: Programme | None = None


@dataclass(frozen=True)
class CataloguePage:
    courses: list[Course]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _month_range(value: str) -> tuple[date, date] | None:
    try:
        year, month = (int(part) for part in value.split("-"))
        first = date(year, month, 1)
    except ValueError:
        return None
    return first, first + timedelta(days=calendar.monthrange(year, month)[1])


def catalogue_query(filters: CatalogueFilters, today: date):
    """The published courses matching ``filters`` that have not ended, as a SELECT."""
    stmt = select(Course).where(Course.is_published.is_(True), Course.end_date >= today)
    if filters.level:
        stmt = stmt.where(Course.level == filters.level)
    if filters.programme:
        stmt = stmt.where(Course.programme == filters.programme)
    place = []
    if filters.town:
        place.append(Course.town == filters.town)
    elif filters.county:
        place.append(Course.county == filters.county)
    online = Course.mode.in_((Mode.ONLINE, Mode.HYBRID))
    if place and filters.online:
        stmt = stmt.where(or_(*place, online))
    elif place:
        stmt = stmt.where(*place)
    elif filters.online:
        stmt = stmt.where(online)
    if filters.day_part in DAY_PART_TIMES:
        start, end = DAY_PART_TIMES[filters.day_part]
        stmt = stmt.where(and_(Course.starts_at_time >= start, Course.starts_at_time < end))
    if filters.weekday in WEEKDAY_BITS:
        stmt = stmt.where(Course.weekday_mask.op("&")(WEEKDAY_BITS[filters.weekday]) != 0)
    if filters.start_month and (bounds := _month_range(filters.start_month)):
        stmt = stmt.where(Course.start_date >= bounds[0], Course.start_date < bounds[1])
    return stmt


def search_catalogue(filters: CatalogueFilters, page: int = 1, page_size: int = PAGE_SIZE,
                     today: date | None = None) -> CataloguePage:
    """One page of the public catalogue, soonest start first: two queries whatever the page size."""
    today = today or local_today()
    page = max(page, 1)
    stmt = catalogue_query(filters, today)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    courses = list(db.session.scalars(
        stmt.options(joinedload(Course.provider)).order_by(Course.start_date, Course.id)
        .limit(page_size).offset((page - 1) * page_size)))
    return CataloguePage(courses, total, page, page_size)


def catalogue_towns() -> list[str]:
    """Towns that have a published course (the catalogue's town filter)."""
    return list(db.session.scalars(_towns_query()))


@cache
def _towns_query():
    # Built once: every catalogue page runs it, and building and keying it cost more than running it.
    return (select(distinct(Course.town)).where(Course.is_published.is_(True), Course.town.is_not(None))
            .order_by(Course.town))


# -- enrolments -----------------------------------------------------------------------------------

def active_seat_count(course: Course) -> int:
    return db.session.scalar(select(func.count()).select_from(Enrolment)
                             .where(Enrolment.course_id == course.id, Enrolment.status.in_(ACTIVE_STATUSES)))


def learner_enrolments(learner: User) -> list[Enrolment]:
    """The learner's seats in every state, with their courses, newest first."""
    return list(db.session.scalars(_enrolments_query(), {"learner_id": learner.id}))


@cache
def _enrolments_query():
    # Built once: the dashboard runs it on every visit, and building and keying it cost more than running it.
    return (select(Enrolment).options(joinedload(Enrolment.course))
            .where(Enrolment.learner_id == bindparam("learner_id"))
            .order_by(Enrolment.accepted_at.desc(), Enrolment.id.desc()))


def _working_days() -> int:
    return current_app.config.get("COURSE_CONFIRMATION_WORKING_DAYS", CONFIRMATION_WORKING_DAYS)


def create_enrolment(learner: User, course: Course, *, by: User | None = None,
                     override_reason: str | None = None, today: date | None = None) -> Enrolment:
    """Give ``learner`` a seat on ``course`` (status accepted) if every rule allows it.

    The waitlist's offers call this when a learner accepts; tests and demo data call it directly.
    Staff (``by`` a counsellor or admin) may let a learner go down a level with ``override_reason``.
    The provider must confirm within :data:`CONFIRMATION_WORKING_DAYS` working days.
    """
    today = today or local_today()
    if learner.role is not Role.LEARNER or learner.profile is None:
        raise DomainError(_l("Only learners can be enrolled on a course."))
    override = bool(override_reason and override_reason.strip())
    if override and (by is None or by.role not in (Role.COUNSELLOR, Role.ADMIN)):
        raise DomainError(_l("Only a counsellor or an admin can override the level rules."), "override_reason")
    # Serialise seat-taking on this course (PostgreSQL; SQLite's writer lock does it there).
    lock_course(course.id)
    problems = enrolment_problems(learner.profile, course, learner_enrolments(learner), today,
                                  allow_lower=override)
    if problems:
        raise DomainError(problems[0].message)
    if active_seat_count(course) >= course.capacity:
        raise DomainError(_l("This course is full."))
    enrolment = Enrolment(learner=learner, course=course, level=course.level,
                          status=EnrolmentStatus.ACCEPTED, accepted_at=utcnow(),
                          confirm_by=add_working_days(today, _working_days()),
                          override_by_id=by.id if override else None,
                          override_reason=override_reason.strip() if override else None)
    db.session.add(enrolment)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:  # a concurrent seat for the same learner got there first
        raise DomainError(_l("The learner already holds a seat on a course or has taken this level.")) from None
    return enrolment


def _seats_freed(course: Course) -> None:
    """Seats became free: the waitlist's allocation job offers them (after the commit)."""
    from langjourney.waitlist.tasks import allocate

    enqueue(allocate, course.id)


def _log(kind: str, enrolment: Enrolment, reason: str | None = None) -> None:
    from langjourney.waitlist.services import log

    log(kind, actor="provider", learner_id=enrolment.learner_id, course_id=enrolment.course_id, reason=reason)


class AlreadyConfirmed(DomainError):
    """The enrolment is confirmed already (a double click, an API retry): nothing more to do."""


def _require(enrolment: Enrolment, *statuses: EnrolmentStatus) -> None:
    if enrolment.status not in statuses:
        raise DomainError(_l("Not possible: the enrolment's status is “%(status)s”.",
                             status=ENROLMENT_STATUS_LABELS[enrolment.status]))


def _add_note(enrolment: Enrolment, note: str | None) -> None:
    note = (note or "").strip()
    if len(note) > 2000:
        raise DomainError(_l("Write a note of at most 2000 characters."), "note")
    if note:
        enrolment.note = f"{enrolment.note}\n{note}" if enrolment.note else note


def confirm_enrolment(enrolment: Enrolment, note: str | None = None) -> None:
    """The provider confirms the learner's seat (once: a repeat raises :class:`AlreadyConfirmed`)."""
    enrolment = locked(Enrolment, enrolment.id)  # two requests on one enrolment run in turn
    if enrolment.status is EnrolmentStatus.CONFIRMED:
        raise AlreadyConfirmed(_l("This enrolment is already confirmed."))
    _require(enrolment, EnrolmentStatus.ACCEPTED)
    _add_note(enrolment, note)
    enrolment.status = EnrolmentStatus.CONFIRMED
    enrolment.confirmed_at = utcnow()
    _log("confirm", enrolment)
    db.session.flush()


def report_mismatch(enrolment: Enrolment, suggested_level: str | None, note: str | None,
                    today: date | None = None) -> None:
    """After the first lesson the provider finds the learner's level wrong: the seat is ended, the
    learner's level is cleared so they go back to counselling, and the learner is told by mail.

    Putting them back on the waitlists (keeping their original join time) is the waitlist's part.
    """
    from langjourney.mail.services import queue_mail

    today = today or local_today()
    enrolment = locked(Enrolment, enrolment.id)  # two requests on one enrolment run in turn
    _require(enrolment, *ACTIVE_STATUSES)
    if today < enrolment.course.start_date:
        raise DomainError(_l("A level mismatch can be reported once the course has started."))
    if suggested_level and suggested_level not in COURSE_LEVELS:
        raise DomainError(_l("Choose a level: %(levels)s.", levels=", ".join(COURSE_LEVELS)), "suggested_level")
    _add_note(enrolment, note)
    enrolment.status = EnrolmentStatus.MISMATCH
    enrolment.mismatch_level = suggested_level or None
    enrolment.ended_at = utcnow()
    profile = enrolment.learner.profile
    profile.level = None
    profile.level_source = None
    profile.level_set_at = None
    _log("mismatch", enrolment, reason=suggested_level)
    db.session.flush()
    _seats_freed(enrolment.course)
    queue_mail(enrolment.learner, _l("Your course level will be checked again"), "mail/level_mismatch.txt",
               course=enrolment.course, suggested_level=suggested_level)


def record_outcome(enrolment: Enrolment, status: EnrolmentStatus, attendance_percent: int | None,
                   final_test_result: int | None, note: str | None = None) -> None:
    """Mark a drop-out or a completion. Completion needs more than 80 % attendance and a final test."""
    enrolment = locked(Enrolment, enrolment.id)  # two requests on one enrolment run in turn
    if status is EnrolmentStatus.COMPLETED:
        _require(enrolment, EnrolmentStatus.CONFIRMED)
        if attendance_percent is None or final_test_result is None:
            raise DomainError(_l("Completion needs the attendance and the final test result."),
                              "attendance_percent" if attendance_percent is None else "final_test_result")
        if attendance_percent <= COMPLETION_MIN_ATTENDANCE:
            raise DomainError(_l("Completion needs an attendance of more than %(n)d percent.", n=COMPLETION_MIN_ATTENDANCE),
                              "attendance_percent")
    elif status is EnrolmentStatus.DROPPED_OUT:
        _require(enrolment, *ACTIVE_STATUSES)
    else:
        raise DomainError(_l("Choose completed or dropped out."), "outcome")
    for name, value in (("attendance_percent", attendance_percent), ("final_test_result", final_test_result)):
        if value is not None and not 0 <= value <= 100:
            raise DomainError(_l("Enter a percentage between 0 and 100."), name)
    _add_note(enrolment, note)
    enrolment.status = status
    enrolment.attendance_percent = attendance_percent
    enrolment.final_test_result = final_test_result
    enrolment.ended_at = utcnow()
    _log(status.value, enrolment)
    db.session.flush()
    if status is EnrolmentStatus.DROPPED_OUT:
        _seats_freed(enrolment.course)


def course_enrolments(course: Course) -> list[Enrolment]:
    return list(db.session.scalars(select(Enrolment).options(joinedload(Enrolment.learner))
                                   .where(Enrolment.course_id == course.id)
                                   .order_by(Enrolment.accepted_at, Enrolment.id)))


def provider_enrolments(provider_id: int, course_id: int | None = None,
                        status: EnrolmentStatus | None = None) -> list[Enrolment]:
    stmt = (select(Enrolment).join(Enrolment.course).options(joinedload(Enrolment.learner),
                                                             joinedload(Enrolment.course))
            .where(Course.provider_id == provider_id))
    if course_id is not None:
        stmt = stmt.where(Enrolment.course_id == course_id)
    if status is not None:
        stmt = stmt.where(Enrolment.status == status)
    return list(db.session.scalars(stmt.order_by(Enrolment.id)))


# -- overdue confirmations ------------------------------------------------------------------------

def overdue_enrolments(today: date | None = None, provider_id: int | None = None, lock: bool = False):
    """Accepted enrolments whose provider has not confirmed by the deadline."""
    today = today or local_today()
    stmt = (select(Enrolment).join(Enrolment.course)
            .where(Enrolment.status == EnrolmentStatus.ACCEPTED, Enrolment.confirm_by < today))
    if provider_id is not None:
        stmt = stmt.where(Course.provider_id == provider_id)
    if lock:
        stmt = stmt.with_for_update(of=Enrolment)
    else:
        stmt = stmt.options(joinedload(Enrolment.course).joinedload(Course.provider),
                            joinedload(Enrolment.learner))
    return list(db.session.scalars(stmt.order_by(Course.provider_id, Enrolment.confirm_by, Enrolment.id)))


def remind_overdue(today: date | None = None) -> int:
    """Mail each provider's staff about their overdue confirmations; at most once a day per enrolment.

    The rows are locked, so two runs at once remind once. Returns how many mails were queued.
    """
    from langjourney.mail.services import queue_mail

    today = today or local_today()
    due = [e for e in overdue_enrolments(today, lock=True) if e.reminded_on is None or e.reminded_on < today]
    by_provider: dict[int, list[Enrolment]] = {}
    for enrolment in due:
        by_provider.setdefault(enrolment.course.provider_id, []).append(enrolment)
        enrolment.reminded_on = today
    try:
        portal_url = url_for("provider.courses", _external=True)
    except RuntimeError:  # a job or command without SERVER_NAME: the mail goes without the link
        portal_url = None
    mails = 0
    for provider_id, enrolments in by_provider.items():
        staff = db.session.scalars(select(User).where(User.provider_id == provider_id, User.is_active.is_(True)))
        for user in staff:
            queue_mail(user, _l("Enrolments waiting for your confirmation"), "mail/overdue_confirmations.txt",
                       enrolments=enrolments, today=today, portal_url=portal_url)
            mails += 1
    db.session.flush()
    return mails


# -- API tokens -----------------------------------------------------------------------------------

TOKEN_PREFIX = "ljp_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for the user's provider; returns the row and the token, which is shown only once."""
    if user.role is not Role.PROVIDER or not user.is_provider_admin:
        raise DomainError(_l("Only a provider's admin can create API tokens."))
    name = name.strip()
    if not name or len(name) > 100:
        raise DomainError(_l("Give the token a name of at most 100 characters."), "name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(provider_id=user.provider_id, created_by_id=user.id, name=name, prefix=token[:10],
                   token_hash=hash_token(token))
    db.session.add(row)
    db.session.flush()
    return row, token


def revoke_api_token(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()


def provider_tokens(provider_id: int) -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).options(joinedload(ApiToken.created_by))
                                   .where(ApiToken.provider_id == provider_id).order_by(ApiToken.created_at.desc())))


def live_api_token(token: str) -> ApiToken | None:
    """The live (not revoked) API token with this value, its provider loaded, recording its use; or None."""
    row = db.session.scalar(select(ApiToken).options(joinedload(ApiToken.provider))
                            .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)))
    if row is None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):
        row.last_used_at = now  # coarse, so reads do not write on every call
        db.session.flush()
    return row


# -- API idempotency keys --------------------------------------------------------------------------

IDEMPOTENCY_KEY_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class IdempotentRequest:
    """A provider API request sent with an ``Idempotency-Key``: the provider's key, and what the
    request is (its fingerprint tells a repeat from another request under the same key)."""

    provider_id: int
    key: str
    method: str
    path: str
    fingerprint: str


class IdempotencyKeyTaken(Exception):
    """A concurrent request with the same key has committed its response first."""


def idempotent_request(provider_id: int, key: str, method: str, path: str, body: bytes) -> IdempotentRequest:
    """Describe a keyed request. The fingerprint is the SHA-256 of the method, the path and the body;
    a JSON body is taken in canonical form, so key order and spacing make no difference."""
    try:
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode() if body else b""
    except ValueError:  # not JSON: compared as sent
        pass
    fingerprint = hashlib.sha256(f"{method} {path}\n".encode() + body).hexdigest()
    return IdempotentRequest(provider_id, key, method, path, fingerprint)


def stored_response(request: IdempotentRequest) -> ApiIdempotencyKey | None:
    """The response stored under the request's key in the last 24 hours, if any."""
    return db.session.scalar(select(ApiIdempotencyKey).where(
        ApiIdempotencyKey.provider_id == request.provider_id, ApiIdempotencyKey.key == request.key,
        ApiIdempotencyKey.created_at > utcnow() - IDEMPOTENCY_KEY_LIFETIME))


def store_response(request: IdempotentRequest, status_code: int, response: dict) -> ApiIdempotencyKey:
    """Store the response to a keyed request in the current transaction, the one holding the request's
    action: both are committed or neither. The provider's expired keys are deleted first (a key may be
    used again after 24 hours).

    Raises :class:`IdempotencyKeyTaken` when a concurrent request with the same key has committed
    first (on PostgreSQL the insert waits for it to end); the caller must then roll back and answer
    with that request's response.
    """
    db.session.execute(delete(ApiIdempotencyKey).where(
        ApiIdempotencyKey.provider_id == request.provider_id,
        ApiIdempotencyKey.created_at <= utcnow() - IDEMPOTENCY_KEY_LIFETIME))
    row = ApiIdempotencyKey(provider_id=request.provider_id, key=request.key, method=request.method,
                            path=request.path, fingerprint=request.fingerprint, status_code=status_code,
                            response=response)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        raise IdempotencyKeyTaken(request.key) from None
    return row
