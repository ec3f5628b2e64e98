"""The therapist's review of a couple's intake: scores, flags, decisions, safety."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, flash, g, redirect, render_template
from werkzeug.wrappers import Response

from counselor_app import signals
from counselor_app.assessment import services
from counselor_app.auth.identity import current_therapist
from counselor_app.couples.views import child_or_404
from counselor_app.extensions import db
from counselor_app.flags import CHALLENGES
from counselor_app.forms.assessment import (
    AddFlagForm,
    ConfirmFlagForm,
    DismissFlagForm,
    ResetFlagForm,
    SafetyDecisionForm,
    SafetyNoticeForm,
)
from counselor_app.instruments import CSI4_ID, load
from counselor_app.models import Couple, Flag, SafetyDecision, Severity
from counselor_app.models.base import StaleEdit
from counselor_app.web import counselor_url

bp = Blueprint("assessment", __name__)

NOTICE_CHANGED = (
    "The note changed after you opened this page, so it is not marked as read. Read it again "
    "below, then mark it read."
)


def safety_review_pending(couple: Couple) -> bool:
    """For the banner every page of a couple shows while a safety alert awaits a decision or a
    partner's safety note awaits reading."""
    return services.review_pending(couple)


STALE_MESSAGE = (
    "This was changed in another tab or by a re-score after you opened the page. "
    "Nothing was saved; here is the current state. What you typed is kept below."
)


def render_page(
    couple: Couple,
    *,
    status: int = 200,
    add_form: AddFlagForm | None = None,
    safety_form: SafetyDecisionForm | None = None,
    notice_form: SafetyNoticeForm | None = None,
    failed: tuple[int, str, object] | None = None,
) -> tuple[str, int]:
    """The assessment page; ``failed`` (flag id, action, form) re-shows a rejected form."""
    report = services.build_assessment(couple)

    def forms_for(flag: Flag) -> dict[str, object]:
        """The flag's forms; a rejected one is shown again (even if its button would not be)."""
        forms = _flag_forms(flag)
        if failed and failed[0] == flag.id:
            forms[failed[1]] = failed[2]
            forms["failed"] = failed[1]
        return forms

    return render_template(
        "counselor/assessment/index.html",
        couple=couple,
        report=report,
        challenges=CHALLENGES,
        add_form=add_form or AddFlagForm(formdata=None, prefix="add"),
        safety_form=safety_form or _safety_form(report.safety_alert),
        notice_form=notice_form
        or SafetyNoticeForm(
            formdata=None,
            prefix="notice",
            version=report.safety_notice.version if report.safety_notice else None,
        ),
        forms_for=forms_for,
        # A flag's forms are made as the page is drawn; the refused one is named for the title.
        refused_flag_form=failed[2] if failed else None,
        csi_source=load(CSI4_ID).source_note,
    ), status


def flag_prefix(flag_id: int, kind: str) -> str:
    """Each form of each flag gets its own field names and ids: many flags share one page."""
    return f"flag{flag_id}-{kind}"


def _flag_forms(flag: Flag) -> dict[str, object]:
    def common(kind: str) -> dict[str, object]:
        return {
            "formdata": None,
            "prefix": flag_prefix(flag.id, kind),
            "version": flag.version,
        }

    return {
        "confirm": ConfirmFlagForm(note=flag.note, **common("confirm")),
        "dismiss": DismissFlagForm(reason=flag.dismiss_reason, **common("dismiss")),
        "reset": ResetFlagForm(**common("reset")),
    }


def _safety_form(alert) -> SafetyDecisionForm:
    if alert is None:
        return SafetyDecisionForm(formdata=None, prefix="safety")
    return SafetyDecisionForm(
        formdata=None,
        prefix="safety",
        decision=alert.decision.value if alert.decision else None,
        note=alert.decision_note,
        version=alert.version,
    )


@bp.route("/assessment")
def index() -> tuple[str, int]:
    """Both partners' profiles side by side, agreement, strengths, growth areas and flags."""
    return render_page(g.couple)


def _flag_action(
    flag_id: int,
    kind: str,
    form_class: type,
    act: Callable[[Flag, object], None],
    done: str,
) -> Response | tuple[str, int]:
    couple = g.couple
    flag = child_or_404(Flag, flag_id)
    form = form_class(prefix=flag_prefix(flag.id, kind))
    if not form.validate_on_submit():
        return render_page(couple, status=422, failed=(flag.id, kind, form))
    try:
        act(flag, form)
    except (services.DecisionError, StaleEdit) as error:
        db.session.rollback()
        stale = isinstance(error, StaleEdit)
        form.form_errors.append(STALE_MESSAGE if stale else str(error))
        # The next submit of this form is made against what the page now shows.
        form.version.refresh(child_or_404(Flag, flag_id).version)
        return render_page(couple, status=409 if stale else 422, failed=(flag_id, kind, form))
    db.session.commit()
    if kind == "confirm":
        signals.send(signals.flag_confirmed, couple_id=couple.id, flag_id=flag.id)
    flash(f"Flag {done}.", "success")
    return redirect(
        counselor_url("couple.assessment.index", couple_id=couple.id) + f"#flag-{flag.id}"
    )


@bp.route("/flags/<counselor_id:flag_id>/confirm", methods=["POST"])
def confirm_flag(flag_id: int) -> Response | tuple[str, int]:
    """Confirm a flag, with an optional note; it then feeds the session plan."""
    return _flag_action(
        flag_id,
        "confirm",
        ConfirmFlagForm,
        lambda flag, form: services.confirm_flag(
            flag, current_therapist, form.note.data or "", expected_version=form.version.data
        ),
        "confirmed",
    )


@bp.route("/flags/<counselor_id:flag_id>/dismiss", methods=["POST"])
def dismiss_flag(flag_id: int) -> Response | tuple[str, int]:
    """Dismiss a flag; a reason is required and kept with the flag."""
    return _flag_action(
        flag_id,
        "dismiss",
        DismissFlagForm,
        lambda flag, form: services.dismiss_flag(
            flag, current_therapist, form.reason.data, expected_version=form.version.data
        ),
        "dismissed",
    )


@bp.route("/flags/<counselor_id:flag_id>/reset", methods=["POST"])
def reset_flag(flag_id: int) -> Response | tuple[str, int]:
    """Undo a decision, so the flag awaits review again."""
    return _flag_action(
        flag_id,
        "reset",
        ResetFlagForm,
        lambda flag, form: services.reset_flag(flag, expected_version=form.version.data),
        "back to awaiting review",
    )


@bp.route("/flags/new", methods=["POST"])
def add_flag() -> Response | tuple[str, int]:
    """Add a flag from clinical judgement (it starts confirmed)."""
    couple = g.couple
    form = AddFlagForm(prefix="add")
    if form.validate_on_submit():
        try:
            flag = services.add_flag(
                couple,
                current_therapist,
                challenge_key=form.challenge_key.data,
                severity=Severity(form.severity.data),
                partners=form.partners.data,
                note=form.note.data,
            )
        except services.DecisionError as error:
            db.session.rollback()
            form.challenge_key.errors.append(str(error))
        else:
            db.session.commit()
            flash("Flag added.", "success")
            return redirect(
                counselor_url("couple.assessment.index", couple_id=couple.id) + f"#flag-{flag.id}"
            )
    return render_page(couple, status=422, add_form=form)


@bp.route("/safety/decision", methods=["POST"])
def safety_decision() -> Response | tuple[str, int]:
    """Record the therapist's decision on an open safety alert."""
    couple = g.couple
    alert = services.owned_alert(couple)
    form = SafetyDecisionForm(prefix="safety")
    if form.validate_on_submit():
        try:
            services.decide_safety(
                alert,
                current_therapist,
                SafetyDecision(form.decision.data),
                form.note.data,
                expected_version=form.version.data,
            )
        except services.DecisionError as error:
            db.session.rollback()
            form.note.errors.append(str(error))
            return render_page(couple, status=422, safety_form=form)
        except StaleEdit:
            db.session.rollback()
            form.form_errors.append(STALE_MESSAGE)
            form.version.refresh(services.owned_alert(couple).version)
            return render_page(couple, status=409, safety_form=form)
        db.session.commit()
        flash("Safety decision recorded.", "success")
        return redirect(
            counselor_url("couple.assessment.index", couple_id=couple.id) + "#safety-alert"
        )
    return render_page(couple, status=422, safety_form=form)


@bp.route("/safety/notice/acknowledge", methods=["POST"])
def acknowledge_notice() -> Response | tuple[str, int]:
    """Mark a partner's private safety note as read: joint work no longer waits for it."""
    couple = g.couple
    notice = services.owned_notice(couple)
    form = SafetyNoticeForm(prefix="notice")
    if form.validate_on_submit():
        try:
            services.acknowledge_notice(
                notice, current_therapist, expected_version=form.version.data
            )
        except StaleEdit:
            db.session.rollback()
            form.form_errors.append(NOTICE_CHANGED)
            form.version.refresh(services.owned_notice(couple).version)
            return render_page(couple, status=409, notice_form=form)
        db.session.commit()
        flash("Safety note marked as read.", "success")
        return redirect(
            counselor_url("couple.assessment.index", couple_id=couple.id) + "#safety-notice"
        )
    return render_page(couple, status=422, notice_form=form)
