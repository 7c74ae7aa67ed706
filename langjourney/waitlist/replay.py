"""Run a scenario through the real allocation service and jobs, on a fresh temporary database."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select

KINDS = ("offer", "expire", "accept", "decline", "cancel", "confirm")
ACTIONS = {"join", "accept", "decline", "cancel", "confirm", "capacity", "tick"}


class ScenarioError(ValueError):
    """The scenario is malformed; the message names the event."""


@dataclass(frozen=True)
class Step:
    at: datetime
    do: str
    learner: str | None
    course: str | None
    capacity: int | None
    index: int


def _time(value, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ScenarioError(f"{where}: bad time {value!r} (ISO-8601 with an offset expected)") from None
    if moment.tzinfo is None:
        raise ScenarioError(f"{where}: time {value!r} has no UTC offset")
    return moment


def parse(data: dict) -> tuple[dict, list[Step]]:
    """Check the whole scenario before anything runs; returns (header, steps in time order)."""
    if not isinstance(data, dict):
        raise ScenarioError("the scenario must be a JSON object")
    start = _time(data.get("start"), "start")
    hours = data.get("offer_hours", 48)
    if not isinstance(hours, int) or hours < 1:
        raise ScenarioError("offer_hours must be a positive integer")
    courses, learners = {}, {}
    for n, c in enumerate(data.get("courses") or []):
        if not isinstance(c, dict) or not isinstance(c.get("id"), str) or not isinstance(c.get("capacity"), int) \
                or c["capacity"] < 1 or not isinstance(c.get("level"), str):
            raise ScenarioError(f"courses[{n}]: needs a string id, a level and a positive capacity")
        courses[c["id"]] = c
    for n, learner in enumerate(data.get("learners") or []):
        if not isinstance(learner, dict) or not isinstance(learner.get("id"), str) \
                or not isinstance(learner.get("level"), str):
            raise ScenarioError(f"learners[{n}]: needs a string id and a level")
        if "tier" in learner and (not isinstance(learner["tier"], int) or learner["tier"] < 1):
            raise ScenarioError(f"learners[{n}]: tier must be a positive integer")
        learners[learner["id"]] = learner
    steps = []
    for n, e in enumerate(data.get("events") or []):
        where = f"events[{n}]"
        if not isinstance(e, dict):
            raise ScenarioError(f"{where}: must be an object")
        do = e.get("do")
        if do not in ACTIONS:
            raise ScenarioError(f"{where}: unknown do {do!r} (one of {', '.join(sorted(ACTIONS))})")
        if do not in ("tick", "capacity") and e.get("learner") not in learners:
            raise ScenarioError(f"{where}: unknown learner {e.get('learner')!r}")
        if do != "tick" and e.get("course") not in courses:
            raise ScenarioError(f"{where}: unknown course {e.get('course')!r}")
        if do == "capacity" and (not isinstance(e.get("capacity"), int) or e["capacity"] < 1):
            raise ScenarioError(f"{where}: capacity must be a positive integer")
        steps.append(Step(_time(e.get("at"), where), do, e.get("learner"), e.get("course"), e.get("capacity"), n))
    steps.sort(key=lambda s: (s.at, s.index))
    return {"start": start, "offer_hours": hours, "courses": courses, "learners": learners}, steps


def note(step: Step, message: str) -> None:
    who = " ".join(f"{k} {v}" for k, v in (("learner", step.learner), ("course", step.course)) if v)
    print(f"events[{step.index}] {step.do} {who} at {step.at.isoformat()}: skipped: {message}", file=sys.stderr)


def run(header: dict, steps: list[Step]) -> list[dict]:
    """Run the steps in the current app (a fresh database); return the output events."""
    from langjourney.auth.models import Provider, Role, User
    from langjourney.courses import services as courses
    from langjourney.courses.models import ACTIVE_STATUSES, Course, CourseChange, Enrolment, Mode, Programme
    from langjourney.errors import DomainError
    from langjourney.extensions import db
    from langjourney.jobs import enqueue
    from langjourney.learners.models import LearnerProfile, LearnerStatus
    from langjourney.waitlist import services
    from langjourney.waitlist.clock import frozen_at
    from langjourney.waitlist.models import AllocationEvent, Offer, OfferStatus
    from langjourney.waitlist.policy import DEFAULT_RULES, publish_policy
    from langjourney.waitlist.tasks import allocate, reconcile

    start = header["start"]
    with frozen_at(start):
        publish_policy(offer_hours=header["offer_hours"], max_waitlists=3, tier_rules=DEFAULT_RULES,
                       default_tier=2, lottery_seed="replay", note="scenario", by_id=None)
        provider = Provider(name="Scenario provider")
        db.session.add(provider)
        course_ids, learner_ids = {}, {}
        first_day = start.date() + timedelta(days=60)
        for key, c in header["courses"].items():
            course = Course(provider=provider, title=f"Course {key}", level=c["level"], programme=Programme.RESIDENTS,
                            mode=Mode.ONLINE, weekdays=["mon"], starts_at_time=time(17), ends_at_time=time(19),
                            start_date=first_day, end_date=first_day + timedelta(weeks=12), academic_hours=100,
                            capacity=c["capacity"], is_published=True, approved_at=start)
            db.session.add(course)
            db.session.flush()
            course_ids[key] = course.id
        for key, spec in header["learners"].items():
            user = User(email=f"{key.lower()}@scenario.invalid", full_name=key, password_hash="!", role=Role.LEARNER,
                        locale="en")
            db.session.add(user)
            db.session.add(LearnerProfile(user=user, mother_tongue="other", county="harju", town="Tallinn",
                                          status=LearnerStatus.PERMANENT_RESIDENT, level=spec["level"],
                                          level_source="counsellor", level_set_at=start))
            db.session.flush()
            learner_ids[key] = user.id
        db.session.commit()

    tiers = {key: spec.get("tier") for key, spec in header["learners"].items()}
    for step in steps:
        with frozen_at(step.at.astimezone(start.tzinfo)):
            reconcile()  # what the periodic sweep would have done by now: expiries fall due
            learner = db.session.get(User, learner_ids[step.learner]) if step.learner else None
            course = db.session.get(Course, course_ids[step.course]) if step.course else None
            try:
                if step.do == "join":
                    services.join(learner, course, tier_override=tiers[step.learner])
                elif step.do in ("accept", "decline"):
                    offer = db.session.scalar(select(Offer).where(Offer.learner_id == learner.id,
                                                                  Offer.course_id == course.id,
                                                                  Offer.status == OfferStatus.OPEN))
                    if offer is None:
                        raise DomainError("no open offer")
                    (services.accept if step.do == "accept" else services.decline)(offer.id, learner)
                elif step.do == "cancel":
                    if not services.cancel(learner, course):
                        raise DomainError("the learner holds nothing on this course")
                elif step.do == "confirm":
                    enrolment = db.session.scalar(select(Enrolment).where(
                        Enrolment.learner_id == learner.id, Enrolment.course_id == course.id,
                        Enrolment.status.in_(ACTIVE_STATUSES)))
                    if enrolment is None:
                        raise DomainError("no seat to confirm")
                    courses.confirm_enrolment(enrolment)
                elif step.do == "capacity":
                    old = course.capacity
                    db.session.add(CourseChange(course=course, field="capacity", old_value=str(old),
                                                new_value=str(step.capacity), at=step.at))
                    course.capacity = step.capacity
                    services.log("capacity", actor="system", course_id=course.id, reason=f"{old} -> {step.capacity}")
                    db.session.flush()
                    if step.capacity > old:
                        enqueue(allocate, course.id)
                db.session.commit()  # the jobs it triggered run now, stamped with this time
            except DomainError as exc:
                db.session.rollback()
                note(step, str(exc.message))

    names = {v: k for k, v in learner_ids.items()}
    course_names = {v: k for k, v in course_ids.items()}
    out = []
    for e in db.session.scalars(select(AllocationEvent).where(AllocationEvent.kind.in_(KINDS))
                                .order_by(AllocationEvent.at, AllocationEvent.id)):
        out.append({"at": e.at.astimezone(start.tzinfo).isoformat(), "event": e.kind,
                    "learner": names.get(e.learner_id), "course": course_names.get(e.course_id)})
    return out


def replay_file(scenario_path: str, out_path: str) -> int:
    """Replay ``scenario_path`` on a fresh temporary SQLite database and write the JSON lines."""
    import tempfile

    from flask_migrate import upgrade

    from langjourney import create_app
    from langjourney.extensions import db

    with open(scenario_path, encoding="utf-8") as fh:
        try:
            data = json.load(fh)
        except ValueError as exc:
            raise ScenarioError(f"the scenario is not valid JSON: {exc}") from None
    header, steps = parse(data)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/replay.sqlite3", "REDIS_URL": None,
                          "MAIL_BACKEND": "null", "SERVER_NAME": "replay.invalid", "LOG_LEVEL": "WARNING"})
        with app.app_context():
            upgrade()
            out = run(header, steps)
            db.session.remove()
            db.engine.dispose()
    with open(out_path, "w", encoding="utf-8") as fh:
        for line in out:
            fh.write(json.dumps(line) + "\n")
    return len(out)
