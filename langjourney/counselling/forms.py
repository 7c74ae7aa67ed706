from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from wtforms import DateField, IntegerField, SelectField, StringField, TextAreaField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

from langjourney.counselling.models import LANGUAGE_LABELS, MODE_LABELS, AppointmentMode, CounsellingSlot
from langjourney.counselling.services import (
    APPOINTMENT_MINUTES, BREAK_MINUTES, MAX_SLOTS_AT_ONCE, SlotFilters, SlotSeries,
)
from langjourney.forms import Form, MultiCheckboxField, choices, strip

_REQUIRED = _l("This field is required.")
MODE_CHOICES = {mode.value: label for mode, label in MODE_LABELS.items()}


def _minutes(num: int):
    return lazy_ngettext("%(num)d minute", "%(num)d minutes", num)


def _any(mapping) -> list[SelectChoice]:
    return [SelectChoice("", _l("— any —")), *choices(mapping)]


class CounsellingForm(Form):
    message = TextAreaField(_l("What would you like to talk about?"), validators=[
        DataRequired(_REQUIRED), Length(max=1000, message=_l("Write at most 1000 characters."))])
    contact_times = StringField(_l("When can a counsellor call or write to you?"), validators=[
        DataRequired(_REQUIRED), Length(max=200, message=_l("Write at most 200 characters."))],
        description=_l("For example: weekdays after 17:00."))


class SlotSeriesForm(Form):
    """Counsellors publish one or more consecutive appointment times on a day."""

    day = DateField(_l("Date"), validators=[InputRequired(_REQUIRED)])
    start = TimeField(_l("Start of the first appointment"), validators=[InputRequired(_REQUIRED)],
                      description=_l("Estonian time, for example 10:00."))
    minutes = SelectField(_l("Length of each appointment"), coerce=int, default=45,
                          choices=[SelectChoice(m, _minutes(m)) for m in APPOINTMENT_MINUTES])
    count = IntegerField(_l("Number of appointments in a row"), default=1, validators=[InputRequired(_REQUIRED)],
                         description=_l("From 1 to %(max)d.", max=MAX_SLOTS_AT_ONCE))
    break_minutes = SelectField(_l("Break between appointments"), coerce=int, default=0,
                                choices=[SelectChoice(m, _minutes(m)) for m in BREAK_MINUTES])
    mode = SelectField(_l("How the appointments take place"), choices=choices(MODE_CHOICES),
                       default=AppointmentMode.IN_PERSON.value)
    place = StringField(_l("Place"), validators=[Length(max=200, message=_l("Write at most 200 characters."))],
                        description=_l("For appointments in person: town and address, for example "
                                       "Narva, Tallinna mnt 6."))
    video_link = StringField(_l("Video call link"), filters=[strip],
                             description=_l("For appointments by video call (optional): the link with which the "
                                            "learner joins the call. Only the learner who books the time gets it, "
                                            "in the confirmation, the reminder and on their appointment page."))
    languages = MultiCheckboxField(_l("Languages you can counsel in"), choices=choices(LANGUAGE_LABELS))

    def to_series(self) -> SlotSeries:
        return SlotSeries(day=self.day.data, start=self.start.data, minutes=self.minutes.data,
                          count=self.count.data, break_minutes=self.break_minutes.data,
                          mode=AppointmentMode(self.mode.data), place=self.place.data or None,
                          video_link=self.video_link.data or None, languages=self.languages.data or [])


class VideoLinkForm(Form):
    """The link of one time by video call, given or changed after it was published."""

    video_link = StringField(_l("Video call link"), filters=[strip],
                             description=_l("The link with which the learner joins the call, starting with "
                                            "https://. Leave it empty to remove the link."))


class CancelSlotForm(Form):
    reason = TextAreaField(_l("Reason (sent to the learner)"), validators=[
        Optional(), Length(max=300, message=_l("Write at most 300 characters."))],
        description=_l("Optional. For example: the counsellor is ill."))


class SlotFilterForm(Form):
    """The learners' filters of free times: a GET form, so a filtered list can be bookmarked."""

    class Meta:
        csrf = False

    language = SelectField(_l("Language of the appointment"), choices=_any(LANGUAGE_LABELS), validators=[Optional()])
    mode = SelectField(_l("How the appointment takes place"), choices=_any(MODE_CHOICES), validators=[Optional()])

    def to_filters(self) -> SlotFilters:
        """The filters chosen; an unknown value (an edited URL) filters nothing."""
        return SlotFilters(language=self.language.data if self.language.data in LANGUAGE_LABELS else None,
                           mode=AppointmentMode(self.mode.data) if self.mode.data in MODE_CHOICES else None)


class BookingForm(Form):
    language = SelectField(_l("Language of the appointment"), validators=[DataRequired(_REQUIRED)])
    phone = StringField(_l("Your phone number"), validators=[
        Optional(), Regexp(r"^\+?[0-9 ()-]{5,20}$", message=_l("Enter a phone number, for example +372 5123 4567."))],
        description=_l("The counsellor will call you at this number."))
    note = TextAreaField(_l("What would you like to talk about? (optional)"), validators=[
        Length(max=500, message=_l("Write at most 500 characters."))])

    def offer(self, slot: CounsellingSlot, locale: str) -> None:
        """Fit the form to ``slot``: its languages to choose from (the learner's own chosen, if it is one of
        them), and a phone number required for an appointment by phone."""
        self.language.choices = choices({code: LANGUAGE_LABELS[code] for code in slot.languages})
        self.phone.flags.required = slot.mode is AppointmentMode.PHONE  # the service insists on it
        if not self.is_submitted() and locale in slot.languages:
            self.language.data = locale
