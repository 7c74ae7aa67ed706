"""The provider portal: a language school's staff see and manage only their own courses,
enrolments and API tokens."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from langjourney.auth.access import role_required
from langjourney.auth.models import Role
from langjourney.auth.services import log_access, log_reads
from langjourney.forms import Form, form_error, run_service
from langjourney.courses import csvio, services
from langjourney.courses.access import (
    get_course_or_404, get_enrolment_or_404, identifies_learner, provider_admin_required,
)
from langjourney.courses.forms import (
    ConfirmForm, CourseForm, ImportForm, MismatchForm, OutcomeForm, TokenForm,
)
from langjourney.courses.models import ApiToken, EnrolmentStatus
from langjourney.courses.views import LABELS
from langjourney.errors import DomainError
from langjourney.extensions import db
from langjourney.ops.limits import body_kind

bp = Blueprint("provider", __name__, url_prefix="/provider")
MAX_UPLOAD_BYTES = 2 * 1024 * 1024


def _csv(text: str, filename: str) -> Response:
    return Response(text, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/courses")
@role_required(Role.PROVIDER)
def courses():
    return render_template("provider/courses.html", rows=services.provider_courses(current_user.provider_id),
                           labels=LABELS)


@bp.route("/courses/new", methods=["GET", "POST"])
@role_required(Role.PROVIDER)
def new_course():
    form = CourseForm()
    if form.validate_on_submit():
        saved, course = run_service(form, lambda: services.create_course(current_user.provider, form.to_data()))
        if saved:
            flash(_("The course has been saved. An administrator will check it before it is published."), "success")
            return redirect(url_for("provider.course", course_id=course.id))
    return render_template("provider/course_form.html", form=form, course=None)


@bp.route("/courses/<int:course_id>/edit", methods=["GET", "POST"])
@role_required(Role.PROVIDER)
def edit_course(course_id: int):
    course = get_course_or_404(course_id, for_provider=True)
    form = CourseForm()
    if request.method == "GET":
        form.fill_from(course)
    if form.validate_on_submit() and run_service(
            form, lambda: services.update_course(course, form.to_data(), current_user))[0]:
        flash(_("The course has been saved. The change waits for an administrator's approval; learners see the "
                "approved values until then.") if course.pending_change else _("The course has been saved."), "success")
        return redirect(url_for("provider.course", course_id=course.id))
    return render_template("provider/course_form.html", form=form, course=course)


@bp.get("/courses/<int:course_id>")
@role_required(Role.PROVIDER)
def course(course_id: int):
    course = get_course_or_404(course_id, for_provider=True)
    enrolments = services.course_enrolments(course)
    identified = {e.id for e in enrolments if identifies_learner(e)}
    log_reads(current_user.id, [e.learner_id for e in enrolments if e.id in identified], "view course enrolments",
              request.remote_addr)
    db.session.commit()
    return render_template("provider/course.html", course=course, enrolments=enrolments, identified=identified,
                           visible_days=current_app.config["ENDED_ENROLMENT_VISIBLE_DAYS"],
                           changes=services.course_changes(course), labels=LABELS,
                           field_names=services.FIELD_LABELS, shown=services.shown_value,
                           approved=services.approved_value)


@bp.get("/courses/<int:course_id>/enrolments.csv")
@role_required(Role.PROVIDER)
def export_enrolments(course_id: int):
    course = get_course_or_404(course_id, for_provider=True)
    enrolments = services.course_enrolments(course)
    identified = {e.id for e in enrolments if identifies_learner(e)}
    log_reads(current_user.id, [e.learner_id for e in enrolments if e.id in identified], "export enrolments",
              request.remote_addr)
    db.session.commit()
    return _csv(csvio.export_enrolments(enrolments, identified), f"course-{course.id}-enrolments.csv")


def _enrolment_page(enrolment, confirm=None, mismatch=None, outcome=None):
    return render_template("provider/enrolment.html", enrolment=enrolment, labels=LABELS,
                           confirm_form=confirm or ConfirmForm(formdata=None),
                           mismatch_form=mismatch or MismatchForm(formdata=None),
                           outcome_form=outcome or OutcomeForm(formdata=None))


@bp.get("/enrolments/<int:enrolment_id>")
@role_required(Role.PROVIDER)
def enrolment(enrolment_id: int):
    enrolment = get_enrolment_or_404(enrolment_id, identified=True)
    log_access(current_user, enrolment.learner, "view enrolment", request.remote_addr)
    db.session.commit()
    return _enrolment_page(enrolment)


def _act(enrolment, form, action, success: str, **pages):
    """Run one enrolment action from its form; on an error show the enrolment page with it."""
    if form.validate_on_submit() and run_service(form, action)[0]:
        flash(success, "success")
        return redirect(url_for("provider.course", course_id=enrolment.course_id))
    return _enrolment_page(enrolment, **pages)


@bp.post("/enrolments/<int:enrolment_id>/confirm")
@role_required(Role.PROVIDER)
def confirm(enrolment_id: int):
    enrolment = get_enrolment_or_404(enrolment_id, identified=True)
    form = ConfirmForm()
    return _act(enrolment, form, lambda: services.confirm_enrolment(enrolment, form.confirm_note.data),
                _("The enrolment is confirmed."), confirm=form)


@bp.post("/enrolments/<int:enrolment_id>/mismatch")
@role_required(Role.PROVIDER)
def mismatch(enrolment_id: int):
    enrolment = get_enrolment_or_404(enrolment_id, identified=True)
    form = MismatchForm()
    return _act(enrolment, form,
                lambda: services.report_mismatch(enrolment, form.suggested_level.data, form.mismatch_note.data),
                _("The level mismatch is recorded; the learner goes back to counselling."), mismatch=form)


@bp.post("/enrolments/<int:enrolment_id>/outcome")
@role_required(Role.PROVIDER)
def outcome(enrolment_id: int):
    enrolment = get_enrolment_or_404(enrolment_id, identified=True)
    form = OutcomeForm()
    return _act(enrolment, form,
                lambda: services.record_outcome(enrolment, EnrolmentStatus(form.outcome.data),
                                                form.attendance_percent.data, form.final_test_result.data,
                                                form.outcome_note.data),
                _("The outcome is recorded."), outcome=form)


@bp.route("/import", methods=["GET", "POST"])
@role_required(Role.PROVIDER)
@body_kind("csv_import")
def import_courses():
    form = ImportForm()
    errors = []
    if form.validate_on_submit():
        content = form.file.data.read(MAX_UPLOAD_BYTES + 1)
        try:
            if len(content) > MAX_UPLOAD_BYTES:
                raise DomainError(_("The file is larger than 2 MB."), "file")
            imported = csvio.import_courses(content, current_user.provider, current_user)
        except csvio.CsvImportFailed as exc:
            db.session.rollback()
            errors = exc.errors
            form.form_errors.append(exc.message)
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("%(n)d courses imported. New courses wait for an administrator's approval.", n=len(imported)),
                  "success")
            return redirect(url_for("provider.courses"))
    return render_template("provider/import.html", form=form, errors=errors, columns=csvio.COLUMNS)


@bp.get("/courses.csv")
@role_required(Role.PROVIDER)
def export_courses():
    return _csv(csvio.export_courses(current_user.provider), "courses.csv")


@bp.route("/tokens", methods=["GET", "POST"])
@provider_admin_required
def tokens():
    form = TokenForm()
    new_token = None
    if form.validate_on_submit():
        saved, created = run_service(form, lambda: services.create_api_token(current_user, form.name.data))
        if saved:
            new_token = created[1]
            form = TokenForm(formdata=None)
    return render_template("provider/tokens.html", form=form, new_token=new_token, revoke_form=Form(),
                           tokens=services.provider_tokens(current_user.provider_id))


@bp.post("/tokens/<int:token_id>/revoke")
@provider_admin_required
def revoke_token(token_id: int):
    token = db.session.get(ApiToken, token_id)
    if token is None or token.provider_id != current_user.provider_id:
        abort(404)
    if Form().validate_on_submit():
        services.revoke_api_token(token)
        db.session.commit()
        flash(_("The token “%(name)s” is revoked.", name=token.name), "success")
    return redirect(url_for("provider.tokens"))
