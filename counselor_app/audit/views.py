"""Recording every access to and change of client data, from one request hook."""

from __future__ import annotations

from flask import request
from flask_login import current_user
from werkzeug.wrappers import Response

from counselor_app.audit import services
from counselor_app.extensions import db

# The most specific record a URL names, first match wins: (URL argument, what it is).
OBJECTS = (
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
        "plans.create",
        "appointments.index",
        "library.create",
        "admin.add_therapist",
    }
)
ISSUES = frozenset({"plans.issue", "progress.issue"})
EXPORTS = frozenset({"intake.export", "plans.download", "couples.export_zip"})
DELETES = frozenset({"couples.erase"})
# Sign-in and sign-out are recorded by the auth views themselves (they know the outcome).
NOT_HERE = frozenset({"auth.login", "auth.logout", "counselor.static", "counselor.print_css"})


def action_of(endpoint: str, method: str) -> str:
    if endpoint in EXPORTS:
        return "export"
    if method == "GET":
        return "view"
    if endpoint in ISSUES:
        return "issue"
    if endpoint in DELETES:
        return "delete"
    return "create" if endpoint in CREATES else "update"


def audit_request(response: Response) -> Response:
    """After every successful request of a signed-in therapist to this package's pages."""
    endpoint = request.endpoint or ""
    if (
        response.status_code >= 400
        or endpoint in NOT_HERE
        or endpoint.split(".")[0] not in AUDITED_BLUEPRINTS
        or not current_user.is_authenticated
    ):
        return response
    args = request.view_args or {}
    object_type, object_id = next(
        ((kind, args[name]) for name, kind in OBJECTS if isinstance(args.get(name), int)),
        (endpoint.split(".")[0], None),
    )
    services.record(
        action_of(endpoint, request.method),
        therapist_id=current_user.id,
        object_type=object_type,
        object_id=object_id,
        couple_id=args.get("couple_id"),
        endpoint=endpoint,
        address=request.remote_addr or "",
    )
    db.session.commit()
    return response


AUDITED_BLUEPRINTS = frozenset(
    {"couples", "intake", "assessment", "plans", "library", "appointments", "progress", "admin"}
)
