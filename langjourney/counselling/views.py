"""Asking for counselling (learners) and the counsellors' list of requests."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from langjourney.auth.access import role_required
from langjourney.auth.models import Role
from langjourney.counselling import services
from langjourney.counselling.forms import CounsellingForm
from langjourney.forms import run_service

bp = Blueprint("counselling", __name__)


@bp.route("/counselling", methods=["GET", "POST"])
@role_required(Role.LEARNER)
def ask():
    form = CounsellingForm()
    if form.validate_on_submit() and run_service(
            form, lambda: services.ask(current_user, form.message.data, form.contact_times.data))[0]:
        flash(_("Your request has been sent. A counsellor will contact you."), "success")
        return redirect(url_for("counselling.ask"))
    return render_template("counselling/ask.html", form=form, pending=services.open_request(current_user))


@bp.get("/staff/counselling")
@role_required(Role.COUNSELLOR, Role.ADMIN)
def requests():
    return render_template("counselling/requests.html", requests=services.open_requests(), form=FlaskForm())


@bp.post("/staff/counselling/<int:request_id>/done")
@role_required(Role.COUNSELLOR, Role.ADMIN)
def done(request_id: int):
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    if run_service(form, lambda: services.mark_handled(request_id, current_user))[0]:
        flash(_("The request is marked as handled."), "success")
    else:
        abort(404)
    return redirect(url_for("counselling.requests"))
