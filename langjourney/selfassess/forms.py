from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SubmitField
from wtforms.validators import StopValidation

from langjourney.selfassess.services import NONE
from langjourney.forms import Form


class StepForm(Form):
    """One step: the level that fits the learner best for one skill.

    The radios are drawn by the template (each level's label is a list of statements). Which button
    was pressed: ``back`` (goes back, saving a choice if given) or ``next`` ("Next" or "Finish").
    """

    # An unknown value is a bad request (the view answers 400), not a user's mistake to explain.
    level = RadioField(validate_choice=False)

    back = SubmitField(_l("Back"))
    next = SubmitField(_l("Next"))

    def __init__(self, *args, skill_label: str, levels: tuple[str, ...], **kwargs):
        super().__init__(*args, **kwargs)
        self.level.label.text = skill_label
        self.level.choices = [(level, level) for level in levels] + [(NONE, NONE)]

    def validate_level(self, field):
        # Going back needs no choice; going forward does.
        if not field.data and not self.back.data:
            raise StopValidation(_l("Choose the description that fits you best"))

    @property
    def chosen(self) -> str | None:
        """The submitted level, or None when nothing was chosen."""
        return self.level.data or None

    def has_unknown_choice(self) -> bool:
        """A level the page never offered (a tampered or stale request)."""
        return self.chosen is not None and self.chosen not in {value for value, _ in self.level.choices}
