"""Sign-in, registration, sign-out and password reset."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user

from langjourney.auth import services, sessions, throttle
from langjourney.auth.forms import ConfirmForm, LoginForm, RegistrationForm, ResetPasswordForm, ResetRequestForm
from langjourney.errors import DomainError
from langjourney.extensions import db, limiter
from langjourney.forms import form_error
from langjourney.mail.services import queue_mail
from langjourney.ops.views import safe_next

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(throttle.login_limit, methods=["POST"], deduct_when=throttle.failed_sign_in)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data, request.remote_addr,
                                         throttle.known_devices())
        except (services.LoginThrottled, services.EmailNotConfirmed) as exc:
            form.form_errors.append(exc.message)
        else:
            if user is not None:
                sessions.start_session(user, remember=form.remember.data)
            db.session.commit()  # the success stamp and the sign-in, or the recorded failure
            if user is not None:
                login_user(user, remember=form.remember.data)
                response = redirect(safe_next(request.args.get("next"), url_for("main.index")))
                throttle.remember_device(response, user.id)
                return response
            form.form_errors.append(_("The e-mail address or password is wrong."))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    sessions.end_session(current_user.session_key)
    db.session.commit()
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("main.index"))


@bp.post("/logout/everywhere")
@login_required
def logout_everywhere():
    sessions.end_all_sessions(current_user)
    db.session.commit()
    logout_user()
    flash(_("You have signed out on every device."), "info")
    return redirect(url_for("main.index"))


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(throttle.reset_limit, methods=["POST"], deduct_when=throttle.submitted)
def register():
    """The same answer whether or not the address has an account: a new registrant is mailed a link
    that confirms the address, the owner of an existing account a notice (sign in or reset)."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegistrationForm()
    if request.method == "GET":
        form.locale.data = request.accept_languages.best_match(("et", "en", "ru", "uk")) or "et"
    if form.validate_on_submit():
        try:
            user = services.register_learner(form.email.data, form.password.data, form.to_data(),
                                             form.to_consent())
        except DomainError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            if user is not None:
                queue_mail(user, _l("Confirm your LangJourney registration"), "mail/welcome.txt",
                           url=url_for("auth.confirm_email", token=services.make_confirmation_token(user),
                                       _external=True))
            else:
                owner = services.get_user_by_email(form.email.data)
                if throttle.mail_allowed("register", owner.email):
                    queue_mail(owner, _l("Someone tried to register with your e-mail address"),
                               "mail/registration_attempt.txt", url=url_for("auth.reset_request", _external=True))
            db.session.commit()
            flash(_("Almost done: we have sent a mail to the address you gave. Follow the link in it to "
                    "confirm the address and sign in."), "info")
            return redirect(url_for("auth.login"))
    return render_template("auth/register.html", form=form)


@bp.route("/register/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    """GET shows a button, POST confirms: a mail scanner that opens the link confirms nothing."""
    user = services.user_for_confirmation_token(token)
    if user is None:
        flash(_("This link is invalid, expired or already used. If you have confirmed your address, "
                "sign in."), "error")
        return redirect(url_for("main.index"))
    form = ConfirmForm()
    if form.validate_on_submit():
        services.confirm_email(user)
        sessions.start_session(user)
        db.session.commit()
        login_user(user)
        flash(_("Your account has been created. Welcome!"), "success")
        response = redirect(url_for("learners.home"))
        throttle.remember_device(response, user.id)
        return response
    return render_template("auth/confirm_email.html", form=form, user=user)


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(throttle.reset_limit, methods=["POST"])
def reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        user = services.get_user_by_email(form.email.data)
        if user is not None and user.is_active and throttle.mail_allowed("reset", user.email):
            token = services.make_reset_token(user)
            queue_mail(user, _l("Reset your LangJourney password"), "mail/reset_password.txt",
                       url=url_for("auth.reset_password", token=token, _external=True))
            db.session.commit()
        # The same answer whether or not the address has an account.
        flash(_("If an account exists for that address, we have sent it a link to set a new password. "
                "The link is valid for 2 hours."), "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_request.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    user = services.user_for_reset_token(token)
    if user is None:
        flash(_("This link is invalid, expired or already used. Ask for a new one."), "error")
        return redirect(url_for("auth.reset_request"))
    form = ResetPasswordForm()
    if form.validate_on_submit():
        services.set_password(user, form.password.data)
        db.session.commit()
        logout_user()
        flash(_("Your password has been changed. You can now sign in."), "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form)
