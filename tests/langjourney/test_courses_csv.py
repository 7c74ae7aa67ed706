"""CSV import (good, bad and mixed files: all or nothing, every error with line and column), the
export in the same format, and the ``flask courses import/export`` commands."""
import csv
import io

import pytest
from sqlalchemy import func, select

from langjourney.courses.csvio import COLUMNS, CsvImportFailed, export_courses, export_enrolments, import_courses
from langjourney.courses.models import Course, CourseChange
from tests.fixtures.factories import CourseFactory, EnrolmentFactory, ProviderFactory, UserFactory

HEADER = ",".join(COLUMNS)
GOOD = [
    ",Eesti keel A1 õhtuti,A1,residents,,in_person,ida-viru,Narva,Kooli 2,mon wed,17:30,19:00,2027-02-01,2027-05-31,100,20,ru,2027-01-20",
    ",Eesti keel A2 veebis,A2,residents,,online,,,,tue thu,18:00,19:30,2027-03-01,2027-06-30,150,16,none,",
    ",Kohanemisprogramm B1.1,B1.1,adaptation,new_immigrant temporary_protection,hybrid,harju,Tallinn,,sat,10:00,13:00,2027-02-06,2027-06-26,120,20,uk,",
]


def csv_text(*rows, header=HEADER):
    return "\n".join([header, *rows]) + "\n"


def count(db_session):
    return db_session.scalar(select(func.count()).select_from(Course))


@pytest.fixture
def provider(db_session):
    return ProviderFactory()


def test_good_file_is_imported(db_session, provider):
    courses = import_courses(csv_text(*GOOD).encode("utf-8-sig"), provider, None)  # with a BOM
    assert [c.title for c in courses] == ["Eesti keel A1 õhtuti", "Eesti keel A2 veebis", "Kohanemisprogramm B1.1"]
    assert all(not c.is_published and c.provider_id == provider.id for c in courses)
    assert courses[1].town is None and courses[1].support_language is None
    assert courses[2].eligible_statuses == ["new_immigrant", "temporary_protection"] and courses[2].weekday_mask == 32


def test_semicolon_separated_file(db_session, provider):
    text = csv_text(*GOOD[:1]).replace(",", ";")
    assert len(import_courses(text, provider, None)) == 1


def test_bad_file_reports_every_error_with_line_and_column(db_session, provider):
    bad = [
        ",,A7,residents,,in_person,ida-viru,Narva,,mon,17:30,19:00,2027-02-01,2027-05-31,100,20,ru,",
        ",X,A1,evening,,in_person,ida-viru,Narva,,mon,25:00,19:00,2027-02-30,2027-05-31,many,20,ru,",
    ]
    with pytest.raises(CsvImportFailed) as info:
        import_courses(csv_text(*bad), provider, None)
    found = {(e.line, e.column) for e in info.value.errors}
    assert found == {(2, "title"), (3, "programme"), (3, "starts_at"), (3, "start_date"), (3, "academic_hours")}
    assert count(db_session) == 0


def test_mixed_file_writes_nothing(db_session, provider):
    bad = ",Tühjad päevad,A1,residents,,in_person,ida-viru,Narva,,,17:30,19:00,2027-02-01,2027-05-31,100,20,ru,"
    with pytest.raises(CsvImportFailed) as info:
        import_courses(csv_text(GOOD[0], bad, GOOD[1]), provider, None)
    assert [(e.line, e.column) for e in info.value.errors] == [(3, "weekdays")]
    assert count(db_session) == 0


def test_nul_characters_and_odd_digits_are_refused_with_their_line(db_session, provider):
    nul = GOOD[0].replace("Kooli 2", "Kooli\x002")
    odd_digits = GOOD[1].replace(",150,", ",1²0,")
    with pytest.raises(CsvImportFailed) as info:
        import_courses(csv_text(nul, odd_digits).encode(), provider, None)
    assert [(e.line, e.column) for e in info.value.errors] == [(2, "address"), (3, "academic_hours")]
    assert "NUL" in str(info.value.errors[0])
    assert count(db_session) == 0


def test_rule_errors_name_their_column(db_session, provider):
    late_end = GOOD[0].replace("2027-05-31", "2027-01-01")
    no_place = GOOD[0].replace("ida-viru,Narva", ",")
    with pytest.raises(CsvImportFailed) as info:
        import_courses(csv_text(late_end, no_place), provider, None)
    assert [(e.line, e.column) for e in info.value.errors] == [(2, "end_date"), (3, "county")]


def test_header_problems(db_session, provider):
    with pytest.raises(CsvImportFailed) as info:
        import_courses(csv_text(header=HEADER.replace("capacity", "seats")), provider, None)
    assert {(e.line, e.column) for e in info.value.errors} == {(1, "capacity"), (1, "seats")}
    with pytest.raises(CsvImportFailed):
        import_courses(b"", provider, None)
    with pytest.raises(CsvImportFailed):
        import_courses("\xff".encode("latin-1"), provider, None)
    with pytest.raises(CsvImportFailed):
        import_courses(csv_text(), provider, None)  # no rows


def test_ids_must_be_own_courses_and_unique(db_session, provider):
    mine = CourseFactory(provider=provider)
    theirs = CourseFactory()
    rows = [f"{theirs.id}" + GOOD[0], f"{mine.id}" + GOOD[0], f"{mine.id}" + GOOD[1]]
    with pytest.raises(CsvImportFailed) as info:
        import_courses(csv_text(*rows), provider, None)
    assert [(e.line, e.column) for e in info.value.errors] == [(2, "id"), (4, "id")]
    assert theirs.title != "Eesti keel A1 õhtuti"


def test_failure_while_writing_rolls_back_earlier_rows(db_session, provider):
    """A rule only the write can check (capacity below the seats taken) on the last row."""
    course = CourseFactory(provider=provider, capacity=5)
    for _ in range(3):
        EnrolmentFactory(course=course)
    shrink = f"{course.id}" + GOOD[0].replace(",20,ru,", ",2,ru,")
    before = count(db_session)
    with pytest.raises(CsvImportFailed) as info:
        import_courses(csv_text(GOOD[1], shrink), provider, None)
    assert [(e.line, e.column) for e in info.value.errors] == [(3, "capacity")]
    assert count(db_session) == before and course.capacity == 5


def test_export_round_trips(db_session, provider):
    course = CourseFactory(provider=provider, title="=HYPERLINK(1)", eligible_statuses=["returnee"])
    text = export_courses(provider)
    assert text.splitlines()[0] == HEADER
    assert "'=HYPERLINK(1)" in text  # no formulas in spreadsheets
    import_courses(text, provider, None)  # re-importing the export changes nothing
    assert count(db_session) == 1 and course.title == "=HYPERLINK(1)"
    assert db_session.scalar(select(func.count()).select_from(CourseChange)) == 0


FORMULAS = ["Mari;=1+2;=cmd|' /C calc'!A0", "Jaan,@SUM(A1)", "Olga;'=1", 'Anna;"=2+3";x', "Ülle;\t-1",
            "Ivan\n+7 999", "Pille\r\n=A1;+B2", "=HYPERLINK(1);-2", "'+3"]


def cells(text: str, delimiter: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text), delimiter=delimiter) for cell in row]


def assert_no_formulas(text: str) -> None:
    """Whether a spreadsheet splits on commas or on semicolons, no cell is a formula."""
    for delimiter in (",", ";"):
        starts = [cell for cell in cells(text, delimiter) if cell.lstrip(" \t").startswith(("=", "+", "-", "@"))]
        assert not starts, (delimiter, starts)


def test_no_cell_is_a_formula_with_either_separator(db_session):
    enrolments = [EnrolmentFactory(learner=UserFactory(full_name=name), note=name) for name in FORMULAS]
    text = export_enrolments(enrolments)
    assert_no_formulas(text)
    assert '"Mari;\'=1+2;\'=cmd|\' /C calc\'!A0"' in text  # quoted: one cell when split on commas
    names = [row[1] for row in csv.reader(io.StringIO(text))][1:]
    assert [name.replace("'", "") for name in names] == [name.replace("'", "") for name in FORMULAS]


def test_an_export_with_separators_and_formulas_imports_back_unchanged(db_session, provider):
    titles = [name for name in FORMULAS if "\n" not in name and "\t" not in name]
    for title in titles:
        CourseFactory(provider=provider, title=title, address=title)
    text = export_courses(provider)
    assert_no_formulas(text)
    import_courses(text, provider, None)  # re-importing the export changes nothing
    courses = db_session.scalars(select(Course).where(Course.provider_id == provider.id).order_by(Course.id)).all()
    assert [(c.title, c.address) for c in courses] == [(t, t) for t in titles]
    assert db_session.scalar(select(func.count()).select_from(CourseChange)) == 0


def test_upload_page(client, auth, db_session):
    staff = auth.login("provider", locale="en")
    response = client.post("/provider/import", data={"file": (io.BytesIO(csv_text(*GOOD).encode()), "c.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    assert db_session.scalar(select(func.count()).select_from(Course).where(Course.provider_id == staff.provider_id)) == 3
    bad = csv_text(GOOD[0].replace(",A1,", ",A9,"))
    page = client.post("/provider/import", data={"file": (io.BytesIO(bad.encode()), "c.csv")},
                       content_type="multipart/form-data").get_data(as_text=True)
    assert "Problems in the file" in page and "<td>2</td><td>level</td>" in page
    assert count(db_session) == 3


def test_cli_import_and_export(app, db_session, provider, tmp_path):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(csv_text(*GOOD), encoding="utf-8")
    bad.write_text(csv_text(GOOD[0], GOOD[1].replace("online", "by_post")), encoding="utf-8")
    db_session.commit()  # the command's rollback must not take the provider with it
    runner = app.test_cli_runner()
    result = runner.invoke(args=["courses", "import", str(bad), "--provider", provider.name])
    assert result.exit_code == 1 and "bad.csv:3: mode:" in result.output
    assert count(db_session) == 0
    result = runner.invoke(args=["courses", "import", str(good), "--provider", provider.name])
    assert result.exit_code == 0 and "Imported 3 courses" in result.output, result.output
    result = runner.invoke(args=["courses", "export", "--provider", provider.name])
    assert result.output.splitlines()[0] == HEADER and len(result.output.splitlines()) == 4
    result = runner.invoke(args=["courses", "import", str(good), "--provider", "No such OÜ"])
    assert result.exit_code == 1
