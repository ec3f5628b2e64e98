"""The front desk's pages: clients, the appointment book and the day sheet.

Clinicians and the receptionist both use these. The way into the plugin, "Couples therapy",
is in the host's navigation (templates/base.html), shown to clinicians only.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from .extensions import db
from .forms import AppointmentForm, ClientForm
from .models import CLINICIAN, Appointment, Client, User
from .reports import day_sheet

bp = Blueprint("clients", __name__)


@bp.before_request
@login_required
def require_login() -> None:
    """Every page here shows client names: staff only."""


@bp.get("/")
def home() -> Response:
    return redirect(url_for("clients.index"))


@bp.get("/clients")
def index() -> str:
    """The practice's clients, by name."""
    clients = db.session.scalars(select(Client).order_by(Client.name)).all()
    return render_template("clients/index.html", clients=clients)


@bp.route("/clients/new", methods=["GET", "POST"])
def new() -> str | Response:
    """Add a client."""
    form = ClientForm()
    if form.validate_on_submit():
        db.session.add(Client(name=form.name.data, email=form.email.data or None))
        db.session.commit()
        flash("Client added.", "success")
        return redirect(url_for("clients.index"))
    return render_template("clients/form.html", form=form)


@bp.get("/appointments")
def appointments() -> str:
    """The appointment book, earliest first."""
    booked = db.session.scalars(
        select(Appointment)
        .options(joinedload(Appointment.client), joinedload(Appointment.clinician))
        .order_by(Appointment.starts_at)
    ).all()
    return render_template("clients/appointments.html", appointments=booked)


@bp.route("/appointments/new", methods=["GET", "POST"])
def new_appointment() -> str | Response:
    """Book a client in with a clinician."""
    form = AppointmentForm()
    form.client_id.choices = [
        (c.id, c.name) for c in db.session.scalars(select(Client).order_by(Client.name))
    ]
    form.clinician_id.choices = [
        (u.id, u.name)
        for u in db.session.scalars(select(User).where(User.role == CLINICIAN).order_by(User.name))
    ]
    if form.validate_on_submit():
        db.session.add(
            Appointment(
                client_id=form.client_id.data,
                clinician_id=form.clinician_id.data,
                starts_at=form.starts_at.data,
            )
        )
        db.session.commit()
        flash("Appointment booked.", "success")
        return redirect(url_for("clients.appointments"))
    return render_template("clients/appointment_form.html", form=form)


@bp.get("/appointments/day-sheet.csv")
def day_sheet_csv() -> Response:
    """Today's appointments as CSV, from the host's own ``reports`` package."""
    body = day_sheet.render_csv(day_sheet.rows_for(date.today()))
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=day-sheet.csv"},
    )
