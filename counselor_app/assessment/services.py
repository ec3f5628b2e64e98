"""The assessment: scores side by side, flags with their evidence, decisions, safety, export.

Suggested flags are refreshed whenever answers change; the therapist's decisions (confirm,
dismiss with a reason, flags added by hand, notes) are never overwritten by a re-score.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from counselor_app.encryption import UNREADABLE_TEXT, is_unreadable, require_readable, shown
from counselor_app.extensions import db
from counselor_app.flags import (
    CHALLENGES,
    Evaluation,
    NearMiss,
    Ruleset,
    SuggestedFlag,
    evaluate,
    evaluate_safety,
    ruleset_for_intake,
)
from counselor_app.instruments import (
    CSI4_ID,
    INTAKE_ID,
    SAFETY_ID,
    Csi4Score,
    DomainComparison,
    Instrument,
    compare_partners,
    load,
    missing_required,
    score_csi4,
)
from counselor_app.intake.services import intake_version_of, responses_of_couple
from counselor_app.models import (
    Couple,
    Flag,
    FlagOrigin,
    FlagStatus,
    Response,
    SafetyAlert,
    SafetyDecision,
    SafetyNotice,
    Severity,
    Therapist,
)
from counselor_app.models.base import check_version, flush_versioned, utcnow

LABELS = ("A", "B")


class DecisionError(ValueError):
    """A decision that cannot be recorded; the message is for the therapist."""


# ------------------------------------------------------------------------------ re-scoring
def complete_answers(
    responses: dict[str, dict[str, Response]], instrument_id: str
) -> dict[str, dict[str, Any] | None]:
    """Each partner's answers to an instrument, or None until that response is complete."""
    result: dict[str, dict[str, Any] | None] = {}
    for label in LABELS:
        response = responses[label].get(instrument_id)
        result[label] = dict(response.answers) if response and response.is_complete else None
    return result


def evaluate_couple(responses: dict[str, dict[str, Response]]) -> Evaluation:
    """Flags for the couple, by the rules written for the intake version they answered."""
    intake = complete_answers(responses, INTAKE_ID)
    instrument = load(INTAKE_ID, intake_version_of(responses))
    return evaluate(intake["A"], intake["B"], intake=instrument, ruleset=ruleset_for(instrument))


def ruleset_for(intake: Instrument) -> Ruleset:
    """The ruleset for this intake version, with the practice's borderline margins if set
    (a ruleset without margins, such as v1, keeps flagging exactly as it always did)."""
    ruleset = ruleset_for_intake(intake.id, intake.version)
    margins = current_app.config.get("COUNSELOR_BORDERLINE_MARGINS")
    return ruleset.with_margins(margins) if margins and ruleset.margins else ruleset


def rescore(couple: Couple) -> None:
    """Bring the couple's suggested flags and safety alert in line with the current answers."""
    responses = responses_of_couple(couple)
    # Answers that failed their check would read as none: no suggestion is made from them.
    require_readable(*(r.answers for by_label in responses.values() for r in by_label.values()))
    _sync_flags(couple, evaluate_couple(responses))
    _sync_safety(couple, responses)
    db.session.flush()


def _sync_flags(couple: Couple, evaluation: Evaluation) -> None:
    existing = {
        flag.challenge_key: flag
        for flag in db.session.scalars(select(Flag).where(Flag.couple_id == couple.id))
    }
    suggested = {flag.challenge_key: flag for flag in evaluation.flags}
    for key, suggestion in suggested.items():
        flag = existing.get(key)
        if flag is None:
            flag = Flag(couple_id=couple.id, challenge_key=key, origin=FlagOrigin.RULES)
            db.session.add(flag)
        _apply_suggestion(flag, suggestion, evaluation.ruleset_version)
    for key, flag in existing.items():
        if key not in suggested and flag.currently_suggested:
            flag.currently_suggested = False


def _as_json(value: Any) -> Any:
    """The value as the JSON column returns it (tuples become lists), to compare like with like."""
    return json.loads(json.dumps(value))


def _set_if_changed(flag: Flag, **values: Any) -> None:
    # Assigning equal values would still bump the version and make open pages stale.
    for name, value in values.items():
        if getattr(flag, name) != value:
            setattr(flag, name, value)


def _apply_suggestion(flag: Flag, suggestion: SuggestedFlag, ruleset_version: int) -> None:
    """Record the rules' view; on a flag the therapist added, keep their severity and partners."""
    _set_if_changed(
        flag,
        evidence=_as_json([asdict(evidence) for evidence in suggestion.evidence]),
        hits=_as_json([asdict(hit) for hit in suggestion.hits]),
        strategies=list(suggestion.strategies),
        ruleset_version=ruleset_version,
    )
    if flag.origin == FlagOrigin.RULES:
        _set_if_changed(
            flag, severity=Severity(suggestion.severity), partners="".join(suggestion.partners)
        )
    if not flag.currently_suggested:
        flag.suggested_at = utcnow()
        flag.currently_suggested = True


def _safety_answers(responses: dict[str, dict[str, Response]]) -> dict[str, dict[str, Any] | None]:
    """Each partner's safety-screen answers, draft or complete: a disclosure counts at once."""
    return {
        label: dict(responses[label][SAFETY_ID].answers) if SAFETY_ID in responses[label] else None
        for label in LABELS
    }


def _disclosures(answers: dict[str, dict[str, Any] | None]) -> dict[str, list[str]]:
    """Per partner, the positive safety answers: what raises the alert."""
    found = evaluate_safety(answers["A"], answers["B"], instrument=load(SAFETY_ID))
    return {
        "A": list(found.positive_items_a) if found else [],
        "B": list(found.positive_items_b) if found else [],
    }


def _written_notes(answers: dict[str, dict[str, Any] | None]) -> dict[str, str]:
    """Each partner's private note on the safety screen (its free text), where there is one."""
    text_items = [item.id for item in load(SAFETY_ID).items if item.kind == "text"]
    notes = {}
    for label in LABELS:
        given = answers[label] or {}
        text = "\n".join(str(given.get(i) or "").strip() for i in text_items).strip()
        if text:
            notes[label] = text
    return notes


def _sync_safety(couple: Couple, responses: dict[str, dict[str, Response]]) -> None:
    answers = _safety_answers(responses)
    _sync_alert(couple, _disclosures(answers))
    _sync_notice(couple, _written_notes(answers))


def _sync_alert(couple: Couple, disclosed: dict[str, list[str]]) -> None:
    """Raise (or reopen) the alert for any positive answer; an alert, once raised, stays on
    record."""
    partners = "".join(label for label in LABELS if disclosed[label])
    if not partners:
        return
    alert = safety_alert_of(couple)
    if alert is None:
        db.session.add(
            SafetyAlert(couple_id=couple.id, partners=partners, positive_items=disclosed)
        )
        return
    known = alert.positive_items
    new_items = any(set(disclosed[p]) - set(known.get(p, [])) for p in LABELS)
    if not new_items:
        return
    alert.partners = "".join(sorted(set(alert.partners) | set(partners)))
    alert.positive_items = {p: sorted(set(known.get(p, [])) | set(disclosed[p])) for p in LABELS}
    if alert.decision is not None:
        # Something new was disclosed after the decision: it needs a fresh look.
        alert.decision = None
        alert.decided_at = None
        alert.decided_by_id = None
        alert.raised_at = utcnow()


def _sync_notice(couple: Couple, written: dict[str, str]) -> None:
    """Raise the notice for a note; a new or changed note reopens it (the words read were
    others). A note emptied later stays on the notice, as a retracted answer stays on the alert."""
    if not written:
        return
    notice = safety_notice_of(couple)
    if notice is None:
        db.session.add(SafetyNotice(couple_id=couple.id, partners="".join(written), notes=written))
        return
    require_readable(notice.notes, notice.partners)  # never merged into a note that reads empty
    notes = {**notice.notes, **written}
    if notes == notice.notes:
        return
    notice.notes = notes
    notice.partners = "".join(p for p in LABELS if p in notes or p in notice.partners)
    if not notice.is_open:
        notice.acknowledged_at = None
        notice.acknowledged_by_id = None
        notice.raised_at = utcnow()


# ------------------------------------------------------------------------------ the page
@dataclass(frozen=True)
class PartnerSummary:
    label: str
    name: str
    intake_complete: bool
    csi4: Csi4Score | None


@dataclass(frozen=True)
class AnswerChange:
    """An answer changed after completion, in the therapist's words rather than item ids."""

    partner: str
    question: str
    old: str | None
    new: str | None
    changed_at: Any


@dataclass(frozen=True)
class Assessment:
    partners: tuple[PartnerSummary, ...]
    comparisons: tuple[DomainComparison, ...]
    flags: tuple[Flag, ...]
    notes: tuple[str, ...]
    safety_alert: SafetyAlert | None
    safety_notice: SafetyNotice | None
    safety_evidence: tuple[dict[str, Any], ...]
    safety_pending: tuple[str, ...]  # partner labels whose safety screen is unanswered
    changes: tuple[AnswerChange, ...]
    intake: Instrument
    # Rules whose result fell just short of a threshold, for challenges with no flag: shown as
    # "borderline — worth asking about", never stored as flags.
    worth_asking: tuple[NearMiss, ...] = ()

    @property
    def strengths(self) -> list[DomainComparison]:
        return [c for c in self.comparisons if c.strength]

    @property
    def growth_areas(self) -> list[DomainComparison]:
        return [c for c in self.comparisons if c.growth]

    @property
    def any_complete(self) -> bool:
        return any(p.intake_complete for p in self.partners)

    def flags_with(self, status: FlagStatus) -> list[Flag]:
        return [f for f in self.flags if f.status == status]

    @property
    def changed_since_decision(self) -> list[Flag]:
        """Decided flags whose severity the rules have since changed: worth a second look."""
        return [f for f in self.flags if f.decided_severity and f.decided_severity != f.severity]


def _flag_order(flag: Flag) -> tuple[int, str]:
    return (-flag.severity.rank, flag.challenge_key)


def build_assessment(couple: Couple) -> Assessment:
    responses = responses_of_couple(couple, with_changes=True)
    evaluation = evaluate_couple(responses)
    csi = complete_answers(responses, CSI4_ID)
    intake = complete_answers(responses, INTAKE_ID)
    partners = tuple(
        PartnerSummary(
            label=p.label,
            name=p.display_name,
            intake_complete=intake[p.label] is not None,
            csi4=score_csi4(csi[p.label]) if csi[p.label] is not None else None,
        )
        for p in couple.partners
    )
    scores = evaluation.scores
    comparisons = tuple(compare_partners(dict(scores.get("A", {})), dict(scores.get("B", {}))))
    flags = db.session.scalars(
        select(Flag).where(Flag.couple_id == couple.id).options(selectinload(Flag.decided_by))
    ).all()
    alert, notice = safety_records(couple)
    return Assessment(
        partners=partners,
        comparisons=comparisons if any(scores.values()) else (),
        flags=tuple(sorted(flags, key=_flag_order)),
        notes=evaluation.notes,
        safety_alert=alert,
        safety_notice=notice,
        safety_evidence=_safety_evidence(alert, responses) if alert else (),
        safety_pending=tuple(safety_pending(responses)),
        intake=load(evaluation.intake_id, evaluation.intake_version),
        changes=tuple(_changes(responses)),
        worth_asking=evaluation.near_misses,
    )


def _changes(responses: dict[str, dict[str, Response]]) -> list[AnswerChange]:
    found = []
    for label in LABELS:
        for response in responses[label].values():
            instrument = load(response.instrument_id, response.instrument_version)
            for change in response.changes:
                if is_unreadable(change.item_id):
                    found.append(
                        AnswerChange(label, UNREADABLE_TEXT, None, None, change.changed_at)
                    )
                    continue
                item = instrument.item(change.item_id)
                found.append(
                    AnswerChange(
                        partner=label,
                        question=item.text,
                        old=item.label_for(change.old_value),
                        new=item.label_for(change.new_value),
                        changed_at=change.changed_at,
                    )
                )
    return sorted(found, key=lambda change: change.changed_at)


def _safety_evidence(
    alert: SafetyAlert, responses: dict[str, dict[str, Response]]
) -> tuple[dict[str, Any], ...]:
    """Every item ever disclosed, with each partner's current answer: a later 'No' stays visible."""
    instrument = load(SAFETY_ID)
    answers = _safety_answers(responses)
    disclosed = [item_id for p in LABELS for item_id in alert.positive_items.get(p, [])]
    rows = []
    for item_id in dict.fromkeys(disclosed):
        item = instrument.item(item_id)
        current = {p: item.label_for((answers[p] or {}).get(item_id)) for p in LABELS}
        rows.append(
            {
                "item_id": item_id,
                "text": item.text,
                "answer_a": current["A"],
                "answer_b": current["B"],
            }
        )
    return tuple(rows)


def safety_pending(responses: dict[str, dict[str, Response]]) -> list[str]:
    """Partners whose safety screen is not fully answered yet (no news is not good news)."""
    instrument = load(SAFETY_ID)
    answers = _safety_answers(responses)
    return [label for label in LABELS if missing_required(instrument, answers[label] or {})]


# ------------------------------------------------------------------------------ decisions
def confirm_flag(flag: Flag, therapist: Therapist, note: str, *, expected_version: int) -> None:
    check_version(flag, expected_version)
    _decide(flag, therapist, FlagStatus.CONFIRMED)
    flag.note = note
    flag.dismiss_reason = ""
    flush_versioned(db.session)


def dismiss_flag(flag: Flag, therapist: Therapist, reason: str, *, expected_version: int) -> None:
    if not reason.strip():
        raise DecisionError("Give a reason for dismissing this flag.")
    check_version(flag, expected_version)
    _decide(flag, therapist, FlagStatus.DISMISSED)
    flag.dismiss_reason = reason
    flush_versioned(db.session)


def reset_flag(flag: Flag, *, expected_version: int) -> None:
    """Undo a decision: the flag is back to awaiting review (a hand-added flag cannot be)."""
    check_version(flag, expected_version)
    if flag.origin == FlagOrigin.THERAPIST:
        raise DecisionError("A flag you added yourself can be dismissed, not reset.")
    flag.status = FlagStatus.SUGGESTED
    flag.decided_at = None
    flag.decided_by_id = None
    flag.decided_severity = None
    flush_versioned(db.session)


def _decide(flag: Flag, therapist: Therapist, status: FlagStatus) -> None:
    flag.status = status
    flag.decided_at = utcnow()
    flag.decided_by_id = therapist.id
    flag.decided_severity = flag.severity


def add_flag(
    couple: Couple,
    therapist: Therapist,
    *,
    challenge_key: str,
    severity: Severity,
    partners: str,
    note: str,
) -> Flag:
    """A flag the therapist raises from their own judgement; it starts confirmed."""
    if challenge_key not in CHALLENGES:
        raise DecisionError("Choose one of the listed challenges.")
    existing = db.session.scalar(
        select(Flag.id).where(Flag.couple_id == couple.id, Flag.challenge_key == challenge_key)
    )
    if existing is not None:
        raise DecisionError(
            "This challenge is already on the couple's list: confirm, dismiss or reset it there."
        )
    flag = Flag(
        couple_id=couple.id,
        challenge_key=challenge_key,
        origin=FlagOrigin.THERAPIST,
        currently_suggested=False,
    )
    db.session.add(flag)
    flag.severity = severity
    flag.partners = partners
    flag.note = note
    flag.dismiss_reason = ""
    _decide(flag, therapist, FlagStatus.CONFIRMED)
    flush_versioned(db.session)
    return flag


def decide_safety(
    alert: SafetyAlert,
    therapist: Therapist,
    decision: SafetyDecision,
    note: str,
    *,
    expected_version: int,
) -> None:
    """Record (or change) the decision; joint work may continue only with the plan noted."""
    if decision.releases_joint_work and not note.strip():
        raise DecisionError("Note the safety plan that lets joint work continue.")
    check_version(alert, expected_version)
    alert.decision = decision
    alert.decision_note = note
    alert.decided_at = utcnow()
    alert.decided_by_id = therapist.id
    flush_versioned(db.session)


def confirmed_flags(couple: Couple) -> list[Flag]:
    """Confirmed flags, most severe first: what plans focus on and appointments track."""
    flags = db.session.scalars(
        select(Flag).where(Flag.couple_id == couple.id, Flag.status == FlagStatus.CONFIRMED)
    ).all()
    return sorted(flags, key=lambda flag: (-flag.severity.rank, flag.challenge_key))


def safety_alert_of(couple: Couple) -> SafetyAlert | None:
    return db.session.scalar(select(SafetyAlert).where(SafetyAlert.couple_id == couple.id))


def safety_notice_of(couple: Couple) -> SafetyNotice | None:
    return db.session.scalar(select(SafetyNotice).where(SafetyNotice.couple_id == couple.id))


def safety_records(couple: Couple) -> tuple[SafetyAlert | None, SafetyNotice | None]:
    """The couple's alert and notice, either possibly None, in one statement (pages count)."""
    alert, notice = db.session.execute(
        select(SafetyAlert, SafetyNotice)
        .select_from(Couple)
        .outerjoin(SafetyAlert, SafetyAlert.couple_id == Couple.id)
        .outerjoin(SafetyNotice, SafetyNotice.couple_id == Couple.id)
        .where(Couple.id == couple.id)
    ).one()
    return alert, notice


def review_pending(couple: Couple) -> bool:
    """Whether an alert awaits a decision or a note awaits reading: one statement, as the
    banner on every page of the couple asks."""
    open_alert = select(SafetyAlert.id).where(
        SafetyAlert.couple_id == couple.id, SafetyAlert.decision.is_(None)
    )
    unread = select(SafetyNotice.id).where(
        SafetyNotice.couple_id == couple.id, SafetyNotice.acknowledged_at.is_(None)
    )
    return bool(db.session.scalar(select(or_(open_alert.exists(), unread.exists()))))


def acknowledge_notice(
    notice: SafetyNotice, therapist: Therapist, *, expected_version: int
) -> None:
    """The therapist has read the partner's note: joint work need no longer wait for it."""
    check_version(notice, expected_version)
    notice.acknowledged_at = utcnow()
    notice.acknowledged_by_id = therapist.id
    flush_versioned(db.session)


def handout_blocked(couple: Couple) -> str | None:
    """Why no joint (couple-facing) document may be produced for this couple now, or None.

    Each partner's own progress summary is not joint: it is not held here.
    """
    alert, notice = safety_records(couple)
    if alert is not None and alert.decision is None:
        return (
            "A safety alert is open for this couple. Record your decision on the assessment "
            "page before producing a joint handout."
        )
    if alert is not None and alert.decision and not alert.decision.releases_joint_work:
        return alert.decision.held_reason
    if notice is not None and notice.is_open:
        return (
            f"{notice.partners_label} wrote a private safety note that you have not marked as "
            "read. Read it on the assessment page (Read before joint work) and mark it read "
            "before producing a joint handout."
        )
    pending = safety_pending(responses_of_couple(couple))
    if pending:
        who = " and ".join(f"Partner {label}" for label in pending)
        return (
            f"The safety screen is not complete for {who}. Ask it with each partner on their "
            "own before producing a joint handout."
        )
    return None


def owned_alert(couple: Couple) -> SafetyAlert:
    return db.first_or_404(select(SafetyAlert).where(SafetyAlert.couple_id == couple.id))


def owned_notice(couple: Couple) -> SafetyNotice:
    return db.first_or_404(select(SafetyNotice).where(SafetyNotice.couple_id == couple.id))


# ------------------------------------------------------------------------------ export
def _response_export(response: Response | None) -> dict[str, Any] | None:
    if response is None:
        return None
    instrument = load(response.instrument_id, response.instrument_version)
    return {
        "instrument": {"id": instrument.id, "version": instrument.version},
        "status": response.status.value,
        "completed_at": response.completed_at.isoformat() if response.completed_at else None,
        "answers": UNREADABLE_TEXT
        if is_unreadable(response.answers)
        else [
            {
                "item_id": item.id,
                "text": item.text,
                "value": response.answers[item.id],
                "label": item.label_for(response.answers[item.id]),
            }
            for item in instrument.items
            if item.id in response.answers
        ],
        "changes_after_completion": [
            {
                "item_id": change.item_id,
                "old_value": change.old_value,
                "new_value": change.new_value,
                "changed_at": change.changed_at.isoformat(),
            }
            for change in response.changes
        ],
    }


def _flag_export(flag: Flag) -> dict[str, Any]:
    return {
        "challenge_key": flag.challenge_key,
        "title": CHALLENGES[flag.challenge_key][0],
        "origin": flag.origin.value,
        "status": flag.status.value,
        "severity": flag.severity.value,
        "partners": shown(flag.partners, list),
        "currently_suggested": flag.currently_suggested,
        "rules": shown(flag.hits),
        "ruleset_version": flag.ruleset_version,
        "evidence": shown(flag.evidence),
        "strategies": flag.strategies,
        "note": flag.note,
        "dismiss_reason": flag.dismiss_reason,
        "decided_at": flag.decided_at.isoformat() if flag.decided_at else None,
        "decided_by": flag.decided_by.name if flag.decided_by else None,
    }


def export_intake(couple: Couple) -> dict[str, Any]:
    """Everything the intake produced for the therapist's records, as plain JSON values."""
    responses = responses_of_couple(couple, with_changes=True)
    assessment = build_assessment(couple)
    alert, notice = assessment.safety_alert, assessment.safety_notice
    return {
        "format": "counselor_app.intake-export",
        "format_version": 1,
        "exported_at": utcnow().isoformat(),
        "couple": {
            "id": couple.id,
            "relationship_stage": couple.relationship_stage.value,
            "relationship_length_months": couple.relationship_length_months,
        },
        "partners": [
            {
                "label": p.label,
                "display_name": p.display_name,
                "pronouns": p.pronouns,
                "responses": {
                    instrument_id: _response_export(responses[p.label].get(instrument_id))
                    for instrument_id in (INTAKE_ID, CSI4_ID, SAFETY_ID)
                },
                "csi4": asdict(summary.csi4) if summary.csi4 else None,
            }
            for p, summary in zip(couple.partners, assessment.partners, strict=True)
        ],
        "domains": [asdict(c) for c in assessment.comparisons],
        "notes": list(assessment.notes),
        "flags": [_flag_export(flag) for flag in assessment.flags],
        "safety_alert": None
        if alert is None
        else {
            "partners": shown(alert.partners, list),
            "positive_items": shown(alert.positive_items),
            "raised_at": alert.raised_at.isoformat(),
            "decision": alert.decision.value if alert.decision else None,
            "decision_note": alert.decision_note,
            "decided_at": alert.decided_at.isoformat() if alert.decided_at else None,
        },
        "safety_notice": None
        if notice is None
        else {
            "partners": shown(notice.partners, list),
            "notes": shown(notice.notes),
            "raised_at": notice.raised_at.isoformat(),
            "acknowledged_at": notice.acknowledged_at.isoformat()
            if notice.acknowledged_at
            else None,
            "acknowledged_by": notice.acknowledged_by.name if notice.acknowledged_by else None,
        },
    }
