from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

_REQUIRED = _l("This field is required.")


class CounsellingForm(FlaskForm):
    message = TextAreaField(_l("What would you like to talk about?"), validators=[
        DataRequired(_REQUIRED), Length(max=1000, message=_l("Write at most 1000 characters."))])
    contact_times = StringField(_l("When can a counsellor call or write to you?"), validators=[
        DataRequired(_REQUIRED), Length(max=200, message=_l("Write at most 200 characters."))],
        description=_l("For example: weekdays after 17:00."))
