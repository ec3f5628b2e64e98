"""A couple's appointments and the appointment page the therapist keeps open in session."""

from __future__ import annotations

from datetime import UTC

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request
from werkzeug.wrappers import Response

from counselor_app import signals
from counselor_app.appointments import services
from counselor_app.assessment.services import confirmed_flags
from counselor_app.auth.identity import current_therapist
from counselor_app.couples.views import child_or_404
from counselor_app.extensions import db
from counselor_app.flags import CHALLENGES
from counselor_app.forms.appointments import (
    AddendumForm,
    AppointmentCheckInForm,
    AppointmentEditForm,
    AppointmentForm,
    NoteForm,
    PrivateNoteForm,
    check_in_form_class,
    flag_status_form,
    homework_review_form,
)
from counselor_app.forms.base import restore_draft
from counselor_app.instruments import BALANCE_ID, CSI4_ID, load
from counselor_app.models import (
    Appointment,
    AppointmentStatus,
    Attendance,
    Couple,
    FlagProgress,
    HomeworkOutcome,
)
from counselor_app.models.base import StaleEdit
from counselor_app.plans.services import plans_of
from counselor_app.progress.services import scores_of
from counselor_app.web import counselor_url

bp = Blueprint("appointments", __name__, url_prefix="/appointments")

STALE = (
    "This was saved from another tab or device after you opened the page. Nothing was saved: "
    "your text is below. Check it against the current version, then save again."
)


def _measures() -> tuple:
    return (load(CSI4_ID), load(BALANCE_ID))


def _details_form(couple: Couple, form_class: type[AppointmentForm] = AppointmentForm):
    form = form_class()
    form.set_plans([(p.id, f"Plan for {p.session_date:%d %b %Y}") for p in plans_of(couple)])
    return form


def _values(form: AppointmentForm) -> services.AppointmentValues:
    return services.AppointmentValues(
        starts_at=form.starts_at.data.replace(tzinfo=UTC),
        duration_minutes=form.duration_minutes.data,
        status=AppointmentStatus(form.status.data),
        attendance=Attendance(form.attendance.data) if form.attendance.data else None,
        plan_id=form.plan_id.data or None,
    )


@bp.route("", methods=["GET", "POST"])
def index() -> str | Response | tuple[str, int]:
    """The couple's appointments, newest first, and a form to add one."""
    couple = g.couple
    form = _details_form(couple)
    if form.validate_on_submit():
        try:
            appointment = services.create_appointment(couple, _values(form))
        except services.AppointmentError as error:
            db.session.rollback()
            form.attendance.errors.append(str(error))
        else:
            db.session.commit()
            signals.send(
                signals.appointment_recorded, couple_id=couple.id, appointment_id=appointment.id
            )
            flash("Appointment added.", "success")
            return redirect(
                counselor_url(
                    "couple.appointments.detail", couple_id=couple.id, appointment_id=appointment.id
                )
            )
    status = 422 if request.method == "POST" else 200
    return render_template(
        "counselor/appointments/index.html",
        couple=couple,
        appointments=services.appointments_of(couple),
        form=form,
    ), status


def render_page(
    couple: Couple, appointment: Appointment, status: int = 200, **overrides: object
) -> tuple[str, int]:
    """The appointment page; ``overrides`` replace a form with the one that was just rejected."""
    check_ins = services.check_ins_by_partner(appointment)
    plan = services.plan_to_review(appointment)
    items = services.homework_items(plan)
    flags = confirmed_flags(couple)
    note = appointment.note
    private = services.private_note_of(appointment)
    forms = {
        "details": _filled_details(couple, appointment),
        "check_in": {
            label: _filled_check_in(appointment, check_ins[label], label)
            for label in services.LABELS
        },
        "homework": _filled_homework(appointment, plan, items),
        "flags": _filled_flags(appointment, flags),
        "note": NoteForm(
            formdata=None,
            prefix="note",
            version=note.version if note else 0,
            dap_data=note.data if note else "",
            dap_assessment=note.assessment if note else "",
            dap_plan=note.plan if note else "",
        ),
        "addendum": AddendumForm(formdata=None, prefix="addendum"),
        "private": PrivateNoteForm(
            formdata=None,
            prefix="private",
            text=private.text if private else "",
            version=private.version if private else 0,
        ),
    }
    for form in (forms["note"], forms["private"], forms["addendum"]):
        restore_draft(form)
    for name, form in overrides.items():
        if name.startswith("check_in_"):
            forms["check_in"][name[-1]] = form
        else:
            forms[name] = form
    page = render_template(
        "counselor/appointments/detail.html",
        couple=couple,
        appointment=appointment,
        forms=forms,
        check_ins=check_ins,
        review_plan=plan,
        homework=items,
        flags=flags,
        challenges=CHALLENGES,
        note=note,
        progress=scores_of(couple),
        measures=_measures(),
    )
    return page, status


def _filled_details(couple: Couple, appointment: Appointment) -> AppointmentEditForm:
    form = _details_form(couple, AppointmentEditForm)
    form.process(
        formdata=None,
        starts_at=appointment.starts_at.replace(tzinfo=None),
        duration_minutes=appointment.duration_minutes,
        status=appointment.status.value,
        attendance=appointment.attendance.value if appointment.attendance else "",
        plan_id=appointment.plan_id or 0,
        version=appointment.version,
    )
    return form


def _check_in_form(label: str, formdata: object = None):
    form_class = check_in_form_class(_measures(), AppointmentCheckInForm)
    if formdata is None:
        return form_class(formdata=None, prefix=f"checkin-{label.lower()}")
    return form_class(prefix=f"checkin-{label.lower()}")


def _filled_check_in(appointment: Appointment, rows: dict, label: str):
    form = _check_in_form(label)
    form.version.data = getattr(appointment, Appointment.check_in_counter(label))
    for row in rows.values():
        for item_id, value in row.answers.items():
            if item_id in form:
                form[item_id].data = str(value)
    return form


def _partner_names(couple: Couple) -> dict[str, str]:
    return {partner.label: partner.display_name for partner in couple.partners}


def _filled_homework(appointment: Appointment, plan, items):
    form = homework_review_form(items, _partner_names(appointment.couple))
    form.process(formdata=None, version=appointment.homework_version)
    texts = {item.index: item.text for item in items}
    for row in appointment.homework_reviews:
        # A review belongs to the assignment as it was worded; if the plan was edited since,
        # an old review is not shown against a different assignment.
        if plan is None or row.plan_id != plan.id or texts.get(row.item_index) != row.assignment:
            continue
        outcome = row.outcome.value if row.outcome else ""
        form[f"outcome-{row.item_index}-{row.partner_label}"].data = outcome
        form[f"note-{row.item_index}-{row.partner_label}"].data = row.note
    return form


def _flag_choices(flags) -> list[tuple[int, str]]:
    return [(flag.id, CHALLENGES[flag.challenge_key][0]) for flag in flags]


def _filled_flags(appointment: Appointment, flags):
    form = flag_status_form(_flag_choices(flags))
    form.process(formdata=None, version=appointment.flags_version)
    for row in appointment.flag_records:
        if f"flag-{row.flag_id}" in form:
            form[f"flag-{row.flag_id}"].data = row.status.value
    return form


def _appointment(appointment_id: int) -> Appointment:
    return child_or_404(Appointment, appointment_id, *services.PAGE_LOADS)


def _load(appointment_id: int) -> tuple[Couple, Appointment]:
    return g.couple, _appointment(appointment_id)


def _refused(
    couple: Couple, appointment_id: int, error: Exception, **rejected: object
) -> tuple[str, int]:
    """Re-show the page with the rejected form (its input kept) and why it was refused; after
    a conflict, saving again is made against the version now on record."""
    db.session.rollback()
    stale = isinstance(error, StaleEdit)
    appointment = _appointment(appointment_id)
    for name, form in rejected.items():
        form.form_errors.append(STALE if stale else str(error))
        if stale:
            form.version.refresh(getattr(appointment, services.PART_COUNTERS[name]))
    return render_page(couple, appointment, 409 if stale else 422, **rejected)


def _done(couple: Couple, appointment: Appointment, message: str, anchor: str) -> Response:
    db.session.commit()
    flash(message, "success")
    target = counselor_url(
        "couple.appointments.detail", couple_id=couple.id, appointment_id=appointment.id
    )
    return redirect(f"{target}#{anchor}")


@bp.route("/<counselor_id:appointment_id>")
def detail(appointment_id: int) -> tuple[str, int]:
    """Everything about one appointment, with the latest scores beside the note."""
    couple, appointment = _load(appointment_id)
    return render_page(couple, appointment)


@bp.route("/<counselor_id:appointment_id>/details", methods=["POST"])
def update_details(appointment_id: int) -> Response | tuple[str, int]:
    """Date, length, status, attendance and the plan used."""
    couple, appointment = _load(appointment_id)
    form = _details_form(couple, AppointmentEditForm)
    if not form.validate_on_submit():
        return render_page(couple, appointment, 422, details=form)
    try:
        services.update_appointment(appointment, _values(form), expected_version=form.version.data)
        dropped = services.drop_absent_check_ins(appointment)
    except services.AppointmentError as error:
        db.session.rollback()
        form.attendance.errors.append(str(error))
        return render_page(couple, _appointment(appointment_id), 422, details=form)
    except StaleEdit:
        db.session.rollback()
        form.form_errors.append(STALE)
        appointment = _appointment(appointment_id)
        form.version.refresh(appointment.version)
        return render_page(couple, appointment, 409, details=form)
    for label in dropped:
        flash(
            f"Partner {label}'s check-in at this appointment was removed: they are now recorded "
            "as absent, and an absent partner has no score.",
            "info",
        )
    return _done(couple, appointment, "Appointment details saved.", "details")


@bp.route("/<counselor_id:appointment_id>/check-in/<label>", methods=["POST"])
def check_in(appointment_id: int, label: str) -> Response | tuple[str, int]:
    """One present partner's CSI-4 and Balance check-in."""
    couple, appointment = _load(appointment_id)
    label = label.upper()
    if label not in services.LABELS:
        abort(404)
    form = _check_in_form(label, formdata=True)
    if not form.validate_on_submit():
        return render_page(couple, appointment, 422, **{f"check_in_{label}": form})
    try:
        services.record_check_in(
            appointment, label, form.answers(), expected_version=form.version.data
        )
    except (services.AppointmentError, StaleEdit) as error:
        return _refused(couple, appointment_id, error, **{f"check_in_{label}": form})
    return _done(
        couple, appointment, f"Partner {label}'s check-in saved.", f"check-in-{label.lower()}"
    )


@bp.route("/<counselor_id:appointment_id>/homework", methods=["POST"])
def homework(appointment_id: int) -> Response | tuple[str, int]:
    """Done, partly or not done, per assignment and partner."""
    couple, appointment = _load(appointment_id)
    plan = services.plan_to_review(appointment)
    items = services.homework_items(plan)
    form = homework_review_form(items, _partner_names(couple))
    if plan is None:
        abort(404)  # nothing to review here: the page shows no homework form
    if not form.validate_on_submit():
        return render_page(couple, appointment, 422, homework=form)
    outcomes = {
        (item.index, label): (
            HomeworkOutcome(form[f"outcome-{item.index}-{label}"].data)
            if form[f"outcome-{item.index}-{label}"].data
            else None,
            form[f"note-{item.index}-{label}"].data or "",
        )
        for item in items
        for label in services.LABELS
    }
    try:
        saved = services.record_homework(
            appointment, plan, outcomes, expected_version=form.version.data
        )
    except (services.AppointmentError, StaleEdit) as error:
        return _refused(couple, appointment_id, error, homework=form)
    return _done(couple, appointment, saved.message(), "homework")


@bp.route("/<counselor_id:appointment_id>/flags", methods=["POST"])
def flags(appointment_id: int) -> Response | tuple[str, int]:
    """Where each confirmed challenge stands at this appointment."""
    couple, appointment = _load(appointment_id)
    confirmed = confirmed_flags(couple)
    form = flag_status_form(_flag_choices(confirmed))
    if not form.validate_on_submit():
        return render_page(couple, appointment, 422, flags=form)
    statuses = {
        flag.id: FlagProgress(form[f"flag-{flag.id}"].data)
        if form[f"flag-{flag.id}"].data
        else None
        for flag in confirmed
    }
    try:
        services.record_flag_statuses(appointment, statuses, expected_version=form.version.data)
    except (services.AppointmentError, StaleEdit) as error:
        return _refused(couple, appointment_id, error, flags=form)
    return _done(couple, appointment, "Flag status saved.", "flags")


@bp.route("/<counselor_id:appointment_id>/note", methods=["POST"])
def save_note(appointment_id: int) -> Response | tuple[str, int]:
    """Save the DAP note as a draft, or sign exactly this text (which locks it)."""
    couple, appointment = _load(appointment_id)
    form = NoteForm(prefix="note")
    signing = request.form.get("action") == "sign"
    if not form.validate_on_submit():
        return render_page(couple, appointment, 422, note=form)
    try:
        services.save_note(
            appointment,
            data=form.dap_data.data or "",
            assessment=form.dap_assessment.data or "",
            plan=form.dap_plan.data or "",
            expected_version=form.version.data,
            sign_as=current_therapist if signing else None,
        )
    except services.NoteLocked as error:
        db.session.rollback()
        return _locked_meanwhile(couple, appointment_id, form, str(error))
    except services.AppointmentError as error:
        db.session.rollback()
        # An empty note is the Data box's to fix: it is marked, and the summary links to it.
        errors = form.dap_data.errors if isinstance(error, services.EmptyNote) else form.form_errors
        errors.append(str(error))
        return render_page(couple, _appointment(appointment_id), 422, note=form)
    except StaleEdit:
        db.session.rollback()
        form.form_errors.append(STALE)
        appointment = _appointment(appointment_id)
        form.version.refresh(appointment.note.version if appointment.note else 0)
        return render_page(couple, appointment, 409, note=form)
    if signing:
        response = _done(couple, appointment, "Note signed and locked.", "note")
        signals.send(signals.note_signed, couple_id=couple.id, appointment_id=appointment.id)
        return response
    return _done(couple, appointment, "Note saved as a draft.", "note")


def _locked_meanwhile(
    couple: Couple, appointment_id: int, form: NoteForm, message: str
) -> tuple[str, int]:
    """The note was signed in another tab: what was typed here becomes a draft addendum."""
    typed = "\n\n".join(
        f"{label}: {text}"
        for label, text in (
            ("Data", form.dap_data.data),
            ("Assessment", form.dap_assessment.data),
            ("Plan", form.dap_plan.data),
        )
        if (text or "").strip()
    )
    addendum = AddendumForm(formdata=None, prefix="addendum", text=typed)
    addendum.form_errors.append(
        f"{message} What you typed is below as an addendum: edit it and add it, or discard it."
    )
    appointment = _appointment(appointment_id)
    return render_page(couple, appointment, 409, addendum=addendum)


@bp.route("/<counselor_id:appointment_id>/note/autosave", methods=["POST"])
def autosave_note(appointment_id: int) -> tuple[Response, int]:
    """The page's script saves the draft every few seconds while the therapist types."""
    _, appointment = _load(appointment_id)
    form = NoteForm(prefix="note")
    if not form.validate_on_submit():
        return jsonify(saved=False, error="The note could not be saved: reload the page."), 422
    try:
        note = services.save_note(
            appointment,
            data=form.dap_data.data or "",
            assessment=form.dap_assessment.data or "",
            plan=form.dap_plan.data or "",
            expected_version=form.version.data,
        )
    except services.AppointmentError as error:
        db.session.rollback()
        return jsonify(saved=False, error=str(error)), 409
    except StaleEdit:
        db.session.rollback()
        return jsonify(saved=False, error=STALE), 409
    db.session.commit()
    saved_at = note.updated_at if note.updated_at.tzinfo else note.updated_at.replace(tzinfo=UTC)
    return jsonify(saved=True, version=note.version, at=saved_at.isoformat()), 200


@bp.route("/<counselor_id:appointment_id>/note/addenda", methods=["POST"])
def add_addendum(appointment_id: int) -> Response | tuple[str, int]:
    """A dated addendum below a signed note."""
    couple, appointment = _load(appointment_id)
    form = AddendumForm(prefix="addendum")
    if not form.validate_on_submit():
        return render_page(couple, appointment, 422, addendum=form)
    try:
        services.add_addendum(appointment, current_therapist, form.text.data)
    except services.AppointmentError as error:
        db.session.rollback()
        form.form_errors.append(str(error))
        return render_page(couple, appointment, 409, addendum=form)
    return _done(couple, appointment, "Addendum added.", "note")


@bp.route("/<counselor_id:appointment_id>/private-note", methods=["POST"])
def private_note(appointment_id: int) -> Response | tuple[str, int]:
    """Psychotherapy notes, kept apart from the record."""
    couple, appointment = _load(appointment_id)
    form = PrivateNoteForm(prefix="private")
    if not form.validate_on_submit():
        return render_page(couple, appointment, 422, private=form)
    try:
        services.save_private_note(
            appointment, form.text.data or "", expected_version=form.version.data
        )
    except StaleEdit:
        db.session.rollback()
        form.form_errors.append(STALE)
        current = services.private_note_of(appointment)
        form.version.refresh(current.version if current else 0)
        return render_page(couple, appointment, 409, private=form)
    return _done(couple, appointment, "Private notes saved.", "private")
