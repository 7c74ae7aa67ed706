"""Locale choice and the language list.

The locale is, in order: the signed-in user's own setting, the language switcher's choice kept in
the session, the browser's Accept-Language, and finally Estonian.
"""
from __future__ import annotations

from flask import current_app, has_request_context, request, session
from flask_babel import lazy_gettext as _l
from flask_login import current_user

# Each language named in itself, so a reader finds their own language whatever the page's language.
LANGUAGE_NAMES = {"et": "eesti keel", "en": "English", "ru": "русский", "uk": "українська"}
LANGUAGE_CHOICES_LABEL = _l("Language")


def select_locale() -> str:
    """Flask-Babel's locale selector."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI commands and jobs: callers use force_locale where it matters
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]
