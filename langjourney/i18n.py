"""Locale choice and the language list.

The locale is, in order: the signed-in user's own setting, the language switcher's choice kept in
the session, the browser's Accept-Language, and finally Estonian.
"""
from __future__ import annotations

from flask import current_app, g, has_request_context, request, session
from flask_babel import Domain
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


class RequestDomain(Domain):
    """Flask-Babel's message domain, with the request's catalogue looked up once.

    Flask-Babel finds the catalogue anew for every message (the request context three times, the
    locale's name, a cache lookup): a catalogue page translates a few hundred labels, and that was
    a tenth of its time. This keeps the catalogue with the locale object it belongs to; a new locale
    object (``force_locale``, ``refresh``) gets its own.
    """

    def get_translations(self):
        ctx = g.get("_flask_babel") if g else None
        if ctx is not None:
            cached = ctx.__dict__.get("langjourney_translations")
            if cached is not None and cached[0] is ctx.__dict__.get("babel_locale"):
                return cached[1]
        translations = super().get_translations()
        ctx = g.get("_flask_babel") if g else None
        if ctx is not None and ctx.__dict__.get("babel_locale") is not None:
            ctx.langjourney_translations = (ctx.babel_locale, translations)
        return translations
