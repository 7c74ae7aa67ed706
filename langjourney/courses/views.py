"""The public catalogue, course pages, matching for learners and counsellors, and the admin's
approval and overdue lists."""
from __future__ import annotations

from datetime import date
from functools import lru_cache

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from langjourney.auth.access import get_learner_or_404, role_required
from langjourney.auth.models import Role
from langjourney.courses import matching, services
from langjourney.courses.access import get_course_or_404
from langjourney.courses.forms import CatalogueFilterForm, ReturnCourseForm
from langjourney.courses.models import (
    ENROLMENT_STATUS_LABELS, MODE_LABELS, PROGRAMME_LABELS, SUPPORT_LANGUAGES,
)
from langjourney.db import positive_int
from langjourney.errors import DomainError
from langjourney.extensions import db
from langjourney.learners.models import COUNTIES, DAY_PARTS, STATUS_LABELS, WEEKDAYS
from langjourney.forms import Form, SelectChoice, run_service
from langjourney.waitlist import services as waitlist

bp = Blueprint("courses", __name__)
LABELS = {"programmes": PROGRAMME_LABELS, "modes": MODE_LABELS, "counties": COUNTIES, "weekdays": WEEKDAYS,
          "day_parts": DAY_PARTS, "support": SUPPORT_LANGUAGES, "statuses": STATUS_LABELS,
          "enrolment_statuses": ENROLMENT_STATUS_LABELS}


def _month_choices(today: date, months: int = 12) -> list[tuple[str, str]]:
    return list(_month_choices_in(str(get_locale()), today, months))


@lru_cache(maxsize=32)
def _month_choices_in(locale: str, today: date, months: int) -> tuple[tuple[str, str], ...]:
    """The start-month options in ``locale`` (the request's): the same all day, so made once a day."""
    out = [("", _("— any —"))]
    year, month = today.year, today.month
    for _i in range(months):
        out.append((f"{year:04d}-{month:02d}", format_date(date(year, month, 1), "LLLL yyyy")))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(out)


# The filter form's HTML by everything it shows: a catalogue page spent a third of its time
# rendering the same eight selects. Only forms whose every value is one of its choices are kept,
# so the number of keys is finite; beyond the limit the oldest key goes (first in, first out).
_FILTERS_HTML: dict[tuple, Markup] = {}
FILTERS_HTML_LIMIT = 256


def _filters_html(form: CatalogueFilterForm) -> str:
    """The catalogue's filter form rendered (``courses/_filters.html``), from the cache when it can be."""
    key = _filters_key(form)
    html = _FILTERS_HTML.get(key) if key else None
    if html is None:
        html = Markup(render_template("courses/_filters.html", form=form))
        if key:
            _FILTERS_HTML[key] = html
            while len(_FILTERS_HTML) > FILTERS_HTML_LIMIT:
                _FILTERS_HTML.pop(next(iter(_FILTERS_HTML)), None)
    return html


def _filters_key(form: CatalogueFilterForm) -> tuple | None:
    """What the rendered form depends on, or None when it shows anything but its own choices."""
    if form.errors:
        return None
    key = [str(get_locale()), bool(form.online.data)]
    for f in (form.level, form.county, form.town, form.day_part, form.weekday, form.start_month, form.programme):
        values = tuple(str(c.value if isinstance(c, SelectChoice) else c[0]) for c in f.choices)
        if f.data not in (None, "") and f.data not in values:
            return None
        key.append((f.data or "", values if f in (form.town, form.start_month) else None))
    return tuple(key)


@bp.get("/courses")
def catalogue():
    form = CatalogueFilterForm(request.args)
    form.town.choices = [("", _("— any —"))] + [(t, t) for t in services.catalogue_towns()]
    form.start_month.choices = _month_choices(services.local_today())
    page = services.search_catalogue(form.to_filters(), request.args.get("page", 1, type=positive_int))
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("courses/catalogue.html", filters_html=_filters_html(form), result=page, args=args,
                           labels=LABELS)


@bp.get("/courses/<int:course_id>")
def detail(course_id: int):
    course = get_course_or_404(course_id)
    return render_template("courses/detail.html", course=course, labels=LABELS, lists=_my_lists(),
                           queue=waitlist.queue_figures([course])[course.id] if course.is_published else None,
                           weeks=waitlist.HISTORY_WEEKS)


@bp.get("/courses/matches")
@role_required(Role.LEARNER)
def my_matches():
    result = matching.match_courses(current_user)
    return render_template("courses/matches.html", learner=current_user, result=result, labels=LABELS,
                           enrolments=services.learner_enrolments(current_user), today=services.local_today(),
                           lists=_my_lists(), queues=waitlist.queue_figures([m.course for m in result.ranked[:30]]),
                           weeks=waitlist.HISTORY_WEEKS)


def _my_lists() -> dict:
    """The signed-in learner's waiting lists: course id -> the entry's status (waiting or offered)."""
    if not current_user.is_authenticated or current_user.role is not Role.LEARNER:
        return {}
    return {entry.course_id: entry.status.value for entry in waitlist.active_entries(current_user)}


@bp.get("/staff/learners/<int:user_id>/courses")
@role_required(Role.COUNSELLOR, Role.ADMIN)
def learner_matches(user_id: int):
    learner = get_learner_or_404(user_id, "view course matches")
    result = matching.match_courses(learner)
    enrolments = services.learner_enrolments(learner)
    db.session.commit()  # the access log entry
    return render_template("courses/matches.html", learner=learner, result=result, labels=LABELS,
                           enrolments=enrolments, lists={},
                           queues=waitlist.queue_figures([m.course for m in result.ranked[:30]]),
                           weeks=waitlist.HISTORY_WEEKS)


@bp.get("/admin/courses")
@role_required(Role.ADMIN)
def pending():
    return render_template("courses/admin_pending.html", courses=services.pending_courses(),
                           returned=services.returned_courses(), changed=services.pending_course_changes(),
                           form=Form(), labels=LABELS, field_names=services.FIELD_LABELS,
                           shown=services.shown_value, approved=services.approved_value)


@bp.route("/admin/courses/<int:course_id>/return", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def return_course(course_id: int):
    course = get_course_or_404(course_id)
    if course.is_published and not course.pending_change:
        abort(404)
    form = ReturnCourseForm()
    if course.is_published:  # its pending change is returned; the course stays as approved
        returning = services.return_course_change
        done = _("The change to the course “%(title)s” is returned to %(provider)s. Its staff have been told by "
                 "e-mail.", title=course.title, provider=course.provider.name)
    else:
        returning = services.return_course
        done = _("The course “%(title)s” is returned to %(provider)s. Its staff have been told by e-mail.",
                 title=course.title, provider=course.provider.name)
    if form.validate_on_submit() and run_service(
            form, lambda: returning(course.id, current_user, form.reason.data))[0]:
        flash(done, "success")
        return redirect(url_for("courses.pending"))
    return render_template("courses/admin_return.html", course=course, form=form, labels=LABELS)


@bp.post("/admin/courses/<int:course_id>/approve-change")
@role_required(Role.ADMIN)
def approve_change(course_id: int):
    course = get_course_or_404(course_id)
    if Form().validate_on_submit():
        try:
            services.approve_course_change(course.id, current_user)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash(_("The change to the course “%(title)s” is published. Its learners have been told by e-mail.",
                    title=course.title), "success")
    return redirect(url_for("courses.pending"))


@bp.post("/admin/courses/<int:course_id>/approve")
@role_required(Role.ADMIN)
def approve(course_id: int):
    course = get_course_or_404(course_id)
    if Form().validate_on_submit():
        try:
            services.approve_course(course, current_user)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash(_("The course “%(title)s” is published.", title=course.title), "success")
    return redirect(url_for("courses.pending"))


@bp.get("/admin/enrolments/overdue")
@role_required(Role.ADMIN)
def overdue():
    today = services.local_today()
    return render_template("courses/admin_overdue.html", enrolments=services.overdue_enrolments(today),
                           today=today)
