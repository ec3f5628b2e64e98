"""Recording every access to and change of client data, from the request hooks."""

from __future__ import annotations

from flask import g, request
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from counselor_app.audit import services
from counselor_app.auth.identity import current_therapist
from counselor_app.extensions import db
from counselor_app.web import local_endpoint

# The most specific record a URL names, first match wins: (URL argument, what it is).
OBJECTS = (
    ("check_in_id", "check-in"),
    ("invitation_id", "invitation"),
    ("document_id", "document"),
    ("appointment_id", "appointment"),
    ("plan_id", "plan"),
    ("flag_id", "flag"),
    ("therapist_id", "therapist"),
    ("couple_id", "couple"),
)
CREATES = frozenset(
    {
        "couples.create",
        "couple.plans.create",
        "couple.appointments.index",
        "library.create",
        "admin.add_therapist",
        "couple.invitations.create",
        "calendars.make_feed",
    }
)
# What is done to a partner's link, named as the therapist would say it. (The partner's own
# opening, viewing, saving and sending are recorded by partner.views.)
INVITATION_ACTIONS = {
    "couple.invitations.email": "send",
    "couple.invitations.slip": "print",
    "couple.invitations.reissue": "reissue",
    "couple.invitations.revoke": "revoke",
    # A therapist's calendar feed link: made (or made again) is a create, above.
    "calendars.revoke_feed": "revoke",
}
ISSUES = frozenset({"couple.plans.issue", "couple.progress.issue"})
EXPORTS = frozenset(
    {
        "couple.intake.export",
        "couple.plans.download",
        "couple.export_zip",
        "couple.calendar.appointment",
        "calendars.appointments_csv",
        "admin.audit_csv",
        "couple.fhir.intake_response",
        "couple.fhir.check_in_response",
    }
)
# Answers brought in from a FHIR file: they change the record as typed answers do.
IMPORTS = frozenset({"couple.fhir.import_response"})
DELETES = frozenset({"couple.erase"})
# Sign-in and sign-out are recorded by the auth views themselves (they know the outcome), and
# the calendar feed by its view (fetched by a calendar app, with nobody signed in).
NOT_HERE = frozenset({"auth.login", "auth.logout", "static", "print_css", "calendars.feed"})


def action_of(endpoint: str, method: str) -> str:
    if endpoint in EXPORTS:
        return "export"
    if method == "GET":
        return "view"
    if endpoint in ISSUES:
        return "issue"
    if endpoint in INVITATION_ACTIONS:
        return INVITATION_ACTIONS[endpoint]
    if endpoint in DELETES:
        return "delete"
    if endpoint in IMPORTS:
        return "update"
    return "create" if endpoint in CREATES else "update"


def nothing_done() -> None:
    """For a view whose refusal still redirects (a flash says why): nothing was changed, so
    the trail must not say it was."""
    g.nothing_done = True


def _audited(endpoint: str) -> bool:
    return (
        endpoint not in NOT_HERE
        and endpoint.split(".")[0] in AUDITED_BLUEPRINTS
        and bool(current_therapist)
    )


def watch_commits() -> None:
    """Before a request that may change client data: its audit row is written as part of the
    commit that changes it (see record_in_commit), so a change is never kept without its row
    and a change rolled back (a conflict, a refused constraint) leaves none.

    A listener on this request's session only, removed when the request ends (stop_watching):
    a host's own sessions and pages are never watched."""
    if request.method in READS or not _audited(local_endpoint()):
        return
    session = db.session()
    event.listen(session, "before_commit", record_in_commit)
    event.listen(session, "after_commit", _committed)
    g.audit_watched = session


def record_in_commit(session: Session) -> None:
    """The request's audit row, into the transaction being committed (once per request). A
    savepoint's release is not the commit: the outer transaction could still roll back."""
    if session.in_nested_transaction():
        return
    if not g.get("audit_committed") and not g.get("nothing_done"):
        _record_request()


def _committed(session: Session) -> None:
    if not session.in_nested_transaction():
        g.audit_committed = True


def stop_watching() -> None:
    session = g.pop("audit_watched", None)
    if session is not None:
        event.remove(session, "before_commit", record_in_commit)
        event.remove(session, "after_commit", _committed)


def forget_request(error: BaseException | None) -> None:
    """When the request ends, however it ends: nothing of it is left for the next request
    (a test may run several in one app context, which g belongs to)."""
    stop_watching()
    g.pop("audit_committed", None)


def audit_request(response: Response) -> Response:
    """After every successful request of a signed-in therapist to this package's pages: a
    read (or a request that committed nothing) is recorded here, in a transaction of its own;
    a change was recorded with its commit."""
    stop_watching()
    if (
        g.pop("audit_committed", False)  # recorded with the change it made
        or response.status_code >= 400
        or g.get("nothing_done")  # a refused change that still answers with a redirect
        or not _audited(local_endpoint())
    ):
        return response
    _record_request()
    db.session.commit()
    return response


def _record_request() -> None:
    endpoint = local_endpoint()
    # The couple's id is taken off the URL by its parent blueprint (see couples.views).
    args = {**(request.view_args or {}), "couple_id": g.get("couple_id")}
    area = endpoint.split(".")[-2] if endpoint.startswith("couple.") else endpoint.split(".")[0]
    object_type, object_id = next(
        ((kind, args[name]) for name, kind in OBJECTS if isinstance(args.get(name), int)),
        (area, None),
    )
    services.record(
        action_of(endpoint, request.method),
        therapist_id=current_therapist.id,
        object_type=object_type,
        object_id=object_id,
        couple_id=args.get("couple_id"),
        endpoint=endpoint,
        address=request.remote_addr or "",
    )


READS = frozenset({"GET", "HEAD", "OPTIONS"})
AUDITED_BLUEPRINTS = frozenset({"couples", "couple", "library", "admin", "calendars"})
