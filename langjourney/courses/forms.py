from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField, TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from langjourney.courses.models import (
    COURSE_LEVELS, MODE_LABELS, PROGRAMME_LABELS, SUPPORT_LANGUAGES, Course, EnrolmentStatus, Mode,
    Programme,
)
from langjourney.courses.services import CatalogueFilters, CourseData, provider_values
from langjourney.forms import Form, MultiCheckboxField, choices
from langjourney.learners.models import COUNTIES, DAY_PARTS, STATUS_LABELS, WEEKDAYS

_REQUIRED = _l("This field is required.")
LEVEL_CHOICES = {level: level for level in COURSE_LEVELS}


class CourseForm(Form):
    title = StringField(_l("Title"), validators=[DataRequired(_REQUIRED), Length(max=200)])
    level = SelectField(_l("Level"), choices=choices(LEVEL_CHOICES, blank=True), validators=[DataRequired(_REQUIRED)])
    programme = SelectField(_l("Programme"), choices=choices({p.value: label for p, label in PROGRAMME_LABELS.items()}),
                            validators=[DataRequired(_REQUIRED)])
    eligible_statuses = MultiCheckboxField(
        _l("Open to learners with status"), choices=choices({s.value: label for s, label in STATUS_LABELS.items()}),
        description=_l("Leave all unticked if the course is open to everyone."))
    mode = SelectField(_l("Mode of study"), choices=choices({m.value: label for m, label in MODE_LABELS.items()}),
                       validators=[DataRequired(_REQUIRED)])
    county = SelectField(_l("County"), choices=choices(COUNTIES, blank=True),
                         description=_l("Not needed for online courses."))
    town = StringField(_l("Town"), validators=[Length(max=100)])
    address = StringField(_l("Address"), validators=[Length(max=200)])
    weekdays = MultiCheckboxField(_l("Lesson days"), choices=choices(WEEKDAYS))
    starts_at_time = TimeField(_l("Lessons start at"), validators=[InputRequired(_REQUIRED)])
    ends_at_time = TimeField(_l("Lessons end at"), validators=[InputRequired(_REQUIRED)])
    start_date = DateField(_l("Start date"), validators=[InputRequired(_REQUIRED)])
    end_date = DateField(_l("End date"), validators=[InputRequired(_REQUIRED)])
    academic_hours = IntegerField(_l("Academic hours"), validators=[InputRequired(_REQUIRED)],
                                  description=_l("Typical: A1 100, A2 150, B1.1 120, B1.2 130."))
    capacity = IntegerField(_l("Capacity (seats)"), default=20, validators=[InputRequired(_REQUIRED)])
    support_language = SelectField(_l("Support language"), choices=choices(SUPPORT_LANGUAGES), default="none")
    enrolment_deadline = DateField(_l("Enrolment deadline"), validators=[Optional()])

    def to_data(self) -> CourseData:
        return CourseData(
            title=self.title.data or "", level=self.level.data, programme=Programme(self.programme.data),
            eligible_statuses=self.eligible_statuses.data or [], mode=Mode(self.mode.data),
            county=self.county.data or None, town=self.town.data, address=self.address.data,
            weekdays=self.weekdays.data or [], starts_at_time=self.starts_at_time.data,
            ends_at_time=self.ends_at_time.data, start_date=self.start_date.data, end_date=self.end_date.data,
            academic_hours=self.academic_hours.data, capacity=self.capacity.data,
            support_language=None if self.support_language.data == "none" else self.support_language.data,
            enrolment_deadline=self.enrolment_deadline.data)

    def fill_from(self, course: Course) -> None:
        """The course as its provider last set it (a change waiting for approval included)."""
        values = provider_values(course)
        for name in ("title", "level", "county", "town", "address", "weekdays", "starts_at_time", "ends_at_time",
                     "start_date", "end_date", "academic_hours", "capacity", "enrolment_deadline",
                     "eligible_statuses"):
            getattr(self, name).data = values[name]
        self.programme.data = values["programme"].value
        self.mode.data = values["mode"].value
        self.support_language.data = values["support_language"] or "none"


class CatalogueFilterForm(Form):
    """The catalogue's filters: a GET form, so results can be bookmarked and shared."""

    class Meta:
        csrf = False

    level = SelectField(_l("Level"), choices=choices(LEVEL_CHOICES, blank=True), validators=[Optional()])
    county = SelectField(_l("County"), choices=choices(COUNTIES, blank=True), validators=[Optional()])
    town = SelectField(_l("Town"), choices=[], validators=[Optional()], validate_choice=False)
    online = BooleanField(_l("Online courses"),
                          description=_l("Alone: only online courses. With a town or county: those and online courses."))
    day_part = SelectField(_l("Time of day"), choices=choices(DAY_PARTS, blank=True), validators=[Optional()])
    weekday = SelectField(_l("Weekday"), choices=choices(WEEKDAYS, blank=True), validators=[Optional()])
    start_month = SelectField(_l("Starts in"), choices=[], validators=[Optional()], validate_choice=False)
    programme = SelectField(_l("Programme"), choices=choices({p.value: label for p, label in PROGRAMME_LABELS.items()},
                                                             blank=True), validators=[Optional()])

    def to_filters(self) -> CatalogueFilters:
        def valid(field):
            values = {str(c.value if isinstance(c, SelectChoice) else c[0]) for c in field.choices}
            return field.data if field.data and field.data in values else None

        programme = valid(self.programme)
        return CatalogueFilters(level=valid(self.level), county=valid(self.county), town=valid(self.town),
                                online=bool(self.online.data), day_part=valid(self.day_part),
                                weekday=valid(self.weekday), start_month=valid(self.start_month),
                                programme=Programme(programme) if programme else None)


class ConfirmForm(Form):
    confirm_note = TextAreaField(_l("Note (optional)"), validators=[Optional(), Length(max=2000)])


class MismatchForm(Form):
    suggested_level = SelectField(_l("The level that seems right"), choices=choices(LEVEL_CHOICES, blank=True),
                                  validators=[Optional()])
    mismatch_note = TextAreaField(_l("What did you notice?"), validators=[Optional(), Length(max=2000)])


OUTCOMES = {EnrolmentStatus.COMPLETED.value: _l("Completed"), EnrolmentStatus.DROPPED_OUT.value: _l("Dropped out")}


class OutcomeForm(Form):
    outcome = SelectField(_l("Outcome"), choices=choices(OUTCOMES, blank=True), validators=[DataRequired(_REQUIRED)])
    attendance_percent = IntegerField(_l("Attendance, percent"), validators=[
        Optional(), NumberRange(0, 100, _l("Enter a percentage between 0 and 100."))])
    final_test_result = IntegerField(_l("Final test result, percent"), validators=[
        Optional(), NumberRange(0, 100, _l("Enter a percentage between 0 and 100."))],
        description=_l("Completion needs this and an attendance of more than 80 percent."))
    outcome_note = TextAreaField(_l("Note (optional)"), validators=[Optional(), Length(max=2000)])


class ImportForm(Form):
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file."))])


class TokenForm(Form):
    name = StringField(_l("Name of the token"), validators=[DataRequired(_REQUIRED), Length(max=100)],
                       description=_l("For example the system that will use it."))


class ReturnCourseForm(Form):
    reason = TextAreaField(_l("What the provider should change"), validators=[
        DataRequired(_REQUIRED), Length(max=500, message=_l("Write at most 500 characters."))],
        description=_l("Sent to the provider's staff by e-mail and shown on their course page."))
