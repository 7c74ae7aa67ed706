"""Form building blocks shared by features."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TypeVar

from babel.support import Translations
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField
from wtforms.i18n import messages_path
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from langjourney.errors import DomainError
from langjourney.extensions import db

T = TypeVar("T")


@lru_cache(maxsize=None)
def _wtforms_translations(locale: str) -> Translations:
    return Translations.load(messages_path(), [locale], domain="wtforms")


class _RequestTranslations:
    """WTForms' messages in the request's language, which is looked up only when a message is
    needed (most forms that are posted are valid, and a POST may render nothing else)."""

    def gettext(self, string: str) -> str:
        return _wtforms_translations(str(get_locale())).gettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return _wtforms_translations(str(get_locale())).ngettext(singular, plural, n)


_REQUEST_TRANSLATIONS = _RequestTranslations()


class Form(FlaskForm):
    """The base of every form: Flask-WTF's, with CSRF, whose built-in messages ("Not a valid
    integer value.") come in the request's language from a catalogue read once per language.
    (Flask-WTF reads WTForms' catalogue from disk again in every request that builds a form.)"""

    class Meta:
        def get_translations(self, form):
            return _REQUEST_TRANSLATIONS


def strip(value):
    """A field filter: the text without surrounding spaces (what people paste often has them)."""
    return value.strip() if isinstance(value, str) else value


def choices(mapping: Mapping, blank: bool = False) -> list[SelectChoice]:
    """Select options from a value → label mapping, optionally after a "choose" placeholder."""
    options = [SelectChoice(str(value), label) for value, label in mapping.items()]
    return ([SelectChoice("", _l("— choose —"))] if blank else []) + options


class MultiCheckboxField(SelectMultipleField):
    """Several choices as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def form_error(form, error: DomainError) -> None:
    """Show a domain error on its field (or above the form)."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


def run_service(form, action: Callable[[], T]) -> tuple[bool, T | None]:
    """The request's transaction around one service call for a valid form: ``(True, result)``,
    committed; or ``(False, None)`` after a :class:`DomainError`, rolled back and shown on the form."""
    try:
        result = action()
    except DomainError as exc:
        db.session.rollback()
        form_error(form, exc)
        return False, None
    db.session.commit()
    return True, result
