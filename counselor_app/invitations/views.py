"""The therapist's side of partners answering on their own device: inviting a partner, handing
them the link (copied, printed on a slip, or emailed), making it again, and revoking it.

A link exists in clear only in the response that made it: the delivery page. Printing or
emailing from that page sends the token back, and it is checked against the stored hash.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request
from werkzeug.wrappers import Response

from counselor_app import mail
from counselor_app.audit.views import nothing_done
from counselor_app.auth.identity import current_therapist
from counselor_app.couples.views import child_or_404
from counselor_app.extensions import db
from counselor_app.forms.invitations import DeliveryForm, InvitationForm, ReissueForm, RevokeForm
from counselor_app.invitations import services
from counselor_app.invitations.services import InvitationError
from counselor_app.models import Couple, Invitation, InvitationPurpose
from counselor_app.models.base import StaleEdit, utcnow
from counselor_app.partner.services import minutes_needed, practice_of
from counselor_app.plans.services import practice
from counselor_app.reports.builders import invitation_slip
from counselor_app.reports.documents import render
from counselor_app.web import counselor_url

bp = Blueprint("invitations", __name__, url_prefix="/invitations")

STALE_MESSAGE = (
    "This invitation changed in another tab after you opened the page: nothing was changed. "
    "Here it is as it stands now."
)


def _valid_for(days: int) -> timedelta:
    return timedelta(days=days)


def _new_form(couple: Couple) -> InvitationForm:
    form = InvitationForm()
    form.set_choices(
        [(p.label, p.display_name) for p in couple.partners],
        [
            (a.id, f"The appointment on {a.starts_at:%d %b %Y at %H:%M}")
            for a in services.upcoming_appointments(couple, utcnow())
        ],
    )
    if form.valid_days.data is None and request.method == "GET":
        form.valid_days.data = current_app.config["COUNSELOR_PARTNER_LINK_DAYS"]
    return form


@bp.route("/new", methods=["GET", "POST"])
def create() -> str | tuple[str, int]:
    """Invite one partner to answer the intake or a check-in on their own device."""
    couple = g.couple
    form = _new_form(couple)
    if request.method == "GET" and (label := request.args.get("partner", "").upper()) in ("A", "B"):
        form.partner.data = label
    if form.validate_on_submit():
        try:
            invitation, token = services.create(couple, _request(couple, form), current_therapist)
        except InvitationError as error:
            db.session.rollback()
            form.form_errors.append(str(error))
        else:
            db.session.commit()
            return _delivery_page(invitation, token, 201)
    status = 422 if request.method == "POST" else 200
    return render_template("counselor/invitations/form.html", couple=couple, form=form), status


def _request(couple: Couple, form: InvitationForm) -> services.Request:
    purpose = InvitationPurpose(form.purpose.data)
    appointment = None
    if purpose == InvitationPurpose.CHECK_IN and form.appointment_id.data:
        upcoming = services.upcoming_appointments(couple, utcnow())
        appointment = next((a for a in upcoming if a.id == form.appointment_id.data), None)
        if appointment is None:  # it began, or was changed, since the page was shown
            raise InvitationError(
                "That appointment is no longer upcoming: choose another, or none."
            )
    return services.Request(
        partner=next(p for p in couple.partners if p.label == form.partner.data),
        purpose=purpose,
        appointment=appointment,
        valid_for=_valid_for(form.valid_days.data),
    )


def _delivery_page(
    invitation: Invitation, token: str, status: int = 200, *, notice: str = ""
) -> tuple[str, int]:
    """The link, shown once: to copy, print or email. Only this response holds it."""
    partner = invitation.partner
    return render_template(
        "counselor/invitations/delivery.html",
        couple=g.couple,
        invitation=invitation,
        partner=partner,
        link=_link(token),
        form=DeliveryForm(token=token),
        can_email=mail.configured() and bool(partner.email),
        mail_configured=mail.configured(),
        notice=notice,
    ), status


def _link(token: str) -> str:
    return counselor_url("partner_link", token=token, _external=True)


def _checked_token(invitation: Invitation) -> str:
    """The token the delivery page sent back, if it is this invitation's working link."""
    form = DeliveryForm()
    token = form.token.data or ""
    if not form.validate_on_submit() or not services.token_matches(invitation, token):
        abort(400, "This link has been replaced or was never this invitation's. Nothing was sent.")
    if not invitation.state.open:
        abort(400, "This invitation can no longer be used: make a new link first.")
    return token


@bp.route("/<counselor_id:invitation_id>/slip.pdf", methods=["POST"])
def slip(invitation_id: int) -> Response:
    """A one-page slip for the partner: their name, the link and its QR code; nothing clinical.

    Made on the spot and never stored, since it holds the link."""
    invitation = child_or_404(Invitation, invitation_id)
    token = _checked_token(invitation)
    document = invitation_slip(
        invitation,
        _link(token),
        practice_of(invitation),
        paper=practice().paper_size.value,
        minutes=minutes_needed(invitation.purpose),
    )
    response = Response(render(document).pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="invitation-{invitation.partner.label.lower()}.pdf"'
    )
    return response


@bp.route("/<counselor_id:invitation_id>/email", methods=["POST"])
def email(invitation_id: int) -> tuple[str, int]:
    """Email the link to the partner's address on record: the link and the practice's name."""
    invitation = child_or_404(Invitation, invitation_id)
    token = _checked_token(invitation)
    partner = invitation.partner
    if not (mail.configured() and partner.email):
        abort(400, "Email is not set up, or this partner has no address on record.")
    details = practice_of(invitation)
    try:
        mail.send(partner.email, *_message(details.name, _link(token), invitation))
    except mail.MailError:
        return _delivery_page(
            invitation,
            token,
            502,
            notice="The mail server did not take the message: nothing was sent. Copy the link "
            "or print the slip instead, or try again later.",
        )
    services.mark_emailed(invitation)
    db.session.commit()
    return _delivery_page(invitation, token, notice=f"Sent to {partner.email}.")


def _message(practice_name: str, link: str, invitation: Invitation) -> tuple[str, str]:
    """Subject and body: the link, the practice and when it stops working. Nothing clinical,
    not even which questions: a mailbox is read by more eyes than its owner's."""
    # On one line: the name goes in the Subject, and a header may not hold a line break.
    practice_name = " ".join(practice_name.split())
    expires = invitation.expires_at
    body = (
        f"Hello,\n\n{practice_name} has asked you to answer a few questions before your next "
        "session. Please answer on your own, on a device only you use.\n\n"
        f"Open this personal link:\n{link}\n\n"
        f"It works until {expires:%d %B %Y}. Please do not forward it: anyone with the link can "
        "open your questions.\n\nIf you did not expect this message, you can ignore it.\n"
    )
    return f"Your questions from {practice_name}", body


@bp.route("/<counselor_id:invitation_id>/reissue", methods=["POST"])
def reissue(invitation_id: int) -> Response | tuple[str, int]:
    """A new link for the invitation (answers saved so far stay); the old link stops."""
    invitation = child_or_404(Invitation, invitation_id)
    form = ReissueForm()
    if not form.validate_on_submit():
        return _refused("Enter a number of days from 1 to 30, then make the link again.")
    try:
        token = services.reissue(
            invitation, _valid_for(form.valid_days.data), expected_version=form.version.data
        )
    except StaleEdit:
        return _refused(STALE_MESSAGE)
    except InvitationError as error:
        return _refused(str(error))
    db.session.commit()
    return _delivery_page(invitation, token)


def _refused(message: str) -> Response:
    """Back to the couple's links, saying why nothing was changed (nor audited as done)."""
    db.session.rollback()
    nothing_done()
    flash(message, "error")
    return redirect(counselor_url("couple.detail") + "#invitations")


@bp.route("/<counselor_id:invitation_id>/revoke", methods=["POST"])
def revoke(invitation_id: int) -> Response:
    """Stop the link now: the partner's open pages close at their next click."""
    invitation = child_or_404(Invitation, invitation_id)
    form = RevokeForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        revoked = services.revoke(invitation, expected_version=form.version.data)
    except StaleEdit:
        return _refused(STALE_MESSAGE)
    if not revoked:
        return _refused("This link had stopped working already: nothing to revoke.")
    db.session.commit()
    flash(f"Partner {invitation.partner.label}'s link no longer works.", "success")
    return redirect(counselor_url("couple.detail") + "#invitations")
