"""A partner's own pages, reached by the personal link the therapist sent: the intake or a
check-in, one page at a time, on their phone, with nothing of anyone else's on them.

These pages never use a therapist's (or a host user's) sign-in: the link is exchanged for a
partner session (partner.services), and every page loads the invitation from it again, so a
revoked, expired or finished invitation closes them at once.
"""

from __future__ import annotations

from flask import Blueprint, abort, g, make_response, redirect, render_template, request
from werkzeug.wrappers import Response

from counselor_app import signals
from counselor_app.appointments.services import CHECK_IN_MEASURES
from counselor_app.assessment import services as assessment
from counselor_app.audit import services as audit
from counselor_app.auth.identity import current_therapist
from counselor_app.extensions import db, state
from counselor_app.forms.appointments import check_in_form_class
from counselor_app.forms.base import ActionForm
from counselor_app.forms.intake import section_form_class
from counselor_app.instruments import SAFETY_ID, load
from counselor_app.intake import services as intake
from counselor_app.invitations import services as invitations
from counselor_app.invitations.services import InvitationError
from counselor_app.models import Invitation, InvitationPurpose
from counselor_app.models.base import StaleEdit
from counselor_app.partner import services
from counselor_app.web import counselor_url, local_endpoint, renew_csrf_token

bp = Blueprint("partner", __name__, url_prefix=services.PAGES_PATH)

CONFLICT_MESSAGE = (
    "These answers were changed in another window after you opened this page, so yours were "
    "not saved yet. They are still below: check them, then save again."
)
# Said alike for an unknown, expired, revoked or finished link: nothing to learn from it.
UNAVAILABLE_STATUS = 404


def unavailable() -> tuple[str, int]:
    return render_template("counselor/partner/unavailable.html"), UNAVAILABLE_STATUS


def link_works() -> bool:
    """Whether this request's link opens an invitation (the rate limit then lets it through)."""
    token = (request.view_args or {}).get("token", "")
    return invitations.open_invitation(token) is not None


def open_link(token: str) -> Response | tuple[str, int]:
    """Exchange the link's token for a partner session, then leave the token's URL at once
    (303 to a page without it), so it stays out of the history and every later Referer.

    Registered per app by mount.build, behind that app's rate limit on wrong links.
    """
    invitation = invitations.open_invitation(token)
    if invitation is None:
        # Ends the read before the rate limiter counts this miss on a connection of its own.
        db.session.rollback()
        body, status = unavailable()
        response = make_response(body, status)
        response.headers["Cache-Control"] = "no-store"
        return response
    invitations.mark_opened(invitation)
    _record("partner_open", invitation)
    db.session.commit()
    _renew_csrf_token_of_a_new_session()
    response = redirect(counselor_url("partner.welcome"), code=303)
    response.headers["Cache-Control"] = "no-store"
    services.keep_session(response, invitation)
    # The page that follows is not the token's URL, but this response is: refer nowhere.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _renew_csrf_token_of_a_new_session() -> None:
    """Opening a link where no partner session is open is a sign-in: the partner's forms start
    on a new CSRF token (web.renew_csrf_token). Not while a partner session is open (a partner
    reopening their link keeps the pages they have open working), nor where a therapist of ours
    is signed in (their session renewed it at sign-in), nor mounted (the host's session)."""
    if (
        state().standalone_sign_in
        and not current_therapist
        and services.signed_in_invitation() is None
    ):
        renew_csrf_token()


@bp.before_request
def load_invitation() -> tuple[str, int] | None:
    if local_endpoint() == "partner.done":
        return None  # the thank-you page needs nobody: the link is used up by then
    invitation = services.signed_in_invitation()
    if invitation is None:
        return unavailable()
    g.invitation = invitation
    return None


@bp.after_request
def private_pages(response: Response) -> Response:
    """Nothing of a partner's pages is kept by the browser or a proxy, and each page opened
    keeps the partner session alive (a finished one has been ended by the view)."""
    response.headers["Cache-Control"] = "no-store"
    invitation = g.get("invitation")
    if invitation is not None and response.status_code < 400 and not g.get("session_ended"):
        services.keep_session(response, invitation)
    return response


def _record(action: str, invitation: Invitation) -> None:
    """The audit trail, ids only: which invitation, which couple, from where; on the chain of
    the couple's therapist (no therapist did it, but it is their couple's record)."""
    audit.record(
        action,
        therapist_id=None,
        object_type="invitation",
        object_id=invitation.id,
        couple_id=invitation.couple_id,
        endpoint=local_endpoint() or "partner_link",
        address=request.remote_addr or "",
        chain=invitation.couple.therapist_id,
    )


def _view(invitation: Invitation) -> None:
    _record("partner_view", invitation)
    db.session.commit()


def _page(template: str, status: int = 200, **context: object) -> tuple[str, int]:
    invitation: Invitation = g.invitation
    return render_template(
        template,
        invitation=invitation,
        partner=invitation.partner,
        practice=services.practice_of(invitation),
        **context,
    ), status


def _require(purpose: InvitationPurpose) -> Invitation:
    invitation: Invitation = g.invitation
    if invitation.purpose != purpose:
        abort(404)
    return invitation


@bp.route("/")
def welcome() -> tuple[str, int]:
    """Who is asking, what for, how long it takes, and who will read the answers."""
    invitation: Invitation = g.invitation
    _view(invitation)
    start = (
        counselor_url("partner.intake_start")
        if invitation.purpose == InvitationPurpose.INTAKE
        else counselor_url("partner.check_in")
    )
    return _page(
        "counselor/partner/welcome.html",
        minutes=services.minutes_needed(invitation.purpose),
        start=start,
        started=invitation.started_at is not None,
    )


# ------------------------------------------------------------------------------ the intake
def _version(invitation: Invitation) -> int:
    """The intake version this partner's couple answers (the first partner's, else the latest)."""
    return intake.intake_version(invitation.couple_id)


def _step(slug: str, version: int) -> intake.Step:
    step = intake.step_by_slug(slug, version)
    if step is None:
        abort(404)
    return step


@bp.route("/intake")
def intake_start() -> Response:
    """The first page still missing answers (or the finish page when none is)."""
    invitation = _require(InvitationPurpose.INTAKE)
    progress = intake.progress(intake.responses_of(invitation.partner), _version(invitation))
    target = next((p.step for p in progress.steps if p.required_missing), None)
    if target is None:
        return redirect(counselor_url("partner.intake_finish"))
    return redirect(counselor_url("partner.intake_page", slug=target.slug))


@bp.route("/intake/<slug>", methods=["GET", "POST"])
def intake_page(slug: str) -> Response | tuple[str, int]:
    """One page of the partner's own intake: the same questions, checks and drafts as the
    therapist's page for that partner, worded and laid out for a phone."""
    invitation = _require(InvitationPurpose.INTAKE)
    version = _version(invitation)
    step = _step(slug, version)
    partner = invitation.partner
    form = section_form_class(step.instrument.id, step.instrument.version, step.section)()
    status = 200
    responses = intake.responses_of(partner)
    saved = intake.section_values(responses.get(step.instrument.id), step)
    hidden = _kept_out_of_sight(step) and any(v not in (None, "") for v in saved.values())
    if request.method == "GET":
        if not hidden:
            form.fill(saved)
        form.version.data = intake.version_token(responses, step)
        _view(invitation)
    else:
        if form.unexpected_keys(request.form.keys()):
            abort(400, "The page sent answers it does not have. Nothing was saved.")
        if not form.validate_on_submit():
            status = 422
        else:
            outcome = _save_page(invitation, step, form)
            if outcome is None:
                return _after_save(step, version)
            status = outcome
    steps = intake.steps(version)
    return _page(
        "counselor/partner/intake_page.html",
        status,
        step=step,
        form=form,
        number=steps.index(step) + 1,
        count=len(steps),
        previous=intake.neighbours(step, version)[0],
        hidden=hidden,
    )


def _kept_out_of_sight(step: intake.Step) -> bool:
    """The safety screen's saved answers are never shown again: whoever picks up the phone or
    opens the mail next may be the person they are about. Answering again replaces them."""
    return step.instrument.id == SAFETY_ID


def _save_page(invitation: Invitation, step: intake.Step, form) -> int | None:
    """None when saved; else the status of the page shown again with what was typed."""
    try:
        answers = form.answers()
        if _kept_out_of_sight(step):
            # Shown empty, so an answer left empty is one not given again, not one cleared.
            answers = {item: value for item, value in answers.items() if value is not None}
        if invitations.save_intake_page(
            invitation, step, answers, expected_version=form.version.data
        ):
            assessment.rescore(invitation.couple)
        _record("partner_save", invitation)
    except StaleEdit:
        db.session.rollback()
        form.form_errors.append(CONFLICT_MESSAGE)
        form.version.refresh(intake.version_token(intake.responses_of(g.invitation.partner), step))
        return 409
    except InvitationError as error:
        db.session.rollback()
        form.form_errors.append(str(error))
        return 409
    db.session.commit()
    return None


def _after_save(step: intake.Step, version: int) -> Response:
    action = request.form.get("action", "next")
    previous, following = intake.neighbours(step, version)
    if action == "later":
        return redirect(counselor_url("partner.paused"), code=303)
    if action == "prev" and previous is not None:
        return redirect(counselor_url("partner.intake_page", slug=previous.slug), code=303)
    if following is None:
        return redirect(counselor_url("partner.intake_finish"), code=303)
    return redirect(counselor_url("partner.intake_page", slug=following.slug), code=303)


@bp.route("/intake/finish", methods=["GET", "POST"])
def intake_finish() -> Response | tuple[str, int]:
    """What is still missing, then sending the answers (the intake is then complete)."""
    invitation = _require(InvitationPurpose.INTAKE)
    form = ActionForm()
    if form.validate_on_submit():
        try:
            completion = invitations.complete_intake(invitation)
        except StaleEdit:
            return _sent_meanwhile(invitation.id)
        if not completion.missing:
            assessment.rescore(invitation.couple)
            _record("partner_complete", invitation)
            db.session.commit()
            if completion.newly_complete:
                signals.send(
                    signals.intake_completed,
                    couple_id=invitation.couple_id,
                    partner_id=invitation.partner_id,
                )
            return _finished()
        db.session.rollback()
    else:
        _view(invitation)
    responses = intake.responses_of(invitation.partner)
    version = _version(invitation)
    missing = intake.missing_for_completion(responses, version)
    return _page(
        "counselor/partner/intake_finish.html",
        422 if missing and request.method == "POST" else 200,
        form=form,
        missing=missing,
        progress=intake.progress(responses, version),
    )


# ------------------------------------------------------------------------------ a check-in
@bp.route("/check-in", methods=["GET", "POST"])
def check_in() -> Response | tuple[str, int]:
    """The two short check-in measures on one page, sent together."""
    invitation = _require(InvitationPurpose.CHECK_IN)
    form = check_in_form_class(tuple(load(i) for i in CHECK_IN_MEASURES))()
    status = 200
    if request.method == "GET":
        _view(invitation)
    elif form.validate_on_submit():
        try:
            invitations.record_check_in(invitation, form.answers())
        except StaleEdit:
            return _sent_meanwhile(invitation.id)
        _record("partner_complete", invitation)
        db.session.commit()
        return _finished()
    else:
        status = 422
    return _page("counselor/partner/check_in.html", status, form=form)


# ------------------------------------------------------------------------------ leaving
def _sent_meanwhile(invitation_id: int) -> Response:
    """A second Send (a double tap, another tab) lost the race to the first: the answers
    are in, so the partner sees what the first one saw. Anything else that changed the
    invitation meanwhile (revoked, made again) closes the pages as it would on the next click.
    """
    db.session.rollback()
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is not None and invitation.completed_at is not None:
        return _finished()
    return make_response(*unavailable())


def _finished() -> Response:
    """Answers sent: the link is used up, and the thank-you page ends the session."""
    return redirect(counselor_url("partner.done"), code=303)


@bp.route("/done")
def done() -> Response:
    """Thanks, and what happens next. Names nobody: it is shown after the link is used up."""
    return _ending(render_template("counselor/partner/done.html"))


@bp.route("/paused")
def paused() -> Response:
    """Saved, to finish later with the same link: this browser forgets the session."""
    return _ending(*_page("counselor/partner/paused.html"))


def _ending(body: str, status: int = 200) -> Response:
    """A last page: it ends the partner's session on this browser."""
    response = make_response(body, status)
    services.end_session(response)
    g.session_ended = True
    return response
