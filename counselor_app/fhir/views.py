"""FHIR resources: the instruments as Questionnaires (open: they hold no client data), and a
couple's answers as QuestionnaireResponses, out and in."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from counselor_app import signals
from counselor_app.auth.identity import current_therapist
from counselor_app.couples.views import child_or_404
from counselor_app.extensions import db
from counselor_app.fhir import services
from counselor_app.forms.fhir import ImportResponseForm
from counselor_app.intake.services import INSTRUMENT_ORDER, partner_by_label
from counselor_app.models import CheckIn
from counselor_app.models.base import StaleEdit
from counselor_app.web import counselor_url

# The Questionnaires, under the parent blueprint: /fhir/Questionnaire/<id>.
bp = Blueprint("fhir", __name__, url_prefix="/fhir")
# A couple's responses, under the couple: /couples/<id>/fhir/...
couple_fhir_bp = Blueprint("fhir", __name__, url_prefix="/fhir")

LABELS = ("A", "B")
STALE_MESSAGE = (
    "These answers were saved from another tab or device while the file was being imported: "
    "nothing was imported. Import the file again."
)


def _fhir(resource: dict, filename: str | None = None) -> Response:
    response = Response(services.to_json(resource), mimetype=services.FHIR_JSON)
    if filename:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.route("/Questionnaire/<resource_id>")
def questionnaire(resource_id: str) -> Response:
    """One version of one instrument as a FHIR R4 Questionnaire ("csi4-v1"), for anyone."""
    instrument = services.instrument_for_resource_id(resource_id)
    if instrument is None:
        abort(404)
    return _fhir(services.questionnaire(instrument))


@couple_fhir_bp.route("/")
def index() -> str:
    """The couple's answers as FHIR QuestionnaireResponses to download, and the import."""
    couple = g.couple
    return render_template(
        "counselor/fhir/index.html",
        couple=couple,
        answered=services.answered_of(couple),
        questionnaires=services.every_instrument(),
    )


@couple_fhir_bp.route(
    f"/QuestionnaireResponse/intake-<label>-<any({', '.join(INSTRUMENT_ORDER)}):instrument_id>.json"
)
def intake_response(label: str, instrument_id: str) -> Response:
    """One partner's answers to one intake instrument as a QuestionnaireResponse."""
    couple = g.couple
    partner = partner_by_label(couple, label) if label in ("a", "b") else None
    answered = services.intake_answered(couple, partner, instrument_id) if partner else None
    if answered is None:
        abort(404)
    resource = services.questionnaire_response(answered, couple.therapist)
    return _fhir(resource, f"couple-{couple.id}-{answered.resource_id}.json")


@couple_fhir_bp.route("/QuestionnaireResponse/check-in-<counselor_id:check_in_id>.json")
def check_in_response(check_in_id: int) -> Response:
    """One check-in (one partner, one measure) as a QuestionnaireResponse."""
    couple = g.couple
    check_in = child_or_404(CheckIn, check_in_id, selectinload(CheckIn.appointment))
    answered = services.check_in_answered(couple, check_in)
    resource = services.questionnaire_response(answered, couple.therapist)
    return _fhir(resource, f"couple-{couple.id}-{answered.resource_id}.json")


@couple_fhir_bp.route("/import", methods=["GET", "POST"])
def import_response() -> str | Response | tuple[str, int]:
    """Import one partner's QuestionnaireResponse (a file or pasted JSON) as if typed."""
    couple = g.couple
    form = ImportResponseForm()
    form.partner.choices = [(p.label, p.display_name) for p in couple.partners]
    if request.method == "GET" and (label := request.args.get("partner", "").upper()) in LABELS:
        form.partner.data = label
    if form.validate_on_submit():
        partner = next(p for p in couple.partners if p.label == form.partner.data)
        try:
            imported = services.import_response(
                couple,
                partner,
                form.resource(),
                therapist=current_therapist,
                record_as=form.record_as.data or None,
            )
        except services.FhirImportError as error:
            db.session.rollback()
            form.form_errors.extend(error.problems)
        except StaleEdit:
            db.session.rollback()
            form.form_errors.append(STALE_MESSAGE)
        else:
            db.session.commit()
            if imported.newly_complete:
                signals.send(signals.intake_completed, couple_id=couple.id, partner_id=partner.id)
            flash(_done(imported), "success")
            return redirect(counselor_url("couple.fhir.index", couple_id=couple.id))
    status = 422 if request.method == "POST" else 200
    return render_template("counselor/fhir/import.html", couple=couple, form=form), status


def _done(imported: services.Imported) -> str:
    """Said in the next page's message, which travels in the session cookie: signed, not
    encrypted, so it names no one and no questionnaire (the page below them does)."""
    partner = f"partner {imported.partner.label}"
    if imported.check_in is not None:
        moment = imported.check_in.answered_at
        return f"Imported for {partner} as a check-in between sessions on {moment:%d %b %Y}."
    if imported.intake_complete:
        return f"Imported into {partner}'s intake, which is now complete."
    waiting = len(imported.still_missing)
    parts = "part" if waiting == 1 else "parts"
    return f"Imported into {partner}'s intake, which still has {waiting} {parts} to answer."
