"""Fictitious practices: a small one to try the app with, and a large one for benchmarks.

``flask --app counselor_app demo-data`` fills the database with a demo practice (3 therapists,
12 couples with intakes, flags, plans, issued documents and appointments); ``--large`` builds the
benchmark practice (50 therapists, 5,000 couples, 100,000 appointments with check-ins, homework
reviews and signed notes). Every name is invented, every therapist's name ends in "(demo)", and
every couple's presenting concerns start with "[Fictitious]".

Answers are drawn from the instruments themselves: each partner gets a level per domain, a few
domains are the couple's trouble spots, and each item's answer follows its domain's level (and
its reverse flag) with a little noise, so the flag engine raises what a real intake would.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, insert, select

from counselor_app.assessment.services import handout_blocked, rescore
from counselor_app.auth.services import create_therapist, generate_password
from counselor_app.extensions import db
from counselor_app.instruments import BALANCE_ID, CSI4_ID, INTAKE_ID, SAFETY_ID, Item, load
from counselor_app.library.services import strategies_for
from counselor_app.models import (
    Appointment,
    AppointmentStatus,
    Attendance,
    CheckIn,
    Couple,
    CoupleStatus,
    DocumentKind,
    Flag,
    FlagProgress,
    FlagStatus,
    FlagStatusRecord,
    HomeworkOutcome,
    HomeworkReview,
    NoteStatus,
    Partner,
    RelationshipStage,
    Response,
    ResponseStatus,
    SessionNote,
    SessionPlan,
    Therapist,
)
from counselor_app.plans import services as plans
from counselor_app.reports import builders
from counselor_app.reports.documents import render, render_html

FICTITIOUS = "[Fictitious]"
FIRST_NAMES = (
    "Avery", "Blake", "Casey", "Devon", "Emery", "Finley", "Gray", "Harper", "Indra", "Jules",
    "Kai", "Lane", "Morgan", "Noor", "Oakley", "Parker", "Quinn", "Reese", "Sasha", "Tatum",
    "Uma", "Vale", "Wren", "Yael", "Zion", "Amani", "Bo", "Cato", "Dara", "Elio",
)  # fmt: skip
SURNAME_INITIALS = "ABCDEFGHJKLMNPRSTVW"
CONCERNS = (
    "Arguments about money that end with one of them leaving the room.",
    "Feel like flatmates since the baby; little time for each other.",
    "One wants more time apart for friends and hobbies, the other feels shut out.",
    "Disagree about how much to involve the in-laws in decisions.",
    "Communication breaks down quickly; both feel unheard.",
    "Rebuilding trust after a period of secrecy about spending.",
    "Worry that they have lost themselves in the relationship.",
    "Different ideas about how chores and decisions are shared.",
)
NOTE_DATA = (
    "Both arrived on time. Discussed the week's homework and one argument about plans.",
    "Reviewed the check-ins. Talked through a recent disagreement in speaker-listener turns.",
    "Explored what each needs for time alone and time together.",
    "Money conversation practised in session with a timer; both stayed in the room.",
)
NOTE_ASSESSMENT = (
    "Pursue-withdraw pattern still present but shorter. Both engaged.",
    "Less defensiveness than last time; repair attempts noticed by both.",
    "Progress on shared decisions; some frustration about follow-through.",
)
NOTE_PLAN = (
    "Continue weekly. Homework as in the plan; review at the next session.",
    "Keep the weekly check-in conversation; add one planned date.",
)
HOMEWORK_NOTES = ("", "", "Did it twice.", "Forgot until Sunday.", "Found it awkward but useful.")


@dataclass(frozen=True)
class Size:
    therapists: int
    couples: int  # in all, shared out among the therapists
    appointments: int  # in all, shared out among the couples
    issue_documents: bool


DEMO = Size(therapists=3, couples=12, appointments=96, issue_documents=True)
LARGE = Size(therapists=50, couples=5000, appointments=100_000, issue_documents=False)


@dataclass(frozen=True)
class Built:
    therapists: list[tuple[str, str]]  # email, password
    couples: int
    appointments: int


def build(size: Size, *, seed: int = 2026, password: str | None = None) -> Built:
    """Add a fictitious practice of ``size`` to the database and commit it."""
    # Seeded and repeatable: made-up data, not secrets (bandit B311 and ruff S311 agree).
    rng = random.Random(seed)  # noqa: S311  # nosec B311
    start_number = (db.session.scalar(select(func.count()).select_from(Therapist)) or 0) + 1
    accounts = []
    appointments = 0
    per_therapist = _share(size.couples, size.therapists)
    per_couple = _share(size.appointments, size.couples)
    couple_number = 0
    for index, couples in enumerate(per_therapist):
        number = start_number + index
        secret = password or generate_password()
        therapist = create_therapist(
            f"{rng.choice(FIRST_NAMES)} {SURNAME_INITIALS[number % 19]}. (demo)",
            f"demo{number}@example.org",
            secret,
            is_admin=index == 0 and start_number == 1,
        )
        accounts.append((therapist.email, secret))
        for _ in range(couples):
            appointments += _couple(rng, therapist, per_couple[couple_number], size)
            couple_number += 1
            if couple_number % 50 == 0:
                db.session.commit()
                db.session.expunge_all()
                therapist = db.session.merge(therapist)
        db.session.commit()
    return Built(accounts, size.couples, appointments)


def _share(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


# ------------------------------------------------------------------------------ one couple
def _couple(rng: random.Random, therapist: Therapist, appointments: int, size: Size) -> int:
    names = rng.sample(FIRST_NAMES, 2)
    couple = Couple(
        therapist_id=therapist.id,
        relationship_stage=rng.choice(list(RelationshipStage)),
        relationship_length_months=rng.randint(6, 360),
        presenting_concerns=f"{FICTITIOUS} {rng.choice(CONCERNS)}",
        status=CoupleStatus.CLOSED if rng.random() < 0.1 else CoupleStatus.ACTIVE,
        partners=[
            Partner(label=label, display_name=f"{name} {rng.choice(SURNAME_INITIALS)}.")
            for label, name in zip("AB", names, strict=True)
        ],
    )
    db.session.add(couple)
    db.session.flush()
    profile = _profile(rng)
    for partner in couple.partners:
        _intake(rng, couple, partner, profile)
    db.session.flush()
    rescore(couple)
    flags = _decide_flags(rng, couple)
    plan = _plan(rng, couple, therapist, flags) if flags else None
    if plan is not None and size.issue_documents:
        _issue(couple, plan, therapist)
    return _history(rng, couple, therapist, plan, flags, appointments, profile)


@dataclass(frozen=True)
class Profile:
    levels: dict[str, dict[str, float]]  # partner label -> domain -> 1..5 (5 = healthy)
    distress: dict[str, float]  # partner label -> 0 (satisfied) .. 1 (distressed)
    unsafe: bool


def _profile(rng: random.Random) -> Profile:
    domains = sorted({item.domain for item in load(INTAKE_ID).items if item.domain})
    trouble = set(rng.sample(domains, rng.randint(1, 3)))
    levels = {}
    for label in "AB":
        levels[label] = {
            domain: rng.uniform(1.3, 2.6) if domain in trouble and rng.random() < 0.8
            else rng.uniform(3.2, 4.8)
            for domain in domains
        }  # fmt: skip
    distress = {label: rng.uniform(0.2, 0.9) for label in "AB"}
    return Profile(levels, distress, unsafe=rng.random() < 0.03)


def _intake(rng: random.Random, couple: Couple, partner: Partner, profile: Profile) -> None:
    level = profile.levels[partner.label]
    intake = {item.id: _answer(rng, item, level) for item in load(INTAKE_ID).items}
    csi = _csi_answers(rng, 21 * (1 - profile.distress[partner.label]))
    safety = {item.id: _safe_answer(item) for item in load(SAFETY_ID).items}
    if profile.unsafe and partner.label == "B":
        safety["saf_fear"] = "yes"
    completed = datetime.now(UTC) - timedelta(days=rng.randint(30, 400))
    for instrument_id, answers in ((INTAKE_ID, intake), (CSI4_ID, csi), (SAFETY_ID, safety)):
        db.session.add(
            Response(
                couple_id=couple.id,
                partner_id=partner.id,
                instrument_id=instrument_id,
                instrument_version=load(instrument_id).version,
                answers={k: v for k, v in answers.items() if v is not None},
                status=ResponseStatus.COMPLETE,
                completed_at=completed,
            )
        )


def _answer(rng: random.Random, item: Item, level: dict[str, float]) -> Any:
    if item.kind == "likert":
        value = round(level.get(item.domain or "", 3.5) + rng.uniform(-0.8, 0.8))
        value = min(5, max(1, value))
        return 6 - value if item.reverse else value
    if item.kind == "hours":
        low, high = item.min_value or 0, min(item.max_value or 40, 40)
        return rng.randint(low, high)
    if item.kind == "text":
        return None if rng.random() < 0.6 else "We want to argue less and laugh more."
    return rng.choice(item.options).value


def _safe_answer(item: Item) -> Any:
    if item.kind == "text":
        return None
    safe = [option for option in item.options if not option.positive]
    return safe[0].value if safe else item.options[0].value


def _csi_answers(rng: random.Random, total: float) -> dict[str, int]:
    instrument = load(CSI4_ID)
    items = instrument.items
    remaining = max(0, min(21, round(total + rng.uniform(-2, 2))))
    answers = {}
    for position, item in enumerate(items):
        values = sorted(int(option.value) for option in item.options)
        share = remaining // (len(items) - position)
        chosen = min(values, key=lambda v, share=share: abs(v - share))
        answers[item.id] = chosen
        remaining -= chosen
    return answers


def _decide_flags(rng: random.Random, couple: Couple) -> list[Flag]:
    """The therapist's review: most suggestions confirmed, a few dismissed."""
    confirmed = []
    for flag in db.session.scalars(select(Flag).where(Flag.couple_id == couple.id)):
        if rng.random() < 0.8:
            flag.status = FlagStatus.CONFIRMED
            flag.note = "Matches what both described in the first session."
            confirmed.append(flag)
        else:
            flag.status = FlagStatus.DISMISSED
            flag.dismiss_reason = "Not a concern for this couple on discussion."
    db.session.flush()
    return confirmed


def _plan(rng: random.Random, couple: Couple, therapist: Therapist, flags: list[Flag]):
    values = plans.prefill(flags, strategies_for(therapist), date.today())
    values = plans.PlanValues(
        **{
            **values.__dict__,
            "goals": "Name the pattern together.\nAgree one small change to try this week.",
            "private_notes": "Watch for withdrawal when the hard topic comes up.",
        }
    )
    return plans.create_plan(couple, therapist, values)


def _issue(couple: Couple, plan: SessionPlan, therapist: Therapist) -> None:
    """Issue the plan and, unless a safety alert holds joint work back, the handout."""
    kinds = [(DocumentKind.SESSION_PLAN, builders.plan_document, "session-plan")]
    if handout_blocked(couple) is None:
        kinds.append((DocumentKind.HANDOUT, builders.handout_document, "handout"))
    with current_app.test_request_context():
        for kind, gather, slug in kinds:
            document = gather(plan, therapist, plans.practice())
            html = render_html(document)
            plans.store_issued(
                couple.id,
                kind,
                html,
                render(document).pdf,
                therapist,
                plan=plan,
                stem=f"{slug}-{plan.session_date.isoformat()}",
            )


# ------------------------------------------------------------------------------ appointments
def _history(
    rng: random.Random,
    couple: Couple,
    therapist: Therapist,
    plan: SessionPlan | None,
    flags: list[Flag],
    count: int,
    profile: Profile,
) -> int:
    """``count`` - 1 weekly appointments up to now, and one scheduled within the week.

    Inserted in bulk (one statement per table), which is what makes the large practice
    buildable in minutes: the unit of work would spend most of its time on bookkeeping.
    """
    if count == 0:
        return 0
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    first = now - timedelta(weeks=count - 1)
    visits = [(starts_at, _status(rng)) for starts_at in _weeks(first, count - 1)]
    rows = [
        {
            "couple_id": couple.id,
            "starts_at": starts_at,
            "status": status,
            "attendance": _attendance(rng) if status is AppointmentStatus.COMPLETED else None,
            "plan_id": plan.id if plan is not None and week > 0 else None,
        }
        for week, (starts_at, status) in enumerate(visits)
    ]
    rows.append(
        {
            "couple_id": couple.id,
            "starts_at": now + timedelta(days=rng.randint(1, 7), hours=rng.randint(0, 4)),
            "status": AppointmentStatus.SCHEDULED,
            "attendance": None,
            "plan_id": None,
        }
    )
    ids = db.session.scalars(
        insert(Appointment).returning(Appointment.id, sort_by_parameter_order=True), rows
    ).all()
    children: dict[type, list[dict[str, Any]]] = {
        CheckIn: [], HomeworkReview: [], FlagStatusRecord: [], SessionNote: []
    }  # fmt: skip
    scores = {
        "csi": {label: 21 * (1 - profile.distress[label]) for label in "AB"},
        "balance": {label: rng.uniform(6, 12) for label in "AB"},
    }
    held_before = False
    for week, (appointment_id, row) in enumerate(zip(ids, rows, strict=True)):
        attendance = row["attendance"]
        if attendance is None:
            continue
        for label in "AB":
            _drift(rng, scores, label)
            if attendance.present(label):
                children[CheckIn] += _check_ins(rng, (couple.id, appointment_id), label, scores)
                if plan is not None and held_before:
                    children[HomeworkReview] += _homework(rng, appointment_id, plan, label)
        children[FlagStatusRecord] += _flag_statuses(appointment_id, flags, week, count)
        children[SessionNote].append(_note(rng, appointment_id, therapist, row["starts_at"]))
        held_before = True
    for model, values in children.items():
        if values:
            db.session.execute(insert(model), values)
    return count


def _drift(rng: random.Random, scores: dict[str, dict[str, float]], label: str) -> None:
    """Most couples slowly improve, with ups and downs."""
    scores["csi"][label] = min(21.0, scores["csi"][label] + rng.uniform(-0.6, 1.0))
    scores["balance"][label] = min(20.0, scores["balance"][label] + rng.uniform(-0.5, 0.8))


def _weeks(first: datetime, count: int) -> Iterator[datetime]:
    for week in range(count):
        yield first + timedelta(weeks=week)


def _status(rng: random.Random) -> AppointmentStatus:
    roll = rng.random()
    if roll < 0.06:
        return AppointmentStatus.CANCELLED
    if roll < 0.09:
        return AppointmentStatus.NO_SHOW
    return AppointmentStatus.COMPLETED


def _attendance(rng: random.Random) -> Attendance:
    roll = rng.random()
    if roll < 0.05:
        return Attendance.ONLY_A
    if roll < 0.1:
        return Attendance.ONLY_B
    return Attendance.BOTH


def _check_ins(
    rng: random.Random,
    at: tuple[int, int],
    label: str,
    scores: dict[str, dict[str, float]],
) -> list[dict[str, Any]]:
    """``at``: the couple's id and the appointment's."""
    couple_id, appointment_id = at
    csi_answers = _csi_answers(rng, scores["csi"][label])
    balance_items = load(BALANCE_ID).items
    target = max(0, min(20, round(scores["balance"][label])))
    balance_answers = {}
    for position, item in enumerate(balance_items):
        share = min(4, target // (len(balance_items) - position))
        balance_answers[item.id] = share
        target -= share
    return [
        {
            "couple_id": couple_id,
            "appointment_id": appointment_id,
            "partner_label": label,
            "instrument_id": instrument_id,
            "instrument_version": load(instrument_id).version,
            "answers": answers,
            "total": sum(answers.values()),
        }
        for instrument_id, answers in ((CSI4_ID, csi_answers), (BALANCE_ID, balance_answers))
    ]


def _homework(
    rng: random.Random, appointment_id: int, plan: SessionPlan, label: str
) -> list[dict[str, Any]]:
    return [
        {
            "appointment_id": appointment_id,
            "plan_id": plan.id,
            "item_index": index,
            "assignment": item["text"],
            "partner_label": label,
            "outcome": rng.choice(list(HomeworkOutcome)),
            "note": rng.choice(HOMEWORK_NOTES),
        }
        for index, item in enumerate(plan.homework)
    ]


def _flag_statuses(
    appointment_id: int, flags: list[Flag], week: int, count: int
) -> list[dict[str, Any]]:
    """Active for the first third, improving for the second, resolved after."""
    stage = (
        FlagProgress.ACTIVE
        if week < count / 3
        else FlagProgress.IMPROVING
        if week < 2 * count / 3
        else FlagProgress.RESOLVED
    )
    return [
        {"appointment_id": appointment_id, "flag_id": flag.id, "status": stage} for flag in flags
    ]


def _note(
    rng: random.Random, appointment_id: int, therapist: Therapist, starts_at: datetime
) -> dict[str, Any]:
    return {
        "appointment_id": appointment_id,
        "data": rng.choice(NOTE_DATA),
        "assessment": rng.choice(NOTE_ASSESSMENT),
        "plan": rng.choice(NOTE_PLAN),
        "status": NoteStatus.SIGNED,
        "signed_at": starts_at + timedelta(hours=2),
        "signed_by_id": therapist.id,
    }
