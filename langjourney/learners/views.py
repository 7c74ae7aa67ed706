"""The learner's home and profile, and the staff's read-only view of learners."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from langjourney.auth.access import get_learner_or_404, role_required
from langjourney.auth.models import Role
from langjourney.auth.services import update_profile
from langjourney.db import positive_int
from langjourney.forms import run_service
from langjourney.extensions import db
from langjourney.learners import services
from langjourney.learners.forms import LevelForm, ProfileForm, RetakeForm
from langjourney.learners.journey import journey
from langjourney.learners.models import COUNTIES, GOALS, MOTHER_TONGUES, STATUS_LABELS
from langjourney.counselling import services as counselling
from langjourney.counselling.views import LABELS as COUNSELLING_LABELS
from langjourney.selfassess import services as selfassess
from langjourney.testing import services as testing

bp = Blueprint("learners", __name__)
LABELS = {"counties": COUNTIES, "goals": GOALS, "tongues": MOTHER_TONGUES, "statuses": STATUS_LABELS}


@bp.get("/home")
@role_required(Role.LEARNER)
def home():
    state = journey(current_user)
    # Rendered before the commit, which expires every loaded row: after it the page would load the
    # learner and their profile again.
    page = render_template("learners/home.html", learner=current_user, labels=LABELS, journey=state)
    db.session.commit()  # an offer past its deadline has just been expired and passed on
    return page


@bp.route("/profile", methods=["GET", "POST"])
@role_required(Role.LEARNER)
def profile():
    form = ProfileForm()
    if request.method == "GET":
        form.fill_from(current_user)
    if form.validate_on_submit() and run_service(form, lambda: update_profile(current_user, form.to_data()))[0]:
        flash(_("Your profile has been saved."), "success")
        return redirect(url_for("learners.home"))
    return render_template("learners/profile.html", form=form)


@bp.get("/staff/learners")
@role_required(Role.COUNSELLOR, Role.ADMIN)
def staff_list():
    query = request.args.get("q", "")
    page = request.args.get("page", 1, type=positive_int)
    learners, total = services.search_learners(query, page)
    return render_template("learners/staff_list.html", learners=learners, total=total, query=query,
                           page=page, page_size=services.PAGE_SIZE)


@bp.get("/staff/learners/<int:user_id>")
@role_required(Role.COUNSELLOR, Role.ADMIN)
def staff_view(user_id: int):
    learner = get_learner_or_404(user_id, "view profile, self-assessment and tests")
    db.session.commit()  # the access log entry
    return _render_staff_view(learner)


def _render_staff_view(learner, retake_form=None, level_form=None):
    from langjourney.courses.models import EnrolmentStatus
    from langjourney.courses.services import learner_enrolments
    from langjourney.waitlist import services as waitlist

    sa = selfassess.find(learner)
    mismatch = next((e for e in learner_enrolments(learner) if e.status is EnrolmentStatus.MISMATCH), None)
    return render_template(
        "learners/staff_view.html", learner=learner, labels=LABELS, sa=sa,
        sa_texts=selfassess.grid_texts(str(get_locale())) if sa else None,
        attempts=testing.attempts_of(learner), retake=testing.retake_status(learner),
        counselling=counselling.open_request(learner), appointment=counselling.upcoming_booking(learner),
        counselling_labels=COUNSELLING_LABELS, decisions=services.level_decisions(learner), mismatch=mismatch,
        positions=[waitlist.position(entry) for entry in waitlist.active_entries(learner)],
        retake_form=retake_form or RetakeForm(), level_form=level_form or LevelForm())


@bp.post("/staff/learners/<int:user_id>/allow-retake")
@role_required(Role.COUNSELLOR, Role.ADMIN)
def allow_retake(user_id: int):
    learner = get_learner_or_404(user_id, "allow a placement retake")
    form = RetakeForm()
    if form.validate_on_submit() and run_service(
            form, lambda: testing.allow_retake(learner, current_user, form.reason.data))[0]:
        flash(_("The learner may now take the placement test again."), "success")
        return redirect(url_for("learners.staff_view", user_id=learner.id))
    return _render_refused_form(user_id, "allow a placement retake", retake_form=form)


@bp.post("/staff/learners/<int:user_id>/level")
@role_required(Role.COUNSELLOR, Role.ADMIN)
def set_level(user_id: int):
    learner = get_learner_or_404(user_id, "set the level")
    form = LevelForm()
    if form.validate_on_submit() and run_service(
            form, lambda: services.set_level(learner, current_user, form.level.data, form.reason.data))[0]:
        flash(_("The learner's level is now %(level)s. They have been told by e-mail.", level=form.level.data),
              "success")
        return redirect(url_for("learners.staff_view", user_id=learner.id))
    return _render_refused_form(user_id, "set the level", level_form=form)


def _render_refused_form(user_id: int, action: str, **forms):
    """The learner's page again, with a form's errors. What the refused request wrote is undone, but
    the page shows the learner's data, so this view is written to the access log (and committed)."""
    db.session.rollback()
    learner = get_learner_or_404(user_id, action)
    db.session.commit()
    return _render_staff_view(learner, **forms)
