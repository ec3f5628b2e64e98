"""Entering each partner's intake, page by page, and exporting the couple's intake."""

from __future__ import annotations

import json

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request
from werkzeug.wrappers import Response

from counselor_app import signals
from counselor_app.assessment import services as assessment
from counselor_app.auth.identity import current_therapist
from counselor_app.extensions import db
from counselor_app.forms.base import ActionForm, restore_draft
from counselor_app.forms.intake import section_form_class
from counselor_app.intake import services
from counselor_app.models import Couple, Partner
from counselor_app.models import Response as ResponseRow
from counselor_app.models.base import StaleEdit, utcnow
from counselor_app.web import counselor_url

bp = Blueprint("intake", __name__, url_prefix="/intake")

CONFLICT_MESSAGE = (
    "These answers were saved from another tab or device after you opened this page. Your "
    "answers below have not been saved: check them against the other copy, then save again."
)


def _partner(label: str) -> tuple[Couple, Partner]:
    couple = g.couple
    partner = services.partner_by_label(couple, label) if label in ("a", "b") else None
    if partner is None:
        abort(404)
    return couple, partner


def _step(slug: str, version: int) -> services.Step:
    step = services.step_by_slug(slug, version)
    if step is None:
        abort(404)
    return step


def _answers_and_version(partner: Partner) -> tuple[dict[str, ResponseRow], int]:
    """The partner's responses and the intake version the couple answers, in one query."""
    everyone = services.responses_of_couple(g.couple)
    return everyone[partner.label], services.intake_version_of(everyone)


@bp.route("/<label>")
def start(label: str) -> Response:
    """Resume a partner's intake at the first page with required answers still missing."""
    _, partner = _partner(label)
    responses, version = _answers_and_version(partner)
    progress = services.progress(responses, version)
    target = next((p.step for p in progress.steps if p.required_missing), None)
    if target is None:
        return redirect(counselor_url("couple.intake.review", couple_id=g.couple.id, label=label))
    return redirect(
        counselor_url("couple.intake.section", couple_id=g.couple.id, label=label, slug=target.slug)
    )


@bp.route("/<label>/<slug>", methods=["GET", "POST"])
def section(label: str, slug: str) -> str | Response | tuple[str | Response, int]:
    """One page of a partner's intake; every save keeps a draft, errors keep what was typed.

    The page's script also posts here while the therapist types (autosave): those requests
    ask for JSON and get the new version back instead of a page.
    """
    couple, partner = _partner(label)
    responses, version = _answers_and_version(partner)
    step = _step(slug, version)
    form = section_form_class(step.instrument.id, step.instrument.version, step.section)()
    autosave = request.accept_mimetypes.best == "application/json"
    status = 200
    if request.method == "GET" and not restore_draft(form):
        form.fill(services.section_values(responses.get(step.instrument.id), step))
        form.version.data = services.version_token(responses, step)
    elif request.method == "POST":
        if unexpected := form.unexpected_keys(request.form.keys()):
            abort(
                400,
                f"The form sent answers this questionnaire does not have "
                f"({', '.join(unexpected[:5])}). Nothing was saved.",
            )
        if not form.validate_on_submit():
            status = 422
        elif not _store(couple, partner, step, form):
            form.version.refresh(services.version_token(services.responses_of(partner), step))
            status = 409
        elif autosave:
            token = services.version_token(services.responses_of(partner), step)
            return jsonify(saved=True, version=token, at=utcnow().isoformat()), 200
        else:
            return _after_save(couple, partner, step, version)
        if autosave:
            return jsonify(saved=False, error=AUTOSAVE_ERRORS[status]), status
    previous, following = services.neighbours(step, version)
    progress = services.progress(responses, version)
    return render_template(
        "counselor/intake/section.html",
        couple=couple,
        partner=partner,
        step=step,
        form=form,
        progress=progress,
        previous=previous,
        following=following,
        # A completed intake's changes are recorded one by one: those are saved by hand only.
        autosave=not progress.complete,
    ), status


AUTOSAVE_ERRORS = {
    422: "some answers need a look. Use Save draft to see which.",
    409: "these answers were saved from another tab. Use Save draft to compare.",
}


def _store(couple: Couple, partner: Partner, step: services.Step, form) -> bool:
    """Save the page's answers (and re-score); False, with a message, when another tab won."""
    try:
        changed = services.save_section(
            partner,
            step,
            form.answers(),
            expected_version=form.version.data,
            therapist=current_therapist,
        )
        if changed:
            assessment.rescore(couple)
    except StaleEdit:
        db.session.rollback()
        form.form_errors.append(CONFLICT_MESSAGE)
        return False
    db.session.commit()
    return True


def _after_save(couple: Couple, partner: Partner, step: services.Step, version: int) -> Response:
    previous, following = services.neighbours(step, version)
    destination = {"prev": previous or step, "next": following, "save": step}.get(
        request.form.get("action", "next"), step
    )
    label = partner.label.lower()
    if destination is None:  # "Save and review" on the last page
        target = counselor_url("couple.intake.review", couple_id=couple.id, label=label)
    else:
        target = counselor_url(
            "couple.intake.section", couple_id=couple.id, label=label, slug=destination.slug
        )
    flash(f"Answers saved for partner {partner.label}.", "success")
    return redirect(target)


@bp.route("/<label>/review", methods=["GET", "POST"])
def review(label: str) -> str | Response | tuple[str, int]:
    """What is still missing, and marking the partner's intake complete."""
    couple, partner = _partner(label)
    form = ActionForm()
    missing = None
    if form.validate_on_submit():
        completion = services.complete(partner)
        missing = completion.missing
        if not missing:
            assessment.rescore(couple)
            db.session.commit()
            # A second submit (double click, back button) completes nothing: no second event.
            if completion.newly_complete:
                signals.send(signals.intake_completed, couple_id=couple.id, partner_id=partner.id)
            flash(f"Partner {partner.label}'s intake is complete.", "success")
            return redirect(counselor_url("couple.detail", couple_id=couple.id))
    responses, version = _answers_and_version(partner)
    return render_template(
        "counselor/intake/review.html",
        couple=couple,
        partner=partner,
        form=form,
        progress=services.progress(responses, version),
        missing=missing
        if missing is not None
        else services.missing_for_completion(responses, version),
        tried=missing is not None,
    ), (422 if missing else 200)


@bp.route("/export.json")
def export() -> Response:
    """The couple's intake (answers, scores, flags, decisions) as a JSON download."""
    couple = g.couple
    body = json.dumps(assessment.export_intake(couple), indent=2, ensure_ascii=False)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="couple-{couple.id}-intake.json"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response
