"""The practice owner's pages: therapists of the practice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
)
from werkzeug.wrappers import Response

from counselor_app import csvfile
from counselor_app.admin import services
from counselor_app.audit import services as audit
from counselor_app.auth.identity import current_therapist
from counselor_app.auth.services import AccountError
from counselor_app.extensions import db, state
from counselor_app.forms.admin import PracticeForm, TherapistForm
from counselor_app.forms.base import ActionForm
from counselor_app.models import PaperSize, Therapist
from counselor_app.models.base import StaleEdit, utcnow
from counselor_app.plans.services import practice as practice_settings
from counselor_app.web import counselor_url

bp = Blueprint("admin", __name__, url_prefix="/admin")

AUDIT_ACTIONS = (
    "view",
    "create",
    "update",
    "delete",
    "export",
    "issue",
    "send",
    "print",
    "reissue",
    "revoke",
    "partner_open",
    "partner_view",
    "partner_save",
    "partner_complete",
    "login_success",
    "login_failure",
    "logout",
    # Operators' commands (flask counselor ...), recorded with no therapist.
    "setup",
    "restore",
    "keys_rotate",
    "keys_reencrypt",
)


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_therapist.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


@bp.route("/therapists")
@admin_required
def therapists() -> str:
    """Every therapist of the practice, with their status."""
    return render_template(
        "counselor/admin/therapists.html",
        therapists=services.list_therapists(),
        action_form=ActionForm(),
    )


@bp.route("/therapists/new", methods=["GET", "POST"])
@admin_required
def add_therapist() -> str | Response:
    """Add a therapist; the generated password is shown once, on this response only.

    Mounted on the host's sign-in, accounts come from the host: there is nothing to add here."""
    if not state().standalone_sign_in:
        abort(404)
    form = TherapistForm()
    if form.validate_on_submit():
        try:
            therapist, password = services.add_therapist(
                form.name.data, form.email.data, is_admin=form.is_admin.data
            )
        except AccountError as error:
            form.email.errors.append(str(error))
        else:
            db.session.commit()
            page = render_template(
                "counselor/admin/therapist_added.html", therapist=therapist, password=password
            )
            response = make_response(page)
            # A one-time password must not linger in the browser's cache or history.
            response.headers["Cache-Control"] = "no-store"
            return response
    return render_template("counselor/admin/therapist_form.html", form=form)


# Said beside a filter that could not be read. Ids are 32-bit keys: a larger number names
# nothing, and PostgreSQL would refuse to compare it with one (a 500, not a filter).
LARGEST_ID = 2**31 - 1
FILTER_PROBLEMS = {
    "therapist": "Choose a therapist from the list.",
    "couple": f"A couple is chosen by its number: a whole number from 1 to {LARGEST_ID}.",
    "since": "Write the date as 2026-11-22.",
}


def _audit_filters() -> tuple[audit.Filters, dict[str, str]]:
    """The filters in the query string, read alike by the page and its CSV, and what is wrong
    with each one that could not be read: both then refuse (400) rather than list more than
    was asked for."""
    args = request.args
    problems: dict[str, str] = {}
    since = None
    if args.get("since"):
        try:
            since = datetime.strptime(args["since"], "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            problems["since"] = FILTER_PROBLEMS["since"]
    ids: dict[str, int | None] = {}
    for name in ("therapist", "couple"):
        raw = args.get(name, "").strip()
        # Digits 0-9 only (int() reads other scripts' too), and few enough for int() to read.
        digits = raw.isascii() and raw.isdigit() and len(raw) <= len(str(LARGEST_ID))
        readable = digits and 1 <= int(raw) <= LARGEST_ID
        if raw and not readable:
            problems[name] = FILTER_PROBLEMS[name]
        ids[name] = int(raw) if raw and readable else None
    filters = audit.Filters(
        therapist_id=ids["therapist"],
        action=args.get("action") or None,
        couple_id=ids["couple"],
        since=since,
    )
    return filters, problems


@bp.route("/audit")
@admin_required
def audit_trail() -> tuple[str, int]:
    """The audit trail, newest first, filtered by therapist, action, couple or date."""
    args = request.args
    filters, problems = _audit_filters()
    # Any page number is read as one between the first and the last that could hold events.
    page = min(max(args.get("page", 1, type=int), 1), 100_000)
    page_html = render_template(
        "counselor/admin/audit.html",
        events=None if problems else audit.search(filters, page=page),
        problems=problems,
        names={t.id: t.name for t in services.list_therapists()},
        actions=AUDIT_ACTIONS,
        filters=args,
        verification=audit.verify() if args.get("verify") else None,
    )
    return page_html, 400 if problems else 200


AUDIT_CSV_HEADER = (
    "Event",
    "When (UTC)",
    "Therapist id",
    "Therapist",
    "Action",
    "Record type",
    "Record id",
    "Couple id",
    "Page",
    "From",
    "Previous hash",
    "Hash",
)


@bp.route("/audit.csv")
@admin_required
def audit_csv() -> Response:
    """The audit trail as the page filters it (every page of it, newest first), as CSV; with
    each row's hashes, so the file can be checked against the chain later."""
    filters, problems = _audit_filters()
    if problems:
        abort(400, " ".join(problems.values()))
    names = {t.id: t.name for t in services.list_therapists()}
    rows = (
        (
            e.id,
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.therapist_id,
            names.get(e.therapist_id, "") if e.therapist_id else "",
            e.action,
            e.object_type,
            e.object_id,
            e.couple_id,
            e.endpoint,
            e.address,
            e.prev_hash,
            e.hash,
        )
        for e in audit.every_match(filters)
    )
    return csvfile.response(f"audit-trail-{utcnow():%Y-%m-%d}.csv", AUDIT_CSV_HEADER, rows)


@bp.route("/practice", methods=["GET", "POST"])
@admin_required
def practice() -> str | Response | tuple[str, int]:
    """The practice's name and paper size, used on every document it issues, and the contact
    and crisis lines shown to partners on their own pages."""
    settings = practice_settings()
    form = PracticeForm(obj=settings)
    if form.validate_on_submit():
        try:
            services.update_practice(
                settings,
                services.PracticeDetails(
                    name=form.name.data or "",
                    paper_size=PaperSize(form.paper_size.data),
                    contact_line=form.contact_line.data or "",
                    crisis_line=form.crisis_line.data or "",
                ),
                expected_version=form.version.data,
            )
        except StaleEdit:
            db.session.rollback()
            form.form_errors.append(
                "Someone changed these settings meanwhile. Check and save again."
            )
            form.version.refresh(practice_settings().version)
            return render_template("counselor/admin/practice.html", form=form), 409
        db.session.commit()
        flash("Practice settings saved.", "success")
        return redirect(counselor_url("admin.practice"))
    if request.method == "GET":
        form.paper_size.data = settings.paper_size.value
    status = 422 if form.errors else 200
    return render_template("counselor/admin/practice.html", form=form), status


def _set_active(therapist_id: int, active: bool) -> Response:
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    therapist = db.get_or_404(Therapist, therapist_id)
    try:
        services.set_active(therapist, active, acting=current_therapist)
    except AccountError as error:
        flash(str(error), "error")
    else:
        db.session.commit()
        state = "reactivated" if active else "deactivated"
        flash(f"The account has been {state}.", "success")
    return redirect(counselor_url("admin.therapists"))


@bp.route("/therapists/<counselor_id:therapist_id>/deactivate", methods=["POST"])
@admin_required
def deactivate_therapist(therapist_id: int) -> Response:
    """Deactivate an account: it can no longer sign in, and open sessions end."""
    return _set_active(therapist_id, active=False)


@bp.route("/therapists/<counselor_id:therapist_id>/activate", methods=["POST"])
@admin_required
def activate_therapist(therapist_id: int) -> Response:
    """Let a deactivated therapist sign in again."""
    return _set_active(therapist_id, active=True)
