from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from langjourney.auth.services import ProfileData
from langjourney.courses.models import COURSE_LEVELS
from langjourney.forms import Form, MultiCheckboxField, choices
from langjourney.i18n import LANGUAGE_NAMES
from langjourney.learners.models import (
    AVAILABILITY_SLOTS, COUNTIES, DAY_PARTS, GOALS, MOTHER_TONGUES, STATUS_LABELS, WEEKDAYS,
    LearnerStatus,
)

_REQUIRED = _l("This field is required.")


class ProfileForm(Form):
    full_name = StringField(_l("Full name"), validators=[DataRequired(_REQUIRED), Length(max=200)])
    locale = SelectField(_l("Language of this service"), choices=choices(LANGUAGE_NAMES),
                         validators=[DataRequired(_REQUIRED)])
    mother_tongue = SelectField(_l("Mother tongue"), choices=choices(MOTHER_TONGUES, blank=True),
                                validators=[DataRequired(_REQUIRED)])
    county = SelectField(_l("County"), choices=choices(COUNTIES, blank=True), validators=[DataRequired(_REQUIRED)])
    town = StringField(_l("Town or rural municipality"),
                       validators=[DataRequired(_REQUIRED), Length(max=100)])
    status = SelectField(_l("Your status in Estonia"),
                         choices=choices({s.value: label for s, label in STATUS_LABELS.items()}, blank=True),
                         validators=[DataRequired(_REQUIRED)])
    residence_permit_date = DateField(
        _l("Date of your first residence permit"), validators=[Optional()],
        description=_l("Needed if you are a new immigrant: the adaptation programme is open for "
                       "5 years after it."))
    goals = MultiCheckboxField(_l("Why do you learn Estonian?"), choices=choices(GOALS))
    availability = MultiCheckboxField(_l("When can you study?"),
                                      choices=choices({slot: slot for slot in AVAILABILITY_SLOTS}))
    accepts_online = BooleanField(_l("I can also study online"), default=True)

    weekdays = WEEKDAYS
    day_parts = DAY_PARTS

    def validate_residence_permit_date(self, field):
        if self.status.data == LearnerStatus.NEW_IMMIGRANT.value and not field.data:
            raise ValidationError(_l("Enter the date of your first residence permit."))
        if field.data and field.data > date.today():
            raise ValidationError(_l("The residence permit date cannot be in the future."))

    def to_data(self) -> ProfileData:
        return ProfileData(
            full_name=self.full_name.data, locale=self.locale.data,
            mother_tongue=self.mother_tongue.data, county=self.county.data, town=self.town.data,
            status=LearnerStatus(self.status.data),
            residence_permit_date=self.residence_permit_date.data,
            goals=self.goals.data or [], availability=self.availability.data or [],
            accepts_online=self.accepts_online.data,
        )

    def fill_from(self, user) -> None:
        profile = user.profile
        self.full_name.data = user.full_name
        self.locale.data = user.locale
        self.mother_tongue.data = profile.mother_tongue
        self.county.data = profile.county
        self.town.data = profile.town
        self.status.data = profile.status.value
        self.residence_permit_date.data = profile.residence_permit_date
        self.goals.data = profile.goals
        self.availability.data = profile.availability
        self.accepts_online.data = profile.accepts_online


class RetakeForm(Form):
    reason = TextAreaField(_l("Reason for allowing another placement test"),
                           validators=[DataRequired(_REQUIRED), Length(max=500)])


class LevelForm(Form):
    level = SelectField(_l("Level"), validators=[DataRequired(_REQUIRED)])
    reason = TextAreaField(_l("Reason"), validators=[
        DataRequired(_REQUIRED), Length(max=500, message=_l("Write at most 500 characters."))],
        description=_l("Kept with the decision; for example: the counselling interview, or the course "
                       "provider's report."))

    def __init__(self, *args, **kwargs):
        # Its own prefix: the learner's page has another form with a "reason" field.
        super().__init__(*args, prefix="level", **kwargs)
        self.level.choices = choices({level: level for level in COURSE_LEVELS}, blank=True)
