"""The couple's progress page, and the progress reports issued from it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from flask import Blueprint, abort, flash, g, redirect, render_template
from werkzeug.wrappers import Response

from counselor_app import signals
from counselor_app.auth.identity import current_therapist
from counselor_app.extensions import db
from counselor_app.flags import CHALLENGES
from counselor_app.forms.base import ActionForm
from counselor_app.models import Couple, DocumentKind
from counselor_app.plans.services import documents_of, practice, store_issued
from counselor_app.progress import (
    MeasureProgress,
    Progress,
    measure_chart,
    measure_table_header,
    measure_table_rows,
)
from counselor_app.progress.services import progress_of
from counselor_app.reports.documents import render, render_html
from counselor_app.reports.progress import progress_document, progress_summary_document
from counselor_app.web import counselor_url

bp = Blueprint("progress", __name__, url_prefix="/progress")

SUMMARY_FOR = {"summary-a": "A", "summary-b": "B"}


CHART_CACHE_SIZE = 256
_charts: OrderedDict[tuple, str] = OrderedDict()


def chart_svg(measure: MeasureProgress, names: Mapping[str, str]) -> str:
    """pygal takes ~20 ms a chart; the same data (a page reloaded, a tab revisited) is drawn once.

    The key is everything the chart shows, so any new check-in draws a new chart.
    """
    key = (
        measure.measure_id,
        measure.dates,
        measure.series["A"],
        measure.series["B"],
        tuple(sorted(names.items())),
    )
    svg = _charts.get(key)
    if svg is None:
        svg = _charts[key] = measure_chart(measure, names)
        if len(_charts) > CHART_CACHE_SIZE:
            _charts.popitem(last=False)
    return svg


def _page(couple: Couple, progress: Progress, *, refused: str | None = None) -> tuple[str, int]:
    names = progress.partner_names
    charts = [
        {
            "measure": m,
            "svg": chart_svg(m, names),
            "header": measure_table_header(m, names),
            "rows": measure_table_rows(m, names),
        }
        for m in progress.measures
    ]
    documents = [
        d
        for d in documents_of(couple)
        if d.kind in (DocumentKind.PROGRESS_REPORT, DocumentKind.PROGRESS_SUMMARY)
    ]
    page = render_template(
        "counselor/progress/index.html",
        couple=couple,
        progress=progress,
        charts=charts,
        challenges=CHALLENGES,
        documents=documents,
        refused=refused,
    )
    return page, 409 if refused else 200


def nothing_to_summarise(name: str) -> str:
    return (
        f"Nothing to summarise for {name} yet: no check-in answered, session attended or "
        "homework reviewed. A summary can be issued once there is."
    )


@bp.route("")
def index() -> tuple[str, int]:
    """Both partners on one chart per measure, changes, divergence, homework, flags, attendance."""
    couple = g.couple
    return _page(couple, progress_of(couple))


@bp.route("/issue/<kind>", methods=["POST"])
def issue(kind: str) -> Response | tuple[str, int]:
    """Render and keep the therapist's report, or one partner's own summary, exactly as issued.

    A partner's summary is theirs alone, not joint material: a safety hold on joint work does
    not stop it. A partner with nothing to summarise gets none (an empty PDF helps nobody).
    """
    couple = g.couple
    if kind != "report" and kind not in SUMMARY_FOR:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    progress = progress_of(couple)
    if kind == "report":
        document_kind, series, stem = DocumentKind.PROGRESS_REPORT, "couple", "progress-report"
        doc = progress_document(couple, progress, current_therapist, practice())
    else:
        label = SUMMARY_FOR[kind]
        if not progress.has_anything_for(label):
            return _page(
                couple, progress, refused=nothing_to_summarise(progress.partner_names[label])
            )
        document_kind, series = DocumentKind.PROGRESS_SUMMARY, f"partner-{label}"
        stem = f"progress-summary-{label.lower()}"
        doc = progress_summary_document(couple, progress, label, current_therapist, practice())
    html = render_html(doc)
    document = store_issued(
        couple.id, document_kind, html, render(doc).pdf, current_therapist, stem=stem, series=series
    )
    db.session.commit()
    signals.send(
        signals.document_issued,
        couple_id=couple.id,
        document_id=document.id,
        kind=document_kind,
    )
    flash(f"{document_kind.label} issued as version {document.number}.", "success")
    return redirect(
        counselor_url("couple.progress.index", couple_id=couple.id) + f"#document-{document.id}"
    )
