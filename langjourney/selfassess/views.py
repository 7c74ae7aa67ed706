"""The self-assessment steps: one skill of the "I can" grid per page, then a summary."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_login import current_user

from langjourney.auth.access import role_required
from langjourney.auth.models import Role
from langjourney.forms import run_service
from langjourney.selfassess import services
from langjourney.selfassess.forms import StepForm

bp = Blueprint("selfassess", __name__, url_prefix="/self-assessment")

# The placement test's start page (``testing.start_page``).
def _texts() -> services.GridTexts:
    locale = get_locale()
    return services.grid_texts(locale.language if locale is not None else "")


@bp.get("/")
@role_required(Role.LEARNER)
def resume():
    """Back where the learner left off: the summary when finished, else the step they were on."""
    sa = services.find(current_user)
    if sa is not None and sa.completed_at is not None:
        return redirect(url_for("selfassess.summary"))
    return redirect(url_for("selfassess.answer", number=services.current_step(sa)))


@bp.route("/step/<int:number>", methods=["GET", "POST"])
@role_required(Role.LEARNER)
def answer(number: int):
    skill = services.skill_of_step(number)
    if skill is None:
        abort(404)
    sa = services.find(current_user)
    if not services.can_open(sa, number):  # no skipping ahead
        return redirect(url_for("selfassess.answer", number=services.current_step(sa)))
    texts = _texts()
    form = StepForm(skill_label=texts.skill_label(skill), levels=texts.levels)
    if request.method == "GET" and sa is not None:
        form.level.data = sa.ratings.get(skill)
    if form.is_submitted() and form.has_unknown_choice():
        abort(400)
    if form.validate_on_submit():
        saved, next_number = run_service(
            form, lambda: services.answer_step(current_user, number, form.chosen, back=form.back.data))
        if saved:
            if next_number is None:
                return redirect(url_for("selfassess.summary"))
            return redirect(url_for("selfassess.answer", number=next_number))
    return render_template("selfassess/step.html", form=form, skill=skill, number=number,
                           total=services.step_count(), texts=texts, sa=sa, no_level=services.NONE)


@bp.get("/summary")
@role_required(Role.LEARNER)
def summary():
    sa = services.get_completed(current_user)
    if sa is None:
        return redirect(url_for("selfassess.resume"))
    return render_template("selfassess/summary.html", sa=sa, sa_texts=_texts())
