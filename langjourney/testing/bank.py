"""The live item bank and the exercise content behind it, loaded once per process."""
from __future__ import annotations

import hashlib
import json

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import placement
from exercises.export import build_bank
from langjourney.content import content
from langjourney.extensions import db
from langjourney.testing.models import BankVersion


# Versions are content hashes, so a loaded bank never goes stale; there are only a few versions.
_ENGINE_BANKS: dict[str, placement.Bank] = {}


def engine_bank(version: BankVersion) -> placement.Bank:
    """The placement engine's bank for a stored version, loaded once per process (the engine's
    states find it by fingerprint, so it must stay referenced). The large ``bank`` column is
    deferred: only the first call per process reads it."""
    bank = _ENGINE_BANKS.get(version.version)
    if bank is None:
        bank = _ENGINE_BANKS[version.version] = placement.load_bank(version.bank)
    return bank


def attempt_bank(attempt) -> placement.Bank:
    """The bank an attempt's engine state refers to: found by the state's fingerprint among the
    banks this process has loaded (no query), else loaded from the attempt's stored version."""
    try:
        return placement.registered_bank(attempt.state["bank"])
    except LookupError:
        return engine_bank(attempt.bank_version)


def bank_fingerprint(bank: dict) -> str:
    return hashlib.sha256(json.dumps(bank, sort_keys=True).encode()).hexdigest()


def live_bank_version() -> BankVersion:
    """The live bank version; on first use, the bank exported from the exercise content."""
    live = db.session.scalar(select(BankVersion).where(BankVersion.is_live.is_(True)))
    if live is not None:
        return live
    bank = build_bank(content())
    candidate = BankVersion(version=bank_fingerprint(bank), bank=bank, source="content", is_live=True,
                            note="exported from exercises/content")
    try:
        with db.session.begin_nested():  # another process may be doing the same right now
            db.session.add(candidate)
    except IntegrityError:
        pass
    return db.session.scalar(select(BankVersion).where(BankVersion.is_live.is_(True)))


def publish_bank(bank: dict, source: str, note: str) -> BankVersion:
    """Make ``bank`` the live version, keeping the previous ones."""
    placement.load_bank(bank)  # refuse a bank the engine would refuse
    version = bank_fingerprint(bank)
    existing = db.session.scalar(select(BankVersion).where(BankVersion.version == version))
    for old in db.session.scalars(select(BankVersion).where(BankVersion.is_live.is_(True))):
        old.is_live = False
    db.session.flush()
    if existing is None:
        existing = BankVersion(version=version, bank=bank, source=source, note=note)
        db.session.add(existing)
    existing.is_live = True
    db.session.flush()
    return existing
