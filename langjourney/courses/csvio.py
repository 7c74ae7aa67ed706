"""Courses as CSV: import (all or nothing, every error with its line and column) and export in the
same format, and the per-course enrolment list.

Format: UTF-8 (a BOM is fine), comma- or semicolon-separated, a header row with the column names
of :data:`COLUMNS` in any order. ``id`` may be empty (a new course) or the id of one of the
provider's courses (which is updated). Lists (``weekdays``, ``eligible_statuses``) are separated by
spaces. Dates are ``YYYY-MM-DD``, times ``HH:MM``.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, time

from flask_babel import lazy_gettext as _l

from langjourney.auth.models import Provider, User
from langjourney.courses import services
from langjourney.courses.models import Course, Enrolment, Mode, Programme
from langjourney.errors import DomainError
from langjourney.extensions import db

COLUMNS = ("id", "title", "level", "programme", "eligible_statuses", "mode", "county", "town", "address",
           "weekdays", "starts_at", "ends_at", "start_date", "end_date", "academic_hours", "capacity",
           "support_language", "enrolment_deadline")
REQUIRED_COLUMNS = tuple(c for c in COLUMNS if c not in ("id",))
OPTIONAL_VALUES = {"id", "eligible_statuses", "county", "town", "address", "support_language",
                   "enrolment_deadline"}
# CourseData field -> CSV column, where they differ.
FIELD_COLUMNS = {"starts_at_time": "starts_at", "ends_at_time": "ends_at"}
MAX_ROWS = 5000
# A spreadsheet takes a cell that starts with one of = + - @ for a formula. Where a cell may start: at
# the start of ours, and after a separator or a line break inside it, since a spreadsheet that splits
# on ";" (as Estonian ones do) does not see the quotes around a cell of a comma-separated file. There an
# export puts a ' before the formula character (and before any spaces or quotes in front of it); the import
# takes exactly that ' away again.
_FORMULA = re.compile(r"""(^|[,;\r\n])(?=[ \t"']*[=+\-@])""")
_GUARDED_FORMULA = re.compile(r"""(^|[,;\r\n])'(?=[ \t"']*[=+\-@])""")
_NEEDS_QUOTES = re.compile(r'[,;"\r\n]')


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return str(_l("line %(line)d, column %(column)s: %(message)s", line=self.line, column=self.column,
                      message=self.message))


class CsvImportFailed(DomainError):
    """The file was refused; ``errors`` lists every problem. Nothing was written."""

    def __init__(self, errors: list[RowError]):
        super().__init__(_l("The file was not imported: %(n)d problems.", n=len(errors)))
        self.errors = errors


def _split(value: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", value.strip()) if part]


def _parse_value(column: str, raw: str):
    """The Python value of one cell; raises ValueError with a message for people."""
    value = raw.strip()
    if "\x00" in value:  # PostgreSQL cannot store it (see langjourney.ops.input)
        raise ValueError(_l("the value contains a character that cannot be stored (a NUL character)"))
    value = _GUARDED_FORMULA.sub(r"\1", value)  # our export's guard against spreadsheet formulas
    if not value:
        if column in OPTIONAL_VALUES:
            return None
        raise ValueError(_l("a value is required"))
    if column == "id" or column in ("academic_hours", "capacity"):
        if not (value.isascii() and value.isdigit()):  # "²" is a digit to isdigit(), not to int()
            raise ValueError(_l("“%(value)s” is not a whole number", value=value))
        return int(value)
    if column in ("start_date", "end_date", "enrolment_deadline"):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(_l("“%(value)s” is not a date like 2027-01-31", value=value)) from None
    if column in ("starts_at", "ends_at"):
        try:
            return time.fromisoformat(value)
        except ValueError:
            raise ValueError(_l("“%(value)s” is not a time like 17:30", value=value)) from None
    if column == "programme":
        try:
            return Programme(value)
        except ValueError:
            raise ValueError(_l("choose one of: %(values)s", values=", ".join(p.value for p in Programme))) from None
    if column == "mode":
        try:
            return Mode(value)
        except ValueError:
            raise ValueError(_l("choose one of: %(values)s", values=", ".join(m.value for m in Mode))) from None
    if column in ("weekdays", "eligible_statuses"):
        return _split(value)
    if column == "support_language":
        return None if value == "none" else value
    return value


def _decode(content: bytes | str) -> str:
    if isinstance(content, str):
        return content.lstrip("\ufeff")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvImportFailed([RowError(1, "-", str(_l("the file is not UTF-8 text")))]) from None


def parse_courses(content: bytes | str, provider: Provider) -> list[tuple[int, int | None, services.CourseData]]:
    """Check the whole file: returns ``(line, id, data)`` per row, or raises :class:`CsvImportFailed`
    with every problem found. Writes nothing."""
    text = _decode(content)
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    errors: list[RowError] = []
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise CsvImportFailed([RowError(1, "-", str(_l("the file is empty")))]) from None
    for name in REQUIRED_COLUMNS:
        if name not in header:
            errors.append(RowError(1, name, str(_l("the column is missing"))))
    for name in header:
        if name not in COLUMNS:
            errors.append(RowError(1, name or "-", str(_l("unknown column"))))
    if errors:
        raise CsvImportFailed(errors)

    own_ids = set(db.session.scalars(db.select(Course.id).where(Course.provider_id == provider.id)))
    rows, seen_ids = [], {}
    line = 1
    for record in reader:
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(rows) >= MAX_ROWS:
            errors.append(RowError(start, "-", str(_l("at most %(n)d rows per file", n=MAX_ROWS))))
            break
        if len(record) != len(header):
            errors.append(RowError(start, "-", str(_l("%(n)d values where the header has %(m)d",
                                                      n=len(record), m=len(header)))))
            continue
        values, row_ok = {}, True
        for name, raw in zip(header, record):
            try:
                values[name] = _parse_value(name, raw)
            except ValueError as exc:
                errors.append(RowError(start, name, str(exc)))
                row_ok = False
        course_id = values.get("id")
        if course_id is not None:
            if course_id not in own_ids:
                errors.append(RowError(start, "id", str(_l("no course of yours has id %(id)d", id=course_id))))
                row_ok = False
            elif course_id in seen_ids:
                errors.append(RowError(start, "id", str(_l("id %(id)d is also on line %(line)d",
                                                           id=course_id, line=seen_ids[course_id]))))
                row_ok = False
            else:
                seen_ids[course_id] = start
        if not row_ok:
            continue
        data = services.CourseData(
            title=values["title"], level=values["level"], programme=values["programme"],
            eligible_statuses=values["eligible_statuses"] or [], mode=values["mode"],
            county=values["county"], town=values["town"], address=values["address"],
            weekdays=values["weekdays"], starts_at_time=values["starts_at"], ends_at_time=values["ends_at"],
            start_date=values["start_date"], end_date=values["end_date"],
            academic_hours=values["academic_hours"], capacity=values["capacity"],
            support_language=values["support_language"], enrolment_deadline=values["enrolment_deadline"])
        try:
            services.validate_course(data)
        except DomainError as exc:
            errors.append(RowError(start, FIELD_COLUMNS.get(exc.field, exc.field or "-"), str(exc.message)))
            continue
        rows.append((start, course_id, data))
    if errors:
        raise CsvImportFailed(errors)
    if not rows:
        raise CsvImportFailed([RowError(2, "-", str(_l("the file has no courses")))])
    return rows


def import_courses(content: bytes | str, provider: Provider, by: User | None) -> list[Course]:
    """Create or update the provider's courses from a CSV file: all rows or none.

    New courses wait for approval; changes to published ones are logged as in the form.
    """
    rows = parse_courses(content, provider)
    courses = []
    savepoint = db.session.begin_nested()
    try:
        for line, course_id, data in rows:
            try:
                if course_id is None:
                    courses.append(services.create_course(provider, data))
                else:
                    course = db.session.get(Course, course_id)
                    services.update_course(course, data, by)
                    courses.append(course)
            except DomainError as exc:
                raise CsvImportFailed([RowError(line, FIELD_COLUMNS.get(exc.field, exc.field or "-"),
                                                str(exc.message))]) from None
    except Exception:
        savepoint.rollback()
        raise
    savepoint.commit()
    return courses


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (Programme, Mode)):
        return value.value
    if isinstance(value, list):
        return " ".join(value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return _FORMULA.sub(r"\1'", str(value))  # no formulas in spreadsheets


def _quoted(cell: str) -> str:
    """A cell with either separator, a quote or a line break in quotes, read as one cell with both."""
    return '"' + cell.replace('"', '""') + '"' if _NEEDS_QUOTES.search(cell) else cell


def _write(header, rows) -> str:
    lines = [header, *([_cell(v) for v in row] for row in rows)]
    return "".join(",".join(_quoted(cell) for cell in line) + "\n" for line in lines)


def export_courses(provider: Provider) -> str:
    """The provider's courses in the import format (with any change waiting for approval)."""
    courses = db.session.scalars(db.select(Course).where(Course.provider_id == provider.id)
                                 .order_by(Course.start_date, Course.id))
    rows = []
    for course in courses:  # as the provider last set them: re-importing keeps a change waiting for approval
        v = services.provider_values(course)
        rows.append([course.id, v["title"], v["level"], v["programme"], v["eligible_statuses"], v["mode"],
                     v["county"], v["town"], v["address"], v["weekdays"], v["starts_at_time"], v["ends_at_time"],
                     v["start_date"], v["end_date"], v["academic_hours"], v["capacity"],
                     v["support_language"] or "none", v["enrolment_deadline"]])
    return _write(COLUMNS, rows)


ENROLMENT_COLUMNS = ("enrolment_id", "learner", "email", "status", "accepted_at", "confirm_by", "confirmed_at",
                     "attendance_percent", "final_test_result", "mismatch_level", "note")


def export_enrolments(enrolments: list[Enrolment], identified: set[int] | None = None) -> str:
    """The enrolments as CSV; of those not in ``identified`` (ids; None: all are), the learner's name,
    e-mail and the notes are left out (the provider may no longer see who the learner was)."""
    def row(e: Enrolment) -> list:
        shown = identified is None or e.id in identified
        return [e.id, e.learner.full_name if shown else "", e.learner.email if shown else "", e.status.value,
                e.accepted_at, e.confirm_by, e.confirmed_at, e.attendance_percent, e.final_test_result,
                e.mismatch_level, e.note if shown else ""]

    return _write(ENROLMENT_COLUMNS, (row(e) for e in enrolments))
