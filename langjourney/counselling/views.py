"""Counselling: learners book an appointment (or, when no time is free, ask to be contacted);
counsellors publish appointment times and handle the requests."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user

from langjourney.auth.access import role_required
from langjourney.auth.models import Role
from langjourney.counselling import services
from langjourney.counselling.forms import (
    BookingForm, CancelSlotForm, CounsellingForm, SlotFilterForm, SlotSeriesForm, VideoLinkForm,
)
from langjourney.counselling.models import LANGUAGE_LABELS, MODE_LABELS, AppointmentMode, CounsellingSlot
from langjourney.db import utcnow
from langjourney.extensions import db
from langjourney.forms import Form, run_service

bp = Blueprint("counselling", __name__)
LABELS = {"modes": MODE_LABELS, "languages": LANGUAGE_LABELS}


@bp.app_template_filter("when")
def when_filter(moment) -> str:
    """``{{ slot.starts_at|when }}``: the date and time in Estonia, in the page's (or mail's) language."""
    return services.format_when(moment)


def _button(action, success: str, target: str):
    """Run one service on a button press: commit and flash, or roll back and flash why not."""
    form = Form()
    if not form.validate_on_submit():
        abort(400)
    if run_service(form, action)[0]:
        flash(success, "success")
    for message in form.form_errors:
        flash(str(message), "error")
    return redirect(target)


# -- learners -----------------------------------------------------------------------------------------

@bp.route("/counselling", methods=["GET", "POST"])
@role_required(Role.LEARNER)
def ask():
    form = CounsellingForm()
    if form.validate_on_submit() and run_service(
            form, lambda: services.ask(current_user, form.message.data, form.contact_times.data))[0]:
        flash(_("Your request has been sent. A counsellor will contact you."), "success")
        return redirect(url_for("counselling.ask"))
    return render_template("counselling/ask.html", form=form, pending=services.open_request(current_user),
                           has_free_slots=services.has_free_slots())


@bp.get("/counselling/appointments")
@role_required(Role.LEARNER)
def slots():
    """The learner's appointment, or the free times to book one (and the request form as the fallback)."""
    filters = SlotFilterForm(request.args)
    booking = services.upcoming_booking(current_user)
    free = services.free_slots(filters.to_filters()) if booking is None else []
    return render_template(
        "counselling/slots.html", filters=filters, booking=booking, free=free,
        is_filtered=any(request.args.get(name) for name in ("language", "mode")),
        any_free=bool(free) or (booking is None and services.has_free_slots()),
        can_cancel=booking is not None and services.can_cancel(booking),
        pending=services.open_request(current_user), form=Form(), labels=LABELS)


@bp.route("/counselling/appointments/<int:slot_id>", methods=["GET", "POST"])
@role_required(Role.LEARNER)
def book(slot_id: int):
    slot = db.session.get(CounsellingSlot, slot_id) or abort(404)
    form = BookingForm()
    form.offer(slot, str(get_locale()))
    if not form.is_submitted():
        if services.upcoming_booking(current_user) is not None:
            flash(_("You already have an upcoming appointment. Cancel it first if you want another time."), "error")
            return redirect(url_for("counselling.slots"))
        if services.bookable_slot(slot.id) is None:
            flash(_("This time is no longer available. Please choose another."), "error")
            return redirect(url_for("counselling.slots"))
    elif form.validate():
        ok, _booking = run_service(form, lambda: services.book(current_user, slot.id, form.language.data,
                                                               form.note.data, form.phone.data))
        if ok:
            flash(_("Your appointment is booked. We have sent you a confirmation by e-mail."), "success")
            return redirect(url_for("counselling.slots"))
        if form.form_errors:  # the time is gone, or the learner has one already: back to the list
            for message in form.form_errors:
                flash(str(message), "error")
            return redirect(url_for("counselling.slots"))
    return render_template("counselling/book.html", slot=slot, form=form, labels=LABELS)


@bp.post("/counselling/bookings/<int:booking_id>/cancel")
@role_required(Role.LEARNER)
def cancel_booking(booking_id: int):
    if services.get_booking_of(booking_id, current_user) is None:
        abort(404)
    return _button(lambda: services.cancel_booking(booking_id, current_user),
                   _("Your appointment is cancelled. The time is free for others again."),
                   url_for("counselling.slots"))


# -- counsellors --------------------------------------------------------------------------------------

@bp.get("/staff/counselling")
@role_required(Role.COUNSELLOR, Role.ADMIN)
def requests():
    return render_template("counselling/requests.html", requests=services.open_requests(), form=Form())


@bp.post("/staff/counselling/<int:request_id>/done")
@role_required(Role.COUNSELLOR, Role.ADMIN)
def done(request_id: int):
    form = Form()
    if not form.validate_on_submit():
        abort(400)
    if run_service(form, lambda: services.mark_handled(request_id, current_user))[0]:
        flash(_("The request is marked as handled."), "success")
    else:
        abort(404)
    return redirect(url_for("counselling.requests"))


@bp.get("/staff/counselling/slots")
@role_required(Role.COUNSELLOR, Role.ADMIN)
def staff_slots():
    return render_template("counselling/staff_slots.html", rows=services.upcoming_slots(current_user),
                           show_counsellor=current_user.role is Role.ADMIN, labels=LABELS, now=utcnow())


@bp.route("/staff/counselling/slots/new", methods=["GET", "POST"])
@role_required(Role.COUNSELLOR, Role.ADMIN)
def new_slots():
    form = SlotSeriesForm()
    if form.validate_on_submit():
        ok, published = run_service(form, lambda: services.publish_slots(current_user, form.to_series()))
        if ok:
            flash(ngettext("%(num)d appointment time is published.", "%(num)d appointment times are published.",
                           len(published)), "success")
            return redirect(url_for("counselling.staff_slots"))
    return render_template("counselling/new_slots.html", form=form)


@bp.route("/staff/counselling/slots/<int:slot_id>/cancel", methods=["GET", "POST"])
@role_required(Role.COUNSELLOR, Role.ADMIN)
def cancel_slot(slot_id: int):
    slot = services.get_slot_for_staff(slot_id, current_user) or abort(404)
    booking = services.live_booking(slot)
    form = CancelSlotForm()
    if form.validate_on_submit() and run_service(
            form, lambda: services.cancel_slot(slot.id, current_user, form.reason.data or ""))[0]:
        flash(_("The appointment time is cancelled. The learner who booked it has been told by e-mail.")
              if booking is not None else _("The appointment time is cancelled."), "success")
        return redirect(url_for("counselling.staff_slots"))
    return render_template("counselling/cancel_slot.html", slot=slot, booking=booking, form=form, labels=LABELS)


@bp.route("/staff/counselling/slots/<int:slot_id>/video-link", methods=["GET", "POST"])
@role_required(Role.COUNSELLOR, Role.ADMIN)
def video_link(slot_id: int):
    slot = services.get_slot_for_staff(slot_id, current_user)
    if slot is None or slot.mode is not AppointmentMode.VIDEO or slot.cancelled_at is not None:
        abort(404)
    booking = services.live_booking(slot)
    form = VideoLinkForm(obj=slot)
    if form.validate_on_submit() and run_service(
            form, lambda: services.change_video_link(slot.id, current_user, form.video_link.data))[0]:
        flash(_("The link is saved. The learner who booked this time has been sent it by e-mail.")
              if booking is not None else _("The link is saved."), "success")
        return redirect(url_for("counselling.staff_slots"))
    return render_template("counselling/video_link.html", slot=slot, booking=booking, form=form, labels=LABELS)
