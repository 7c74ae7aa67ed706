from __future__ import annotations

from wtforms import IntegerField, StringField, SubmitField
from wtforms.validators import InputRequired
from wtforms.widgets import HiddenInput
from langjourney.forms import Form


class StartForm(Form):
    """A form with only its CSRF token: start, resume or finish."""


class AnswerForm(Form):
    """One answer. ``seq`` is the number of answers recorded when the item was shown."""

    # No labels: the item template renders its own inputs and texts (and a field without a label
    # would look its name up in the catalogue on every answer).
    seq = IntegerField("", widget=HiddenInput(), validators=[InputRequired()])
    answer = StringField("")  # the inputs are rendered by the item template, per item type, under this name
    dont_know = SubmitField("")

    def given(self):
        value = (self.answer.data or "").strip()
        return value or None
