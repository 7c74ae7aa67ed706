"""Waitlists and offers for learners (also from signed e-mail links), and the policy for admins."""
from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from langjourney.auth.access import role_required
from langjourney.auth.models import Role
from langjourney.forms import run_service
from langjourney.courses.models import Course, Enrolment
from langjourney.courses.views import LABELS as COURSE_LABELS
from langjourney.errors import DomainError
from langjourney.extensions import db
from langjourney.waitlist import policy as policies
from langjourney.waitlist import services
from langjourney.waitlist.forms import ActionForm, PolicyForm
from langjourney.waitlist.models import WaitlistEntry

bp = Blueprint("waitlist", __name__)


def _act(action, success: str, target: str):
    """Run one service on a button press: commit and flash, or roll back and show why not."""
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        action()
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(success, "success")
    return redirect(target)


@bp.post("/courses/<int:course_id>/waitlist")
@role_required(Role.LEARNER)
def join(course_id: int):
    course = db.session.get(Course, course_id) or abort(404)
    return _act(lambda: services.join(current_user, course),
                _("You are on the waiting list. We will e-mail you when a seat is free."),
                url_for("waitlist.mine"))


@bp.get("/waitlists")
@role_required(Role.LEARNER)
def mine():
    offer = services.open_offer(current_user)
    db.session.commit()  # an offer past its deadline has just expired
    positions = [services.position(e) for e in services.active_entries(current_user)]
    policy = policies.current_policy()
    return render_template("waitlist/mine.html", offer=offer, positions=positions, form=ActionForm(),
                           policy=policy, rules=policies.describe_rules(policy))


@bp.get("/fairness")
def fairness():
    """How freed seats are offered, for anyone: the rules in force in words, the published lottery
    seed, the versions and the last weeks' outcomes."""
    current = policies.current_policy()
    db.session.commit()  # version 1, if it was just created
    history = policies.versions()
    return render_template("waitlist/fairness.html", policy=current, rules=policies.describe_rules(current),
                           history=history, outcomes=services.recent_outcomes(), weeks=services.HISTORY_WEEKS)


@bp.post("/waitlists/<int:entry_id>/leave")
@role_required(Role.LEARNER)
def leave(entry_id: int):
    entry = db.session.get(WaitlistEntry, entry_id)
    if entry is None or entry.learner_id != current_user.id:
        abort(404)
    return _act(lambda: services.leave(current_user, entry), _("You have left the waiting list."),
                url_for("waitlist.mine"))


@bp.route("/enrolments/<int:enrolment_id>/give-up", methods=["GET", "POST"])
@role_required(Role.LEARNER)
def give_up(enrolment_id: int):
    """Ask first (the seat goes to someone else and cannot be taken back), then give it up."""
    enrolment = db.session.get(Enrolment, enrolment_id)
    if enrolment is None or enrolment.learner_id != current_user.id:
        abort(404)
    if request.method == "POST":
        return _act(lambda: services.give_up_seat(enrolment.id, current_user),
                    _("You have given up your seat on %(title)s. It is offered to the next learner.",
                      title=enrolment.course.title), url_for("courses.my_matches"))
    return render_template("waitlist/give_up.html", enrolment=enrolment, form=ActionForm(), labels=COURSE_LABELS)


@bp.post("/offers/<int:offer_id>/accept")
@role_required(Role.LEARNER)
def accept(offer_id: int):
    return _act(lambda: services.accept(offer_id, current_user),
                _("You have accepted the seat. The school will confirm your enrolment."), url_for("waitlist.mine"))


@bp.post("/offers/<int:offer_id>/decline")
@role_required(Role.LEARNER)
def decline(offer_id: int):
    return _act(lambda: services.decline(offer_id, current_user),
                _("You have declined the seat. It will be offered to the next learner."), url_for("waitlist.mine"))


@bp.get("/offers/link/<token>")
def offer_link(token: str):
    """The page an offer e-mail links to: it works without signing in; answering is a POST."""
    offer = services.offer_from_token(token) or abort(404)
    services.open_offer(offer.learner)  # applies expiry, if due
    db.session.commit()
    return render_template("waitlist/offer.html", offer=offer, token=token, form=ActionForm(),
                           labels=COURSE_LABELS)


@bp.post("/offers/link/<token>/<any(accept, decline):answer>")
def offer_link_answer(token: str, answer: str):
    offer = services.offer_from_token(token) or abort(404)
    action = services.accept if answer == "accept" else services.decline
    message = (_("You have accepted the seat. The school will confirm your enrolment.") if answer == "accept"
               else _("You have declined the seat. It will be offered to the next learner."))
    return _act(lambda: action(offer.id, offer.learner), message, url_for("waitlist.offer_link", token=token))


@bp.route("/admin/policy", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def policy():
    current = policies.current_policy()
    form = PolicyForm()
    if not form.is_submitted():
        form.offer_hours.data = current.offer_hours
        form.max_waitlists.data = current.max_waitlists
        form.default_tier.data = current.default_tier
        form.tier_rules.data = json.dumps(current.tier_rules, ensure_ascii=False)
        form.lottery_seed.data = current.lottery_seed
    if not form.validate_on_submit():
        db.session.commit()  # version 1, if it was just created
    elif run_service(form, lambda: policies.publish_policy(
            offer_hours=form.offer_hours.data, max_waitlists=form.max_waitlists.data, tier_rules=form.rules,
            default_tier=form.default_tier.data, lottery_seed=form.lottery_seed.data, note=form.note.data,
            by_id=current_user.id))[0]:
        flash(_("A new policy version is in force."), "success")
        return redirect(url_for("waitlist.policy"))
    history = policies.versions()
    return render_template("waitlist/policy.html", form=form, current=current, history=history)
