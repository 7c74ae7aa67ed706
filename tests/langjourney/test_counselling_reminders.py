"""Counselling appointments: the reminder mail a day before, and links to video calls."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from langjourney.counselling import services
from langjourney.counselling.models import AppointmentMode, CounsellingBooking, CounsellingSlot
from langjourney.counselling.tasks import remind_appointments
from langjourney.db import utcnow
from langjourney.extensions import db
from langjourney.mail.models import OutboxMessage
from tests.fixtures.factories import CounsellingBookingFactory, CounsellingSlotFactory, UserFactory
from tests.langjourney.test_counselling import mails_to, series_form

LINK = "https://video.example.org/keelenoustamine-kati"


def _booking(hours_ahead: float, booked_hours_before: float = 72, **slot):
    """A live booking of a time ``hours_ahead`` from now, made ``booked_hours_before`` the start."""
    starts_at = utcnow() + timedelta(hours=hours_ahead)
    slot = CounsellingSlotFactory(starts_at=starts_at, **slot)
    return CounsellingBookingFactory(slot=slot, created_at=starts_at - timedelta(hours=booked_hours_before),
                                     learner=UserFactory(locale="ru"))


def test_learners_are_reminded_once_a_day_before_in_their_language(app, db_session):
    due = _booking(20)
    later = _booking(30)  # not due yet
    late_booker = _booking(20, booked_hours_before=10)  # their confirmation is only a few hours old
    cancelled = _booking(20)
    cancelled.cancelled_at, cancelled.cancelled_by_id = utcnow(), cancelled.learner_id
    withdrawn = _booking(20)
    withdrawn.slot.cancelled_at, withdrawn.slot.cancelled_by_id = utcnow(), withdrawn.slot.counsellor_id
    withdrawn.cancelled_at, withdrawn.cancelled_by_id = utcnow(), withdrawn.slot.counsellor_id
    db_session.flush()

    with app.test_request_context():
        assert services.send_reminders() == 1
        assert services.send_reminders() == 0  # a second run (cron every few minutes) sends nothing more
    db_session.expire_all()
    [mail] = mails_to(db_session, due.learner)
    assert mail.locale == "ru" and mail.subject.startswith("Напоминание — ваша консультация: ")
    assert "Напоминаем о вашей консультации" in mail.body and due.slot.counsellor.full_name in mail.body
    assert "Narva, Tallinna mnt 6" in mail.body and "Крайний срок отмены" in mail.body
    assert due.reminded_at is not None
    for other in (later, late_booker, cancelled, withdrawn):
        assert mails_to(db_session, other.learner) == [] and other.reminded_at is None

    with app.test_request_context():  # a day later the next one is due
        assert services.send_reminders(now=utcnow() + timedelta(hours=12)) == 1
    assert len(mails_to(db_session, later.learner)) == 1


def test_a_reminder_close_to_the_start_does_not_offer_cancelling(app, db_session):
    booking = _booking(1)  # cron was down: the reminder goes out an hour before
    db_session.flush()
    with app.test_request_context():
        assert services.send_reminders() == 1
    [mail] = mails_to(db_session, booking.learner)
    assert "Крайний срок отмены" not in mail.body


def test_the_command_reminds(app, db_session):
    booking = _booking(5)
    db_session.flush()
    result = app.test_cli_runner().invoke(args=["counselling", "remind"])
    assert result.exit_code == 0 and "Queued 1 reminder mails." in result.output
    assert len(mails_to(db_session, booking.learner)) == 1


def test_two_reminder_runs_at_once_send_one_mail_each(live_app):
    """Cron starting the command while the last run is still going: each learner gets one mail.
    (On PostgreSQL the conditional update decides; SQLite runs the two in turn.)"""
    bookings = [_booking(hours) for hours in (3, 8, 15, 23)]
    db.session.commit()
    ids = [b.id for b in bookings]
    db.session.remove()
    barrier = threading.Barrier(2)
    sent = []

    def run():
        with live_app.test_request_context():
            barrier.wait()
            sent.append(remind_appointments())
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(sent) == 4
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 4
    assert db.session.scalar(select(func.count()).select_from(CounsellingBooking)
                             .where(CounsellingBooking.id.in_(ids), CounsellingBooking.reminded_at.isnot(None))) == 4


# -- video call links ---------------------------------------------------------------------------------

def test_counsellor_gives_a_video_link_which_only_the_booked_learner_sees(client, auth, db_session):
    auth.login("counsellor")
    response = client.post("/staff/counselling/slots/new",
                           data=series_form(mode="video", place="", video_link=f"  {LINK} ", count="2"))
    assert response.status_code == 302
    slots = list(db_session.scalars(select(CounsellingSlot).order_by(CounsellingSlot.starts_at)))
    assert [(s.mode, s.video_link) for s in slots] == [(AppointmentMode.VIDEO, LINK)] * 2
    assert LINK in client.get("/staff/counselling/slots").get_data(as_text=True)

    learner = auth.login("learner")
    assert LINK not in client.get("/counselling/appointments").get_data(as_text=True)
    assert LINK not in client.get(f"/counselling/appointments/{slots[0].id}").get_data(as_text=True)
    client.post(f"/counselling/appointments/{slots[0].id}", data={"language": "et"})
    page = client.get("/counselling/appointments").get_data(as_text=True)
    assert f'<a href="{LINK}" rel="noopener noreferrer">' in page
    [mail] = mails_to(db_session, learner)
    assert f"Video call: {LINK}" in mail.body and "will send you a link" not in mail.body


@pytest.mark.parametrize("changes, message", [
    ({"video_link": LINK}, "A video call link can only be given for appointments by video call."),
    ({"mode": "video", "place": "", "video_link": "http://video.example.org/x"}, "starts with https://"),
    ({"mode": "video", "place": "", "video_link": "https://video.example.org/a b"}, "starts with https://"),
    ({"mode": "video", "place": "", "video_link": "https://" + "x" * 500}, "of at most 500 characters"),
    ({"mode": "video", "place": "", "video_link": 'https://x.ee/"><script>'}, "starts with https://"),
])
def test_a_wrong_video_link_is_refused_on_the_form(client, auth, db_session, changes, message):
    auth.login("counsellor")
    response = client.post("/staff/counselling/slots/new", data=series_form(**changes))
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and message in page and 'id="video_link-error"' in page
    assert db_session.scalar(select(func.count()).select_from(CounsellingSlot)) == 0


def test_without_a_link_the_learner_is_told_one_will_come(app, client, auth, db_session):
    slot = CounsellingSlotFactory(by_video=True)
    learner = auth.login("learner")
    client.post(f"/counselling/appointments/{slot.id}", data={"language": "et"})
    [mail] = mails_to(db_session, learner)
    assert "will send you a link to the video call" in mail.body and "Video call:" not in mail.body
