"""Administration: staff accounts and the access log."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from langjourney.auth import services
from langjourney.auth.access import role_required
from langjourney.auth.forms import StaffUserForm
from langjourney.auth.models import AccessLog, Role, User
from langjourney.courses.models import ApiToken
from langjourney.db import positive_int
from langjourney.forms import run_service
from langjourney.extensions import db

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/users")
@role_required(Role.ADMIN)
def users():
    staff = db.session.scalars(select(User).where(User.role != Role.LEARNER)
                               .order_by(User.role, User.full_name)).all()
    return render_template("admin/users.html", staff=staff)


@bp.route("/users/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def create_user():
    form = StaffUserForm()
    if form.validate_on_submit() and run_service(form, lambda: _create_staff(form))[0]:
        flash(_("The account has been created."), "success")
        return redirect(url_for("admin.users"))
    return render_template("admin/create_user.html", form=form)


def _create_staff(form: StaffUserForm):
    role = Role(form.role.data)
    name = form.provider.data.strip()
    provider = services.get_or_create_provider(name) if role is Role.PROVIDER and name else None
    return services.create_user(form.email.data, form.password.data, form.full_name.data, role, provider)


@bp.get("/access-log")
@role_required(Role.ADMIN)
def access_log():
    page = request.args.get("page", 1, type=positive_int)
    entries = db.session.execute(
        select(AccessLog, User.full_name, ApiToken.name).join(User, User.id == AccessLog.staff_id)
        .outerjoin(ApiToken, ApiToken.id == AccessLog.api_token_id)
        .order_by(AccessLog.at.desc(), AccessLog.id.desc()).limit(100).offset((max(page, 1) - 1) * 100)
    ).all()
    return render_template("admin/access_log.html", entries=entries, page=page)
