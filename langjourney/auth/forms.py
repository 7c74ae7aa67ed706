from __future__ import annotations

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from langjourney.auth.models import Role
from langjourney.auth.services import MIN_PASSWORD_LENGTH, Consent
from langjourney.forms import Form, choices, strip
from langjourney.learners.forms import ProfileForm

ROLE_LABELS = {
    Role.LEARNER.value: _l("Learner"),
    Role.COUNSELLOR.value: _l("Counsellor"),
    Role.PROVIDER.value: _l("Provider staff"),
    Role.ADMIN.value: _l("Administrator"),
}
_REQUIRED = _l("This field is required.")
_EMAIL = _l("Enter a valid e-mail address, like name@example.com.")


_PASSWORD_LENGTH = _l("The password must be at least %(n)d characters long.", n=MIN_PASSWORD_LENGTH)


def _new_password_fields():
    password = PasswordField(_l("Password"), validators=[
        DataRequired(_REQUIRED), Length(min=MIN_PASSWORD_LENGTH, max=128, message=_PASSWORD_LENGTH)],
        description=_l("At least %(n)d characters.", n=MIN_PASSWORD_LENGTH))
    confirm = PasswordField(_l("Password again"), validators=[
        DataRequired(_REQUIRED), EqualTo("password", message=_l("The passwords do not match."))])
    return password, confirm


class LoginForm(Form):
    email = EmailField(_l("E-mail"), filters=[strip], validators=[DataRequired(_REQUIRED), Email(_EMAIL)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_REQUIRED)])
    remember = BooleanField(_l("Keep me signed in on this device"))


# Change the version whenever the consent's wording (or what it refers to) changes: each
# registration stores the version and the wording its registrant saw.
CONSENT_VERSION = "registration-2026-12-08"


class RegistrationForm(ProfileForm):
    email = EmailField(_l("E-mail"), filters=[strip], validators=[DataRequired(_REQUIRED), Email(_EMAIL), Length(max=254)])
    password, password_confirm = _new_password_fields()
    consent = BooleanField(
        _l("I agree that the foundation processes my data to place me on a course."),
        validators=[DataRequired(_l("You must agree to the processing of your data to register."))])

    def to_consent(self) -> Consent:
        """The consent as this registrant saw it (its wording in the page's language)."""
        return Consent(notice_version=CONSENT_VERSION, wording=str(self.consent.label.text),
                       locale=str(get_locale()))


class ConfirmForm(Form):
    """Only the CSRF token: confirming an address is a POST."""


class ResetRequestForm(Form):
    email = EmailField(_l("E-mail"), filters=[strip], validators=[DataRequired(_REQUIRED), Email(_EMAIL)])


class ResetPasswordForm(Form):
    password, password_confirm = _new_password_fields()


class StaffUserForm(Form):
    email = EmailField(_l("E-mail"), filters=[strip], validators=[DataRequired(_REQUIRED), Email(_EMAIL), Length(max=254)])
    full_name = StringField(_l("Full name"), validators=[DataRequired(_REQUIRED), Length(max=200)])
    role = SelectField(_l("Role"), choices=choices(
        {role: label for role, label in ROLE_LABELS.items() if role != Role.LEARNER.value}))
    provider = StringField(_l("Provider (for provider staff)"), validators=[Length(max=200)],
                           description=_l("The organisation's name; a new one is created if needed."))
    password, password_confirm = _new_password_fields()
