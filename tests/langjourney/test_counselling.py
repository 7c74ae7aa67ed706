import re
import threading
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from langjourney.auth.models import AccessLog
from langjourney.counselling import services
from langjourney.counselling.models import (
    AppointmentMode, CounsellingBooking, CounsellingRequest, CounsellingSlot,
)
from langjourney.db import utcnow
from langjourney.errors import DomainError
from langjourney.extensions import db
from langjourney.mail.models import OutboxMessage
from tests.fixtures.factories import CounsellingBookingFactory, CounsellingSlotFactory, UserFactory, session_key

TALLINN = ZoneInfo("Europe/Tallinn")


def count(db_session, model) -> int:
    return db_session.scalar(select(func.count()).select_from(model))


def mails_to(db_session, user) -> list[OutboxMessage]:
    return list(db_session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == user.id)
                                   .order_by(OutboxMessage.id)))


def sign_in(client, user) -> None:
    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = session_key(user), True


def csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def in_days(days: int):
    return (datetime.now(TALLINN) + timedelta(days=days)).date()


def series_form(**changes) -> dict:
    data = {"day": in_days(10).isoformat(), "start": "10:00", "minutes": "45", "count": "3",
            "break_minutes": "15", "mode": "in_person", "place": "Narva, Tallinna mnt 6", "languages": ["ru", "et"]}
    return {**data, **changes}


def test_learner_asks_once_and_a_counsellor_handles_it(client, auth, db_session):
    learner = auth.login("learner")
    bad = client.post("/counselling", data={"message": "", "contact_times": "evenings"})
    assert bad.status_code == 200 and "error-summary" in bad.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(CounsellingRequest)) == 0
    ok = client.post("/counselling", data={"message": "Which course after A2?", "contact_times": "Weekdays after 17"})
    assert ok.status_code == 302
    page = client.get("/counselling").get_data(as_text=True)
    assert "A counsellor will contact you" in page and "<textarea" not in page
    again = client.post("/counselling", data={"message": "Again", "contact_times": "any"}, follow_redirects=True)
    assert "already asked" in again.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(CounsellingRequest)) == 1

    counsellor = auth.login("counsellor")
    assert learner.full_name in client.get("/staff/counselling").get_data(as_text=True)
    view = client.get(f"/staff/learners/{learner.id}").get_data(as_text=True)
    assert "Which course after A2?" in view  # read on the learner's page, which is logged
    assert db_session.scalar(select(AccessLog).where(AccessLog.staff_id == counsellor.id)) is not None
    request = db_session.scalar(select(CounsellingRequest))
    assert client.post(f"/staff/counselling/{request.id}/done").status_code == 302
    assert client.post(f"/staff/counselling/{request.id}/done").status_code == 302  # a second click: no change
    db_session.refresh(request)
    assert request.handled_by_id == counsellor.id
    assert "There are no open requests" in client.get("/staff/counselling").get_data(as_text=True)


# -- publishing times ---------------------------------------------------------------------------------

def test_counsellor_publishes_consecutive_times_entered_in_tallinn_time(client, auth, db_session):
    counsellor = auth.login("counsellor")
    response = client.post("/staff/counselling/slots/new", data=series_form())
    assert response.status_code == 302
    slots = list(db_session.scalars(select(CounsellingSlot).order_by(CounsellingSlot.starts_at)))
    first = datetime.combine(in_days(10), time(10, 0), tzinfo=TALLINN).astimezone(timezone.utc)
    assert [s.starts_at for s in slots] == [first, first + timedelta(hours=1), first + timedelta(hours=2)]
    assert {(s.minutes, s.counsellor_id, s.mode, s.place) for s in slots} == {
        (45, counsellor.id, AppointmentMode.IN_PERSON, "Narva, Tallinna mnt 6")}
    assert slots[0].languages == ["et", "ru"] and slots[0].starts_at.tzinfo is not None
    page = client.get("/staff/counselling/slots").get_data(as_text=True)
    assert all(f"at {hour}:00" in page for hour in (10, 11, 12))  # shown in Estonian time again
    assert page.count(">Free<") == 3


@pytest.mark.parametrize("changes, field, message", [
    ({"day": in_days(-1).isoformat()}, "day", "The date is in the past."),
    ({"day": in_days(200).isoformat()}, "day", "at most 180 days ahead"),
    ({"start": "06:30"}, "start", "07:00 at the earliest"),
    ({"start": "19:30", "count": "2"}, "count", "must end by 21:00"),
    ({"count": "13"}, "count", "between 1 and 12"),
    ({"place": ""}, "place", "Enter the town and address"),
    ({"languages": []}, "languages", "at least one language"),
    ({"minutes": "90"}, "minutes", "Not a valid choice"),
    ({"day": "tomorrow"}, "day", "Not a valid date value"),
])
def test_publishing_refuses_wrong_times_and_shows_why_on_the_form(client, auth, db_session, changes, field, message):
    auth.login("counsellor")
    response = client.post("/staff/counselling/slots/new", data=series_form(**changes))
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and message in page
    assert f'id="{field}-error"' in page and f'href="#{field}"' in page  # the message is tied to its field
    assert 'value="Narva, Tallinna mnt 6"' in page or field == "place"  # what was entered is kept
    assert count(db_session, CounsellingSlot) == 0


def test_times_of_one_counsellor_may_not_overlap(client, auth, db_session):
    counsellor = auth.login("counsellor")
    assert client.post("/staff/counselling/slots/new", data=series_form()).status_code == 302
    overlapping = client.post("/staff/counselling/slots/new", data=series_form(start="11:30", count="1"))
    assert "These times overlap your appointment time on" in overlapping.get_data(as_text=True)
    in_the_break = client.post("/staff/counselling/slots/new",
                               data=series_form(start="09:15", count="1", minutes="45"))  # ends at 10:00
    assert in_the_break.status_code == 302
    auth.login("counsellor")  # another counsellor may offer the same hours
    assert client.post("/staff/counselling/slots/new", data=series_form()).status_code == 302
    assert count(db_session, CounsellingSlot) == 3 + 1 + 3
    with pytest.raises(DomainError) as refused:  # the rule lives in the service, not only in the view
        services.publish_slots(counsellor, services.SlotSeries(
            day=in_days(10), start=time(12, 30), minutes=30, count=1, mode=AppointmentMode.PHONE, languages=["en"]))
    assert refused.value.field == "start"


def test_a_time_earlier_today_is_refused():
    now = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)  # 14:00 in Tallinn
    series = services.SlotSeries(day=now.date(), start=time(13, 0), minutes=30, count=1,
                                 mode=AppointmentMode.VIDEO, languages=["uk"])
    with pytest.raises(DomainError) as refused:
        services.validate_series(series, now)
    assert (refused.value.field, str(refused.value.message)) == ("start", "This time has already passed.")
    services.validate_series(services.SlotSeries(**{**series.__dict__, "start": time(15, 0)}), now)


def test_publishing_errors_are_in_the_counsellors_language(client, auth, db_session):
    auth.login("counsellor", locale="et")
    page = client.post("/staff/counselling/slots/new", data=series_form(place="")).get_data(as_text=True)
    assert '<html lang="et">' in page and "Sisesta linn ja aadress" in page
    page = client.post("/staff/counselling/slots/new",
                       data=series_form(day=in_days(-1).isoformat())).get_data(as_text=True)
    assert "Kuupäev on möödas." in page


# -- booking ------------------------------------------------------------------------------------------

def test_learner_books_in_their_own_language(client, auth, db_session):
    slot = CounsellingSlotFactory(counsellor=UserFactory(counsellor=True, full_name="Kati Kask"))
    learner = auth.login("learner", locale="ru")
    listing = client.get("/counselling/appointments").get_data(as_text=True)
    assert '<html lang="ru">' in listing and "Kati Kask" in listing and "Narva, Tallinna mnt 6" in listing
    form = client.get(f"/counselling/appointments/{slot.id}").get_data(as_text=True)
    assert '<option selected value="ru">' in form  # the learner's language is offered first
    response = client.post(f"/counselling/appointments/{slot.id}",
                           data={"language": "ru", "note": "Какой курс после A2?"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Запись подтверждена" in page and "Отменить запись" in page
    booking = db_session.scalar(select(CounsellingBooking))
    assert (booking.slot_id, booking.learner_id, booking.language, booking.note) == (
        slot.id, learner.id, "ru", "Какой курс после A2?")

    [mail] = mails_to(db_session, learner)
    local = slot.starts_at.astimezone(TALLINN)
    assert mail.locale == "ru" and "Ваша консультация" in mail.subject
    assert "Kati Kask" in mail.body and "Narva, Tallinna mnt 6" in mail.body and f"{local:%H:%M}" in mail.body
    assert "/counselling/appointments" in mail.body
    [notice] = mails_to(db_session, slot.counsellor)  # the counsellor hears of it, in their language
    assert notice.locale == "en" and learner.full_name in notice.body

    home = client.get("/home").get_data(as_text=True)
    assert "Ваша консультация: " in home and "Посмотреть запись" in home  # the notice and the next action
    assert "Вы записались на консультацию" in home  # the timeline


def test_booking_by_phone_needs_a_number(client, auth, db_session):
    slot = CounsellingSlotFactory(by_phone=True)
    learner = auth.login("learner")
    missing = client.post(f"/counselling/appointments/{slot.id}", data={"language": "et", "phone": ""})
    page = missing.get_data(as_text=True)
    assert missing.status_code == 200 and 'id="phone-error"' in page and "Enter the phone number" in page
    wrong = client.post(f"/counselling/appointments/{slot.id}", data={"language": "et", "phone": "call me"})
    assert 'id="phone-error"' in wrong.get_data(as_text=True)
    not_offered = client.post(f"/counselling/appointments/{slot.id}", data={"language": "uk", "phone": "5123 4567"})
    assert 'id="language-error"' in not_offered.get_data(as_text=True)
    assert count(db_session, CounsellingBooking) == 0
    assert client.post(f"/counselling/appointments/{slot.id}",
                       data={"language": "et", "phone": "+372 5123 4567"}).status_code == 302
    assert "The counsellor will call you at +372 5123 4567." in mails_to(db_session, learner)[0].body


def test_one_upcoming_appointment_per_learner(client, auth, db_session):
    learner = auth.login("learner")
    CounsellingBookingFactory(learner=learner, slot=CounsellingSlotFactory(past=True))  # held last week
    first, second = CounsellingSlotFactory(), CounsellingSlotFactory()
    assert client.post(f"/counselling/appointments/{first.id}", data={"language": "et"}).status_code == 302
    again = client.post(f"/counselling/appointments/{second.id}", data={"language": "et"}, follow_redirects=True)
    assert "You already have an upcoming appointment" in again.get_data(as_text=True)
    assert client.get(f"/counselling/appointments/{second.id}").status_code == 302
    assert db_session.scalar(select(func.count()).select_from(CounsellingBooking)
                             .where(CounsellingBooking.slot_id == second.id)) == 0
    page = client.get("/counselling/appointments").get_data(as_text=True)
    assert "Your appointment" in page and f"/counselling/appointments/{second.id}" not in page


def test_past_soon_cancelled_and_booked_times_are_not_offered(client, auth, db_session):
    free = CounsellingSlotFactory()
    past, soon = CounsellingSlotFactory(past=True), CounsellingSlotFactory(soon=True)
    counsellor = UserFactory(counsellor=True)
    cancelled = CounsellingSlotFactory(counsellor=counsellor, cancelled_at=utcnow(), cancelled_by_id=counsellor.id)
    booked = CounsellingBookingFactory().slot
    auth.login("learner")
    page = client.get("/counselling/appointments").get_data(as_text=True)
    assert f"/counselling/appointments/{free.id}" in page and "1 free time" in page
    for hidden in (past, soon, cancelled, booked):
        assert f"/counselling/appointments/{hidden.id}\"" not in page
        assert client.get(f"/counselling/appointments/{hidden.id}").status_code == 302  # back to the list
    too_late = client.post(f"/counselling/appointments/{soon.id}", data={"language": "et"}, follow_redirects=True)
    assert "bookings close 2 hours before the start" in too_late.get_data(as_text=True)
    taken = client.post(f"/counselling/appointments/{booked.id}", data={"language": "et"}, follow_redirects=True)
    assert "Someone else has just booked this time" in taken.get_data(as_text=True)
    assert count(db_session, CounsellingBooking) == 1


def test_free_times_filter_by_language_and_mode(client, auth, db_session):
    russian = CounsellingSlotFactory(languages=["ru"])
    ukrainian_video = CounsellingSlotFactory(languages=["uk", "en"], by_video=True)
    auth.login("learner")

    def offered(query):
        page = client.get(f"/counselling/appointments?{query}").get_data(as_text=True)
        return {s.id for s in (russian, ukrainian_video) if f"/counselling/appointments/{s.id}\"" in page}

    assert offered("") == {russian.id, ukrainian_video.id}
    assert offered("language=uk") == {ukrainian_video.id}
    assert offered("mode=in_person") == {russian.id}
    assert offered("language=ru&mode=video") == set()
    assert offered("language=xx&mode=bogus") == {russian.id, ukrainian_video.id}  # an edited URL filters nothing
    assert "No free time matches your choice." in client.get("/counselling/appointments?language=et").get_data(
        as_text=True)


def test_no_free_times_lead_to_the_request_form(client, auth, db_session):
    auth.login("learner")
    page = client.get("/counselling/appointments").get_data(as_text=True)
    assert "There are no free appointment times at the moment." in page and 'href="/counselling"' in page
    assert "<table" not in page
    assert "choose a time yourself" not in client.get("/counselling").get_data(as_text=True)
    CounsellingSlotFactory()
    db_session.commit()
    assert "choose a time yourself" in client.get("/counselling").get_data(as_text=True)


def test_result_page_leads_to_booking(client, auth, db_session):
    from langjourney.testing import services as testing

    learner = auth.login("learner")
    attempt = testing.start_attempt(learner, None)
    for seq in range(3):
        testing.current_item(attempt)
        testing.answer(attempt, seq, "0")
    testing.finish_early(attempt)
    db_session.commit()
    page = client.get(f"/test/result/{attempt.id}").get_data(as_text=True)
    assert 'href="/counselling/appointments"' in page


# -- cancelling ---------------------------------------------------------------------------------------

def test_learner_cancels_and_the_time_is_free_again(client, auth, db_session):
    slot = CounsellingSlotFactory()
    learner = auth.login("learner", locale="uk")
    client.post(f"/counselling/appointments/{slot.id}", data={"language": "ru"})
    booking = db_session.scalar(select(CounsellingBooking))
    page = client.post(f"/counselling/bookings/{booking.id}/cancel", follow_redirects=True).get_data(as_text=True)
    assert "Вашу консультацію скасовано" in page
    assert (booking.cancelled_at is not None, booking.cancelled_by_id) == (True, learner.id)
    assert f"/counselling/appointments/{slot.id}\"" in page  # offered again, to everyone
    booked_mail, cancelled_mail = mails_to(db_session, learner)
    assert cancelled_mail.locale == "uk" and "Ви скасували" in cancelled_mail.body
    assert "скасовано" in cancelled_mail.subject
    assert "has cancelled the appointment" in mails_to(db_session, slot.counsellor)[-1].body
    assert client.post(f"/counselling/bookings/{booking.id}/cancel").status_code == 302  # a second click
    assert len(mails_to(db_session, learner)) == 2
    assert "Ви скасували консультацію" in client.get("/home").get_data(as_text=True)  # the timeline


def test_learner_cannot_cancel_in_the_last_two_hours_or_someone_elses(client, auth, db_session):
    learner = auth.login("learner")
    soon = CounsellingBookingFactory(learner=learner, slot=CounsellingSlotFactory(soon=True))
    others = CounsellingBookingFactory()
    page = client.get("/counselling/appointments").get_data(as_text=True)
    assert "can no longer be cancelled here" in page and "Cancel the appointment" not in page
    refused = client.post(f"/counselling/bookings/{soon.id}/cancel", follow_redirects=True)
    assert "can no longer be cancelled here" in refused.get_data(as_text=True)
    assert client.post(f"/counselling/bookings/{others.id}/cancel").status_code == 404
    assert count(db_session, CounsellingBooking) == 2
    assert db_session.scalar(select(func.count()).select_from(CounsellingBooking)
                             .where(CounsellingBooking.cancelled_at.is_not(None))) == 0


def test_counsellor_cancels_a_booked_time_and_the_learner_is_told_in_their_language(client, auth, db_session):
    counsellor = auth.login("counsellor")
    slot = CounsellingSlotFactory(counsellor=counsellor)
    learner = UserFactory(locale="et", full_name="Jelena Ivanova")
    booking = CounsellingBookingFactory(slot=slot, learner=learner)
    db_session.commit()
    listing = client.get("/staff/counselling/slots").get_data(as_text=True)
    assert "Jelena Ivanova" in listing and f"/staff/learners/{learner.id}" in listing
    form = client.get(f"/staff/counselling/slots/{slot.id}/cancel").get_data(as_text=True)
    assert "Jelena Ivanova" in form and "will be told by e-mail" in form
    response = client.post(f"/staff/counselling/slots/{slot.id}/cancel", data={"reason": "Nõustaja on haige."})
    assert response.status_code == 302
    assert slot.cancelled_by_id == counsellor.id and slot.cancel_reason == "Nõustaja on haige."
    assert (booking.cancelled_by_id, booking.is_cancelled_by_learner) == (counsellor.id, False)
    [mail] = mails_to(db_session, learner)
    assert mail.locale == "et" and "tühistatud" in mail.subject
    assert "Nõustaja on haige." in mail.body and "nõustaja on tühistanud" in mail.body
    assert client.post(f"/staff/counselling/slots/{slot.id}/cancel").status_code == 302  # a second click
    assert len(mails_to(db_session, learner)) == 1
    assert "Jelena Ivanova" not in client.get("/staff/counselling/slots").get_data(as_text=True)

    sign_in(client, learner)
    home = client.get("/home").get_data(as_text=True)
    assert "Nõustaja on tühistanud sinu nõustamisaja" in home and "Palun vali uus aeg" in home


def test_a_begun_time_cannot_be_cancelled(client, auth, db_session):
    counsellor = auth.login("counsellor")
    slot = CounsellingSlotFactory(counsellor=counsellor, starts_at=utcnow() - timedelta(minutes=10))
    db_session.commit()
    listing = client.get("/staff/counselling/slots").get_data(as_text=True)
    assert "In progress" in listing and f"/staff/counselling/slots/{slot.id}/cancel" not in listing
    page = client.post(f"/staff/counselling/slots/{slot.id}/cancel").get_data(as_text=True)
    assert "already begun" in page and slot.cancelled_at is None


def test_only_its_counsellor_or_an_admin_cancels_a_time(client, auth, db_session):
    slot = CounsellingSlotFactory(counsellor=UserFactory(counsellor=True, full_name="Marko Mänd"))
    db_session.commit()
    auth.login("counsellor")
    assert "Marko Mänd" not in client.get("/staff/counselling/slots").get_data(as_text=True)
    assert client.get(f"/staff/counselling/slots/{slot.id}/cancel").status_code == 404
    assert client.post(f"/staff/counselling/slots/{slot.id}/cancel").status_code == 404
    assert slot.cancelled_at is None
    admin = auth.login("admin")
    assert "Marko Mänd" in client.get("/staff/counselling/slots").get_data(as_text=True)  # admins see everyone's
    assert client.post(f"/staff/counselling/slots/{slot.id}/cancel").status_code == 302
    assert slot.cancelled_by_id == admin.id


def test_counsellor_changes_the_video_link_and_the_learner_is_sent_it(client, auth, db_session):
    counsellor = auth.login("counsellor")
    slot = CounsellingSlotFactory(counsellor=counsellor, by_video=True, video_link="https://meet.example.org/vana")
    learner = UserFactory(locale="ru", full_name="Olga Petrova")
    booking = CounsellingBookingFactory(slot=slot, learner=learner)
    db_session.commit()
    listing = client.get("/staff/counselling/slots").get_data(as_text=True)
    assert f"/staff/counselling/slots/{slot.id}/video-link" in listing
    page = client.get(f"/staff/counselling/slots/{slot.id}/video-link").get_data(as_text=True)
    assert 'value="https://meet.example.org/vana"' in page and "Olga Petrova" in page
    url = f"/staff/counselling/slots/{slot.id}/video-link"
    assert client.post(url, data={"video_link": " https://meet.example.org/uus "}).status_code == 302
    assert slot.video_link == "https://meet.example.org/uus"
    [mail] = mails_to(db_session, learner)
    assert mail.locale == "ru" and "https://meet.example.org/uus" in mail.body and "изменилась" in mail.body
    assert client.post(url, data={"video_link": "https://meet.example.org/uus"}).status_code == 302  # unchanged
    assert len(mails_to(db_session, learner)) == 1
    assert client.post(url, data={"video_link": ""}).status_code == 302  # removed: the learner is told how to join
    assert slot.video_link is None
    assert "пришлёт вам по электронной почте ссылку" in mails_to(db_session, learner)[-1].body

    sign_in(client, learner)
    assert "meet.example.org" not in client.get(f"/counselling/appointments/{slot.id}").get_data(as_text=True)
    assert booking.cancelled_at is None


@pytest.mark.parametrize("link", ["http://meet.example.org/x", "meet.example.org/x", "https://" + "x" * 600])
def test_a_bad_video_link_is_refused_on_the_form(client, auth, db_session, link):
    counsellor = auth.login("counsellor")
    slot = CounsellingSlotFactory(counsellor=counsellor, by_video=True, video_link=None)
    db_session.commit()
    response = client.post(f"/staff/counselling/slots/{slot.id}/video-link", data={"video_link": link})
    assert response.status_code == 200 and "starts with https://" in response.get_data(as_text=True)
    assert slot.video_link is None


def test_only_live_video_times_of_ones_own_have_a_link_page(client, auth, db_session):
    counsellor = auth.login("counsellor")
    in_person = CounsellingSlotFactory(counsellor=counsellor)
    cancelled = CounsellingSlotFactory(counsellor=counsellor, by_video=True, cancelled_at=utcnow(),
                                       cancelled_by_id=counsellor.id)
    someone_elses = CounsellingSlotFactory(by_video=True)
    ended = CounsellingSlotFactory(counsellor=counsellor, by_video=True, starts_at=utcnow() - timedelta(hours=2))
    db_session.commit()
    for slot in (in_person, cancelled, someone_elses):
        assert client.get(f"/staff/counselling/slots/{slot.id}/video-link").status_code == 404
        assert client.post(f"/staff/counselling/slots/{slot.id}/video-link",
                           data={"video_link": "https://meet.example.org/x"}).status_code == 404
    page = client.post(f"/staff/counselling/slots/{ended.id}/video-link",
                       data={"video_link": "https://meet.example.org/x"}).get_data(as_text=True)
    assert "already ended" in page and ended.video_link != "https://meet.example.org/x"


# -- the learner's file and the dashboard -------------------------------------------------------------

def test_counsellor_opens_the_learners_file_from_the_booking(client, auth, db_session):
    counsellor = auth.login("counsellor")
    learner = UserFactory(full_name="Oksana Melnyk")
    CounsellingBookingFactory(slot=CounsellingSlotFactory(counsellor=counsellor, by_phone=True), learner=learner,
                              language="uk", phone="+372 5555 1234", note="Чи можу я вчитися онлайн?")
    db_session.commit()
    listing = client.get("/staff/counselling/slots").get_data(as_text=True)
    assert "Чи можу я вчитися онлайн?" not in listing  # the note is read on the learner's page...
    file = client.get(f"/staff/learners/{learner.id}").get_data(as_text=True)
    assert "Чи можу я вчитися онлайн?" in file and "+372 5555 1234" in file and "Ukrainian" in file
    entry = db_session.scalar(select(AccessLog).where(AccessLog.learner_id == learner.id))
    assert entry.staff_id == counsellor.id  # ...which is logged


def test_dashboard_shows_upcoming_and_held_appointments(client, auth, db_session):
    learner = auth.login("learner")
    CounsellingBookingFactory(learner=learner, slot=CounsellingSlotFactory(
        past=True, counsellor=UserFactory(counsellor=True, full_name="Olga Ivanova")))
    home = client.get("/home").get_data(as_text=True)
    assert "Counselling appointment with Olga Ivanova." in home and "Book a counselling appointment" in home
    CounsellingBookingFactory(learner=learner, slot=CounsellingSlotFactory(by_video=True))
    db_session.commit()
    home = client.get("/home").get_data(as_text=True)
    assert "Your counselling appointment by video call: " in home
    assert "Counselling appointment booked" in home and 'href="/counselling/appointments">See your appointment' in home
    assert home.index("You booked a counselling appointment") < home.index("Counselling appointment with Olga")


def test_every_counselling_form_needs_its_csrf_token(app, client, auth, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)

    def post(url, data, page_url=None):
        """Without the token (refused), then with the one from the page."""
        assert client.post(url, data=data).status_code == 400
        token = csrf_token(client.get(page_url or url).get_data(as_text=True))
        return client.post(url, data={**data, "csrf_token": token})

    counsellor = auth.login("counsellor")
    assert post("/staff/counselling/slots/new", series_form(count="2")).status_code == 302
    first, second = db_session.scalars(select(CounsellingSlot).order_by(CounsellingSlot.starts_at))
    learner = auth.login("learner")
    assert post(f"/counselling/appointments/{first.id}", {"language": "ru"}).status_code == 302
    booking = db_session.scalar(select(CounsellingBooking))
    assert post(f"/counselling/bookings/{booking.id}/cancel", {}, "/counselling/appointments").status_code == 302
    assert booking.cancelled_by_id == learner.id
    sign_in(client, counsellor)
    assert post(f"/staff/counselling/slots/{second.id}/cancel", {}).status_code == 302
    assert second.cancelled_by_id == counsellor.id
    video = CounsellingSlotFactory(counsellor=counsellor, by_video=True, video_link=None)
    db_session.commit()
    assert post(f"/staff/counselling/slots/{video.id}/video-link", {"video_link": "https://meet.example.org/x"}
                ).status_code == 302
    assert video.video_link == "https://meet.example.org/x"


# -- the database decides races -----------------------------------------------------------------------

def test_one_live_booking_per_time_is_a_constraint(db_session):
    slot = CounsellingSlotFactory()
    first = CounsellingBookingFactory(slot=slot)
    with pytest.raises(IntegrityError):
        with db_session.begin_nested():
            CounsellingBookingFactory(slot=slot)
    first.cancelled_at, first.cancelled_by_id = utcnow(), first.learner_id
    CounsellingBookingFactory(slot=slot)  # a cancelled booking frees the time
    assert count(db_session, CounsellingBooking) == 2


def _click_at_once(live_app, clicks: list[tuple[str, int]]) -> list[str]:
    """Each (signed-in user's key, slot id) books at the same moment, by its own request (own
    connection, real commit); returns what each was told."""
    db.session.commit()
    db.session.remove()  # this thread holds no transaction (on SQLite, no lock) while the others race
    barrier = threading.Barrier(len(clicks))
    outcomes = []

    def click(key, slot_id):
        client = live_app.test_client()
        with client.session_transaction() as session:
            session["_user_id"], session["_fresh"] = key, True
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        barrier.wait()
        response = client.post(f"/counselling/appointments/{slot_id}", data={"language": "et"},
                               follow_redirects=True)
        page = response.get_data(as_text=True)
        outcomes.append("booked" if "Your appointment is booked" in page
                        else "taken" if "Someone else has just booked this time" in page
                        else "has one" if "You already have an upcoming appointment" in page
                        else f"HTTP {response.status_code}")

    threads = [threading.Thread(target=click, args=pair) for pair in clicks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return sorted(outcomes)


def test_learners_booking_one_time_at_once_get_one_booking(live_app):
    """Learners book the same time at the same moment: one gets it, the others are told someone was
    quicker, and nothing fails. (On PostgreSQL the unique index decides; SQLite runs them in turn.)"""
    racers = 4
    slot_id = CounsellingSlotFactory().id
    keys = [session_key(UserFactory()) for _ in range(racers)]
    assert _click_at_once(live_app, [(key, slot_id) for key in keys]) == ["booked"] + ["taken"] * (racers - 1)
    assert db.session.scalar(select(func.count()).select_from(CounsellingBooking)) == 1
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2  # the learner's, the counsellor's


def test_one_learner_booking_two_times_at_once_gets_one(live_app):
    """Two tabs of one learner book different times at the same moment: one appointment, not two."""
    slots = [CounsellingSlotFactory().id, CounsellingSlotFactory().id]
    key = session_key(UserFactory())
    assert _click_at_once(live_app, [(key, slot_id) for slot_id in slots]) == ["booked", "has one"]
    assert db.session.scalar(select(func.count()).select_from(CounsellingBooking)) == 1
