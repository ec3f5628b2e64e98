"""The dashboard and the couple pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
)
from sqlalchemy import select
from sqlalchemy.sql.base import ExecutableOption
from werkzeug.wrappers import Response

from counselor_app import encryption, signals
from counselor_app.appointments.services import last_and_next
from counselor_app.auth.identity import current_therapist
from counselor_app.couples import services
from counselor_app.encryption import UnreadableRecord
from counselor_app.extensions import db
from counselor_app.forms.base import ActionForm, restore_draft
from counselor_app.forms.couples import CoupleEditForm, CoupleForm, EraseCoupleForm, SearchForm
from counselor_app.intake import services as intake_services
from counselor_app.invitations import services as invitation_services
from counselor_app.models import (
    Appointment,
    CheckIn,
    Couple,
    CoupleStatus,
    Flag,
    Invitation,
    IssuedDocument,
    RelationshipStage,
    SessionPlan,
)
from counselor_app.models.base import StaleEdit
from counselor_app.web import counselor_url

bp = Blueprint("couples", __name__)
# The parent of every page about one couple (theirs, and the intake, assessment, plans,
# appointments and progress nested in it): the couple is loaded and authorised here, once per
# request, so no page under it can forget the check.
couple_bp = Blueprint("couple", __name__, url_prefix="/couples/<counselor_id:couple_id>")

SEARCH_KEY = "couple_search"
STATUS_FILTERS = {"active": CoupleStatus.ACTIVE, "closed": CoupleStatus.CLOSED, "all": None}


@couple_bp.url_value_preprocessor
def take_couple_id(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """The views take the couple from g.couple, never an id of their own."""
    g.couple_id = (values or {}).pop("couple_id", None)


@couple_bp.before_request
def load_couple() -> None:
    """g.couple: the signed-in therapist's couple, or a 404 (another's id is not revealed).

    Runs after the parent blueprint has made sure a therapist is signed in."""
    g.couple = services.get_owned_couple(current_therapist, g.couple_id)


# The rows a URL under the couple names by id: each has the couple_id it is owned through.
Child = TypeVar("Child", SessionPlan, IssuedDocument, Appointment, CheckIn, Flag, Invitation)


def child_or_404(model: type[Child], child_id: int, *options: ExecutableOption) -> Child:
    """The row of g.couple's with this id, or a 404: the one way the couple's pages look up a
    plan, document, appointment, check-in, flag or partner's link named in their URL.

    Filtered by the couple authorised for the request, not merely by the therapist: another
    couple's row, even one of the same therapist's, is not found. What hangs below such a row
    (an appointment's note, check-ins, homework review and flag statuses) is reached through
    the row returned, never by an id of its own, so the whole chain is the couple's.
    """
    query = select(model).where(model.id == child_id, model.couple_id == g.couple.id)
    return db.first_or_404(query.options(*options))


@couple_bp.url_defaults
def add_couple_id(endpoint: str, values: dict[str, Any]) -> None:
    """Links from one of the couple's pages to another need not repeat the couple's id."""
    if "couple_id" not in values and g.get("couple") is not None:
        values["couple_id"] = g.couple.id


@bp.route("/")
def index() -> str:
    """Dashboard: the therapist's couples, searchable by partner name, active ones first."""
    search = _remembered_search()
    status_key = request.args.get("status", "active")
    if status_key not in STATUS_FILTERS:
        status_key = "active"
    page = request.args.get("page", 1, type=int)
    pagination = services.search_couples(
        current_therapist,
        search=search,
        status=STATUS_FILTERS[status_key],
        page=min(max(page, 1), 100_000),
        per_page=current_app.config["COUNSELOR_COUPLES_PER_PAGE"],
    )
    appointments = last_and_next([c.id for c in pagination.items], datetime.now(UTC))
    form = SearchForm(formdata=None, q=search, status=status_key)
    return render_template(
        "counselor/couples/index.html",
        pagination=pagination,
        search=search,
        status=status_key,
        appointments=appointments,
        form=form,
    )


@bp.route("/search", methods=["POST"])
def search() -> Response:
    """Keep the search in the session and show the dashboard; "Clear" forgets it."""
    form = SearchForm()
    if not form.validate_on_submit():
        abort(400, "The search could not be used: a name of at most 80 characters, please.")
    _remember_search("" if "clear" in request.form else form.q.data or "")
    return redirect(counselor_url("couples.index", status=form.status.data))


def _remember_search(text: str) -> None:
    # The session cookie is signed, not encrypted: a name in it would be readable.
    session[SEARCH_KEY] = encryption.encrypt(text.encode()).decode("ascii") if text else ""


def _remembered_search() -> str:
    token = session.get(SEARCH_KEY)
    if not token:
        return ""
    try:
        return encryption.decrypt(token.encode("ascii")).decode()
    except UnreadableRecord:
        return ""  # made under a retired key: start again with no search


def _details(form: CoupleForm) -> services.CoupleDetails:
    def partner(sub: CoupleForm) -> services.PartnerDetails:
        return services.PartnerDetails(
            display_name=sub.display_name.data,
            pronouns=sub.pronouns.data or "",
            email=sub.email.data or None,
        )

    return services.CoupleDetails(
        partner_a=partner(form.partner_a.form),
        partner_b=partner(form.partner_b.form),
        relationship_stage=RelationshipStage(form.relationship_stage.data),
        relationship_length_months=form.relationship_length_months(),
        presenting_concerns=form.presenting_concerns.data or "",
    )


@bp.route("/couples/new", methods=["GET", "POST"])
def create() -> str | Response:
    """Create a couple with both partners in one form."""
    form = CoupleForm()
    if request.method == "GET":
        restore_draft(form)
    elif form.validate_on_submit():
        couple = services.create_couple(current_therapist, _details(form))
        db.session.commit()
        signals.send(signals.couple_created, couple_id=couple.id, therapist_id=couple.therapist_id)
        flash("Couple added.", "success")
        return redirect(counselor_url("couple.detail", couple_id=couple.id))
    return render_template("counselor/couples/form.html", form=form, couple=None), _status(form)


@couple_bp.route("")
def detail() -> str:
    """One couple: partners, relationship details and status."""
    couple = g.couple
    return render_template(
        "counselor/couples/detail.html",
        couple=couple,
        action_form=ActionForm(),
        intake=intake_services.progress_by_partner(couple),
        invitations=invitation_services.invitations_of(couple),
        link_days=current_app.config["COUNSELOR_PARTNER_LINK_DAYS"],
    )


def _fill(form: CoupleEditForm, couple: Couple) -> None:
    for sub, partner in (
        (form.partner_a.form, couple.partner_a),
        (form.partner_b.form, couple.partner_b),
    ):
        sub.display_name.data = partner.display_name
        sub.pronouns.data = partner.pronouns
        sub.email.data = partner.email
    form.relationship_stage.data = couple.relationship_stage.value
    if couple.relationship_length_months is not None:
        form.length_years.data, form.length_months.data = divmod(
            couple.relationship_length_months, 12
        )
    form.presenting_concerns.data = couple.presenting_concerns
    form.version.data = couple.version


@couple_bp.route("/edit", methods=["GET", "POST"])
def edit() -> str | Response:
    """Edit a couple; a save made from an out-of-date page is refused, with its text kept."""
    couple = g.couple
    form = CoupleEditForm()
    if request.method == "GET" and not restore_draft(form):
        _fill(form, couple)
    elif form.validate_on_submit():
        try:
            services.update_couple(couple, _details(form), expected_version=form.version.data)
        except StaleEdit:
            db.session.rollback()
            form.form_errors.append(
                "Someone saved changes to this couple after you opened this page. Your edits are "
                "still below: compare them with the current record (open it in another tab), "
                "then save again to keep yours."
            )
            form.version.refresh(db.session.get(Couple, couple.id).version)
            return render_template("counselor/couples/form.html", form=form, couple=couple), 409
        db.session.commit()
        flash("Couple saved.", "success")
        return redirect(counselor_url("couple.detail", couple_id=couple.id))
    return render_template("counselor/couples/form.html", form=form, couple=couple), _status(form)


def _status(form: CoupleForm) -> int:
    """422 for a submitted form with errors: the page still shows everything typed."""
    return 422 if request.method == "POST" and form.errors else 200


@couple_bp.route("/export.zip")
def export_zip() -> Response:
    """The couple's whole record: JSON and every issued PDF, for a transfer or a request."""
    couple = g.couple
    response = Response(services.export_archive(couple), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="couple-{couple.id}.zip"'
    response.headers["Cache-Control"] = "no-store"
    return response


@couple_bp.route("/erase", methods=["GET", "POST"])
def erase() -> str | Response | tuple[str, int]:
    """Erase a couple and all their clinical data, after the therapist types their name."""
    couple = g.couple
    form = EraseCoupleForm()
    if form.validate_on_submit():
        if _same_name(form.confirm_name.data, couple.display_name):
            services.erase_couple(couple)
            db.session.commit()
            flash("Couple erased. The audit trail records that it was done.", "success")
            return redirect(counselor_url("couples.index"))
        form.confirm_name.errors.append(
            f"That does not match. Type {couple.display_name} to erase this couple."
        )
    page = render_template(
        "counselor/couples/erase.html",
        couple=couple,
        form=form,
        counts=services.record_counts(couple),
    )
    return page, _status(form)


def _same_name(typed: str, name: str) -> bool:
    return " ".join(typed.split()).casefold() == " ".join(name.split()).casefold()


def _change_status(status: CoupleStatus, done: str) -> Response:
    couple = g.couple
    if not ActionForm().validate_on_submit():
        abort(400)
    if services.set_status(couple, status):
        db.session.commit()
        if status == CoupleStatus.CLOSED:
            signals.send(
                signals.couple_closed, couple_id=couple.id, therapist_id=couple.therapist_id
            )
        flash(f"Couple's {done}.", "success")
    return redirect(counselor_url("couple.detail", couple_id=couple.id))


@couple_bp.route("/close", methods=["POST"])
def close() -> Response:
    """Close a couple's file (ending therapy); it stays readable and can be reopened."""
    return _change_status(CoupleStatus.CLOSED, "file closed")


@couple_bp.route("/reopen", methods=["POST"])
def reopen() -> Response:
    """Reopen a closed couple's file."""
    return _change_status(CoupleStatus.ACTIVE, "file reopened")
