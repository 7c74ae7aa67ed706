"""Edits to a course that rules depend on (issue 14, items 7 and 8): a capacity cut below the open
offers withdraws the latest ones (the learners keep their places), also when an accept races it; a
change to what learners chose a published course for waits for an admin's approval, every change is
logged, and single-line fields refuse control characters."""
from __future__ import annotations

import csv
import dataclasses
import io
import threading

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from langjourney.auth.models import User
from langjourney.courses import services as courses
from langjourney.courses.csvio import COLUMNS, CsvImportFailed, export_courses, import_courses
from langjourney.courses.models import Course, CourseChange
from langjourney.errors import DomainError
from langjourney.extensions import db
from langjourney.mail.models import OutboxMessage
from langjourney.waitlist import services as waitlist
from langjourney.waitlist.audit import audit
from langjourney.waitlist.models import AllocationEvent, EntryStatus, Offer, OfferStatus, WaitlistEntry
from tests.fixtures.factories import CourseFactory
from tests.langjourney.test_waitlist import learner, offers_of

WITHDRAWN = "This offer has been withdrawn."


def data_of(course: Course, **changes) -> courses.CourseData:
    """The course as a provider would submit it unchanged, with ``changes``."""
    data = courses.CourseData(
        title=course.title, level=course.level, programme=course.programme, mode=course.mode,
        weekdays=list(course.weekdays), starts_at_time=course.starts_at_time, ends_at_time=course.ends_at_time,
        start_date=course.start_date, end_date=course.end_date, academic_hours=course.academic_hours,
        capacity=course.capacity, eligible_statuses=list(course.eligible_statuses), county=course.county,
        town=course.town, address=course.address, support_language=course.support_language,
        enrolment_deadline=course.enrolment_deadline)
    return dataclasses.replace(data, **changes)


def form_of(course: Course, **changes) -> dict:
    """The provider portal's edit form for the course, unchanged but for ``changes``."""
    form = {"title": course.title, "level": course.level, "programme": course.programme.value,
            "mode": course.mode.value, "county": course.county or "", "town": course.town or "",
            "address": course.address or "", "weekdays": list(course.weekdays),
            "starts_at_time": course.starts_at_time.strftime("%H:%M"),
            "ends_at_time": course.ends_at_time.strftime("%H:%M"), "start_date": course.start_date.isoformat(),
            "end_date": course.end_date.isoformat(), "academic_hours": str(course.academic_hours),
            "capacity": str(course.capacity), "support_language": course.support_language or "none",
            "enrolment_deadline": course.enrolment_deadline.isoformat() if course.enrolment_deadline else ""}
    return {**form, **changes}


def edited_export(provider, course: Course, **changes) -> str:
    """The provider's CSV export with ``changes`` to the course's row (column -> cell)."""
    rows = list(csv.reader(io.StringIO(export_courses(provider))))
    for row in rows[1:]:
        if row[0] == str(course.id):
            for column, value in changes.items():
                row[COLUMNS.index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def english(exc: DomainError) -> str:
    with force_locale("en"):
        return str(exc.message)


def two_offers(db_session, capacity=2):
    """A published course whose seats are all offered: the first learner's offer made before the second's."""
    course = CourseFactory(capacity=capacity)
    first, second = learner(), learner()
    second.locale = "ru"
    waitlist.join(first, course)
    db_session.commit()  # the allocation job offers the seat
    waitlist.join(second, course)
    db_session.commit()
    offers = offers_of(course)
    assert [o.learner_id for o in offers] == [first.id, second.id]
    return course, first, second, offers


# -- 7. capacity below the open offers --------------------------------------------------------------

def test_capacity_cut_below_open_offers_withdraws_the_latest_and_keeps_the_audit_green(db_session):
    course, first, second, (kept, gone) = two_offers(db_session)
    joined_at = gone.entry.joined_at
    courses.update_course(course, data_of(course, capacity=1), None)
    db_session.commit()
    assert offers_of(course) == [kept]
    db_session.refresh(gone)
    assert gone.status is OfferStatus.CANCELLED
    entry = db_session.get(WaitlistEntry, gone.entry_id)
    assert entry.status is EntryStatus.WAITING and entry.joined_at == joined_at  # the same place
    [event] = db_session.scalars(select(AllocationEvent).where(AllocationEvent.kind == "withdraw")).all()
    assert (event.offer_id, event.learner_id, event.reason) == (gone.id, second.id, "capacity lowered to 1")
    [mail] = db_session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == second.id,
                                                            OutboxMessage.subject.contains("отозвано"))).all()
    assert course.title in mail.subject and "листе ожидания" in mail.body
    assert audit() == []
    with pytest.raises(DomainError) as info:
        waitlist.accept(gone.id, second)
    assert english(info.value) == WITHDRAWN
    # The withdrawn learner is first in line again: a seat freed on the course is offered to them.
    courses.update_course(course, data_of(course, capacity=2), None)
    db_session.commit()
    assert [o.learner_id for o in offers_of(course)] == [first.id, second.id]
    assert audit() == []


def test_capacity_below_the_taken_seats_is_refused_with_the_reason(db_session):
    course, first, second, (offer, _) = two_offers(db_session)
    waitlist.accept(offer.id, first)
    waitlist.accept(offers_of(course)[-1].id, second)
    db_session.commit()
    with pytest.raises(DomainError) as info:
        courses.update_course(course, data_of(course, capacity=1), None)
    assert info.value.field == "capacity"
    assert english(info.value) == "Capacity cannot be lower than the seats already taken (2)."


def test_capacity_cut_in_the_portal_form_and_the_csv_import_withdraws_offers(client, auth, db_session):
    staff = auth.login("provider", locale="en")
    course, _first, _second, (kept, gone) = two_offers(db_session)
    course.provider = staff.provider
    db_session.commit()
    assert client.post(f"/provider/courses/{course.id}/edit", data=form_of(course, capacity="1")).status_code == 302
    assert offers_of(course) == [kept]
    assert audit() == []

    other, _a, b, (_kept2, gone2) = two_offers(db_session)
    other.provider = staff.provider
    db_session.commit()
    import_courses(edited_export(staff.provider, other, capacity="1"), staff.provider, staff)
    db_session.commit()
    assert [o.id for o in offers_of(other, OfferStatus.CANCELLED)] == [gone2.id]
    assert audit() == []


ROUNDS = 12


def test_an_accept_racing_a_capacity_cut_has_one_winner(live_app):
    """Each round: a course of 2 seats with 2 open offers; one connection accepts the latest offer
    while another lowers the capacity to 1, released at once. Either the accept wins (the other
    offer is withdrawn) or the cut does (the accept is told the offer was withdrawn); never both,
    no deadlock, and the audit stays green."""
    plan = []
    for _ in range(ROUNDS):
        course = CourseFactory(capacity=2)
        for who in (learner(), learner()):
            waitlist.join(who, course)
            db.session.commit()
        first, latest = offers_of(course)
        plan.append((course.id, latest.id, latest.learner_id, first.id))
    db.session.commit()
    db.session.remove()

    barrier = threading.Barrier(2)
    results: list[dict] = [{} for _ in range(ROUNDS)]
    errors: list[BaseException] = []

    def accepter():
        with live_app.app_context():
            for k, (_course_id, offer_id, learner_id, _) in enumerate(plan):
                barrier.wait(timeout=30)
                try:
                    waitlist.accept(offer_id, db.session.get(User, learner_id))
                    db.session.commit()
                    results[k]["accept"] = "won"
                except DomainError as exc:
                    db.session.rollback()
                    results[k]["accept"] = english(exc)
                except BaseException as exc:  # noqa: BLE001 - reported in the test's thread
                    errors.append(exc)
                    db.session.rollback()
                finally:
                    db.session.remove()

    def cutter():
        with live_app.app_context():
            for k, (course_id, *_rest) in enumerate(plan):
                barrier.wait(timeout=30)
                try:
                    course = db.session.get(Course, course_id)
                    courses.update_course(course, data_of(course, capacity=1), None)
                    db.session.commit()
                    results[k]["cut"] = "done"
                except BaseException as exc:  # noqa: BLE001
                    errors.append(exc)
                    db.session.rollback()
                finally:
                    db.session.remove()

    threads = [threading.Thread(target=f) for f in (accepter, cutter)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads) and not errors, errors
    for k, (course_id, offer_id, learner_id, first_id) in enumerate(plan):
        assert results[k]["cut"] == "done", (k, results[k])
        live = waitlist.live_seats(course_id)
        assert live == 1 and db.session.get(Course, course_id).capacity == 1, (k, live)
        statuses = (db.session.get(Offer, offer_id).status, db.session.get(Offer, first_id).status)
        if results[k]["accept"] == "won":
            assert statuses == (OfferStatus.ACCEPTED, OfferStatus.CANCELLED), (k, statuses)
        else:
            assert results[k]["accept"] == WITHDRAWN, (k, results[k])
            assert statuses == (OfferStatus.CANCELLED, OfferStatus.OPEN), (k, statuses)
    assert db.session.scalar(select(func.count()).select_from(AllocationEvent)
                             .where(AllocationEvent.kind == "withdraw")) == ROUNDS
    db.session.remove()
    assert audit() == []


# -- 8. changes to a published course ------------------------------------------------------------

SPAM = "Tasuta iPhone – kliki siia"


def logged(course: Course) -> dict:
    return {c.field: (c.old_value, c.new_value, c.changed_by_id)
            for c in db.session.scalars(select(CourseChange).where(CourseChange.course_id == course.id))}


def test_a_new_title_place_and_mode_wait_for_approval_and_learners_are_told_once_approved(client, auth, db_session):
    """The issue's case: an online course renamed to an advert and moved to a town. It stays published
    as approved (the public page and catalogue keep the old title, learners keep their places) until
    an admin approves; then every field is logged and the enrolled and waiting learners get a mail in
    their language."""
    course = CourseFactory(online=True, capacity=1)
    old_title = course.title
    seated, waiting = learner(), learner()
    seated.locale, waiting.locale = "ru", "uk"
    courses.create_enrolment(seated, course)
    waitlist.join(waiting, course)
    staff = auth.login("provider", locale="en", provider=course.provider)
    form = form_of(course, title=SPAM, mode="in_person", county="harju", town="Tallinn", address="Narva mnt 5",
                   academic_hours="120")
    response = client.post(f"/provider/courses/{course.id}/edit", data=form, follow_redirects=True)
    assert "waits for an administrator's approval" in response.get_data(as_text=True)
    db_session.expire_all()
    assert course.is_published and course.title == old_title and course.mode.value == "online"
    assert logged(course) == {"academic_hours": ("150", "120", staff.id)}  # not a reason to choose: applied
    assert course.pending_change == {"title": SPAM, "mode": "in_person", "county": "harju", "town": "Tallinn",
                                     "address": "Narva mnt 5"}
    for page in (client.get(f"/courses/{course.id}"), client.get("/courses")):
        text = page.get_data(as_text=True)
        assert SPAM not in text and old_title in text
    # Editing again (the form shows the pending values) keeps the change; so does a CSV round trip.
    assert f'value="{SPAM}"' in client.get(f"/provider/courses/{course.id}/edit").get_data(as_text=True)
    import_courses(export_courses(course.provider), course.provider, staff)
    db_session.commit()
    assert course.pending_change["title"] == SPAM and course.title == old_title

    auth.login("admin", locale="en")
    queue = client.get("/admin/courses").get_data(as_text=True)
    assert "Changes to published courses waiting for approval" in queue and f"<ins>{SPAM}</ins>" in queue
    assert client.post(f"/admin/courses/{course.id}/approve-change").status_code == 302
    db_session.expire_all()
    assert course.title == SPAM and course.town == "Tallinn" and course.is_published and course.pending_change is None
    assert logged(course) == {"academic_hours": ("150", "120", staff.id), "title": (old_title, SPAM, staff.id),
                              "mode": ("online", "in_person", staff.id), "county": (None, "harju", staff.id),
                              "town": (None, "Tallinn", staff.id), "address": (None, "Narva mnt 5", staff.id)}
    mails = {m.user_id: m for m in db_session.scalars(select(OutboxMessage).where(
        OutboxMessage.subject.contains(SPAM)))}
    assert set(mails) == {seated.id, waiting.id}
    assert "изменился" in mails[seated.id].subject
    assert f"- Название: {old_title} → {SPAM}" in mails[seated.id].body and "Онлайн → Очно" in mails[seated.id].body
    assert "змінився" in mails[waiting.id].subject and "Tallinn" in mails[waiting.id].body
    assert SPAM in client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert audit() == []


def test_an_admin_returns_a_change_and_the_course_stays_as_approved(client, auth, db_session):
    course = CourseFactory()
    old_title = course.title
    staff = auth.login("provider", locale="et", provider=course.provider)
    assert client.post(f"/provider/courses/{course.id}/edit", data=form_of(course, title=SPAM)).status_code == 302
    auth.login("admin", locale="en")
    page = client.get(f"/admin/courses/{course.id}/return").get_data(as_text=True)
    assert "the course stays published as approved" in page
    response = client.post(f"/admin/courses/{course.id}/return", data={"reason": "Pealkiri on reklaam."})
    assert response.status_code == 302
    db_session.expire_all()
    assert course.title == old_title and course.pending_change is None and course.is_published
    assert logged(course) == {}
    [mail] = db_session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == staff.id)).all()
    assert "muudatust ei kinnitatud" in mail.subject and "Pealkiri on reklaam." in mail.body and SPAM in mail.body
    with pytest.raises(DomainError) as info:
        courses.approve_course_change(course.id, staff)
    assert english(info.value) == "This course has no change waiting for approval."


ONE_LINE = "Write this on one line, without line breaks or other control characters."


@pytest.mark.parametrize("field, value", [("title", "Eesti keel\r\nBcc: all@example.com"),
                                          ("title", "Eesti keel\u2028A2"), ("town", "Narva\tlinn"),
                                          ("address", "Kooli 1\nNarva")])
def test_a_single_line_field_with_a_control_character_is_refused_in_the_form(client, auth, db_session, field, value):
    course = CourseFactory(unpublished=True)
    before = (course.title, course.town, course.address)
    auth.login("provider", locale="en", provider=course.provider)
    response = client.post(f"/provider/courses/{course.id}/edit", data=form_of(course, **{field: value}))
    assert response.status_code == 200 and ONE_LINE in response.get_data(as_text=True)
    db_session.expire_all()
    assert (course.title, course.town, course.address) == before
    response = client.post("/provider/courses/new", data=form_of(course, **{field: value}))
    assert response.status_code == 200 and ONE_LINE in response.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(Course)) == 1


def test_a_title_with_a_line_break_is_refused_in_the_csv_import_with_line_and_column(db_session):
    course = CourseFactory()
    text = edited_export(course.provider, course, title="Eesti keel\nBcc: all@example.com")
    with pytest.raises(CsvImportFailed) as info, force_locale("en"):
        import_courses(text, course.provider, None)
    with force_locale("en"):
        assert [str(e) for e in info.value.errors] == [f"line 2, column title: {ONE_LINE}"]
    assert course.pending_change is None
