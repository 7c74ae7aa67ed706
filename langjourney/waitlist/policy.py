"""The fairness policy: versions, priority tiers and the published lottery."""
from __future__ import annotations

import hashlib
import secrets
from datetime import date
from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, String, and_, bindparam, case, func, literal, not_, select, type_coerce
from sqlalchemy.exc import IntegrityError

from langjourney.courses.rules import ADAPTATION_WITHOUT_PERMIT_DATE, in_adaptation_window
from langjourney.errors import DomainError
from langjourney.extensions import db
from langjourney.learners.models import COUNTIES, MOTHER_TONGUES, STATUS_LABELS, LearnerProfile
from langjourney.waitlist.models import AllocationPolicy

# Default: learners obliged to study under the adaptation programme first.
DEFAULT_RULES = [{"tier": 1, "when": {"adaptation_window": True}}]
CONDITIONS = {"adaptation_window", "status", "county", "mother_tongue"}


@cache
def _newest_query():
    """Built once: building and keying a statement costs more than running it (see allocate)."""
    return select(AllocationPolicy).order_by(AllocationPolicy.version.desc()).limit(1)


def current_policy() -> AllocationPolicy:
    """The policy in force (the newest version); version 1 with the defaults on first use."""
    policy = db.session.scalar(_newest_query())
    if policy is not None:
        return policy
    try:
        with db.session.begin_nested():
            db.session.add(AllocationPolicy(version=1, offer_hours=48, max_waitlists=3,
                                            tier_rules=DEFAULT_RULES, default_tier=2,
                                            lottery_seed=secrets.token_hex(16), note="default policy"))
    except IntegrityError:  # created by another process a moment ago
        pass
    return db.session.scalar(select(AllocationPolicy).order_by(AllocationPolicy.version.desc()).limit(1))


def versions() -> list[AllocationPolicy]:
    """Every version of the policy, the newest first."""
    return list(db.session.scalars(select(AllocationPolicy).order_by(AllocationPolicy.version.desc())))


def policy_version(version: int) -> AllocationPolicy | None:
    return db.session.scalar(select(AllocationPolicy).where(AllocationPolicy.version == version))


def validate_rules(rules) -> None:
    if not isinstance(rules, list):
        raise DomainError(_l("The tier rules must be a list."), "tier_rules")
    for n, rule in enumerate(rules, 1):
        # Tiers 1-9, as the default tier: a tier is stored in every allocation event's integer column.
        if not isinstance(rule, dict) or set(rule) != {"tier", "when"} or type(rule["tier"]) is not int \
                or not 1 <= rule["tier"] <= 9 or not isinstance(rule["when"], dict) or not rule["when"]:
            raise DomainError(_l("Rule %(n)d must have a tier (1 to 9) and conditions.", n=n), "tier_rules")
        unknown = set(rule["when"]) - CONDITIONS
        if unknown:
            raise DomainError(_l("Rule %(n)d has an unknown condition: %(name)s.", n=n,
                                 name=", ".join(sorted(unknown))), "tier_rules")
        for key, value in rule["when"].items():
            if key == "adaptation_window" and not isinstance(value, bool):
                raise DomainError(_l("Rule %(n)d: adaptation_window must be true or false.", n=n), "tier_rules")
            if key != "adaptation_window" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise DomainError(_l("Rule %(n)d: %(name)s must be a list of values.", n=n, name=key), "tier_rules")


def publish_policy(*, offer_hours: int, max_waitlists: int, tier_rules: list, default_tier: int,
                   lottery_seed: str, note: str | None, by_id: int | None) -> AllocationPolicy:
    """Add a new policy version (the old ones stay, for the audit)."""
    validate_rules(tier_rules)
    if offer_hours < 1 or max_waitlists < 1 or default_tier < 1:
        raise DomainError(_l("Offer hours, waitlists and the default tier must be at least 1."))
    if not lottery_seed.strip():
        raise DomainError(_l("Publish a lottery seed."), "lottery_seed")
    version = (db.session.scalar(select(func.max(AllocationPolicy.version))) or 0) + 1
    policy = AllocationPolicy(version=version, offer_hours=offer_hours, max_waitlists=max_waitlists,
                              tier_rules=tier_rules, default_tier=default_tier,
                              lottery_seed=lottery_seed.strip(), note=note, created_by_id=by_id)
    db.session.add(policy)
    db.session.flush()
    return policy


def _holds(condition: str, value, profile: LearnerProfile, today: date) -> bool:
    if condition == "adaptation_window":
        return in_adaptation_window(profile, today) == value
    field = profile.status.value if condition == "status" else getattr(profile, condition)
    return field in value


def tier_of(policy: AllocationPolicy, profile: LearnerProfile, today: date, override: int | None = None) -> int:
    """The learner's priority tier under ``policy`` (lower is served first)."""
    if override is not None:
        return override
    for rule in policy.tier_rules:
        if all(_holds(k, v, profile, today) for k, v in rule["when"].items()):
            return rule["tier"]
    return policy.default_tier


def tier_clause(tier_rules: list, default_tier: int, profile, override):
    """:func:`tier_of` as an SQL expression, for sorting in the database: a policy's rules and
    default tier over ``profile``, the ``learner_profile`` table (or an alias), and ``override``,
    the entry's tier override column. Today enters as the bind parameter ``cutoff``
    (:func:`~langjourney.courses.rules.adaptation_cutoff`). The two must agree; the tests compare
    them over every kind of condition."""
    whens = [(and_(*(_condition(name, value, profile) for name, value in rule["when"].items())), rule["tier"])
             for rule in tier_rules]
    return func.coalesce(override, case(*whens, else_=default_tier) if whens else literal(default_tier))


def _condition(name: str, value, profile):
    """One condition of a tier rule in SQL (:func:`_holds`); never NULL."""
    if name == "adaptation_window":
        permit = profile.c.residence_permit_date
        window = case((permit.is_not(None), permit >= bindparam("cutoff", type_=Date)),
                      else_=profile.c.status.in_(ADAPTATION_WITHOUT_PERMIT_DATE))
        return window if value else not_(window)
    # The stored strings, compared as such: a rule may name a status that does not exist.
    column = type_coerce(profile.c.status, String) if name == "status" else profile.c[name]
    return column.in_(value)  # the columns are NOT NULL


def describe_rules(policy: AllocationPolicy) -> list[tuple[int, list[str]]]:
    """The policy's priority rules in words, for learners: ``(tier, conditions)`` per rule in order
    (the first rule that fits a learner gives their tier), the conditions as phrases in the current
    language. Everyone else is in ``policy.default_tier``."""
    statuses = {status.value: label for status, label in STATUS_LABELS.items()}
    names = {"status": statuses, "county": COUNTIES, "mother_tongue": MOTHER_TONGUES}
    described = []
    for rule in policy.tier_rules:
        phrases = []
        for condition, value in rule["when"].items():
            if condition == "adaptation_window":
                phrases.append(str(_l("within the adaptation programme's window (the first 5 years after the "
                                      "first residence permit, or under international or temporary protection)")
                                   if value else _l("past the adaptation programme's window")))
                continue
            values = ", ".join(str(names[condition].get(v, v)) for v in value)
            phrases.append(str({"status": _l("status: %(values)s", values=values),
                                "county": _l("living in: %(values)s", values=values),
                                "mother_tongue": _l("mother tongue: %(values)s", values=values)}[condition]))
        described.append((rule["tier"], phrases))
    return described


def lottery(policy: AllocationPolicy, entry_id: int) -> str:
    """The published, reproducible tie-breaker: SHA-256 of the policy's seed and the entry id."""
    return hashlib.sha256(f"{policy.lottery_seed}:{entry_id}".encode()).hexdigest()
