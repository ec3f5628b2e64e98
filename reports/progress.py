"""Plain values of the two progress reports, from the progress picture of one couple."""

from __future__ import annotations

from counselor_app.flags import CHALLENGES
from counselor_app.instruments import CSI4_ID, load
from counselor_app.models import Couple, Practice, Therapist
from counselor_app.progress import (
    MeasureProgress,
    Progress,
    measure_chart,
    measure_table_header,
    measure_table_rows,
)
from reports.documents import MeasureSection, ProgressDocument, ProgressSummaryDocument

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
        chart_svg=measure_chart(measure, names, chart_id=f"report-{measure.measure_id}"),
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


# What each check-in is about, in the couple's words, and how far the pair's combined average
# must move (in points) before we call it a change rather than "about the same".
TREND_TOPICS = {
    "csi4": "How you both feel about your relationship",
    "balance": "How you both feel about the balance of time together and apart",
}
TREND_STEP = 1.0


def _pair_average(measure: MeasureProgress) -> list[float]:
    """The two partners' mean at each appointment where both checked in."""
    pairs = zip(measure.series["A"], measure.series["B"], strict=True)
    return [(a + b) / 2 for a, b in pairs if a is not None and b is not None]


def trend_words(measure: MeasureProgress) -> str:
    averages = _pair_average(measure)
    if len(averages) < 2:
        return "Not enough check-ins together yet to see a trend."
    change = averages[-1] - averages[0]
    if change >= TREND_STEP:
        return "Has gone up since your first check-ins together."
    if change <= -TREND_STEP:
        return "Has gone down since your first check-ins together: something to talk about."
    return "Has stayed about the same since your first check-ins together."


def progress_summary_document(
    couple: Couple, progress: Progress, therapist: Therapist, practice: Practice
) -> ProgressSummaryDocument:
    """Trends in words and what you did together: no scores, notes, flags or answers."""
    names = " and ".join(progress.partner_names[label] for label in LABELS)
    done = sum(progress.homework[label].done for label in LABELS)
    partly = sum(progress.homework[label].partly for label in LABELS)
    reviewed = sum(progress.homework[label].total for label in LABELS)
    homework = (
        "We have not looked at homework together yet."
        if not reviewed
        else f"Of {reviewed} homework check-ups, {done} were done and {partly} partly done."
    )
    return ProgressSummaryDocument(
        title=f"Your progress: {names}",
        subject="How things have gone across our sessions",
        couple_name=names,
        period=_period(progress),
        therapist_name=therapist.name,
        practice_name=practice.name,
        paper=practice.paper_size.value,
        trends=tuple(
            (TREND_TOPICS.get(m.measure_id, m.title), trend_words(m)) for m in progress.measures
        ),
        sessions=f"We have met {progress.completed_count} times.",
        homework=homework,
    )
