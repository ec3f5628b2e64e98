"""Plain values of the two progress reports, from the progress picture of one couple."""

from __future__ import annotations

from counselor_app.flags import CHALLENGES
from counselor_app.instruments import CSI4_ID, load
from counselor_app.models import Couple, Practice, Therapist
from counselor_app.progress import (
    MeasureProgress,
    Progress,
    measure_chart_data_uri,
    measure_table_header,
    measure_table_rows,
)
from counselor_app.reports.documents import (
    MeasureSection,
    ProgressDocument,
    ProgressSummaryDocument,
)

LABELS = ("A", "B")


def _number(value: int | None) -> str:
    return "—" if value is None else str(value)


def _signed(value: int | None) -> str:
    return "—" if value is None else f"{value:+d}"


def measure_section(measure: MeasureProgress, progress: Progress) -> MeasureSection:
    names = progress.partner_names
    note = ""
    if measure.measure_id == CSI4_ID:
        note = f"{load(CSI4_ID).source_note} Below 13.5 is the commonly cited distressed range."
    return MeasureSection(
        title=measure.title,
        chart_uri=measure_chart_data_uri(measure, names, chart_id=f"report-{measure.measure_id}"),
        chart_alt=f"{measure.title}: both partners' totals at each appointment (table below).",
        table_header=measure_table_header(measure, names),
        table_rows=tuple(measure_table_rows(measure, names)),
        changes=tuple(
            (
                names[label],
                _number(change.baseline),
                _number(change.previous),
                _number(change.latest),
                _signed(change.change_since_baseline),
            )
            for label, change in ((label, measure.change[label]) for label in LABELS)
        ),
        note=note,
    )


def homework_rows(progress: Progress) -> tuple[tuple[str, str], ...]:
    rows = []
    for label in LABELS:
        summary = progress.homework[label]
        rate = summary.completion_rate
        words = (
            "No homework reviewed yet"
            if rate is None
            else f"{round(rate * 100)}% ({summary.done} done, {summary.partly} partly, "
            f"{summary.not_done} not done)"
        )
        rows.append((progress.partner_names[label], words))
    return tuple(rows)


def _period(progress: Progress) -> str:
    dates = [entry.starts_at for entry in progress.attendance.history]
    if not dates:
        return "No appointments yet"
    return f"{min(dates):%d %b %Y} to {max(dates):%d %b %Y}"


def progress_document(
    couple: Couple, progress: Progress, therapist: Therapist, practice: Practice
) -> ProgressDocument:
    attendance = progress.attendance
    names = progress.partner_names
    return ProgressDocument(
        title=f"Progress report: {couple.display_name}",
        subject="Therapist's record of the couple's measures, homework, flags and attendance",
        couple_name=couple.display_name,
        period=_period(progress),
        therapist_name=therapist.name,
        practice_name=practice.name,
        paper=practice.paper_size.value,
        measures=tuple(measure_section(m, progress) for m in progress.measures),
        alerts=tuple(alert.message for alert in progress.alerts),
        homework=homework_rows(progress),
        flags=tuple(
            (
                CHALLENGES[key][0] if key in CHALLENGES else key,
                "; ".join(f"{c.starts_at:%d %b %Y}: {c.status}" for c in history.changes),
            )
            for key, history in progress.flags_over_time.items()
        ),
        attendance=(
            ("Held with both partners", str(attendance.both)),
            (f"Held with {names['A']} only", str(attendance.only_a)),
            (f"Held with {names['B']} only", str(attendance.only_b)),
            ("Cancelled", str(attendance.cancelled)),
            ("No-show", str(attendance.no_show)),
        ),
    )


# What each check-in is about, in the client's words, and how far their own total must move
# (in points) before we call it a change rather than "about the same".
TREND_TOPICS = {
    "csi4": "How you feel about your relationship",
    "balance": "How you feel about the balance of time together and apart",
}
TREND_STEP = 2


def trend_words(measure: MeasureProgress, label: str) -> str:
    """One partner's own direction, from their first to their latest check-in, in words."""
    change = measure.change[label]
    if change.baseline is None or change.previous is None:
        return "Not enough check-ins yet to see a trend."
    if change.change_since_baseline >= TREND_STEP:
        return "Your answers have gone up since your first check-in."
    if change.change_since_baseline <= -TREND_STEP:
        return "Your answers have gone down since your first check-in: worth talking about."
    return "Your answers have stayed about the same since your first check-in."


def progress_summary_document(
    couple: Couple, progress: Progress, label: str, therapist: Therapist, practice: Practice
) -> ProgressSummaryDocument:
    """Partner ``label``'s own summary: no scores, notes, flags, or the other partner's answers."""
    name = progress.partner_names[label]
    homework = progress.homework[label]
    attended = sum(
        1
        for entry in progress.attendance.history
        if entry.status == "completed" and entry.attendance in ("both", label.lower())
    )
    return ProgressSummaryDocument(
        title=f"Your progress: {name}",
        subject="How things have gone for you across our sessions",
        partner_name=name,
        period=_period(progress),
        therapist_name=therapist.name,
        practice_name=practice.name,
        paper=practice.paper_size.value,
        trends=tuple(
            (TREND_TOPICS.get(m.measure_id, m.title), trend_words(m, label))
            for m in progress.measures
        ),
        sessions=f"You have come to {attended} of our sessions.",
        homework=(
            "We have not looked at your homework together yet."
            if not homework.total
            else f"Of {homework.total} homework check-ups, you had done {homework.done} "
            f"and partly done {homework.partly}."
        ),
    )
