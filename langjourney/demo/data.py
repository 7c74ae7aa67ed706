"""Demonstration data for ``flask demo load``: idempotent, deterministic, never for production."""
from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import func, select

from langjourney.auth import services
from langjourney.auth.models import Provider, Role, User
from langjourney.counselling import services as counselling
from langjourney.counselling.models import AppointmentMode, CounsellingSlot
from langjourney.courses import services as course_services
from langjourney.courses.models import COURSE_LEVELS, Course, Enrolment, Mode, Programme
from langjourney.db import utcnow
from langjourney.errors import DomainError
from langjourney.extensions import db
from langjourney.learners.models import (
    AVAILABILITY_SLOTS, GOALS, LearnerProfile, LearnerStatus, LevelDecision,
)
from langjourney.waitlist import services as waitlist
from langjourney.waitlist.models import WaitlistEntry

DEMO_PASSWORD = "keeleteekond-demo"
ADMIN = ("admin@example.com", "Anne Admin")
COUNSELLORS = [("counsellor1@example.com", "Kati Kask"), ("counsellor2@example.com", "Marko Mänd"),
               ("counsellor3@example.com", "Olga Ivanova")]
PROVIDERS = [
    ("Keelekool Sõnarikas OÜ", "provider1@example.com", "Liis Lepp"),
    ("Narva Keelemaja MTÜ", "provider2@example.com", "Sergei Petrov"),
    ("Tartu Keelestuudio OÜ", "provider3@example.com", "Piret Saar"),
    ("Pärnu Õppekeskus OÜ", "provider4@example.com", "Tõnu Tamm"),
]
# (town, county, provider index); None town = online
PLACES = [("Tallinn", "harju", 0), ("Narva", "ida-viru", 1), ("Jõhvi", "ida-viru", 1),
          ("Kohtla-Järve", "ida-viru", 1), ("Tartu", "tartu", 2), ("Pärnu", "parnu", 3), (None, None, 0)]
LEARNER_TOWNS = [("Tallinn", "harju"), ("Maardu", "harju"), ("Narva", "ida-viru"), ("Jõhvi", "ida-viru"),
                 ("Kohtla-Järve", "ida-viru"), ("Sillamäe", "ida-viru"), ("Tartu", "tartu"),
                 ("Pärnu", "parnu"), ("Valga", "valga"), ("Rakvere", "laane-viru")]
FIRST = ["Aleksandr", "Anna", "Dmitri", "Jelena", "Ivan", "Olena", "Andrii", "Natalja", "Oksana", "Pavel",
         "Tatjana", "Maksym", "Irina", "Sergii", "Julia", "Ahmed", "Maria", "Nikolai", "Svetlana", "Bohdan"]
LAST = ["Ivanov", "Smirnova", "Kuznetsov", "Shevchenko", "Kovalenko", "Popova", "Bondarenko", "Sokolov",
        "Melnyk", "Volkova", "Tkachenko", "Morozov", "Lebedeva", "Kravchenko", "Novikova", "Hassan"]
# Each counsellor's appointment times: mode, place or video call link, languages.
COUNSELLING = {"counsellor1@example.com": (AppointmentMode.IN_PERSON, "Narva, Tallinna mnt 6", ["et", "ru"]),
               "counsellor2@example.com": (AppointmentMode.PHONE, None, ["et", "en"]),
               "counsellor3@example.com": (AppointmentMode.VIDEO, "https://video.example.org/counsellor3",
                                           ["ru", "uk", "en"])}
HOURS = {"A1": 100, "A2": 150, "B1.1": 120, "B1.2": 130, "B2": 140, "C1": 140}


ADAPTATION_STATUSES = [LearnerStatus.INTERNATIONAL_PROTECTION.value, LearnerStatus.NEW_IMMIGRANT.value,
                       LearnerStatus.TEMPORARY_PROTECTION.value]


def _ensure_staff(email: str, name: str, role: Role, password_hash: str,
                  provider: Provider | None = None, is_provider_admin: bool = False) -> bool:
    if services.get_user_by_email(email) is not None:
        return False
    db.session.add(User(email=email, full_name=name, role=role, provider=provider,
                        password_hash=password_hash, is_provider_admin=is_provider_admin))
    return True


def _add_enrolments(rng: random.Random) -> int:
    """Seats for 30 demo learners on courses of their town (or online), so the provider portal shows
    enrolments in every state: accepted (some overdue), confirmed, completed."""
    if db.session.scalar(select(func.count()).select_from(Enrolment)):
        return 0
    courses = list(db.session.scalars(select(Course).where(Course.is_published.is_(True)).order_by(Course.id)))
    today = course_services.local_today()
    counsellor = services.get_user_by_email(COUNSELLORS[0][0])
    added = 0
    for n in range(1, 31):
        learner = services.get_user_by_email(f"learner{n:03d}@example.com")
        nearby = [c for c in courses if c.town == learner.profile.town or c.town is None]
        course = nearby[rng.randrange(len(nearby))] if nearby else None
        if course is None:
            continue
        _set_level(learner, course.level, counsellor)
        closes = course.enrolment_deadline or course.start_date
        # Some seats were accepted 10 days ago, so their confirmation is overdue.
        accepted_on = min(today - timedelta(days=10) if n % 5 == 0 else today, closes)
        try:
            enrolment = course_services.create_enrolment(learner, course, today=accepted_on)
        except DomainError:
            continue  # e.g. the programme is not for this learner, or the course is full
        enrolment.accepted_at = datetime.combine(accepted_on, time(9, 0), tzinfo=timezone.utc)
        if n % 3 == 0:
            course_services.confirm_enrolment(enrolment, "Demo: confirmed by the school.")
        added += 1
    db.session.flush()
    return added


def _set_level(learner: User, level: str, counsellor: User) -> None:
    """The level a demo counsellor set, kept as a decision (without the mail that set_level sends)."""
    profile = learner.profile
    profile.level, profile.level_source, profile.level_set_at = level, "counsellor", utcnow()
    db.session.add(LevelDecision(learner_id=learner.id, level=level, decided_by_id=counsellor.id,
                                 reason="Demo: the counselling interview.", decided_at=profile.level_set_at))


def _add_waiting_lists(waiting_per_course: int = 4) -> int:
    """Two full courses with waiting lists, and on the first a seat given up, so that *Waiting lists*,
    a seat offer and the figures on *How freed seats are offered* have something to show. Demo
    learners from number 31 on get the course's level; returns the waiting list places made."""
    if db.session.scalar(select(func.count()).select_from(WaitlistEntry)):
        return 0
    counsellor = services.get_user_by_email(COUNSELLORS[0][0])
    today = course_services.local_today()
    open_courses = [c for c in db.session.scalars(
        select(Course).where(Course.is_published.is_(True), Course.programme == Programme.RESIDENTS)
        .order_by(Course.capacity, Course.id))
        if not c.eligible_statuses and not course_services.active_seat_count(c)
        and (c.enrolment_deadline or c.start_date) >= today]
    number, places = 31, 0
    for index, course in enumerate(open_courses[:2]):
        people = []
        for _ in range(course.capacity + waiting_per_course):
            learner = services.get_user_by_email(f"learner{number:03d}@example.com")
            number += 1
            _set_level(learner, course.level, counsellor)
            people.append(learner)
        for learner in people[:course.capacity]:
            course_services.create_enrolment(learner, course, today=today)
        for learner in people[course.capacity:]:
            waitlist.join(learner, course)
            places += 1
        if index == 0:  # a seat given up goes to the first in line
            waitlist.give_up_seat(db.session.scalar(select(Enrolment.id).where(
                Enrolment.course_id == course.id, Enrolment.learner_id == people[0].id)), people[0])
            waitlist.allocate(course.id)
    db.session.flush()
    return places


def load_demo(seed: int = 2026) -> dict[str, int]:
    """Create the demo admin, counsellors, providers with staff, 40 courses, 200 learners, seats on
    courses for some of them, two full courses with waiting lists (and a seat offer on one) and the
    counsellors' appointment times for the next working week.

    Running it again adds nothing that is already there. Returns how many rows of each were added.
    """
    rng = random.Random(seed)
    password_hash = services.hash_password(DEMO_PASSWORD)  # hashed once: scrypt is slow on purpose
    added = dict.fromkeys(("staff", "providers", "courses", "learners", "enrolments", "waiting", "slots"), 0)

    added["staff"] += _ensure_staff(*ADMIN, Role.ADMIN, password_hash)
    for email, name in COUNSELLORS:
        added["staff"] += _ensure_staff(email, name, Role.COUNSELLOR, password_hash)
    providers = []
    for org, email, name in PROVIDERS:
        exists = db.session.scalar(select(Provider).where(Provider.name == org)) is not None
        provider = services.get_or_create_provider(org)
        added["providers"] += not exists
        # The demo providers' staff also manage their API tokens.
        added["staff"] += _ensure_staff(email, name, Role.PROVIDER, password_hash, provider, is_provider_admin=True)
        providers.append(provider)
    db.session.flush()

    if not db.session.scalar(select(func.count()).select_from(Course)):
        start = date(2027, 1, 11)
        for i in range(40):
            town, county, p = PLACES[i % len(PLACES)]
            level = COURSE_LEVELS[i % len(COURSE_LEVELS)]
            evening = rng.random() < 0.6
            begins = start + timedelta(weeks=rng.randrange(0, 20))
            db.session.add(Course(
                provider=providers[p], level=level,
                title=f"Eesti keel {level} – {town or 'veebis'}",
                programme=Programme.ADAPTATION if i % 4 == 0 else Programme.RESIDENTS,
                eligible_statuses=ADAPTATION_STATUSES if i % 4 == 0 else [],
                mode=Mode.ONLINE if town is None else (Mode.HYBRID if i % 9 == 0 else Mode.IN_PERSON),
                county=county, town=town, address=None if town is None else f"Kooli {1 + i % 30}, {town}",
                weekdays=["mon", "wed"] if i % 2 else ["tue", "thu"],
                starts_at_time=time(17, 30) if evening else time(10, 0),
                ends_at_time=time(19, 0) if evening else time(11, 30),
                start_date=begins, end_date=begins + timedelta(weeks=16),
                academic_hours=HOURS[level], capacity=rng.choice([12, 16, 20]),
                support_language=rng.choice(["ru", "uk", "en", None]),
                enrolment_deadline=begins - timedelta(days=7), is_published=True, approved_at=utcnow()))
            added["courses"] += 1

    existing = set(db.session.scalars(select(User.email).where(User.role == Role.LEARNER)))
    statuses = list(LearnerStatus)
    for n in range(1, 201):
        email = f"learner{n:03d}@example.com"
        # Draw every value even for existing learners, so a re-run stays deterministic.
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        town, county = rng.choice(LEARNER_TOWNS)
        status = statuses[n % len(statuses)]
        permit = date(2022, 1, 1) + timedelta(days=rng.randrange(0, 1400))
        tongue = "uk" if status is LearnerStatus.TEMPORARY_PROTECTION else rng.choice(["ru", "ru", "uk", "en", "other"])
        goals = rng.sample(sorted(GOALS), k=rng.randint(1, 3))
        slots = rng.sample(AVAILABILITY_SLOTS, k=rng.randint(2, 8))
        online = rng.random() < 0.7
        if email in existing:
            continue
        user = User(email=email, full_name=name, role=Role.LEARNER, password_hash=password_hash,
                    locale=rng.choice(["et", "ru", "uk", "en", "ru"]))
        db.session.add(user)
        db.session.add(LearnerProfile(
            user=user, mother_tongue=tongue, county=county, town=town, status=status,
            residence_permit_date=permit if status is LearnerStatus.NEW_IMMIGRANT else None,
            goals=sorted(goals), availability=sorted(slots), accepts_online=online))
        added["learners"] += 1
    db.session.flush()
    added["enrolments"] = _add_enrolments(rng)
    added["waiting"] = _add_waiting_lists()
    added["slots"] = _add_appointment_times()
    return added


def _add_appointment_times() -> int:
    """Four morning appointments on each of the next five working days, for each counsellor who has no
    upcoming time (so a later run, after the week has passed, adds a new week)."""
    added = 0
    days = []
    day = counselling.in_tallinn(utcnow()).date()
    while len(days) < 5:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    for email, (mode, where, languages) in COUNSELLING.items():
        counsellor = db.session.scalar(select(User).where(User.email == email))
        if db.session.scalar(select(CounsellingSlot.id).where(CounsellingSlot.counsellor_id == counsellor.id,
                                                              CounsellingSlot.ends_at > utcnow()).limit(1)):
            continue
        for day in days:
            added += len(counselling.publish_slots(counsellor, counselling.SlotSeries(
                day=day, start=time(10, 0), minutes=45, count=4, break_minutes=15, mode=mode, languages=languages,
                place=where if mode is AppointmentMode.IN_PERSON else None,
                video_link=where if mode is AppointmentMode.VIDEO else None)))
    return added
