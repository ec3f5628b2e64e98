"""The progress picture for one couple, computed from their appointment history.

Pure Python: no Flask or database import. The caller turns appointments into
:class:`AppointmentPoint` values; :func:`build_progress` turns those into frozen dataclasses that
a page, a PDF and a test all read the same way.

Rules that apply throughout:

* Points may arrive in any order; they are sorted by ``starts_at`` (then ``appointment_id``).
* Only *completed* appointments contribute scores, homework and flag statuses. Cancelled and
  no-show appointments appear in the attendance history and counts; *scheduled* ones are ignored.
* A *between-sessions* point is a check-in a partner answered by their own link with no
  appointment to belong to: it adds that partner's scores at its own time, and nothing else.
* A missing score is ``None`` ("not answered / absent"), never zero. It is skipped for baseline,
  latest, change and divergence, and breaks the line on a chart.
* Measure metadata (title, maximum total, cut-off) comes from the instrument data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from types import MappingProxyType

from counselor_app.instruments import BALANCE_ID, CSI4_ID, load

PARTNERS: tuple[str, str] = ("A", "B")
MEASURE_IDS: tuple[str, ...] = (CSI4_ID, BALANCE_ID)

COMPLETED = "completed"
CANCELLED = "cancelled"
NO_SHOW = "no_show"
SCHEDULED = "scheduled"
BETWEEN_SESSIONS = "between_sessions"
STATUSES: tuple[str, ...] = (SCHEDULED, COMPLETED, CANCELLED, NO_SHOW, BETWEEN_SESSIONS)
ATTENDANCE_VALUES: tuple[str, ...] = ("both", "a", "b")
HOMEWORK_OUTCOMES: tuple[str, ...] = ("done", "partly", "not_done")
FLAG_STATUSES: tuple[str, ...] = ("active", "improving", "resolved")

# Divergence rule (see ``detect_divergence``): over each partner's own last DIVERGENCE_WINDOW
# non-missing scores, every step moves the same way (a zero step is allowed) and the net move
# from first to last is at least DIVERGENCE_MIN_CHANGE points.
DIVERGENCE_WINDOW = 3
DIVERGENCE_MIN_CHANGE = 2
# Partly-done homework counts half towards the completion rate.
PARTLY_WEIGHT = 0.5

# How a divergence message names what the measure tracks (higher is better on both).
_MEASURE_NOUNS: Mapping[str, str] = {CSI4_ID: "satisfaction", BALANCE_ID: "sense of balance"}


@dataclass(frozen=True)
class MeasureScore:
    """One partner's check-in on one instrument at one appointment (None: not answered/absent)."""

    total: int | None


@dataclass(frozen=True)
class AppointmentPoint:
    # A between-sessions point has no appointment: this is its first check-in row's id.
    appointment_id: int
    starts_at: datetime  # tz-aware UTC
    status: str  # "scheduled" | "completed" | "cancelled" | "no_show" | "between_sessions"
    attendance: str | None  # "both" | "a" | "b" | None (not recorded / not held)
    scores: Mapping[str, Mapping[str, int | None]]  # measure id -> {"A": total|None, "B": ...}
    homework: Mapping[str, Mapping[str, int]]  # "A"/"B" -> {"done": n, "partly": n, ...}
    flag_statuses: Mapping[str, str]  # challenge_key -> "active"|"improving"|"resolved"


@dataclass(frozen=True)
class PartnerChange:
    """One partner's scores on one measure: first, last-but-one and last answered, and change."""

    baseline: int | None
    previous: int | None
    latest: int | None
    change_since_baseline: int | None
    below_cutoff_latest: bool | None  # None when the measure has no cut-off or no score yet


@dataclass(frozen=True)
class DivergenceAlert:
    """The partners are moving in opposite directions on one measure."""

    measure_id: str
    improving: str  # partner key "A" or "B"
    worsening: str
    improving_scores: tuple[int, ...]
    worsening_scores: tuple[int, ...]
    improving_dates: tuple[datetime, ...]
    worsening_dates: tuple[datetime, ...]
    message: str


@dataclass(frozen=True)
class MeasureProgress:
    measure_id: str
    title: str
    max_total: int
    cutoff: float | None
    dates: tuple[datetime, ...]  # completed appointments and between-session check-ins, in order
    between: tuple[bool, ...]  # aligned with ``dates``: answered between sessions
    series: Mapping[str, tuple[int | None, ...]]  # "A"/"B" -> totals aligned with ``dates``
    gaps: tuple[int | None, ...]  # |A − B| where both answered
    change: Mapping[str, PartnerChange]  # "A"/"B"
    divergence: DivergenceAlert | None


@dataclass(frozen=True)
class HomeworkSummary:
    done: int
    partly: int
    not_done: int

    @property
    def total(self) -> int:
        return self.done + self.partly + self.not_done

    @property
    def completion_rate(self) -> float | None:
        """(done + ½ × partly) / reviewed assignments; None when nothing was reviewed."""
        if not self.total:
            return None
        return (self.done + PARTLY_WEIGHT * self.partly) / self.total


@dataclass(frozen=True)
class AttendanceEntry:
    appointment_id: int
    starts_at: datetime
    status: str
    attendance: str | None


@dataclass(frozen=True)
class AttendanceSummary:
    """Counts, per-partner rates and the history (completed, cancelled and no-show appointments).

    A partner's rate is attended / (completed appointments with attendance recorded + no-shows);
    a no-show counts as absent for both, and a completed appointment whose attendance was not
    recorded is left out (counted in ``not_recorded``). None when the denominator is zero.
    """

    both: int
    only_a: int
    only_b: int
    not_recorded: int
    cancelled: int
    no_show: int
    rates: Mapping[str, float | None]
    history: tuple[AttendanceEntry, ...]

    @property
    def completed(self) -> int:
        return self.both + self.only_a + self.only_b + self.not_recorded


@dataclass(frozen=True)
class FlagChange:
    appointment_id: int
    starts_at: datetime
    status: str


@dataclass(frozen=True)
class FlagHistory:
    challenge_key: str
    changes: tuple[FlagChange, ...]  # the first recorded status, then only changes

    @property
    def current(self) -> str:
        return self.changes[-1].status


@dataclass(frozen=True)
class Progress:
    partner_names: Mapping[str, str]
    measures: tuple[MeasureProgress, ...]
    homework: Mapping[str, HomeworkSummary]
    attendance: AttendanceSummary
    flags_over_time: Mapping[str, FlagHistory]  # in order of first appearance
    completed_count: int
    between_count: int = 0

    def measure(self, measure_id: str) -> MeasureProgress:
        for measure in self.measures:
            if measure.measure_id == measure_id:
                return measure
        raise KeyError(measure_id)

    @property
    def divergence(self) -> Mapping[str, DivergenceAlert | None]:
        return {m.measure_id: m.divergence for m in self.measures}

    @property
    def alerts(self) -> tuple[DivergenceAlert, ...]:
        return tuple(m.divergence for m in self.measures if m.divergence is not None)

    def has_anything_for(self, label: str) -> bool:
        """Whether partner ``label``'s own summary would say anything: a check-in answered, a
        session attended or homework looked at together. Without any, it would be empty."""
        attendance = self.attendance
        attended = attendance.both + (attendance.only_a if label == "A" else attendance.only_b)
        return (
            attended > 0
            or self.homework[label].total > 0
            or any(value is not None for m in self.measures for value in m.series[label])
        )


def build_progress(
    points: Sequence[AppointmentPoint],
    partner_names: Mapping[str, str],
    measure_ids: Sequence[str] = MEASURE_IDS,
) -> Progress:
    """The whole progress picture; one pass over the (sorted) points per section."""
    ordered = sorted(points, key=lambda p: (p.starts_at, p.appointment_id))
    for point in ordered:
        _check_point(point)
    completed = [p for p in ordered if p.status == COMPLETED]
    measured = [p for p in ordered if p.status in (COMPLETED, BETWEEN_SESSIONS)]
    names = MappingProxyType({key: partner_names.get(key) or f"Partner {key}" for key in PARTNERS})
    return Progress(
        partner_names=names,
        measures=tuple(_measure_progress(mid, measured, names) for mid in measure_ids),
        homework=_homework(completed),
        attendance=_attendance([p for p in ordered if p.status != BETWEEN_SESSIONS]),
        flags_over_time=_flags(completed),
        completed_count=len(completed),
        between_count=len(measured) - len(completed),
    )


def _check_point(point: AppointmentPoint) -> None:
    if point.status not in STATUSES:
        raise ValueError(f"appointment {point.appointment_id}: unknown status {point.status!r}")
    if point.attendance is not None and point.attendance not in ATTENDANCE_VALUES:
        raise ValueError(
            f"appointment {point.appointment_id}: unknown attendance {point.attendance!r}"
        )
    for key, status in point.flag_statuses.items():
        if status not in FLAG_STATUSES:
            raise ValueError(f"appointment {point.appointment_id}: flag {key} status {status!r}")


def partner_change(scores: Sequence[int | None], cutoff: float | None) -> PartnerChange:
    """Baseline = first answered score, latest = last, previous = the answered one before it."""
    answered = [s for s in scores if s is not None]
    if not answered:
        return PartnerChange(None, None, None, None, None)
    baseline, latest = answered[0], answered[-1]
    return PartnerChange(
        baseline=baseline,
        previous=answered[-2] if len(answered) > 1 else None,
        latest=latest,
        change_since_baseline=latest - baseline,
        below_cutoff_latest=None if cutoff is None else latest < cutoff,
    )


def _measure_progress(
    measure_id: str, completed: Sequence[AppointmentPoint], names: Mapping[str, str]
) -> MeasureProgress:
    instrument = load(measure_id)
    max_total = instrument.scoring.max_total
    if max_total is None:
        raise ValueError(f"{measure_id} has no maximum total: it cannot be charted")
    cutoff = instrument.scoring.cutoff
    series: dict[str, list[int | None]] = {key: [] for key in PARTNERS}
    for point in completed:
        by_partner = point.scores.get(measure_id) or {}
        for key in PARTNERS:
            total = by_partner.get(key)
            if total is not None and (
                isinstance(total, bool) or not isinstance(total, int) or not 0 <= total <= max_total
            ):
                raise ValueError(
                    f"appointment {point.appointment_id}: {measure_id} total {total!r} for "
                    f"partner {key} is outside 0–{max_total}"
                )
            series[key].append(total)
    a, b = series["A"], series["B"]
    dates = tuple(p.starts_at for p in completed)
    return MeasureProgress(
        measure_id=measure_id,
        title=instrument.title,
        max_total=max_total,
        cutoff=cutoff,
        dates=dates,
        between=tuple(p.status == BETWEEN_SESSIONS for p in completed),
        series=MappingProxyType({key: tuple(values) for key, values in series.items()}),
        gaps=tuple(
            None if x is None or y is None else abs(x - y) for x, y in zip(a, b, strict=True)
        ),
        change=MappingProxyType({key: partner_change(series[key], cutoff) for key in PARTNERS}),
        divergence=detect_divergence(measure_id, dates, series, names),
    )


def _direction(scores: Sequence[int]) -> int:
    """+1 rising, -1 falling, 0 neither, by the divergence rule."""
    steps = [later - earlier for earlier, later in pairwise(scores)]
    net = scores[-1] - scores[0]
    if all(step >= 0 for step in steps) and net >= DIVERGENCE_MIN_CHANGE:
        return 1
    if all(step <= 0 for step in steps) and -net >= DIVERGENCE_MIN_CHANGE:
        return -1
    return 0


def detect_divergence(
    measure_id: str,
    dates: Sequence[datetime],
    series: Mapping[str, Sequence[int | None]],
    names: Mapping[str, str],
) -> DivergenceAlert | None:
    """Alert when one partner is improving while the other is worsening.

    For each partner take their own last ``DIVERGENCE_WINDOW`` (3) answered scores, skipping
    appointments where they were absent or did not answer; with fewer than 3, no alert. A partner
    is *rising* when no step between consecutive scores goes down and the last is at least
    ``DIVERGENCE_MIN_CHANGE`` (2) points above the first; *falling* is the mirror image. The
    alert fires when one partner is rising and the other falling (higher is better on every
    charted measure, so rising means improving). Flat, mixed or same-direction moves never fire.
    """
    recent: dict[str, list[tuple[datetime, int]]] = {}
    for key in PARTNERS:
        answered = [(d, s) for d, s in zip(dates, series[key], strict=True) if s is not None]
        if len(answered) < DIVERGENCE_WINDOW:
            return None
        recent[key] = answered[-DIVERGENCE_WINDOW:]
    direction = {key: _direction([s for _, s in recent[key]]) for key in PARTNERS}
    if direction["A"] * direction["B"] != -1:
        return None
    improving, worsening = ("A", "B") if direction["A"] == 1 else ("B", "A")
    noun = _MEASURE_NOUNS.get(measure_id, "score")
    message = (
        f"{names[improving]}'s {noun} is rising while {names[worsening]}'s is falling "
        f"over the last {_number_word(DIVERGENCE_WINDOW)} check-ins."
    )
    return DivergenceAlert(
        measure_id=measure_id,
        improving=improving,
        worsening=worsening,
        improving_scores=tuple(s for _, s in recent[improving]),
        worsening_scores=tuple(s for _, s in recent[worsening]),
        improving_dates=tuple(d for d, _ in recent[improving]),
        worsening_dates=tuple(d for d, _ in recent[worsening]),
        message=message,
    )


def _number_word(n: int) -> str:
    words = ("zero", "one", "two", "three", "four", "five", "six")
    return words[n] if n < len(words) else str(n)


def _homework(completed: Sequence[AppointmentPoint]) -> Mapping[str, HomeworkSummary]:
    counts = {key: dict.fromkeys(HOMEWORK_OUTCOMES, 0) for key in PARTNERS}
    for point in completed:
        for key in PARTNERS:
            reviewed = point.homework.get(key) or {}
            for outcome in HOMEWORK_OUTCOMES:
                n = reviewed.get(outcome, 0)
                if n < 0:
                    raise ValueError(f"appointment {point.appointment_id}: negative {outcome}")
                counts[key][outcome] += n
    return MappingProxyType({key: HomeworkSummary(**counts[key]) for key in PARTNERS})


def _attendance(ordered: Sequence[AppointmentPoint]) -> AttendanceSummary:
    tally = dict.fromkeys(("both", "a", "b", None, CANCELLED, NO_SHOW), 0)
    history: list[AttendanceEntry] = []
    for point in ordered:
        if point.status == SCHEDULED:
            continue
        history.append(
            AttendanceEntry(point.appointment_id, point.starts_at, point.status, point.attendance)
        )
        if point.status == COMPLETED:
            tally[point.attendance] += 1
        else:
            tally[point.status] += 1
    counted = tally["both"] + tally["a"] + tally["b"] + tally[NO_SHOW]
    rates = {
        key: (tally["both"] + tally[key.lower()]) / counted if counted else None for key in PARTNERS
    }
    return AttendanceSummary(
        both=tally["both"],
        only_a=tally["a"],
        only_b=tally["b"],
        not_recorded=tally[None],
        cancelled=tally[CANCELLED],
        no_show=tally[NO_SHOW],
        rates=MappingProxyType(rates),
        history=tuple(history),
    )


def _flags(completed: Sequence[AppointmentPoint]) -> Mapping[str, FlagHistory]:
    changes: dict[str, list[FlagChange]] = {}
    for point in completed:
        for key, status in point.flag_statuses.items():
            seen = changes.setdefault(key, [])
            if not seen or seen[-1].status != status:
                seen.append(FlagChange(point.appointment_id, point.starts_at, status))
    return MappingProxyType(
        {key: FlagHistory(challenge_key=key, changes=tuple(c)) for key, c in changes.items()}
    )
