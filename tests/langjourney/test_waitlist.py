"""Waitlists and fair seat allocation: the rules, the policy order, offers and their answers,
triggers, the audit, the replay command, and races between real connections."""
from __future__ import annotations

import itertools
import json
import threading
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select, update

from langjourney.courses import services as courses
from langjourney.courses.models import Enrolment, EnrolmentStatus
from langjourney.courses.rules import adaptation_cutoff, in_adaptation_window
from langjourney.db import utcnow
from langjourney.errors import DomainError
from langjourney.extensions import db
from langjourney.learners.models import LearnerStatus
from langjourney.learners.services import set_level
from langjourney.mail.models import OutboxMessage
from langjourney.waitlist import services
from langjourney.waitlist.audit import audit
from langjourney.waitlist.clock import frozen_at
from langjourney.waitlist.models import (
    AllocationEvent, AllocationPolicy, EntryStatus, Offer, OfferStatus, WaitlistEntry,
)
from langjourney.waitlist.policy import DEFAULT_RULES, current_policy, describe_rules, lottery, publish_policy, tier_of
from tests.fixtures.factories import CourseFactory, EnrolmentFactory, UserFactory, session_key


@pytest.fixture
def english(db_session):
    """Domain messages outside requests come in the default language (et); these tests read English."""
    with force_locale("en"):
        yield db_session


def learner(level="A2", **profile):
    user = UserFactory()
    user.profile.level, user.profile.level_source = level, "placement"
    for key, value in profile.items():
        setattr(user.profile, key, value)
    db.session.flush()
    return user


def offers_of(course, status=OfferStatus.OPEN):
    return list(db.session.scalars(select(Offer).where(Offer.course_id == course.id, Offer.status == status)
                                   .order_by(Offer.id)))


def fill(course, n):
    """Take n seats with accepted enrolments of other learners."""
    for _ in range(n):
        courses.create_enrolment(learner(course.level), course)


def test_join_with_a_free_seat_and_nobody_waiting_offers_at_once(db_session):
    course = CourseFactory(capacity=1)
    me = learner()
    services.join(me, course)
    db_session.commit()  # the allocation job runs after the commit
    [offer] = offers_of(course)
    assert offer.learner_id == me.id and offer.expires_at - offer.offered_at == timedelta(hours=48)
    mail = db_session.scalar(select(OutboxMessage).where(OutboxMessage.user_id == me.id))
    assert "/offers/link/" in mail.body and course.title in mail.subject


def test_join_rules(english):
    a2 = [CourseFactory(capacity=1) for _ in range(4)]
    for course in a2:
        fill(course, 1)
    me = learner()
    with pytest.raises(DomainError, match="level"):
        services.join(me, CourseFactory(level="B1.1"))
    for course in a2[:3]:
        services.join(me, course)
    with pytest.raises(DomainError, match="already on"):
        services.join(me, a2[0])
    with pytest.raises(DomainError, match="at most 3"):
        services.join(me, a2[3])


def test_policy_order_tier_then_join_time_then_lottery(db_session):
    course = CourseFactory(capacity=1)
    fill(course, 1)
    now = utcnow()
    late_priority = learner(status=LearnerStatus.NEW_IMMIGRANT, residence_permit_date=(now - timedelta(days=400)).date())
    early = learner()
    later = learner()
    with frozen_at(now - timedelta(hours=3)):
        services.join(early, course)
    with frozen_at(now - timedelta(hours=2)):
        services.join(later, course)
    with frozen_at(now - timedelta(hours=1)):
        services.join(late_priority, course)
    ranked = [c.learner_id for c in services.ranked_candidates(course, current_policy())]
    assert ranked == [late_priority.id, early.id, later.id]  # adaptation programme first, then join time
    # Equal claims are ordered by the published lottery: sha256(seed:entry id), lowest first.
    policy = current_policy()
    tied = [learner() for _ in range(5)]
    with frozen_at(now):
        entries = [services.join(t, course, tier_override=1) for t in tied]
    order = [c.entry_id for c in services.ranked_candidates(course, policy) if c.entry_id in {e.id for e in entries}]
    assert order == sorted((e.id for e in entries), key=lambda i: lottery(policy, i))


def test_adaptation_cutoff_splits_the_permit_dates_exactly():
    """The database tests "in the adaptation window" as permit date >= the cutoff."""
    day = date(2023, 12, 20)
    while day < date(2029, 3, 10):  # two 29 Februaries, as today and as the permit date
        cutoff = adaptation_cutoff(day)
        for permit in [cutoff + timedelta(days=n) for n in range(-3, 4)] + [date(2024, 2, 29), date(2020, 2, 29)]:
            profile = SimpleNamespace(residence_permit_date=permit, status=LearnerStatus.NEW_IMMIGRANT)
            assert in_adaptation_window(profile, day) == (permit >= cutoff), (day, permit)
        day += timedelta(days=1)


TIER_RULES = [
    [],
    DEFAULT_RULES,
    [{"tier": 3, "when": {"adaptation_window": False}}],
    [{"tier": 1, "when": {"adaptation_window": True, "status": ["new_immigrant"]}},
     {"tier": 2, "when": {"status": ["returnee", "no_such_status"]}},
     {"tier": 4, "when": {"county": ["tartu"], "mother_tongue": ["uk"]}}],
    [{"tier": 1, "when": {"county": []}}, {"tier": 5, "when": {"mother_tongue": ["ru"]}}],
]


@pytest.mark.parametrize("rules", TIER_RULES)
def test_the_database_ranks_as_the_policy_does(db_session, rules):
    """ranked_candidates sorts by the tier rules in SQL: the same tiers as tier_of, and the same
    order as sorting (tier, join time, lottery) here, around the window's edge on 29 February."""
    today = datetime(2028, 2, 29, 12, tzinfo=timezone.utc)
    cutoff = adaptation_cutoff(today.date())
    course = CourseFactory(capacity=1, start_date=date(2028, 4, 3))
    fill(course, 1)
    entries = {}
    with frozen_at(today):
        profiles = [(status, permit) for status, permit in itertools.product(
            LearnerStatus, [None, cutoff - timedelta(days=1), cutoff, cutoff + timedelta(days=400)])
            if permit is not None or status is not LearnerStatus.NEW_IMMIGRANT]  # a check constraint
        for n, (status, permit) in enumerate(profiles):
            me = learner(status=status, residence_permit_date=permit, county=("harju", "tartu")[n % 2],
                         mother_tongue=("ru", "uk")[n // 2 % 2])
            # Some join at the same moment, some with an override, so ties and overrides occur.
            with frozen_at(today - timedelta(hours=n % 3)):
                entry = services.join(me, course, tier_override=3 if n % 7 == 0 else None)
            entries[entry.id] = (me.profile, entry)
        policy = AllocationPolicy(version=2, tier_rules=rules, default_tier=2, lottery_seed="equal claims")
        ranked = list(services.ranked_candidates(course, policy))
    expected = {entry_id: tier_of(policy, profile, today.date(), entry.tier_override)
                for entry_id, (profile, entry) in entries.items()}
    assert {c.entry_id: c.tier for c in ranked} == expected
    assert [c.entry_id for c in ranked] == sorted(
        entries, key=lambda i: (expected[i], entries[i][1].joined_at, lottery(policy, i)))


def test_seat_freed_goes_to_the_best_claim_and_decline_passes_it_on(db_session):
    course = CourseFactory(capacity=1)
    holder = learner()
    courses.create_enrolment(holder, course)
    first, second = learner(), learner()
    services.join(first, course)
    services.join(second, course)
    db_session.commit()
    assert offers_of(course) == []
    services.cancel(holder, course)
    db_session.commit()
    [offer] = offers_of(course)
    assert offer.learner_id == first.id
    services.decline(offer.id, first)
    db_session.commit()
    [offer] = offers_of(course)
    assert offer.learner_id == second.id
    entry = db_session.scalar(select(WaitlistEntry).where(WaitlistEntry.learner_id == first.id))
    assert entry.status is EntryStatus.DECLINED  # off that list; may join again at the back


def test_accept_makes_an_enrolment_and_leaves_other_lists_at_the_level(english):
    db_session = english
    a, b, c = (CourseFactory(capacity=1) for _ in range(3))
    fill(b, 1)
    fill(c, 1)
    me = learner()
    for course in (b, c, a):
        services.join(me, course)
    db_session.commit()
    [offer] = offers_of(a)
    enrolment = services.accept(offer.id, me)
    db_session.commit()
    assert enrolment.status is EnrolmentStatus.ACCEPTED and enrolment.course_id == a.id
    assert services.active_entries(me) == []
    with pytest.raises(DomainError, match="already been answered"):
        services.accept(offer.id, me)


def test_one_live_offer_per_learner(db_session):
    a, b = CourseFactory(capacity=1), CourseFactory(capacity=1)
    fill(a, 1)
    fill(b, 1)
    me, other = learner(), learner()
    services.join(me, a)
    services.join(me, b)
    services.join(other, b)
    db_session.commit()
    services.cancel(db_session.scalar(select(Enrolment).where(Enrolment.course_id == a.id)).learner, a)
    db_session.commit()
    services.cancel(db_session.scalar(select(Enrolment).where(Enrolment.course_id == b.id,
                                                              Enrolment.status == EnrolmentStatus.ACCEPTED)).learner, b)
    db_session.commit()
    assert [o.learner_id for o in offers_of(a)] == [me.id]
    assert [o.learner_id for o in offers_of(b)] == [other.id]  # me already holds an offer: skipped
    skipped = db_session.scalars(select(AllocationEvent).where(AllocationEvent.kind == "offer",
                                                              AllocationEvent.course_id == b.id)).one().detail
    assert skipped["skipped"] == [{"entry": services.active_entries(me)[1].id, "learner": me.id,
                                   "reason": "holds_offer"}]
    assert audit() == []


def _race_after_ranking(monkeypatch, meanwhile):
    """Run ``meanwhile()`` right after allocate() has read and ranked the waiting learners: what
    another transaction could do at that moment."""
    rank = services.ranked_candidates

    def ranked_then_race(course, policy):
        ranked = list(rank(course, policy))
        meanwhile()
        return iter(ranked)

    monkeypatch.setattr(services, "ranked_candidates", ranked_then_race)


def test_a_learner_offered_a_seat_elsewhere_meanwhile_is_skipped(db_session, monkeypatch):
    course, other = CourseFactory(capacity=1), CourseFactory(capacity=1)
    fill(course, 1)
    fill(other, 1)
    first, second = learner(), learner()
    for me, where in ((first, course), (second, course), (first, other)):
        services.join(me, where)
    db_session.commit()
    entry_elsewhere = services.active_entries(first)[1]

    def offer_elsewhere():  # as a concurrent allocate() of the other course would
        db_session.add(Offer(entry_id=entry_elsewhere.id, learner_id=first.id, course_id=other.id, policy_version=1,
                             offered_at=utcnow(), expires_at=utcnow() + timedelta(hours=48)))
        db_session.flush()

    _race_after_ranking(monkeypatch, offer_elsewhere)
    course.capacity = 2
    made = services.allocate(course.id)
    [offer] = offers_of(course)
    assert made == [offer.id] and offer.learner_id == second.id  # the unique index skipped the first
    entry = services.active_entries(first)[0]
    assert entry.course_id == course.id and entry.status is EntryStatus.WAITING  # still in the queue
    event = db_session.scalars(select(AllocationEvent).where(AllocationEvent.kind == "offer",
                                                            AllocationEvent.course_id == course.id)).one()
    assert event.detail["skipped"] == [{"entry": entry.id, "learner": first.id, "reason": "holds_offer"}]


def test_a_learner_who_left_the_list_meanwhile_is_skipped(db_session, monkeypatch):
    course = CourseFactory(capacity=1)
    fill(course, 1)
    first, second = learner(), learner()
    services.join(first, course)
    services.join(second, course)
    db_session.commit()
    entry = services.active_entries(first)[0]
    # Leaving takes no lock on the course, so it can land between reading the list and the offer.
    _race_after_ranking(monkeypatch, lambda: db_session.execute(
        update(WaitlistEntry).where(WaitlistEntry.id == entry.id).values(status=EntryStatus.LEFT)))
    course.capacity = 2
    services.allocate(course.id)
    [offer] = offers_of(course)
    assert offer.learner_id == second.id
    assert db_session.scalar(select(WaitlistEntry.status).where(WaitlistEntry.id == entry.id)) is EntryStatus.LEFT
    event = db_session.scalars(select(AllocationEvent).where(AllocationEvent.kind == "offer")).one()
    assert event.detail["skipped"] == [{"entry": entry.id, "learner": first.id, "reason": "not_waiting"}]


def test_expiry_when_read_passes_the_seat_on_and_refuses_late_accept(client, auth, db_session):
    course = CourseFactory(capacity=1)
    me = auth.login("learner")
    me.profile.level, me.profile.level_source = "A2", "placement"
    nxt = learner()
    services.join(me, course)
    services.join(nxt, course)
    db_session.commit()
    [offer] = offers_of(course)
    with frozen_at(utcnow() + timedelta(hours=49)):  # nobody answered in 48 hours
        page = client.get("/waitlists").get_data(as_text=True)
        assert "A seat is free for you" not in page
        assert [o.learner_id for o in offers_of(course)] == [nxt.id]
        response = client.post(f"/offers/{offer.id}/accept", follow_redirects=True)
    assert "expired" in response.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(Enrolment).where(Enrolment.learner_id == me.id)) == 0
    assert audit() == []


def test_triggers_capacity_raise_publication_drop_out(db_session, app):
    course = CourseFactory(capacity=1)
    holder = learner()
    enrolment = courses.create_enrolment(holder, course)
    waiting = [learner() for _ in range(3)]
    for w in waiting:
        services.join(w, course)
    db_session.commit()
    course.capacity = 2
    courses._seats_freed(course)  # what update_course does after a capacity raise
    db_session.commit()
    assert len(offers_of(course)) == 1
    courses.confirm_enrolment(enrolment)
    courses.record_outcome(enrolment, EnrolmentStatus.DROPPED_OUT, None, None)
    db_session.commit()
    assert len(offers_of(course)) == 2
    assert {o.learner_id for o in offers_of(course)} == {waiting[0].id, waiting[1].id}
    unpublished = CourseFactory(unpublished=True, capacity=1)
    db_session.add(WaitlistEntry(learner_id=waiting[2].id, course_id=unpublished.id, level="A2", joined_at=utcnow()))
    db_session.commit()
    courses.approve_course(unpublished, UserFactory(admin=True))
    db_session.commit()
    assert [o.learner_id for o in offers_of(unpublished)] == [waiting[2].id]  # a newly published course
    assert audit() == []


def test_level_mismatch_keeps_original_join_time(db_session):
    course = CourseFactory(capacity=1, started=True, enrolment_deadline=None)
    me = learner()
    long_ago = utcnow() - timedelta(days=40)  # before the course started
    with frozen_at(long_ago):
        entry = services.join(me, course)
        db_session.commit()
        [offer] = offers_of(course)
        enrolment = services.accept(offer.id, me)
        db_session.commit()
    courses.report_mismatch(enrolment, "B1.1", "Knows more")
    set_level(me, UserFactory(counsellor=True), "B1.1", "Counselling interview after the school's report")
    db_session.commit()
    b1 = CourseFactory(level="B1.1", capacity=1)
    fill(b1, 1)
    again = services.join(me, b1)
    assert again.joined_at == entry.joined_at


def test_signed_offer_link_without_signing_in(client, db_session):
    course = CourseFactory(capacity=1)
    me = learner()
    services.join(me, course)
    db_session.commit()
    [offer] = offers_of(course)
    token = services.offer_token(offer)
    assert client.get(f"/offers/link/{token}").status_code == 200
    assert client.get(f"/offers/link/{token[:-3]}abc").status_code == 404
    client.post(f"/offers/link/{token}/accept")
    db_session.refresh(offer)
    assert offer.status is OfferStatus.ACCEPTED
    assert db_session.scalar(select(Enrolment).where(Enrolment.learner_id == me.id)) is not None


def test_the_rules_in_words_follow_the_policy(app, db_session):
    policy = AllocationPolicy(version=9, default_tier=4, lottery_seed="s", tier_rules=[
        {"tier": 1, "when": {"adaptation_window": True}},
        {"tier": 2, "when": {"status": ["returnee", "no_such_status"], "county": ["ida-viru", "harju"]}},
        {"tier": 3, "when": {"mother_tongue": ["uk"], "adaptation_window": False}}])
    with app.test_request_context(), force_locale("en"):
        assert describe_rules(policy) == [
            (1, ["within the adaptation programme's window (the first 5 years after the first residence permit, "
                 "or under international or temporary protection)"]),
            (2, ["status: Returnee, no_such_status", "living in: Ida-Viru County, Harju County"]),
            (3, ["mother tongue: Ukrainian", "past the adaptation programme's window"])]
    with app.test_request_context(), force_locale("et"):
        assert describe_rules(policy)[1][1] == ["staatus: Tagasipöörduja, no_such_status",
                                                "elukoht: Ida-Viru maakond, Harju maakond"]


def test_anyone_can_read_how_seats_are_offered(client, db_session):
    publish_policy(offer_hours=72, max_waitlists=2, tier_rules=[{"tier": 1, "when": {"county": ["ida-viru"]}}],
                   default_tier=3, lottery_seed="2027-kevad", note="Ida-Virumaa first", by_id=None)
    course, someone = CourseFactory(), learner()
    for kind in ("offer", "offer", "accept", "expire"):
        services.log(kind, actor="job", learner_id=someone.id, course_id=course.id)
    services.log("offer", actor="job", learner_id=someone.id, course_id=course.id, at=utcnow() - timedelta(weeks=9))
    db_session.commit()
    page = client.get("/fairness", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Priority group 1: living in: Ida-Viru County" in page and "Priority group 3: everyone else." in page
    assert "72 hours to accept" in page and "at most 2 waiting lists" in page
    assert "<code>2027-kevad</code>" in page and "Ida-Virumaa first" not in page  # notes are the admins'
    assert "<td>2</td><td>1</td><td>0</td><td>1</td>" in page  # offered, accepted, declined, expired in 8 weeks
    assert "Kuidas vabanenud kohti pakutakse" in client.get("/fairness", headers={"Accept-Language": "et"}).get_data(
        as_text=True)


def test_waitlist_page_explains_the_position(client, auth, db_session):
    course = CourseFactory(capacity=1)
    fill(course, 1)
    ahead = learner()
    services.join(ahead, course)
    me = auth.login("learner")
    me.profile.level, me.profile.level_source = "A2", "placement"
    db_session.commit()
    response = client.post(f"/courses/{course.id}/waitlist", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "2. among the learners" in page and "Why am I here?" in page
    assert "Priority group 1: within the adaptation programme" in page and "Priority group 2: everyone else." in page
    entry = services.active_entries(me)[0]
    assert f"(for the lottery)</dt><dd>{entry.id}</dd>" in page
    detail = client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert "You are on this course's waiting list." in detail and "Join the waiting list" not in detail
    client.post(f"/waitlists/{entry.id}/leave")
    assert services.active_entries(me) == []


def test_admin_policy_versions(client, auth, db_session):
    auth.login("admin")
    assert client.get("/admin/policy").status_code == 200
    bad = client.post("/admin/policy", data={"offer_hours": 24, "max_waitlists": 3, "default_tier": 2,
                                             "tier_rules": "[{", "lottery_seed": "x", "note": "n"})
    assert "not valid JSON" in bad.get_data(as_text=True)
    unknown = client.post("/admin/policy", data={"offer_hours": 24, "max_waitlists": 3, "default_tier": 2,
                                                 "tier_rules": '[{"tier": 1, "when": {"age": ["x"]}}]',
                                                 "lottery_seed": "x", "note": "n"})
    assert "unknown condition" in unknown.get_data(as_text=True)
    for tier in ("0", "10", "1e30", "true", "1.5"):
        rules = f'[{{"tier": {tier}, "when": {{"county": ["harju"]}}}}]'
        too_far = client.post("/admin/policy", data={"offer_hours": 24, "max_waitlists": 3, "default_tier": 2,
                                                     "tier_rules": rules, "lottery_seed": "x", "note": "n"})
        assert "tier (1 to 9)" in too_far.get_data(as_text=True), tier
    assert current_policy().version == 1
    ok = client.post("/admin/policy", data={"offer_hours": 24, "max_waitlists": 2, "default_tier": 2,
                                            "tier_rules": '[{"tier": 1, "when": {"status": ["returnee"]}}]',
                                            "lottery_seed": "2027-draw", "note": "Returnees first"})
    assert ok.status_code == 302
    assert current_policy().version == 2 and current_policy().offer_hours == 24


def test_audit_finds_a_passed_over_learner(db_session):
    course = CourseFactory(capacity=1)
    fill(course, 1)
    first, second = learner(), learner()
    services.join(first, course)
    services.join(second, course)
    db_session.commit()
    # Forge what a broken allocator would do: offer the seat to the second in line.
    entry = services.active_entries(second)[0]
    offer = Offer(entry_id=entry.id, learner_id=second.id, course_id=course.id, policy_version=1,
                  offered_at=utcnow(), expires_at=utcnow() + timedelta(hours=48))
    db_session.add(offer)
    db_session.flush()
    policy = current_policy()
    services.log("offer", actor="job", offer=offer, policy=policy, tier=2, lottery_value=lottery(policy, entry.id),
                 detail={"skipped": [], "joined_at": entry.joined_at.isoformat()})
    db_session.flush()
    problems = audit()
    assert any("better claim" in p for p in problems)
    assert any("capacity" in p for p in problems)


def test_replay_command(app, tmp_path):
    scenario = {
        "start": "2027-01-04T09:00:00+02:00", "offer_hours": 48,
        "courses": [{"id": "c1", "level": "A2", "capacity": 1}],
        "learners": [{"id": "l1", "level": "A2"}, {"id": "l2", "level": "A2", "tier": 1},
                     {"id": "l3", "level": "A2"}],
        "events": [
            {"at": "2027-01-04T09:05:00+02:00", "do": "join", "learner": "l1", "course": "c1"},
            {"at": "2027-01-04T09:06:00+02:00", "do": "join", "learner": "l3", "course": "c1"},
            {"at": "2027-01-04T09:07:00+02:00", "do": "join", "learner": "l2", "course": "c1"},
            {"at": "2027-01-04T10:00:00+02:00", "do": "decline", "learner": "l1", "course": "c1"},
            {"at": "2027-01-07T10:00:00+02:00", "do": "tick"},
            {"at": "2027-01-07T11:00:00+02:00", "do": "accept", "learner": "l2", "course": "c1"},
            {"at": "2027-01-07T11:05:00+02:00", "do": "accept", "learner": "l3", "course": "c1"},
            {"at": "2027-01-07T12:00:00+02:00", "do": "confirm", "learner": "l3", "course": "c1"},
        ]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario))
    out = tmp_path / "events.jsonl"
    result = app.test_cli_runner().invoke(args=["allocation", "replay", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["event"], e["learner"]) for e in events] == [
        ("offer", "l1"), ("decline", "l1"), ("offer", "l2"),  # tier 1 before the earlier l3
        ("expire", "l2"), ("offer", "l3"), ("accept", "l3"), ("confirm", "l3")]
    assert events[0]["at"] == "2027-01-04T09:05:00+02:00" and events[3]["at"] == "2027-01-06T10:00:00+02:00"
    assert "l2" in result.output and "skipped" in result.output  # the late accept: a note on stderr

    scenario["events"].append({"at": "2027-01-08T10:00:00+02:00", "do": "teleport", "learner": "l1"})
    path.write_text(json.dumps(scenario))
    bad_out = tmp_path / "bad.jsonl"
    result = app.test_cli_runner().invoke(args=["allocation", "replay", str(path), "--out", str(bad_out)])
    assert result.exit_code != 0 and "events[8]" in result.output and not bad_out.exists()


def test_audit_command(app, db_session):
    result = app.test_cli_runner().invoke(args=["allocation", "audit"])
    assert result.exit_code == 0 and "OK" in result.output


# -- races between real connections (real commits) ------------------------------------------------------

def _race(live_app, n, work):
    db.session.commit()
    db.session.remove()  # this thread holds no transaction (on SQLite, no lock) while the others race
    barrier = threading.Barrier(n)
    outcomes = []

    def one(i):
        with live_app.app_context():
            barrier.wait()
            try:
                work(i)
                db.session.commit()
                outcomes.append("ok")
            except DomainError as exc:
                db.session.rollback()
                outcomes.append(str(exc.message))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def test_concurrent_allocations_equal_one(live_app):
    course = CourseFactory(capacity=3)
    fill(course, 1)
    for _ in range(6):
        services.join(learner(), course)
    db.session.commit()
    for offer in offers_of(course):  # undo the offers the joins made, to race for them
        offer.status = OfferStatus.CANCELLED
        offer.entry.status = EntryStatus.WAITING
    db.session.commit()
    course_id = course.id
    _race(live_app, 4, lambda i: services.allocate(course_id))
    course = db.session.get(type(course), course_id)
    db.session.expire_all()
    assert len(offers_of(course)) == 2 and services.live_seats(course_id) == 3


def test_many_learners_racing_for_the_last_seat(live_app):
    course = CourseFactory(capacity=1)
    racers = [learner() for _ in range(12)]
    course_id, ids = course.id, [r.id for r in racers]

    def join_and_accept(i):
        from langjourney.auth.models import User
        from langjourney.courses.models import Course

        me = db.session.get(User, ids[i])
        services.join(me, db.session.get(Course, course_id))
        db.session.commit()
        offer = services.open_offer(me)
        if offer is None:
            raise DomainError("no seat")
        services.accept(offer.id, me)

    outcomes = _race(live_app, len(racers), join_and_accept)
    db.session.expire_all()
    assert outcomes.count("ok") == 1
    assert db.session.scalar(select(func.count()).select_from(Enrolment).where(Enrolment.course_id == course_id)) == 1
    assert services.live_seats(course_id) == 1
    assert audit() == []


def test_accept_at_the_deadline_races_the_expiry_sweep(live_app):
    for _ in range(10):
        course = CourseFactory(capacity=1)
        me = learner()
        services.join(me, course)
        db.session.commit()
        offer = offers_of(course)[0]
        offer.expires_at = utcnow() + timedelta(milliseconds=30)
        offer_id, me_id = offer.id, me.id

        def work(i):
            from langjourney.auth.models import User

            if i == 0:
                services.accept(offer_id, db.session.get(User, me_id))
            else:
                services.expire_due()

        _race(live_app, 2, work)
        services.expire_due()  # a late accept fails and leaves the expiry to the next sweep
        db.session.commit()
        final = db.session.get(Offer, offer_id).status
        enrolled = db.session.scalar(select(func.count()).select_from(Enrolment)
                                     .where(Enrolment.learner_id == me_id))
        assert (final, enrolled) in ((OfferStatus.ACCEPTED, 1), (OfferStatus.EXPIRED, 0))
    assert audit() == []


def test_dashboard_shows_the_offer_then_the_seat(client, auth, db_session):
    course = CourseFactory(capacity=1)
    me = auth.login("learner")
    me.profile.level, me.profile.level_source = "A2", "placement"
    services.join(me, course)
    db_session.commit()
    page = client.get("/home").get_data(as_text=True)
    assert "A seat is free for you on" in page and "Answer the seat offer" in page
    assert f"You joined the waiting list of {course.title}." in page
    assert f"A seat on {course.title} was offered to you." in page
    for url in (f"/courses/{course.id}", "/courses/matches"):
        page = client.get(url).get_data(as_text=True)
        assert "A seat on this course is offered to you." in page and "Join the waiting list" not in page
    services.accept(offers_of(course)[0].id, me)
    db_session.commit()
    page = client.get("/home").get_data(as_text=True)
    assert "Seat accepted on" in page and "You accepted a seat on" in page


def test_learner_gives_up_a_seat_before_the_start_and_the_next_learner_is_offered_it(client, db_session):
    course = CourseFactory(capacity=1, title="Eesti keel A2 Jõhvis")
    me, next_one = learner(), learner()
    services.join(me, course)
    db_session.commit()
    [offer] = offers_of(course)
    enrolment = services.accept(offer.id, me)
    services.join(next_one, course)
    db_session.commit()
    assert offers_of(course) == []  # the course is full
    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = session_key(me), True
    courses_page = client.get("/courses/matches").get_data(as_text=True)
    assert f"/enrolments/{enrolment.id}/give-up" in courses_page
    question = client.get(f"/enrolments/{enrolment.id}/give-up").get_data(as_text=True)
    assert "Eesti keel A2 Jõhvis" in question and "cannot take it back" in question
    assert enrolment.status is EnrolmentStatus.ACCEPTED  # asking changes nothing

    response = client.post(f"/enrolments/{enrolment.id}/give-up")
    assert response.status_code == 302 and response.location.endswith("/courses/matches")
    assert enrolment.status is EnrolmentStatus.CANCELLED
    [offer] = offers_of(course)
    assert offer.learner_id == next_one.id
    again = client.post(f"/enrolments/{enrolment.id}/give-up", follow_redirects=True)  # a second click
    assert "This seat is no longer yours." in again.get_data(as_text=True)
    assert len(offers_of(course)) == 1 and audit() == []


def test_a_seat_cannot_be_given_up_once_the_course_has_started_or_by_someone_else(client, db_session):
    started = CourseFactory(capacity=1, started=True, enrolment_deadline=None)
    me, other = learner(), learner()
    enrolment = EnrolmentFactory(learner=me, course=started)
    db_session.commit()
    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = session_key(other), True
    assert client.get(f"/enrolments/{enrolment.id}/give-up").status_code == 404
    assert client.post(f"/enrolments/{enrolment.id}/give-up").status_code == 404
    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = session_key(me), True
    assert f"/enrolments/{enrolment.id}/give-up" not in client.get("/courses/matches").get_data(as_text=True)
    page = client.post(f"/enrolments/{enrolment.id}/give-up", follow_redirects=True).get_data(as_text=True)
    assert "tell the school" in page and enrolment.status is EnrolmentStatus.ACCEPTED


def test_a_counsellor_sees_the_learners_waiting_lists(client, auth, db_session):
    full, free = CourseFactory(capacity=1), CourseFactory(capacity=1)
    fill(full, 1)
    first, me = learner(), learner()
    services.join(first, full)
    services.join(me, full)
    services.join(me, free)  # a free seat: offered at once
    services.allocate(free.id)
    db_session.commit()
    auth.login("counsellor")
    page = client.get(f"/staff/learners/{me.id}").get_data(as_text=True)
    assert full.title in page and "Place 2 among the learners who can take the course" in page
    assert free.title in page and "Seat offered" in page
    assert "Not on any waiting list." in client.get(f"/staff/learners/{learner().id}").get_data(as_text=True)


def test_course_pages_show_free_seats_the_queue_and_seats_given_back(client, auth, db_session):
    course, other = CourseFactory(capacity=3), CourseFactory(capacity=2)
    fill(course, 1)
    services.join(learner(), course)  # the free seats: offers at once
    services.join(learner(), course)
    fill(other, 2)
    for _ in range(3):
        services.join(learner(), other)
    services.cancel(learner_of(other), other)  # a seat given back, and offered to the first in line
    services.log("decline", actor="job", course_id=other.id, at=utcnow() - timedelta(weeks=9))  # too long ago
    db_session.commit()
    assert services.queue_figures([course, other]) == {course.id: services.QueueFigures(0, 0, 0),
                                                       other.id: services.QueueFigures(0, 2, 1)}
    auth.login("learner")
    page = client.get(f"/courses/{other.id}").get_data(as_text=True)
    assert "<dt>Seats free now</dt><dd>0</dd>" in page and "<dt>Learners waiting</dt><dd>2</dd>" in page
    assert "<dt>Seats given back in the last 8 weeks</dt><dd>1</dd>" in page


def learner_of(course):
    return db.session.scalar(select(Enrolment).where(Enrolment.course_id == course.id)).learner
