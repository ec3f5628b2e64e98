"""Gather the plain values of each document from the database (in the request, once)."""

from __future__ import annotations

import base64
import io

import segno

from counselor_app.assessment.services import Assessment, build_assessment
from counselor_app.encryption import UNREADABLE_TEXT, is_unreadable
from counselor_app.flags import CHALLENGES
from counselor_app.instruments import CSI4_ID, load
from counselor_app.library import Strategy
from counselor_app.library.services import strategies_for
from counselor_app.models import (
    FlagStatus,
    Invitation,
    InvitationPurpose,
    Practice,
    SessionPlan,
    Therapist,
)
from counselor_app.partner.services import Practice as PracticeDetails
from counselor_app.plans.services import AGENDA_LABELS
from counselor_app.reports.documents import (
    AgendaRow,
    DomainRow,
    EvidenceRow,
    Exercise,
    FocusFlag,
    HandoutDocument,
    Intervention,
    InvitationSlipDocument,
    PlanDocument,
    ScoreRow,
)
from counselor_app.reports.pdf import DATA_SVG

TRACKER_LABEL_LENGTH = 70


def _date(plan: SessionPlan) -> str:
    return f"{plan.session_date:%A} {plan.session_date.day} {plan.session_date:%B %Y}"


def _chosen(plan: SessionPlan, strategies: dict[str, Strategy]) -> list[Strategy]:
    return [strategies[key] for key in plan.strategy_keys if key in strategies]


def _homework(plan: SessionPlan) -> tuple[str, ...]:
    if is_unreadable(plan.homework):
        return (UNREADABLE_TEXT,)
    return tuple(item["text"] for item in plan.homework if item.get("text", "").strip())


def _agenda(plan: SessionPlan) -> tuple[AgendaRow, ...]:
    if is_unreadable(plan.agenda):
        return (AgendaRow(UNREADABLE_TEXT, 0, ""),)
    return tuple(
        AgendaRow(AGENDA_LABELS.get(row["part"], row["part"]), row["minutes"], row["notes"])
        for row in plan.agenda
    )


def _evidence(evidence: list[dict[str, str | None]]) -> tuple[EvidenceRow, ...]:
    if is_unreadable(evidence):
        return (EvidenceRow(UNREADABLE_TEXT, None, None),)
    return tuple(EvidenceRow(e["text"], e["answer_a"], e["answer_b"]) for e in evidence)


def _score(value: float | None) -> str:
    return "—" if value is None else str(round(value))


def plan_document(plan: SessionPlan, therapist: Therapist, practice: Practice) -> PlanDocument:
    couple = plan.couple
    report = build_assessment(couple)
    strategies = strategies_for(therapist)
    # Only flags still confirmed: one dismissed since the plan was saved is no longer a focus.
    flags = {flag.id: flag for flag in report.flags_with(FlagStatus.CONFIRMED)}
    focus = [flags[flag_id] for flag_id in plan.focus_flag_ids if flag_id in flags]
    return PlanDocument(
        title=f"Session plan: {couple.display_name}",
        subject=f"Therapist's plan for the session on {plan.session_date.isoformat()}",
        couple_name=couple.display_name,
        partner_names=(couple.partner_a.display_name, couple.partner_b.display_name),
        session_date=_date(plan),
        therapist_name=therapist.name,
        practice_name=practice.name,
        paper=practice.paper_size.value,
        goals=plan.goals,
        agenda=_agenda(plan),
        total_minutes=plan.total_minutes,
        focus=tuple(
            FocusFlag(
                title=CHALLENGES[flag.challenge_key][0],
                severity=flag.severity.value + (", borderline" if flag.borderline else ""),
                partners=flag.partners_label,
                note=flag.note,
                evidence=_evidence(flag.evidence),
            )
            for flag in focus
        ),
        worth_asking=tuple(
            f"{CHALLENGES[miss.challenge_key][0]}: {miss.title}. {miss.detail}"
            for miss in report.worth_asking
        ),
        csi=tuple(
            ScoreRow(
                f"{p.name} ({p.label})",
                str(p.csi4.total),
                "In the distressed range" if p.csi4.distressed else "Above the cut-off",
            )
            for p in report.partners
            if p.csi4 and p.csi4.total is not None
        ),
        csi_source=load(CSI4_ID).source_note,
        domains=tuple(
            DomainRow(
                report.intake.domain_title(c.domain),
                _score(c.a),
                _score(c.b),
                "Strength" if c.strength else ("Growth area" if c.growth else ""),
            )
            for c in report.comparisons
        ),
        safety=_safety_line(report),
        interventions=tuple(
            Intervention(s.title, s.minutes, s.therapist_guidance, s.steps)
            for s in _chosen(plan, strategies)
        ),
        homework=_homework(plan),
        private_notes=plan.private_notes,
    )


def _safety_line(report: Assessment) -> str | None:
    """The therapist's reminder of where safety stands; None when nothing was raised."""
    alert, notice = report.safety_alert, report.safety_notice
    lines = []
    if alert is not None:
        lines.append(
            "Safety alert open: a partner's safety screen needs your decision before any joint "
            "work."
            if alert.decision is None
            else f"Safety alert: {alert.decision.label}. {alert.decision_note}"
        )
    if notice is not None and notice.is_open:
        lines.append("Read before joint work: a partner's private safety note is not marked read.")
    return " ".join(lines) or None


def _tracker_label(item: dict, strategies: dict[str, Strategy]) -> str:
    strategy = strategies.get(item.get("strategy_key") or "")
    if strategy is not None:
        return strategy.title
    text = item["text"].strip()
    return text if len(text) <= TRACKER_LABEL_LENGTH else text[: TRACKER_LABEL_LENGTH - 1] + "…"


def handout_document(
    plan: SessionPlan, therapist: Therapist, practice: Practice
) -> HandoutDocument:
    """Only what the couple may read: no goals, notes, flags, scores or answers are gathered."""
    couple = plan.couple
    strategies = strategies_for(therapist)
    chosen = _chosen(plan, strategies)
    names = " and ".join(p.display_name for p in couple.partners)
    return HandoutDocument(
        title=f"Between sessions: {names}",
        subject="Exercises, homework and a weekly tracker from your couples session",
        couple_name=names,
        session_date=_date(plan),
        therapist_name=therapist.name,
        practice_name=practice.name,
        paper=practice.paper_size.value,
        exercises=tuple(Exercise(s.title, s.client_explanation, s.steps) for s in chosen),
        homework=_homework(plan),
        tracker_rows=tuple(
            _tracker_label(item, strategies) for item in plan.homework if item["text"].strip()
        ),
        reflection_questions=tuple(q for s in chosen for q in s.reflection_questions),
    )


def invitation_slip(
    invitation: Invitation, link: str, details: PracticeDetails, *, paper: str, minutes: int
) -> InvitationSlipDocument:
    """The printed slip for one partner's personal link, with its QR code."""
    purpose = (
        "some questions before your first session"
        if invitation.purpose == InvitationPurpose.INTAKE
        else "a short check-in"
    )
    return InvitationSlipDocument(
        title=f"Your personal link, {invitation.partner.display_name}",
        subject="How to open your personal link to answer your therapist's questions",
        partner_name=invitation.partner.display_name,
        therapist_name=details.therapist,
        practice_name=details.name,
        contact_line=details.contact_line,
        purpose=purpose,
        minutes=minutes,
        expires=f"{invitation.expires_at.day} {invitation.expires_at:%B %Y}",
        link=link,
        qr_code=_qr_code(link),
        paper=paper,
    )


def _qr_code(link: str) -> str:
    """The link as a QR code (segno), inlined as base64 SVG: nothing fetched, nothing on disk."""
    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind="svg", scale=4, border=4, xmldecl=False)
    return DATA_SVG + base64.b64encode(buffer.getvalue()).decode("ascii")
