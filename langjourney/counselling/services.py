"""Counselling: requests (a learner asks, a counsellor contacts them and marks the request handled) and
appointments (counsellors publish times, learners book them).

One live booking per time is a partial unique index: of two learners booking the same time at once,
one insert fails and that learner is told the time was taken. Booking reads the time with a shared
lock (``FOR SHARE`` on PostgreSQL) and cancelling it takes an exclusive one, so a time cannot be
booked while the counsellor cancels it. "One upcoming appointment per learner" and "no overlapping
times per counsellor" depend on the clock, so no index can hold them: they are checked with the
learner's (or counsellor's) own row locked. On SQLite every write transaction already runs alone.

Times are entered and shown in Estonian time and stored in UTC.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo

from flask import url_for
from flask_babel import LazyString, format_date, format_time, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from langjourney.auth.models import Role, User
from langjourney.counselling.models import (
    COUNSELLING_LANGUAGES, LANGUAGE_BITS, LANGUAGE_LABELS, AppointmentMode, CounsellingBooking, CounsellingRequest,
    CounsellingSlot,
)
from langjourney.db import locked, utcnow
from langjourney.errors import DomainError
from langjourney.extensions import db

TALLINN = ZoneInfo("Europe/Tallinn")
APPOINTMENT_MINUTES = (30, 45, 60)
BREAK_MINUTES = (0, 5, 10, 15)
MAX_SLOTS_AT_ONCE = 12
# Appointments lie within office hours stretched to the evening, Estonian time (and so never
# across a daylight-saving change, which happens at night).
DAY_STARTS, DAY_ENDS = time(7, 0), time(21, 0)
PUBLISH_AHEAD_DAYS = 180
# Learners book and cancel up to this long before the start, so the counsellor knows who comes.
CHANGES_CLOSE = timedelta(hours=2)
FREE_SLOTS_SHOWN = 200
VIDEO_LINK = re.compile(r"https://[^\s<>\"']{4,492}")
# A learner is reminded of an appointment this long before it, unless they booked it later than that.
REMINDER_LEAD = timedelta(hours=24)

_TAKEN = _l("Someone else has just booked this time. Please choose another.")


# -- requests ------------------------------------------------------------------------------------------

def open_request(learner: User) -> CounsellingRequest | None:
    return db.session.scalar(select(CounsellingRequest).where(CounsellingRequest.learner_id == learner.id,
                                                              CounsellingRequest.handled_at.is_(None)))


def ask(learner: User, message: str, contact_times: str) -> CounsellingRequest:
    """Ask for counselling (one open request at a time)."""
    if open_request(learner) is not None:
        raise DomainError(_l("You have already asked for counselling. A counsellor will contact you."))
    request = CounsellingRequest(learner_id=learner.id, message=message.strip(), contact_times=contact_times.strip())
    try:
        with db.session.begin_nested():
            db.session.add(request)
    except IntegrityError:  # the same request, twice at once
        raise DomainError(_l("You have already asked for counselling. A counsellor will contact you.")) from None
    return request


def open_requests() -> list[CounsellingRequest]:
    """Open requests, oldest first."""
    return list(db.session.scalars(select(CounsellingRequest).where(CounsellingRequest.handled_at.is_(None))
                                   .order_by(CounsellingRequest.created_at, CounsellingRequest.id)))


def mark_handled(request_id: int, counsellor: User) -> None:
    request = locked(CounsellingRequest, request_id)
    if request is None:
        raise DomainError(_l("There is no such request."))
    if request.handled_at is None:  # a second click changes nothing
        request.handled_at = utcnow()
        request.handled_by_id = counsellor.id
        db.session.flush()


# -- time ---------------------------------------------------------------------------------------------

def format_when(moment: datetime) -> str:
    """A moment as the date and time in Estonia, in the current language ("Monday, … at 10:00")."""
    return gettext("%(date)s at %(time)s", date=format_date(moment, "full"), time=format_time(moment, "short"))


def lazy_when(moment: datetime) -> LazyString:
    """:func:`format_when`, in whatever language is in force when it is read (a mail's recipient's)."""
    return LazyString(format_when, moment)


def in_tallinn(moment: datetime) -> datetime:
    return moment.astimezone(TALLINN)


# -- publishing times (counsellors) -------------------------------------------------------------------

@dataclass(frozen=True)
class SlotSeries:
    """Consecutive appointment times a counsellor publishes at once: ``count`` appointments of
    ``minutes`` from ``start`` (Estonian time) on ``day``, with ``break_minutes`` between them."""

    day: date
    start: time
    minutes: int
    count: int
    mode: AppointmentMode
    languages: list[str]
    place: str | None = None
    break_minutes: int = 0
    video_link: str | None = None

    def times(self) -> list[tuple[datetime, datetime]]:
        """Each appointment's start and end, in UTC."""
        first = datetime.combine(self.day, self.start, tzinfo=TALLINN)
        step = timedelta(minutes=self.minutes + self.break_minutes)
        length = timedelta(minutes=self.minutes)
        return [((first + i * step).astimezone(timezone.utc), (first + i * step + length).astimezone(timezone.utc))
                for i in range(self.count)]


def validate_series(series: SlotSeries, now: datetime) -> None:
    """Raise :class:`DomainError` (naming the field) for the first thing wrong with ``series``."""
    today = in_tallinn(now).date()
    if series.minutes not in APPOINTMENT_MINUTES:
        raise DomainError(_l("Choose a length of 30, 45 or 60 minutes."), "minutes")
    if series.break_minutes not in BREAK_MINUTES:
        raise DomainError(_l("Choose a break of 0, 5, 10 or 15 minutes."), "break_minutes")
    if not 1 <= series.count <= MAX_SLOTS_AT_ONCE:
        raise DomainError(_l("Publish between 1 and %(max)d appointments at once.", max=MAX_SLOTS_AT_ONCE),
                          "count")
    if not series.languages or any(code not in COUNSELLING_LANGUAGES for code in series.languages):
        raise DomainError(_l("Choose at least one language you can counsel in."), "languages")
    if series.mode is AppointmentMode.IN_PERSON and not (series.place or "").strip():
        raise DomainError(_l("Enter the town and address where you meet the learners."), "place")
    if series.place and len(series.place) > 200:
        raise DomainError(_l("Enter a place of at most 200 characters."), "place")
    if series.video_link:
        if series.mode is not AppointmentMode.VIDEO:
            raise DomainError(_l("A video call link can only be given for appointments by video call."), "video_link")
        _check_video_link(series.video_link)
    if series.day < today:
        raise DomainError(_l("The date is in the past."), "day")
    if series.day > today + timedelta(days=PUBLISH_AHEAD_DAYS):
        raise DomainError(_l("Publish times at most %(days)d days ahead.", days=PUBLISH_AHEAD_DAYS), "day")
    if series.start < DAY_STARTS:
        raise DomainError(_l("Appointments can start at 07:00 at the earliest."), "start")
    times = series.times()
    if times[0][0] <= now:
        raise DomainError(_l("This time has already passed."), "start")
    last_end = in_tallinn(times[-1][1])
    if last_end.date() != series.day or last_end.time() > DAY_ENDS:
        raise DomainError(_l("The last appointment would end at %(end)s, but appointments must end by 21:00. "
                             "Publish fewer appointments or start earlier.", end=format_time(times[-1][1], "short")),
                          "count")


def publish_slots(counsellor: User, series: SlotSeries) -> list[CounsellingSlot]:
    """Publish the times of ``series`` for ``counsellor``; none of them may overlap the counsellor's
    other times."""
    now = utcnow()
    validate_series(series, now)
    _lock_user(counsellor.id)  # the same counsellor publishing twice at once: one overlap check at a time
    times = series.times()
    nearby = db.session.scalars(
        select(CounsellingSlot).where(CounsellingSlot.counsellor_id == counsellor.id,
                                      CounsellingSlot.cancelled_at.is_(None),
                                      CounsellingSlot.starts_at < times[-1][1],
                                      CounsellingSlot.ends_at > times[0][0])
        .order_by(CounsellingSlot.starts_at))
    for other in nearby:
        if any(start < other.ends_at and other.starts_at < end for start, end in times):
            raise DomainError(_l("These times overlap your appointment time on %(when)s.",
                                 when=format_when(other.starts_at)), "start")
    place = series.place.strip() if series.mode is AppointmentMode.IN_PERSON and series.place else None
    slots = [CounsellingSlot(counsellor_id=counsellor.id, starts_at=start, ends_at=end, mode=series.mode,
                             place=place, video_link=series.video_link or None, languages=series.languages)
             for start, end in times]
    db.session.add_all(slots)
    db.session.flush()
    return slots


@dataclass(frozen=True)
class SlotRow:
    slot: CounsellingSlot
    booking: CounsellingBooking | None


def upcoming_slots(staff: User) -> list[SlotRow]:
    """Live times that have not ended, each with its booking: a counsellor's own, or everyone's for an
    admin."""
    stmt = (select(CounsellingSlot, CounsellingBooking)
            .outerjoin(CounsellingBooking, and_(CounsellingBooking.slot_id == CounsellingSlot.id,
                                                CounsellingBooking.cancelled_at.is_(None)))
            .where(CounsellingSlot.cancelled_at.is_(None), CounsellingSlot.ends_at > utcnow())
            .options(joinedload(CounsellingSlot.counsellor), joinedload(CounsellingBooking.learner))
            .order_by(CounsellingSlot.starts_at, CounsellingSlot.id))
    if staff.role is not Role.ADMIN:
        stmt = stmt.where(CounsellingSlot.counsellor_id == staff.id)
    return [SlotRow(slot, booking) for slot, booking in db.session.execute(stmt)]


def get_slot_for_staff(slot_id: int, staff: User) -> CounsellingSlot | None:
    """A slot the staff member may manage: their own, or any for an admin."""
    slot = db.session.get(CounsellingSlot, slot_id)
    if slot is None or (staff.role is not Role.ADMIN and slot.counsellor_id != staff.id):
        return None
    return slot


def live_booking(slot: CounsellingSlot, *, lock: bool = False) -> CounsellingBooking | None:
    """The time's booking that is not cancelled, if any. With ``lock``, its row is locked and read
    again (a learner's own cancellation of it may have just committed)."""
    stmt = select(CounsellingBooking).where(CounsellingBooking.slot_id == slot.id,
                                            CounsellingBooking.cancelled_at.is_(None))
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(stmt)


def cancel_slot(slot_id: int, staff: User, reason: str = "") -> CounsellingSlot:
    """Withdraw a time. A learner who booked it is told by e-mail (and sees it on their dashboard)."""
    slot = locked(CounsellingSlot, slot_id)
    if slot is None:
        raise DomainError(_l("There is no such appointment time."))
    if slot.cancelled_at is not None:  # a second click changes nothing
        return slot
    now = utcnow()
    if slot.starts_at <= now:
        raise DomainError(_l("This appointment has already begun, so it can no longer be cancelled."))
    slot.cancelled_at, slot.cancelled_by_id = now, staff.id
    slot.cancel_reason = reason.strip() or None
    booking = live_booking(slot, lock=True)
    if booking is not None:
        booking.cancelled_at, booking.cancelled_by_id = now, staff.id
        _mail(booking.learner, _l("Your counselling appointment on %(when)s is cancelled",
                                  when=lazy_when(slot.starts_at)),
              "mail/appointment_cancelled.txt", booking=booking, slot=slot, by_counsellor=True)
    db.session.flush()
    return slot


def change_video_link(slot_id: int, staff: User, link: str | None) -> CounsellingSlot:
    """Give, change or remove the link of a time by video call that has not ended. A learner who
    booked it is sent the appointment's details again, with the new link, by e-mail."""
    slot = locked(CounsellingSlot, slot_id)
    if slot is None or slot.cancelled_at is not None or slot.mode is not AppointmentMode.VIDEO:
        raise DomainError(_l("There is no such appointment time."))
    link = (link or "").strip() or None
    if link is not None:
        _check_video_link(link)
    now = utcnow()
    if slot.ends_at <= now:
        raise DomainError(_l("This appointment has already ended."))
    if link == slot.video_link:  # a second click, or nothing changed: no second mail
        return slot
    slot.video_link = link
    booking = live_booking(slot, lock=True)
    if booking is not None:
        _mail(booking.learner, _l("How to join your counselling appointment on %(when)s",
                                  when=lazy_when(slot.starts_at)),
              "mail/appointment_link_changed.txt", booking=booking, slot=slot, cancel_by=_cancel_by(slot, now))
    db.session.flush()
    return slot


# -- booking (learners) -------------------------------------------------------------------------------

@dataclass(frozen=True)
class SlotFilters:
    language: str | None = None
    mode: AppointmentMode | None = None


def _free_slots_query(now: datetime):
    taken = exists().where(CounsellingBooking.slot_id == CounsellingSlot.id,
                           CounsellingBooking.cancelled_at.is_(None))
    return select(CounsellingSlot).where(CounsellingSlot.cancelled_at.is_(None),
                                         CounsellingSlot.starts_at > now + CHANGES_CLOSE, ~taken)


def free_slots(filters: SlotFilters = SlotFilters()) -> list[CounsellingSlot]:
    """Times a learner can book now, soonest first (at most :data:`FREE_SLOTS_SHOWN`)."""
    stmt = _free_slots_query(utcnow()).options(joinedload(CounsellingSlot.counsellor))
    if filters.language in LANGUAGE_BITS:
        stmt = stmt.where(CounsellingSlot.language_mask.op("&")(LANGUAGE_BITS[filters.language]) != 0)
    if filters.mode is not None:
        stmt = stmt.where(CounsellingSlot.mode == filters.mode)
    return list(db.session.scalars(stmt.order_by(CounsellingSlot.starts_at, CounsellingSlot.id)
                                   .limit(FREE_SLOTS_SHOWN)))


def has_free_slots() -> bool:
    return db.session.scalar(select(_free_slots_query(utcnow()).exists())) is True


def bookable_slot(slot_id: int) -> CounsellingSlot | None:
    """A slot that is free to book now, or None."""
    return db.session.scalar(_free_slots_query(utcnow()).where(CounsellingSlot.id == slot_id))


def upcoming_booking(learner: User) -> CounsellingBooking | None:
    """The learner's live booking of a time that has not ended (there is at most one)."""
    return db.session.scalar(
        select(CounsellingBooking).join(CounsellingBooking.slot)
        .where(CounsellingBooking.learner_id == learner.id, CounsellingBooking.cancelled_at.is_(None),
               CounsellingSlot.ends_at > utcnow())
        .options(joinedload(CounsellingBooking.slot).joinedload(CounsellingSlot.counsellor))
        .order_by(CounsellingSlot.starts_at).limit(1))


def upcoming_of(bookings: list[CounsellingBooking]) -> CounsellingBooking | None:
    """Of a learner's bookings (:func:`bookings_of`), what :func:`upcoming_booking` finds, without a query."""
    now = utcnow()
    live = [b for b in bookings if b.cancelled_at is None and b.slot.ends_at > now]
    return min(live, key=lambda b: b.slot.starts_at, default=None)


def bookings_of(learner: User) -> list[CounsellingBooking]:
    """All the learner's bookings, cancelled ones too, newest first."""
    return list(db.session.scalars(_bookings_query(), {"learner_id": learner.id}))


@cache
def _bookings_query():
    # Built once: the dashboard runs it on every visit, and building and keying it cost more than running it.
    return (select(CounsellingBooking).where(CounsellingBooking.learner_id == bindparam("learner_id"))
            .options(joinedload(CounsellingBooking.slot).joinedload(CounsellingSlot.counsellor))
            .order_by(CounsellingBooking.created_at.desc(), CounsellingBooking.id.desc()))


def book(learner: User, slot_id: int, language: str, note: str = "", phone: str = "") -> CounsellingBooking:
    """Book a time for ``learner`` (one upcoming appointment at a time) and e-mail a confirmation."""
    _lock_user(learner.id)  # two tabs of one learner: one "one upcoming appointment" check at a time
    # Shared: other bookings go ahead (the unique index decides between them); a cancellation waits.
    slot = db.session.scalar(select(CounsellingSlot).where(CounsellingSlot.id == slot_id)
                             .with_for_update(read=True).execution_options(populate_existing=True))
    if slot is None or slot.cancelled_at is not None:
        raise DomainError(_l("This time is no longer available. Please choose another."))
    if slot.starts_at <= utcnow() + CHANGES_CLOSE:
        raise DomainError(_l("This time can no longer be booked: bookings close 2 hours before the start."))
    if upcoming_booking(learner) is not None:
        raise DomainError(_l("You already have an upcoming appointment. Cancel it first if you want another time."))
    if live_booking(slot) is not None:
        raise DomainError(_TAKEN)
    if language not in slot.languages:
        raise DomainError(_l("Choose one of the languages offered for this time."), "language")
    phone = (phone or "").strip()
    if slot.mode is AppointmentMode.PHONE and not phone:
        raise DomainError(_l("Enter the phone number the counsellor should call."), "phone")
    booking = CounsellingBooking(slot=slot, learner_id=learner.id, language=language,
                                 note=(note or "").strip() or None,
                                 phone=phone if slot.mode is AppointmentMode.PHONE else None)
    try:
        with db.session.begin_nested():
            db.session.add(booking)
    except IntegrityError:  # another learner's booking of this time committed first
        raise DomainError(_TAKEN) from None
    _mail(learner, _l("Your counselling appointment on %(when)s", when=lazy_when(slot.starts_at)),
          "mail/appointment_booked.txt", booking=booking, slot=slot,
          cancel_by=slot.starts_at - CHANGES_CLOSE)
    _mail(slot.counsellor, _l("A learner booked your time on %(when)s", when=lazy_when(slot.starts_at)),
          "mail/appointment_staff_notice.txt", booking=booking, slot=slot, learner=learner, booked=True)
    return booking


def get_booking_of(booking_id: int, learner: User) -> CounsellingBooking | None:
    """The learner's own booking, or None."""
    booking = db.session.get(CounsellingBooking, booking_id)
    return booking if booking is not None and booking.learner_id == learner.id else None


def can_cancel(booking: CounsellingBooking) -> bool:
    """Whether the learner may still cancel it themself."""
    return booking.cancelled_at is None and booking.slot.starts_at - CHANGES_CLOSE > utcnow()


def cancel_booking(booking_id: int, learner: User) -> CounsellingBooking:
    """The learner cancels their booking (up to 2 hours before the start); the time is free again."""
    booking = locked(CounsellingBooking, booking_id)
    if booking is None or booking.learner_id != learner.id:
        raise DomainError(_l("There is no such appointment."))
    if booking.cancelled_at is not None:  # a second click changes nothing
        return booking
    if not can_cancel(booking):
        raise DomainError(_l("The appointment starts in less than 2 hours, so it can no longer be cancelled here."))
    booking.cancelled_at, booking.cancelled_by_id = utcnow(), learner.id
    slot = booking.slot
    _mail(learner, _l("Your counselling appointment on %(when)s is cancelled", when=lazy_when(slot.starts_at)),
          "mail/appointment_cancelled.txt", booking=booking, slot=slot, by_counsellor=False)
    _mail(slot.counsellor, _l("A learner cancelled the appointment on %(when)s", when=lazy_when(slot.starts_at)),
          "mail/appointment_staff_notice.txt", booking=booking, slot=slot, learner=learner, booked=False)
    db.session.flush()
    return booking


def cancelled_by_counsellor(bookings: list[CounsellingBooking]) -> CounsellingBooking | None:
    """Of a learner's bookings (:func:`bookings_of`), the latest, if a counsellor cancelled it and it
    would still have been ahead: the dashboard tells them until they book again or the time passes."""
    latest = next(iter(bookings), None)
    if (latest is not None and latest.cancelled_at is not None and not latest.is_cancelled_by_learner
            and latest.slot.starts_at > utcnow()):
        return latest
    return None


# -- reminders ----------------------------------------------------------------------------------------

def send_reminders(now: datetime | None = None) -> int:
    """Queue a reminder mail to each learner whose appointment starts within :data:`REMINDER_LEAD`,
    once per booking, and return how many were queued. A booking made less than that before its
    start gets none: its confirmation has only just been sent. Each booking is claimed by a
    conditional update, so two runs at once remind once, and a cancellation committed first wins."""
    now = now or utcnow()
    due = db.session.execute(
        select(CounsellingBooking.id, CounsellingBooking.created_at, CounsellingSlot.starts_at)
        .join(CounsellingBooking.slot)
        .where(CounsellingBooking.cancelled_at.is_(None), CounsellingBooking.reminded_at.is_(None),
               CounsellingSlot.cancelled_at.is_(None), CounsellingSlot.starts_at > now,
               CounsellingSlot.starts_at <= now + REMINDER_LEAD)
        .order_by(CounsellingSlot.starts_at, CounsellingBooking.id)).all()
    sent = 0
    for booking_id, booked_at, starts_at in due:
        if starts_at - booked_at <= REMINDER_LEAD:
            continue
        claimed = db.session.execute(
            update(CounsellingBooking)
            .where(CounsellingBooking.id == booking_id, CounsellingBooking.reminded_at.is_(None),
                   CounsellingBooking.cancelled_at.is_(None))
            .values(reminded_at=now).execution_options(synchronize_session=False)).rowcount
        if not claimed:
            continue
        booking = db.session.get(CounsellingBooking, booking_id)
        slot = booking.slot
        _mail(booking.learner, _l("Reminder: your counselling appointment on %(when)s", when=lazy_when(slot.starts_at)),
              "mail/appointment_reminder.txt", booking=booking, slot=slot, cancel_by=_cancel_by(slot, now))
        sent += 1
    return sent


# -- small pieces -------------------------------------------------------------------------------------

def _check_video_link(link: str) -> None:
    if not VIDEO_LINK.fullmatch(link):
        raise DomainError(_l("Enter a link that starts with https://, of at most 500 characters."), "video_link")


def _cancel_by(slot: CounsellingSlot, now: datetime) -> datetime | None:
    """The last moment the learner may still cancel, for a mail; None once it has passed."""
    cancel_by = slot.starts_at - CHANGES_CLOSE
    return cancel_by if cancel_by > now else None


def _lock_user(user_id: int) -> None:
    """Lock a user's row (``FOR NO KEY UPDATE``: rows referring to the user can still be written)."""
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))


def _mail(user: User, subject, template: str, **context) -> None:
    from langjourney.mail.services import queue_mail

    queue_mail(user, subject, template, language_labels=LANGUAGE_LABELS,
               slots_link=url_for("counselling.slots", _external=True),
               staff_link=url_for("counselling.staff_slots", _external=True), **context)
