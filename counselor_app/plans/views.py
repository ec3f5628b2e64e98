"""Session plans for a couple: build, preview, issue as PDF, and download what was issued."""

from __future__ import annotations

from datetime import date

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
)

from counselor_app import signals
from counselor_app.assessment.services import confirmed_flags, handout_blocked
from counselor_app.auth.identity import current_therapist
from counselor_app.couples.views import child_or_404
from counselor_app.extensions import db
from counselor_app.flags import CHALLENGES
from counselor_app.forms.base import ActionForm, restore_draft
from counselor_app.forms.plans import PlanEditForm, PlanForm
from counselor_app.library.services import strategies_for
from counselor_app.models import Couple, DocumentKind, IssuedDocument, SessionPlan
from counselor_app.models.base import StaleEdit, as_utc
from counselor_app.plans import services
from counselor_app.reports import builders
from counselor_app.reports.documents import Preview, render, render_html
from counselor_app.web import counselor_url

bp = Blueprint("plans", __name__, url_prefix="/plans")

KINDS = {"plan": DocumentKind.SESSION_PLAN, "handout": DocumentKind.HANDOUT}
CONFLICT_MESSAGE = (
    "This plan was saved from another tab after you opened this page. Nothing was saved: "
    "your version is below. Compare it with the current plan, then save again."
)
AUTOSAVE_CONFLICT = (
    "This plan was saved from another tab after you opened this page, so your changes here "
    "are not saved. Copy anything you need, then reload the page."
)
AUTOSAVE_INVALID = "a field needs correcting: use Save plan to see which."


def _kind(kind: str) -> DocumentKind:
    if kind not in KINDS:
        abort(404)
    return KINDS[kind]


def _with_choices(form: PlanForm, flags: list, strategies: dict) -> PlanForm:
    suggested = services.suggested_strategy_keys(flags, strategies)
    ordered = suggested + [key for key in strategies if key not in suggested]
    form.set_choices(
        [
            (
                flag.id,
                f"{CHALLENGES[flag.challenge_key][0]} ({flag.severity.value}, "
                f"{flag.partners_label.lower()})",
            )
            for flag in flags
        ],
        [
            (key, strategies[key].title + (" (suggested)" if key in suggested else ""))
            for key in ordered
        ],
    )
    return form


def _fill(form: PlanForm, values: services.PlanValues) -> None:
    form.session_date.data = values.session_date
    form.goals.data = values.goals
    form.focus_flags.data = values.focus_flag_ids
    form.strategies.data = values.strategy_keys
    form.private_notes.data = values.private_notes
    for entry, row in zip(form.agenda.entries, values.agenda, strict=False):
        entry.form.part.data = row["part"]
        entry.form.minutes.data = row["minutes"]
        entry.form.notes.data = row["notes"]
    while len(form.homework.entries) < len(values.homework):
        form.homework.append_entry()
    for entry, item in zip(form.homework.entries, values.homework, strict=False):
        entry.form.strategy_key.data = item.get("strategy_key") or ""
        entry.form.text.data = item["text"]


def _values(form: PlanForm) -> services.PlanValues:
    return services.PlanValues(
        session_date=form.session_date.data,
        goals=form.goals.data or "",
        agenda=[
            {
                "part": e.form.part.data,
                "minutes": e.form.minutes.data,
                "notes": e.form.notes.data or "",
            }
            for e in form.agenda.entries
        ],
        focus_flag_ids=list(form.focus_flags.data or []),
        strategy_keys=list(dict.fromkeys(form.strategies.data or [])),
        homework=[
            {"strategy_key": e.form.strategy_key.data or None, "text": e.form.text.data}
            for e in form.homework.entries
            if (e.form.text.data or "").strip()
        ],
        private_notes=form.private_notes.data or "",
    )


def _form_page(
    couple: Couple, form: PlanForm, plan: SessionPlan | None, status: int | None = None
) -> tuple[str, int]:
    if status is None:
        status = 422 if request.method == "POST" and form.errors else 200
    page = render_template(
        "counselor/plans/form.html",
        couple=couple,
        form=form,
        plan=plan,
        agenda_label=services.AGENDA_LABELS.get,
    )
    return page, status


@bp.route("")
def index() -> str:
    """The couple's session plans and every document issued to or about them."""
    couple = g.couple
    return render_template(
        "counselor/plans/index.html",
        couple=couple,
        plans=services.plans_of(couple),
        documents=services.documents_of(couple),
        handout_blocked=handout_blocked(couple),
    )


@bp.route("/new", methods=["GET", "POST"])
def create() -> str | Response | tuple[str, int]:
    """A new plan, prefilled from the confirmed flags and their strategies."""
    couple = g.couple
    form = PlanForm()
    flags, strategies = confirmed_flags(couple), strategies_for(current_therapist)
    if request.method == "GET" and not restore_draft(form):
        _fill(form, services.prefill(flags, strategies, date.today()))
    _with_choices(form, flags, strategies)
    if request.method == "POST" and form.validate_on_submit():
        plan = services.create_plan(couple, current_therapist, _values(form))
        db.session.commit()
        flash("Session plan saved.", "success")
        return redirect(counselor_url("couple.plans.detail", couple_id=couple.id, plan_id=plan.id))
    return _form_page(couple, form, None)


@bp.route("/<counselor_id:plan_id>/edit", methods=["GET", "POST"])
def edit(plan_id: int) -> str | Response | tuple[str, int]:
    """Edit a plan. Documents already issued from it stay exactly as they were."""
    couple = g.couple
    plan = child_or_404(SessionPlan, plan_id)
    form = PlanEditForm()
    if request.method == "GET" and not restore_draft(form):
        _fill(form, _stored_values(plan))
        form.version.data = plan.version
    _with_choices(form, confirmed_flags(couple), strategies_for(current_therapist))
    if request.method == "POST" and form.validate_on_submit():
        try:
            services.update_plan(plan, _values(form), expected_version=form.version.data)
        except StaleEdit:
            db.session.rollback()
            form.form_errors.append(CONFLICT_MESSAGE)
            form.version.refresh(child_or_404(SessionPlan, plan_id).version)
            return _form_page(couple, form, plan, 409)
        db.session.commit()
        flash("Session plan saved.", "success")
        return redirect(counselor_url("couple.plans.detail", couple_id=couple.id, plan_id=plan.id))
    return _form_page(couple, form, plan)


@bp.route("/<counselor_id:plan_id>/autosave", methods=["POST"])
def autosave(plan_id: int) -> tuple[Response, int]:
    """The edit page's script saves the plan every few seconds while the therapist types."""
    couple = g.couple
    plan = child_or_404(SessionPlan, plan_id)
    form = _with_choices(PlanEditForm(), confirmed_flags(couple), strategies_for(current_therapist))
    if not form.validate_on_submit():
        return jsonify(saved=False, error=AUTOSAVE_INVALID), 422
    try:
        services.update_plan(plan, _values(form), expected_version=form.version.data)
    except StaleEdit:
        db.session.rollback()
        return jsonify(saved=False, error=AUTOSAVE_CONFLICT), 409
    db.session.commit()
    return jsonify(saved=True, version=plan.version, at=as_utc(plan.updated_at).isoformat()), 200


def _stored_values(plan: SessionPlan) -> services.PlanValues:
    return services.PlanValues(
        session_date=plan.session_date,
        goals=plan.goals,
        agenda=plan.agenda,
        focus_flag_ids=plan.focus_flag_ids,
        strategy_keys=plan.strategy_keys,
        homework=plan.homework,
        private_notes=plan.private_notes,
    )


def _detail_page(
    couple: Couple, plan: SessionPlan, *, refused: str | None = None
) -> tuple[str, int]:
    documents = [d for d in services.documents_of(couple) if d.plan_id == plan.id]
    page = render_template(
        "counselor/plans/detail.html",
        couple=couple,
        plan=plan,
        documents=documents,
        handout_blocked=handout_blocked(couple),
        refused=refused,
        strategies=strategies_for(current_therapist),
        agenda_labels=services.AGENDA_LABELS,
    )
    return page, 409 if refused else 200


@bp.route("/<counselor_id:plan_id>")
def detail(plan_id: int) -> tuple[str, int]:
    """A plan at a glance, with its previews and the documents issued from it."""
    couple = g.couple
    return _detail_page(couple, child_or_404(SessionPlan, plan_id))


def _document(plan: SessionPlan, kind: DocumentKind):
    practice = services.practice()
    if kind == DocumentKind.SESSION_PLAN:
        return builders.plan_document(plan, current_therapist, practice)
    return builders.handout_document(plan, current_therapist, practice)


@bp.route("/<counselor_id:plan_id>/preview/<kind>")
def preview(plan_id: int, kind: str) -> str | tuple[str, int]:
    """The document in the browser, from the same template (and stylesheet) as its PDF."""
    couple = g.couple
    plan = child_or_404(SessionPlan, plan_id)
    document_kind = _kind(kind)
    if document_kind == DocumentKind.HANDOUT and (reason := handout_blocked(couple)):
        return _detail_page(couple, plan, refused=reason)
    back = counselor_url("couple.plans.detail", couple_id=couple.id, plan_id=plan.id)
    return render_html(_document(plan, document_kind), preview=Preview(back, "Back to the plan"))


@bp.route("/<counselor_id:plan_id>/issue/<kind>", methods=["POST"])
def issue(plan_id: int, kind: str) -> Response | tuple[str, int]:
    """Render the PDF and keep it exactly as issued; the download is that stored copy."""
    couple = g.couple
    plan = child_or_404(SessionPlan, plan_id)
    document_kind = _kind(kind)
    if not ActionForm().validate_on_submit():
        abort(400)
    if document_kind == DocumentKind.HANDOUT and (reason := handout_blocked(couple)):
        return _detail_page(couple, plan, refused=reason)
    document_values = _document(plan, document_kind)
    if document_kind == DocumentKind.HANDOUT and not document_values.has_content:
        return _detail_page(
            couple, plan, refused="Choose at least one intervention or homework before issuing."
        )
    html = render_html(document_values)
    latest = services.latest_issued(couple.id, document_kind, plan)
    if latest is not None and latest.source_digest == services.html_digest(html):
        # Same plan, same assessment, same wording: the couple keeps one version, not two.
        flash(f"{document_kind.label} version {latest.number} is already up to date.", "info")
        document = latest
    else:
        slug = "session-plan" if document_kind == DocumentKind.SESSION_PLAN else "handout"
        document = services.store_issued(
            couple.id,
            document_kind,
            html,
            render(document_values).pdf,
            current_therapist,
            plan=plan,
            stem=f"{slug}-{plan.session_date.isoformat()}",
        )
        db.session.commit()
        signals.send(
            signals.document_issued,
            couple_id=couple.id,
            document_id=document.id,
            kind=document_kind,
        )
        flash(f"{document_kind.label} issued as version {document.number}.", "success")
    target = counselor_url("couple.plans.detail", couple_id=couple.id, plan_id=plan.id)
    return redirect(f"{target}#document-{document.id}")


@bp.route("/documents/<counselor_id:document_id>")
def download(document_id: int) -> Response:
    """An issued PDF, byte for byte as it was issued."""
    document = child_or_404(IssuedDocument, document_id)
    response = Response(document.content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    response.headers["X-Content-SHA256"] = document.sha256
    return response
