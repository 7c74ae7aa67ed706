"""The placement test in the web: a start page, one item per page, the result."""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, flash, redirect, render_template,
                   send_file, url_for)
from flask_babel import gettext as _
from flask_login import current_user

from exercises.audio import synthesise
from langjourney.auth.access import get_learner_or_404, role_required
from langjourney.auth.models import Role
from langjourney.db import reads_first, write_phase
from langjourney.errors import DomainError
from langjourney.extensions import db
from langjourney.selfassess import services as selfassess
from langjourney.testing import presentation, services
from langjourney.content import content
from langjourney.testing.forms import AnswerForm, StartForm
from langjourney.testing.models import PlacementAttempt

bp = Blueprint("testing", __name__, url_prefix="/test")


def _prior_level(learner) -> str | None:
    sa = selfassess.get_completed(learner)
    return selfassess.prior_level(sa) if sa is not None else None


@bp.get("/")
@role_required(Role.LEARNER)
def start_page():
    attempt = services.open_attempt(current_user)
    db.session.commit()  # an attempt paused too long is closed now
    return render_template("testing/start.html", attempt=attempt, form=StartForm(),
                           retake=services.retake_status(current_user),
                           last=services.last_closed_attempt(current_user))


@bp.post("/start")
@role_required(Role.LEARNER)
def start():
    form = StartForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.start_attempt(current_user, _prior_level(current_user))
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("testing.start_page"))
    db.session.commit()
    return redirect(url_for("testing.item"))


def _current_attempt_or_redirect():
    attempt = services.open_attempt(current_user)
    if attempt is None:
        db.session.commit()
        last = services.last_closed_attempt(current_user)
        return None, redirect(url_for("testing.result", attempt_id=last.id) if last
                              else url_for("testing.start_page"))
    return attempt, None


@bp.get("/item")
@role_required(Role.LEARNER)
def item():
    attempt, response = _current_attempt_or_redirect()
    if response:
        return response
    current = services.current_item(attempt)
    db.session.commit()
    if current is None:
        return redirect(url_for("testing.result", attempt_id=attempt.id))
    form = AnswerForm(seq=attempt.seq)
    return _render_item(attempt, current, form)


def _render_item(attempt, current, form, status=200):
    passage = content().passage(current.passage) if current.passage else None
    return render_template("testing/item.html", attempt=attempt, item=current, passage=passage, form=form,
                           number=attempt.seq + 1, max_items=attempt.state["settings"]["max_items"]), status


@bp.post("/answer")
@reads_first
@role_required(Role.LEARNER)
def answer():
    attempt, response = _current_attempt_or_redirect()
    if response:
        flash(_("That page was out of date, so the answer was not recorded again. "
                "Here is your current question."), "info")
        return response
    form = AnswerForm(meta={"csrf": False})  # CSRFProtect has checked the token before the view
    if not form.validate():
        abort(400)
    given = None if form.dont_know.data else form.given()
    if given is None and not form.dont_know.data:
        write_phase()  # showing the item again may write (see services.current_item)
        current = services.current_item(attempt)
        if current is None or form.seq.data != attempt.seq:
            return redirect(url_for("testing.item"))
        form = AnswerForm()  # with a CSRF token, for the page shown again
        form.answer.errors = [_("Choose or write an answer, or press “I don't know”.")]
        return _render_item(attempt, current, form, status=200)
    try:
        finished = services.answer(attempt, form.seq.data, given if given is not None else "")
    except services.StaleAnswer as exc:
        db.session.rollback()
        flash(str(exc.message), "info")
        return redirect(url_for("testing.item"))
    db.session.commit()
    if finished:
        return redirect(url_for("testing.result", attempt_id=attempt.id))
    return redirect(url_for("testing.item"))


@bp.post("/finish")
@role_required(Role.LEARNER)
def finish():
    form = StartForm()
    if not form.validate_on_submit():
        abort(400)
    attempt = services.open_attempt(current_user)
    if attempt is not None:
        services.finish_early(attempt)
    db.session.commit()
    return redirect(url_for("testing.result", attempt_id=attempt.id) if attempt
                    else url_for("testing.start_page"))


@bp.get("/audio/<passage_id>.wav")
@role_required(Role.LEARNER)
def audio(passage_id: str):
    """The sound of the current listening item only (so no other item's audio can be fetched)."""
    attempt = services.open_attempt(current_user)
    pending = attempt.state.get("pending") if attempt else None
    if pending is None or content().item(pending).passage != passage_id:
        abort(404)
    path = synthesise(content().passage(passage_id), current_app.config["AUDIO_CACHE_DIR"])
    return send_file(path, mimetype="audio/wav", max_age=0, conditional=True)


def load_attempt(attempt_id: int) -> PlacementAttempt:
    """An attempt for its learner, or for a counsellor or admin (logged); 404/403 otherwise."""
    attempt = db.session.get(PlacementAttempt, attempt_id)
    if attempt is None:
        abort(404)
    get_learner_or_404(attempt.learner_id, "view placement result")
    return attempt


@bp.get("/result/<int:attempt_id>")
@role_required(Role.LEARNER, Role.COUNSELLOR, Role.ADMIN)
def result(attempt_id: int):
    attempt = load_attempt(attempt_id)
    if attempt.result is None:
        return redirect(url_for("testing.item"))
    db.session.commit()  # the access log entry, when staff look
    chart = presentation.skill_chart(attempt.result, attempt.bank_version.bank)
    sa = selfassess.get_completed(attempt.learner)
    self_levels = selfassess.self_rated_levels(sa) if sa is not None else {}
    return render_template(
        "testing/result.html", attempt=attempt, outcome=attempt.result, chart=chart,
        meaning=presentation.level_meaning(attempt.level),
        certainty=presentation.certainty(attempt.result)[1] if attempt.level else None,
        disagreements=presentation.disagreements(self_levels, chart) if attempt.level else [],
        next_steps=presentation.next_steps(attempt.level))
