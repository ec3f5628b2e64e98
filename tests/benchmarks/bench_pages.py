"""Server time of the main pages, in-process through Flask's test client, on a small and a
large practice: the table shows whether a page's cost grows with the practice."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from sqlalchemy import event, func, select

from counselor_app import create_app, demo
from counselor_app.extensions import db
from counselor_app.models import (
    Appointment,
    AppointmentStatus,
    Couple,
    SessionPlan,
    Therapist,
)
from counselor_app.schema import upgrade

PASSWORD = "benchmark practice passphrase"
# A fixed key, so gunicorn workers started later read what this process wrote.
DATA_KEYS = "QmVuY2htYXJrUHJhY3RpY2VLZXlOb3RGb3JSZWFsVXM="
# And one audit key, so they sign their audit rows as this process does (audit verify).
AUDIT_KEYS = "62656e63686d61726b2061756469742b6b6579206e6f7420666f72207265616c"
PAGES = {
    "login (signed out)": "/login",
    "dashboard": "/",
    "couple page": "/couples/{couple_id}",
    "assessment": "/couples/{couple_id}/assessment",
    "plan editor": "/couples/{couple_id}/plans/{plan_id}/edit",
    "appointment page": "/couples/{couple_id}/appointments/{appointment_id}",
    "progress page": "/couples/{couple_id}/progress",
}


@dataclass
class Practice:
    app: Flask
    url: str
    email: str
    ids: dict[str, int]
    couples: int
    appointments: int
    build_seconds: float

    def urls(self) -> dict[str, str]:
        return {name: path.format(**self.ids) for name, path in PAGES.items()}


def settings(url: str, data_keys: str = DATA_KEYS) -> dict[str, object]:
    """A benchmark app's settings; ``data_keys`` comma-separated, as in the environment."""
    return {
        "SECRET_KEY": "bench",
        "SQLALCHEMY_DATABASE_URI": url,
        "COUNSELOR_DATA_KEYS": data_keys.split(","),
        "COUNSELOR_AUDIT_KEYS": [AUDIT_KEYS],
    }


@contextlib.contextmanager
def throwaway_app(url: str, data_keys: str = DATA_KEYS) -> Iterator[Flask]:
    """An app on ``url`` with an instance folder of its own, removed afterwards, and the app's
    connections closed."""
    with tempfile.TemporaryDirectory(prefix="counselor-bench-") as instance:
        app = create_app(settings(url, data_keys), instance_path=instance)
        try:
            yield app
        finally:
            with app.app_context():
                db.engine.dispose()


def build_practice(url: str, instance: Path, size: demo.Size) -> Practice:
    """Migrate an empty database and fill it with a fictitious practice of ``size``."""
    import time

    logging.getLogger("alembic").setLevel(logging.WARNING)
    app = create_app(settings(url), instance_path=str(instance))
    start = time.perf_counter()
    with app.app_context():
        upgrade()
        demo.build(size, password=PASSWORD)
        built = time.perf_counter() - start
        email = db.session.scalar(select(Therapist.email).order_by(Therapist.id))
        ids = typical_couple(email)
        couples = db.session.scalar(select(func.count()).select_from(Couple))
        appointments = db.session.scalar(select(func.count()).select_from(Appointment))
    return Practice(app, url, email, ids, couples, appointments, built)


def typical_couple(email: str) -> dict[str, int]:
    """The first therapist's first couple with a plan, and its latest held appointment."""
    therapist = db.session.scalar(select(Therapist).where(Therapist.email == email))
    couple_id, plan_id = db.session.execute(
        select(Couple.id, SessionPlan.id)
        .join(SessionPlan)
        .where(Couple.therapist_id == therapist.id)
        .order_by(Couple.id)
        .limit(1)
    ).one()
    appointment_id = db.session.scalar(
        select(Appointment.id)
        .where(
            Appointment.couple_id == couple_id, Appointment.status == AppointmentStatus.COMPLETED
        )
        .order_by(Appointment.starts_at.desc())
        .limit(1)
    )
    return {
        "couple_id": couple_id,
        "plan_id": plan_id,
        "appointment_id": appointment_id,
        "therapist_id": therapist.id,
    }


def signed_in_client(practice: Practice):
    client = practice.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post(
        "/login", data={"csrf_token": token, "email": practice.email, "password": PASSWORD}
    )
    assert response.status_code == 302, "could not sign in to the benchmark practice"
    return client


def page_times(
    practice: Practice, repeat: int, timed: Callable[..., tuple[float, float, float]]
) -> dict[str, tuple[tuple[float, float, float], int]]:
    """Each page's (median, p95, max) ms and its number of SQL statements."""
    signed_in = signed_in_client(practice)
    signed_out = practice.app.test_client()
    results = {}
    for name, url in practice.urls().items():
        client = signed_out if url == "/login" else signed_in

        def get(client=client, url=url) -> None:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        results[name] = (timed(get, repeat), statements_of(practice.app, get))
    return results


def statements_of(app: Flask, run: Callable[[], None]) -> int:
    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(seen)


def print_growth(
    backend: str,
    small: Practice,
    small_times: dict[str, tuple[tuple[float, float, float], int]],
    large: Practice,
    large_times: dict[str, tuple[tuple[float, float, float], int]],
    repeat: int,
) -> None:
    print(
        f"\n{backend}: page server time in-process ({repeat} requests each), "
        f"small practice ({small.couples} couples, {small.appointments} appointments) vs "
        f"large ({large.couples} couples, {large.appointments} appointments)"
    )
    print(
        f"{'page':<22} {'small med':>10} {'small p95':>10} {'large med':>10} {'large p95':>10}"
        f" {'SQL small':>10} {'SQL large':>10}"
    )
    for name in PAGES:
        (s_med, s_p95, _), s_sql = small_times[name]
        (l_med, l_p95, _), l_sql = large_times[name]
        print(
            f"{name:<22} {s_med:>10.2f} {s_p95:>10.2f} {l_med:>10.2f} {l_p95:>10.2f}"
            f" {s_sql:>10} {l_sql:>10}"
        )


def dispose(practice: Practice) -> None:
    with practice.app.app_context():
        db.session.remove()
        db.engine.dispose()
