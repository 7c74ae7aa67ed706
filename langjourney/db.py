"""The declarative base, its naming convention and small column helpers shared by all models."""
from __future__ import annotations

import json
import re
import sqlite3
import time
from datetime import datetime, timezone
from functools import cache

import orjson
from sqlalchemy import DateTime, MetaData, TypeDecorator, event
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT = 10.0  # seconds a statement waits for SQLite's write lock before giving up


# Ids are PostgreSQL INTEGERs. A larger number in a URL or a query string names no row; sent to the
# database it would make the driver raise (an overflow) instead of finding nothing.
MAX_ID = 2**31 - 1


def positive_int(value: str) -> int:
    """A whole number from 1 that fits an id column (an id, a page number), from a URL or query
    string; ``ValueError`` otherwise, so ``request.args.get(name, default, type=positive_int)`` falls
    back to the default."""
    number = int(value)
    if not 1 <= number <= MAX_ID:
        raise ValueError(f"{value!r} is not between 1 and {MAX_ID}")
    return number


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always returned timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given for a UTC column")
            value = value.astimezone(timezone.utc)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def __repr__(self) -> str:
        ident = getattr(self, "id", None)
        return f"<{type(self).__name__} {ident!r}>"


def _json_default(value):
    if hasattr(value, "item") and hasattr(value, "dtype"):  # a NumPy scalar
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_serializer(value) -> str:
    """JSON columns are written with orjson: the placement test writes its engine state (a few
    KiB, mostly floats) on every answer, and the standard library takes some 20× longer."""
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()


def json_deserializer(text: str | bytes):
    """JSON columns are read with orjson; a value it refuses (``NaN``, which the standard library
    wrote in earlier versions) is read by the standard library."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


ENGINE_OPTIONS = {"json_serializer": json_serializer, "json_deserializer": json_deserializer}


def render_item(type_, obj, autogen_context):
    """Alembic hook: write UTC columns into migrations as plain ``sa.DateTime(timezone=True)``."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure_sqlite(engine) -> None:
    """Give SQLite real transactions: foreign keys on, and BEGIN emitted by SQLAlchemy rather than
    by the driver's guesswork, so savepoints and rollbacks behave as on PostgreSQL.

    Transactions begin IMMEDIATE (taking the write lock at once, waiting up to the busy timeout):
    SQLite has no row locks, so this is what makes two requests racing for the same row — a double
    click, two workers — run one after the other, as ``SELECT … FOR UPDATE`` does on PostgreSQL.
    The exception is a transaction begun by :func:`begin_reading` (see :func:`reads_first`).
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None  # the driver must not BEGIN on its own
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        # Write-ahead log: one fsync per commit instead of several, and readers don't block the writer.
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        # Reading (begin_reading) sends no BEGIN: each statement reads in its own implicit
        # transaction until write_phase begins the write transaction on this connection.
        if connection.get_execution_options().get(_SQLITE_BEGIN) != "DEFERRED":
            _begin_immediate(connection.connection.driver_connection)

    @event.listens_for(engine, "before_cursor_execute")
    def refuse_writes_while_reading(connection, cursor, statement, parameters, context, executemany):
        # A write there would commit on its own, not with the rest of the request's writes.
        # (PRAGMA query_only would do it in SQLite, but setting it expires every prepared statement
        # of the connection: ~5 % more CPU per answer.)
        if connection.get_execution_options().get(_SQLITE_BEGIN) == "DEFERRED" and \
                not cursor.connection.in_transaction and _WRITE.match(statement):
            raise WriteBeforeWritePhase(f"call write_phase() before writing: {statement[:60]}")


_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


class WriteBeforeWritePhase(RuntimeError):
    """A view that began by reading (:func:`reads_first`) wrote before :func:`write_phase`."""


def _begin_immediate(dbapi_connection, timeout: float = SQLITE_BUSY_TIMEOUT) -> None:
    """``BEGIN IMMEDIATE``, retried every fraction of a millisecond while another connection holds
    the write lock. (SQLite's own busy handler sleeps in steps growing to 100 ms, so a waiting
    writer would mostly sleep on long after the lock is free; it stays set for other statements.)"""
    deadline = time.monotonic() + timeout
    dbapi_connection.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.0002)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")


_SQLITE_BEGIN = "langjourney_sqlite_begin"


def reads_first(view):
    """Mark a view whose work is mostly reading and computing, ending in a few writes guarded by
    conditional updates (such as the placement test's answer). Its transaction begins for reading
    (:func:`begin_reading`), and the view calls :func:`write_phase` before it writes. On SQLite the
    write lock is then held for the writes only, not for the whole request, so two workers can
    compute at the same time; on PostgreSQL nothing changes."""
    view.reads_first = True
    return view


def begin_reading() -> None:
    """Begin the session's transaction without SQLite's write lock, if none has begun yet: on
    SQLite no BEGIN is sent, so each read is its own implicit transaction (a DEFERRED transaction
    that reads and then writes fails at once when another connection has written in between).
    Writing must wait for :func:`write_phase`."""
    from langjourney.extensions import db

    if not db.session().in_transaction():
        db.session.connection(execution_options={_SQLITE_BEGIN: "DEFERRED"})


def write_phase() -> None:
    """About to write. If the transaction was begun by :func:`begin_reading` on SQLite, begin the
    write (IMMEDIATE) transaction now, on the same connection; objects read so far are expired.
    What was read may be out of date by then: write with conditional updates (``… WHERE seq = :seq``)
    or re-read under the lock. Elsewhere this does nothing."""
    from langjourney.extensions import db

    session = db.session()
    if not session.in_transaction():
        return
    connection = session.connection()
    if connection.dialect.name != "sqlite" or connection.get_execution_options().get(_SQLITE_BEGIN) != "DEFERRED":
        return
    connection.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})  # this Connection, this transaction
    driver_connection = connection.connection.driver_connection
    if not driver_connection.in_transaction:  # (a test's outer transaction is already under way)
        _begin_immediate(driver_connection)
    session.expire_all()


def locked(model, ident):
    """Read one row for update: ``SELECT … FOR UPDATE`` on PostgreSQL (on SQLite the IMMEDIATE
    transaction already holds the lock), replacing whatever stale copy the session had. None if
    there is no such row."""
    from langjourney.extensions import db

    return db.session.execute(_lock_query(model), {"ident": ident}).scalar_one_or_none()


@cache
def _lock_query(model):
    """Built once per model: building and keying a statement costs more than running this one."""
    from sqlalchemy import bindparam, select

    return (select(model).where(model.id == bindparam("ident")).with_for_update()
            .execution_options(populate_existing=True))
