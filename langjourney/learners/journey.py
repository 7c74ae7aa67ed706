"""The learner's journey: the stage they are at, the one next action, what is done and notices."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import url_for
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l

from langjourney.auth.models import User
from langjourney.counselling import services as counselling
from langjourney.counselling.models import AppointmentMode, CounsellingBooking
from langjourney.courses.models import ACTIVE_STATUSES, EnrolmentStatus
from langjourney.db import utcnow
from langjourney.learners.services import level_decisions
from langjourney.selfassess import services as selfassess
from langjourney.testing import services as testing
from langjourney.testing.models import AttemptStatus


@dataclass(frozen=True)
class Event:
    at: datetime
    text: str
    url: str | None = None


@dataclass(frozen=True)
class Journey:
    stage: str
    stage_label: str
    action_label: str
    action_url: str
    timeline: list[Event] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def journey(learner: User) -> Journey:
    """Work out where the learner stands from what is stored (nothing is kept twice)."""
    sa = selfassess.find(learner)
    attempts = testing.attempts_of(learner)
    open_attempt = next((a for a in attempts if a.status is AttemptStatus.OPEN), None)
    closed = [a for a in attempts if a.status is not AttemptStatus.OPEN and a.level]
    profile = learner.profile

    timeline = [Event(learner.created_at, str(_l("You created your account.")))]
    if sa is not None and sa.completed_at:
        timeline.append(Event(sa.completed_at, str(_l("You completed the self-assessment.")),
                              url_for("selfassess.summary")))
    for attempt in reversed(closed):
        timeline.append(Event(attempt.finished_at,
                              str(_l("Placement test: level %(level)s.", level=attempt.level)),
                              url_for("testing.result", attempt_id=attempt.id)))
    decisions = level_decisions(learner)
    for decision in decisions:
        timeline.append(Event(decision.decided_at,
                              str(_l("A counsellor set your level to %(level)s.", level=decision.level))))
    if not decisions and profile is not None and profile.level_source == "counsellor" and profile.level_set_at:
        # set before decisions were kept (or by the demo data)
        timeline.append(Event(profile.level_set_at,
                              str(_l("A counsellor set your level to %(level)s.", level=profile.level))))
    timeline.sort(key=lambda e: e.at, reverse=True)

    from langjourney.courses.services import learner_enrolments
    from langjourney.waitlist import services as waitlist

    enrolments = learner_enrolments(learner)
    for enrolment in enrolments:
        timeline.append(Event(enrolment.accepted_at,
                              str(_l("You accepted a seat on %(title)s.", title=enrolment.course.title))))
    timeline.extend(Event(at, str(_WAITLIST_EVENTS[kind]) % {"title": title})
                    for at, kind, title in waitlist.learner_history(learner))
    bookings = counselling.bookings_of(learner)
    timeline.extend(_appointment_events(bookings))
    timeline.sort(key=lambda e: e.at, reverse=True)
    offer = waitlist.open_offer(learner)
    appointment = counselling.upcoming_of(bookings)
    notices = []
    if appointment is not None:
        notices.append(_appointment_notice(appointment))
    cancelled = counselling.cancelled_by_counsellor(bookings)
    if cancelled is not None:
        notices.append(str(_l("The counsellor has cancelled your appointment on %(when)s. Please choose another "
                              "time.", when=counselling.format_when(cancelled.slot.starts_at))))
    if offer is not None:
        notices.append(str(_l("A seat is free for you on %(title)s. Answer by %(when)s.", title=offer.course.title,
                              when=format_datetime(offer.expires_at, "short"))))
        return Journey("offer", str(_l("A seat is offered to you")), str(_l("Answer the seat offer")),
                       url_for("waitlist.mine"), timeline, notices)
    if open_attempt is not None:
        deadline = open_attempt.last_activity_at + testing.PAUSE_LIMIT
        notices.append(str(_l("Your placement test is paused. Continue it before %(when)s, or it will be "
                              "scored on the answers you have given.", when=format_datetime(deadline, "short"))))

    if appointment is not None:
        return Journey("counselling", str(_l("Counselling appointment booked")), str(_l("See your appointment")),
                       url_for("counselling.slots"), timeline, notices)
    active = next((e for e in enrolments if e.status in ACTIVE_STATUSES), None)
    if active is not None:
        label = (_l("Enrolled on %(title)s", title=active.course.title) if active.status is EnrolmentStatus.CONFIRMED
                 else _l("Seat accepted on %(title)s; the school will confirm it", title=active.course.title))
        return Journey("enrolled", str(label), str(_l("See your courses")), url_for("courses.my_matches"),
                       timeline, notices)
    if open_attempt is not None:
        return Journey("test", str(_l("Placement test in progress")), str(_l("Continue the placement test")),
                       url_for("testing.item"), timeline, notices)
    if profile is not None and profile.level:
        return Journey("placed", str(_l("Your level is %(level)s", level=profile.level)),
                       str(_l("See your result and next steps")),
                       url_for("testing.result", attempt_id=closed[0].id) if closed
                       else url_for("learners.profile"), timeline, notices)
    if sa is not None and sa.completed_at:
        return Journey("assessed", str(_l("Self-assessment done")), str(_l("Take the placement test")),
                       url_for("testing.start_page"), timeline, notices)
    if sa is not None:
        return Journey("assessing", str(_l("Self-assessment in progress")),
                       str(_l("Continue the self-assessment")), url_for("selfassess.resume"), timeline, notices)
    return Journey("start", str(_l("Getting started")), str(_l("Assess your Estonian")),
                   url_for("selfassess.resume"), timeline, notices)


# Waiting-list milestones (waitlist.learner_history), formatted with the course's title.
_WAITLIST_EVENTS = {
    "join": _l("You joined the waiting list of %(title)s."),
    "offer": _l("A seat on %(title)s was offered to you."),
    "decline": _l("You declined the seat on %(title)s."),
    "expire": _l("The seat offer on %(title)s expired."),
}


def _appointment_events(bookings: list[CounsellingBooking]) -> list[Event]:
    """Booked, cancelled (by whom) and held counselling appointments."""
    events, now = [], utcnow()
    for booking in bookings:
        when = counselling.format_when(booking.slot.starts_at)
        events.append(Event(booking.created_at, str(_l("You booked a counselling appointment for %(when)s.",
                                                        when=when)), url_for("counselling.slots")))
        if booking.is_cancelled_by_learner:
            events.append(Event(booking.cancelled_at,
                                str(_l("You cancelled the counselling appointment of %(when)s.", when=when))))
        elif booking.cancelled_at is not None:
            events.append(Event(booking.cancelled_at,
                                str(_l("The counsellor cancelled the counselling appointment of %(when)s.",
                                       when=when))))
        elif booking.slot.ends_at <= now:
            events.append(Event(booking.slot.starts_at, str(_l("Counselling appointment with %(name)s.",
                                                               name=booking.slot.counsellor.full_name))))
    return events


def _appointment_notice(booking: CounsellingBooking) -> str:
    slot, when = booking.slot, counselling.format_when(booking.slot.starts_at)
    if slot.mode is AppointmentMode.PHONE:
        return str(_l("Your counselling appointment by phone: %(when)s.", when=when))
    if slot.mode is AppointmentMode.VIDEO:
        return str(_l("Your counselling appointment by video call: %(when)s.", when=when))
    return str(_l("Your counselling appointment: %(when)s, %(place)s.", when=when, place=slot.place))
