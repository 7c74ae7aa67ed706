"""Form building blocks shared by features."""
from __future__ import annotations

from collections.abc import Mapping

from flask_babel import lazy_gettext as _l
from wtforms import SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget


def choices(mapping: Mapping, blank: bool = False) -> list[SelectChoice]:
    """Select options from a value → label mapping, optionally after a "choose" placeholder."""
    options = [SelectChoice(str(value), label) for value, label in mapping.items()]
    return ([SelectChoice("", _l("— choose —"))] if blank else []) + options


class MultiCheckboxField(SelectMultipleField):
    """Several choices as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()
