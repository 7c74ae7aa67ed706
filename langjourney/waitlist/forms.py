from __future__ import annotations

import json

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, ValidationError
from langjourney.forms import Form

_REQUIRED = _l("This field is required.")


class ActionForm(Form):
    """A button: join, leave, accept, decline (only the CSRF token)."""


class PolicyForm(Form):
    offer_hours = IntegerField(_l("Hours to answer an offer"), validators=[
        DataRequired(_REQUIRED), NumberRange(1, 24 * 14, _l("Between 1 and 336 hours."))])
    max_waitlists = IntegerField(_l("Waiting lists a learner may join at one level"), validators=[
        DataRequired(_REQUIRED), NumberRange(1, 20, _l("Between 1 and 20."))])
    default_tier = IntegerField(_l("Priority tier of everyone else"), validators=[
        DataRequired(_REQUIRED), NumberRange(1, 9, _l("Between 1 and 9."))])
    tier_rules = TextAreaField(_l("Priority rules (JSON)"), validators=[DataRequired(_REQUIRED)],
                               description=_l('For example: [{"tier": 1, "when": {"adaptation_window": true}}]. '
                                              'Conditions: adaptation_window, status, county, mother_tongue.'))
    lottery_seed = StringField(_l("Published lottery seed"), validators=[DataRequired(_REQUIRED), Length(max=64)])
    note = StringField(_l("What changed and why"), validators=[DataRequired(_REQUIRED), Length(max=500)])

    def validate_tier_rules(self, field):
        try:
            self.rules = json.loads(field.data)
        except ValueError:
            raise ValidationError(_l("This is not valid JSON.")) from None
