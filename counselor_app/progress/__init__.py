"""The couple's progress across appointments: the numbers (``model``) and their charts (``charts``).

Pure Python (plus pygal for the SVG): no Flask or database import. The caller builds
:class:`AppointmentPoint` values from the database and calls :func:`build_progress`.
"""

from counselor_app.progress.charts import (
    measure_chart,
    measure_chart_data_uri,
    measure_table_header,
    measure_table_rows,
    svg_data_uri,
)
from counselor_app.progress.model import (
    DIVERGENCE_MIN_CHANGE,
    DIVERGENCE_WINDOW,
    MEASURE_IDS,
    AppointmentPoint,
    AttendanceEntry,
    AttendanceSummary,
    DivergenceAlert,
    FlagChange,
    FlagHistory,
    HomeworkSummary,
    MeasureProgress,
    MeasureScore,
    PartnerChange,
    Progress,
    build_progress,
    detect_divergence,
)

__all__ = [
    "DIVERGENCE_MIN_CHANGE",
    "DIVERGENCE_WINDOW",
    "MEASURE_IDS",
    "AppointmentPoint",
    "AttendanceEntry",
    "AttendanceSummary",
    "DivergenceAlert",
    "FlagChange",
    "FlagHistory",
    "HomeworkSummary",
    "MeasureProgress",
    "MeasureScore",
    "PartnerChange",
    "Progress",
    "build_progress",
    "detect_divergence",
    "measure_chart",
    "measure_chart_data_uri",
    "measure_table_header",
    "measure_table_rows",
    "svg_data_uri",
]
