"""Progress across appointments: the numbers (baseline, change, gaps, divergence, homework,
attendance, flags) and the SVG charts. Pure Python: no app or database needed."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest

from counselor_app.instruments import load
from counselor_app.progress import (
    AppointmentPoint,
    DivergenceAlert,
    MeasureProgress,
    PartnerChange,
    Progress,
    build_progress,
    measure_chart,
    measure_chart_data_uri,
    measure_table_header,
    measure_table_rows,
)

NAMES = {"A": "Avery", "B": "Blake"}
START = datetime(2025, 9, 2, 15, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def at(week: int) -> datetime:
    return START + timedelta(weeks=week)


def point(
    week: int,
    status: str = "completed",
    attendance: str | None = "both",
    csi4: tuple[int | None, int | None] = (None, None),
    balance: tuple[int | None, int | None] = (None, None),
    homework: Mapping[str, Mapping[str, int]] | None = None,
    flags: Mapping[str, str] | None = None,
) -> AppointmentPoint:
    return AppointmentPoint(
        appointment_id=101 + week,
        starts_at=at(week),
        status=status,
        attendance=attendance,
        scores={
            "csi4": {"A": csi4[0], "B": csi4[1]},
            "balance": {"A": balance[0], "B": balance[1]},
        },
        homework=homework or {},
        flag_statuses=flags or {},
    )


COMM, TIME, CONFLICT = "communication", "time_together", "conflict"

# Fourteen appointments, one a week. B is absent at weeks 0 and 12, A at week 6 (their scores
# are None, not zero); week 3 is cancelled, week 5 a no-show and week 13 still scheduled.
HISTORY: tuple[AppointmentPoint, ...] = (
    point(0, attendance="a", csi4=(9, None), balance=(10, None),
          flags={COMM: "active", TIME: "active"}),
    point(1, csi4=(10, 12), balance=(11, 11), homework={"A": {"done": 1}, "B": {"done": 1}},
          flags={COMM: "active", TIME: "active"}),
    point(2, csi4=(11, 12), balance=(12, 11), homework={"A": {"partly": 1}, "B": {"not_done": 1}},
          flags={COMM: "active", TIME: "improving"}),
    point(3, status="cancelled", attendance=None),
    point(4, csi4=(12, 11), balance=(12, 10),
          homework={"A": {"done": 1, "not_done": 1}, "B": {"partly": 2}},
          flags={COMM: "improving", TIME: "improving"}),
    point(5, status="no_show", attendance=None, homework={"A": {"done": 5}},
          flags={COMM: "resolved"}),
    point(6, attendance="b", csi4=(None, 11), balance=(None, 10), homework={"B": {"partly": 1}},
          flags={COMM: "improving", TIME: "resolved"}),
    point(7, csi4=(13, 10), balance=(13, 10), homework={"A": {"done": 2}, "B": {"done": 1}},
          flags={COMM: "active", TIME: "resolved", CONFLICT: "active"}),
    point(8, csi4=(14, 10), balance=(14, 9), homework={"A": {"done": 1}, "B": {"not_done": 1}},
          flags={COMM: "improving", CONFLICT: "active"}),
    point(9, csi4=(15, 9), balance=(14, 9), flags={COMM: "improving"}),
    point(10, csi4=(16, 9), balance=(15, 9), homework={"A": {"partly": 1}, "B": {"done": 1}},
          flags={COMM: "improving"}),
    point(11, csi4=(17, 7), balance=(15, 8), flags={COMM: "improving"}),
    point(12, attendance="a", csi4=(18, None), balance=(16, None), flags={COMM: "resolved"}),
    point(13, status="scheduled", attendance=None),
)  # fmt: skip
COMPLETED_WEEKS = (0, 1, 2, 4, 6, 7, 8, 9, 10, 11, 12)


def shuffled(points: Sequence[AppointmentPoint]) -> list[AppointmentPoint]:
    """Input order must not matter: odd weeks reversed, then even weeks."""
    return [p for p in reversed(points) if p.appointment_id % 2] + [
        p for p in points if not p.appointment_id % 2
    ]


@pytest.fixture(scope="module")
def progress() -> Progress:
    return build_progress(shuffled(HISTORY), NAMES)


# --- measures -------------------------------------------------------------------------------


def test_measure_metadata_comes_from_the_instruments(progress: Progress) -> None:
    csi4, balance = progress.measure("csi4"), progress.measure("balance")
    assert [m.measure_id for m in progress.measures] == ["csi4", "balance"]
    assert (csi4.title, csi4.max_total, csi4.cutoff) == (
        load("csi4").title,
        load("csi4").scoring.max_total,
        load("csi4").scoring.cutoff,
    )
    assert (csi4.max_total, csi4.cutoff) == (21, 13.5)
    assert (balance.max_total, balance.cutoff) == (20, None)
    assert balance.title == load("balance").title


def test_series_cover_completed_appointments_in_date_order(progress: Progress) -> None:
    csi4 = progress.measure("csi4")
    assert csi4.dates == tuple(at(w) for w in COMPLETED_WEEKS)
    assert progress.completed_count == 11
    assert csi4.series["A"] == (9, 10, 11, 12, None, 13, 14, 15, 16, 17, 18)
    assert csi4.series["B"] == (None, 12, 12, 11, 11, 10, 10, 9, 9, 7, None)
    assert csi4.gaps == (None, 2, 1, 1, None, 3, 4, 6, 7, 10, None)
    balance = progress.measure("balance")
    assert balance.series["A"] == (10, 11, 12, 12, None, 13, 14, 14, 15, 15, 16)
    assert balance.series["B"] == (None, 11, 11, 10, 10, 10, 9, 9, 9, 8, None)
    assert balance.gaps == (None, 0, 1, 2, None, 3, 5, 5, 6, 7, None)


def test_absent_partner_is_none_not_zero(progress: Progress) -> None:
    csi4 = progress.measure("csi4")
    week6 = COMPLETED_WEEKS.index(6)
    assert csi4.series["A"][week6] is None
    assert 0 not in csi4.series["A"] + csi4.series["B"]


def test_baseline_previous_latest_and_change(progress: Progress) -> None:
    csi4, balance = progress.measure("csi4"), progress.measure("balance")
    # A was there first and last: baseline week 0, latest week 12.
    assert csi4.change["A"] == PartnerChange(9, 17, 18, 9, False)
    # B missed weeks 0 and 12: baseline is week 1, latest week 11, previous week 10.
    assert csi4.change["B"] == PartnerChange(12, 9, 7, -5, True)
    # No cut-off on the balance check-in: "below cut-off" is unknown, not False.
    assert balance.change["A"] == PartnerChange(10, 15, 16, 6, None)
    assert balance.change["B"] == PartnerChange(11, 9, 8, -3, None)


def test_change_with_one_score_and_with_none() -> None:
    one = build_progress([point(0, attendance="a", csi4=(15, None))], NAMES).measure("csi4")
    assert one.change["A"] == PartnerChange(15, None, 15, 0, False)
    assert one.change["B"] == PartnerChange(None, None, None, None, None)
    assert one.gaps == (None,)


def test_no_completed_appointments() -> None:
    empty = build_progress([point(0, status="cancelled", attendance=None)], NAMES)
    csi4 = empty.measure("csi4")
    assert csi4.dates == () and csi4.series["A"] == () and csi4.gaps == ()
    assert csi4.divergence is None and empty.alerts == ()
    assert empty.homework["A"].completion_rate is None
    assert empty.attendance.rates == {"A": None, "B": None}
    assert empty.flags_over_time == {}


@pytest.mark.parametrize("total", [22, -1, True, 12.5])
def test_a_total_outside_the_instrument_range_is_rejected(total: object) -> None:
    bad = point(0, csi4=(total, 10))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="csi4"):
        build_progress([bad], NAMES)


def test_unknown_status_or_attendance_is_rejected() -> None:
    with pytest.raises(ValueError, match="status"):
        build_progress([point(0, status="held")], NAMES)
    with pytest.raises(ValueError, match="attendance"):
        build_progress([point(0, attendance="A")], NAMES)
    with pytest.raises(ValueError, match="flag"):
        build_progress([point(0, flags={COMM: "better"})], NAMES)


# --- divergence -----------------------------------------------------------------------------


def history(a: Sequence[int | None], b: Sequence[int | None]) -> Progress:
    points = [point(week, csi4=(x, y)) for week, (x, y) in enumerate(zip(a, b, strict=True))]
    return build_progress(list(reversed(points)), NAMES)


def test_divergence_fires_in_the_main_history(progress: Progress) -> None:
    alert = progress.measure("csi4").divergence
    assert alert == DivergenceAlert(
        measure_id="csi4",
        improving="A",
        worsening="B",
        improving_scores=(16, 17, 18),
        worsening_scores=(9, 9, 7),
        # Each partner's own last three scores: B's skip week 12, when B was absent.
        improving_dates=(at(10), at(11), at(12)),
        worsening_dates=(at(9), at(10), at(11)),
        message="Avery's satisfaction is rising while Blake's is falling over the last three "
        "check-ins.",
    )
    assert progress.measure("balance").divergence is None  # A +1, B −1: too small
    assert progress.alerts == (alert,)
    assert progress.divergence == {"csi4": alert, "balance": None}


def test_divergence_fires_either_way_round() -> None:
    alert = history([15, 14, 12], [10, 11, 13]).measure("csi4").divergence
    assert alert is not None
    assert (alert.improving, alert.worsening) == ("B", "A")
    assert (alert.improving_scores, alert.worsening_scores) == ((10, 11, 13), (15, 14, 12))
    assert alert.message.startswith("Blake's satisfaction is rising while Avery's is falling")


def test_divergence_uses_only_the_last_three_and_allows_a_flat_step() -> None:
    # Earlier history (A fell from 20, B rose from 2) does not matter; 10→10→12 still rises.
    alert = history([20, 5, 10, 10, 12], [2, 19, 14, 13, 12]).measure("csi4").divergence
    assert alert is not None
    assert alert.improving_scores == (10, 10, 12)
    assert alert.worsening_scores == (14, 13, 12)


def test_divergence_skips_absences_to_each_partners_own_last_three() -> None:
    # Over the last three appointments A answered once; A's own last three scores still rise.
    a = [10, 11, None, None, 13]
    b = [15, None, 14, 13, 12]
    alert = history(a, b).measure("csi4").divergence
    assert alert is not None
    assert alert.improving_scores == (10, 11, 13)
    assert alert.improving_dates == (at(0), at(1), at(4))
    assert alert.worsening_scores == (14, 13, 12)
    assert alert.worsening_dates == (at(2), at(3), at(4))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param([10, 11, 13], [9, 11, 12], id="both-improving"),
        pytest.param([15, 13, 11], [12, 10, 9], id="both-worsening"),
        pytest.param([12, 12, 12], [15, 13, 11], id="one-flat"),
        pytest.param([10, 13], [15, 12], id="only-two-points"),
        pytest.param([10, 11, 13], [None, 15, 12], id="one-partner-only-two"),
        pytest.param([10, 13, 12, 14], [15, 14, 13, 12], id="small-rise-with-a-dip"),
        pytest.param([10, 14, 12], [15, 14, 13], id="net-rise-with-a-dip"),
        pytest.param([10, 11, 12], [15, 11, 13], id="net-fall-with-a-rise"),
        pytest.param([10, 10, 11], [15, 14, 13], id="rise-of-only-one-point"),
        pytest.param([10, 11, 12], [15, 15, 14], id="fall-of-only-one-point"),
        pytest.param([None, None, None], [15, 14, 13], id="one-partner-never-answered"),
    ],
)
def test_divergence_does_not_fire(a: list[int | None], b: list[int | None]) -> None:
    assert history(a, b).measure("csi4").divergence is None


def test_divergence_threshold_is_exactly_two_points() -> None:
    assert history([10, 11, 12], [15, 14, 13]).measure("csi4").divergence is not None


# --- homework, attendance, flags ------------------------------------------------------------


def test_homework_completion_counts_completed_appointments_only(progress: Progress) -> None:
    a, b = progress.homework["A"], progress.homework["B"]
    # The no-show's review (A: 5 done) is ignored.
    assert (a.done, a.partly, a.not_done, a.total) == (5, 2, 1, 8)
    assert a.completion_rate == 0.75  # (5 + 0.5 × 2) / 8
    assert (b.done, b.partly, b.not_done, b.total) == (3, 3, 2, 8)
    assert b.completion_rate == 0.5625  # (3 + 0.5 × 3) / 8


def test_attendance_counts_rates_and_history(progress: Progress) -> None:
    att = progress.attendance
    assert (att.both, att.only_a, att.only_b, att.not_recorded) == (8, 2, 1, 0)
    assert (att.completed, att.cancelled, att.no_show) == (11, 1, 1)
    # Over 11 completed + 1 no-show; the no-show is an absence for both.
    assert att.rates == {"A": 10 / 12, "B": 9 / 12}
    assert [e.starts_at for e in att.history] == [at(w) for w in range(13)]  # not the scheduled
    assert [e.status for e in att.history if e.status != "completed"] == ["cancelled", "no_show"]
    assert att.history[0].attendance == "a"


def test_attendance_not_recorded_is_left_out_of_rates() -> None:
    att = build_progress(
        [point(0, attendance=None), point(1, attendance="b"), point(2, status="no_show")], NAMES
    ).attendance
    assert (att.not_recorded, att.only_b, att.no_show) == (1, 1, 1)
    assert att.rates == {"A": 0.0, "B": 0.5}


def test_flags_over_time_record_changes_only(progress: Progress) -> None:
    flags = progress.flags_over_time
    assert list(flags) == [COMM, TIME, CONFLICT]
    comm = flags[COMM]
    assert [(c.starts_at, c.status) for c in comm.changes] == [
        (at(0), "active"),
        (at(4), "improving"),
        (at(7), "active"),
        (at(8), "improving"),
        (at(12), "resolved"),
    ]  # the no-show's "resolved" (week 5) is not a recorded status
    assert comm.current == "resolved"
    assert [(c.appointment_id, c.status) for c in flags[TIME].changes] == [
        (101, "active"),
        (103, "improving"),
        (107, "resolved"),
    ]
    assert flags[CONFLICT].current == "active"
    assert len(flags[CONFLICT].changes) == 1


# --- charts ---------------------------------------------------------------------------------


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, not untrusted input


def series_group(root: ET.Element, plot_class: str, index: int) -> ET.Element:
    for plot in root.iter(f"{SVG}g"):
        if plot.get("class", "").split() == plot_class.split():
            for group in plot.findall(f"{SVG}g"):
                if f"serie-{index}" in group.get("class", "").split():
                    return group
    raise AssertionError(f"no serie-{index} in {plot_class}")


def test_chart_is_self_contained_accessible_svg(progress: Progress) -> None:
    svg = measure_chart(progress.measure("csi4"), NAMES)
    assert svg.startswith("<svg") and "<?xml" not in svg
    root = parse(svg)
    assert root.tag == f"{SVG}svg"
    assert (root.get("width"), root.get("height")) == ("640", "300")
    assert root.get("viewBox") == "0 0 640 300"
    assert root[0].tag == f"{SVG}title"
    assert root[0].text == "Couples Satisfaction Index (CSI-4)"
    assert root[1].tag == f"{SVG}desc" and "Avery: baseline 9, latest 18 (+9)" in root[1].text
    assert root.get("role") == "img"
    assert "<script" not in svg.lower()
    assert "<!--" not in svg
    assert set(re.findall(r"https?://[^\s\"'<>)]+", svg)) <= NAMESPACES
    assert "href" not in svg


def test_chart_names_partners_and_cutoff_only_where_there_is_one(progress: Progress) -> None:
    csi4 = measure_chart(progress.measure("csi4"), NAMES)
    balance = measure_chart(progress.measure("balance"), NAMES)
    for svg in (csi4, balance):
        legend = [t.text for t in parse(svg).iter(f"{SVG}text") if t.text]
        assert "Avery" in legend and "Blake" in legend
    assert "Distress cut-off (13.5)" in [t.text for t in parse(csi4).iter(f"{SVG}text")]
    assert "cut-off" not in balance
    assert "2 Sep" in [t.text for t in parse(csi4).iter(f"{SVG}text")]


def test_chart_lines_break_at_missing_scores_and_differ_without_colour(progress: Progress) -> None:
    root = parse(measure_chart(progress.measure("csi4"), NAMES))
    lines = [series_group(root, "plot", i).findall(f"{SVG}path") for i in (0, 1, 2)]
    # A: 9..12, gap, 13..18 → two segments. B: absent first and last → one segment.
    assert [len(paths) for paths in lines] == [2, 1, 1]
    styles = [paths[0].get("style", "") for paths in lines]
    assert "stroke-dasharray:none" in styles[0]
    assert "stroke-dasharray:8,4" in styles[1]
    assert "stroke-dasharray:2,3" in styles[2]
    # The cut-off is a flat line (every point at the same height).
    ys = {pair.split()[1] for pair in re.findall(r"[\d.]+ [\d.]+", lines[2][0].get("d", ""))}
    assert len(ys) == 1
    dots_a = series_group(root, "plot overlay", 0)
    dots_b = series_group(root, "plot overlay", 1)
    assert len(list(dots_a.iter(f"{SVG}circle"))) == 10  # one per answered check-in
    assert not list(dots_a.iter(f"{SVG}rect"))
    assert len(list(dots_b.iter(f"{SVG}rect"))) == 9
    assert not list(dots_b.iter(f"{SVG}circle"))
    tips = [t.text for t in dots_a.iter(f"{SVG}title")]
    assert tips[0] == "Avery, 2 Sep: 9" and tips[-1] == "Avery, 25 Nov: 18"


def test_chart_is_deterministic_and_ids_differ_per_measure(progress: Progress) -> None:
    csi4 = progress.measure("csi4")
    first = measure_chart(csi4, NAMES)
    assert first == measure_chart(csi4, NAMES)
    again = build_progress(list(reversed(HISTORY)), NAMES).measure("csi4")
    assert measure_chart(again, NAMES) == first
    balance = measure_chart(progress.measure("balance"), NAMES)
    assert parse(first).get("id") != parse(balance).get("id")
    ids = [e.get("id") for e in parse(first).iter() if e.get("id")]
    assert len(ids) == len(set(ids))


def test_chart_data_uri_is_the_same_svg(progress: Progress) -> None:
    measure = progress.measure("balance")
    uri = measure_chart_data_uri(measure, NAMES)
    prefix = "data:image/svg+xml;base64,"
    assert uri.startswith(prefix)
    assert base64.b64decode(uri[len(prefix) :]).decode("utf-8") == measure_chart(measure, NAMES)


def test_chart_date_labels_follow_the_given_timezone() -> None:
    late = AppointmentPoint(1, datetime(2025, 11, 12, 23, 30, tzinfo=UTC), "completed", "both",
                            {"csi4": {"A": 10, "B": 12}}, {}, {})  # fmt: skip
    measure = build_progress([late], NAMES).measure("csi4")
    texts = [t.text for t in parse(measure_chart(measure, NAMES)).iter(f"{SVG}text")]
    assert "12 Nov" in texts
    east = timezone(timedelta(hours=10))
    texts = [t.text for t in parse(measure_chart(measure, NAMES, tz=east)).iter(f"{SVG}text")]
    assert "13 Nov" in texts and "12 Nov" not in texts


def test_chart_without_check_ins_still_renders() -> None:
    measure = build_progress([], NAMES).measure("csi4")
    svg = measure_chart(measure, NAMES)
    root = parse(svg)
    assert "No check-ins yet" in [t.text for t in root.iter(f"{SVG}text")]
    assert "<script" not in svg


def test_table_rows_beside_the_chart(progress: Progress) -> None:
    csi4 = progress.measure("csi4")
    assert measure_table_header(csi4, NAMES) == ("Date", "Avery", "Blake", "Gap")
    rows = measure_table_rows(csi4, NAMES)
    assert len(rows) == 11
    assert rows[0] == ("2 Sep 2025", "9", "—", "—")
    assert rows[1] == ("9 Sep 2025", "10", "12", "2")
    assert rows[4] == ("14 Oct 2025", "—", "11", "—")
    assert rows[-1] == ("25 Nov 2025", "18", "—", "—")


# --- speed ----------------------------------------------------------------------------------


def long_history(n: int) -> list[AppointmentPoint]:
    return [
        point(
            week,
            attendance=("both", "a", "b")[week % 3],
            csi4=((week * 7) % 22, None if week % 3 == 1 else (week * 5) % 22),
            balance=((week * 3) % 21, None if week % 3 == 1 else week % 21),
            homework={"A": {"done": 1}, "B": {"partly": 1}},
            flags={COMM: ("active", "improving")[week % 2]},
        )
        for week in range(n)
    ]


def test_a_hundred_appointments_keep_the_date_labels_legible() -> None:
    """Timing belongs to `make bench`; here, the long chart labels at most twelve dates."""
    points = long_history(100)
    measure: MeasureProgress = build_progress(points, NAMES).measure("csi4")
    labels = [t.text for t in parse(measure_chart(measure, NAMES)).iter(f"{SVG}text")]
    assert sum(1 for label in labels if label and re.fullmatch(r"\d+ \w{3}", label)) <= 12
