"""Plain values for each PDF, gathered once and rendered by a template in templates/reports/.

The handout's value type has no field for a flag, a score, a safety note, a private note or any
answer: what the couple receives cannot leak what the type cannot hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import render_template

from counselor_app.reports.pdf import Rendered, render_pdf

LANGUAGE = "en"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class AgendaRow:
    label: str
    minutes: int
    notes: str


@dataclass(frozen=True)
class EvidenceRow:
    text: str
    answer_a: str | None
    answer_b: str | None


@dataclass(frozen=True)
class FocusFlag:
    title: str
    severity: str
    partners: str
    note: str
    evidence: tuple[EvidenceRow, ...]


@dataclass(frozen=True)
class ScoreRow:
    name: str
    total: str
    reading: str


@dataclass(frozen=True)
class DomainRow:
    title: str
    a: str
    b: str
    reading: str


@dataclass(frozen=True)
class Intervention:
    title: str
    minutes: int
    guidance: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class PlanDocument:
    """The therapist's session plan: everything, including what the couple never sees."""

    title: str
    subject: str
    couple_name: str
    partner_names: tuple[str, str]
    session_date: str
    therapist_name: str
    practice_name: str
    paper: str
    goals: str
    agenda: tuple[AgendaRow, ...]
    total_minutes: int
    focus: tuple[FocusFlag, ...]
    csi: tuple[ScoreRow, ...]
    csi_source: str
    domains: tuple[DomainRow, ...]
    safety: str | None
    interventions: tuple[Intervention, ...]
    homework: tuple[str, ...]
    private_notes: str
    worth_asking: tuple[str, ...] = ()  # borderline results that are not flags
    language: str = LANGUAGE


@dataclass(frozen=True)
class Exercise:
    title: str
    explanation: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class HandoutDocument:
    """The couple's handout: exercises, homework, tracker, questions. Nothing clinical."""

    title: str
    subject: str
    couple_name: str
    session_date: str
    therapist_name: str
    practice_name: str
    paper: str
    exercises: tuple[Exercise, ...]
    homework: tuple[str, ...]
    tracker_rows: tuple[str, ...]
    reflection_questions: tuple[str, ...]
    days: tuple[str, ...] = DAYS
    language: str = LANGUAGE

    @property
    def has_content(self) -> bool:
        return bool(self.exercises or self.homework)


@dataclass(frozen=True)
class MeasureSection:
    title: str
    # Our own chart (counselor_app.progress.charts) as a data: URI: WeasyPrint draws an SVG
    # image three times faster than the same SVG inline, and styles it fully.
    chart_uri: str
    chart_alt: str
    table_header: tuple[str, ...]
    table_rows: tuple[tuple[str, ...], ...]
    changes: tuple[tuple[str, str, str, str, str], ...]  # name, baseline, previous, latest, change
    note: str  # source and cut-off for the CSI-4; empty otherwise


@dataclass(frozen=True)
class ProgressDocument:
    """The therapist's progress report: measures, divergence, homework, flags, attendance."""

    title: str
    subject: str
    couple_name: str
    period: str
    therapist_name: str
    practice_name: str
    paper: str
    measures: tuple[MeasureSection, ...]
    alerts: tuple[str, ...]
    homework: tuple[tuple[str, str], ...]  # partner name, completion in words
    flags: tuple[tuple[str, str], ...]  # challenge title, history in words
    attendance: tuple[tuple[str, str], ...]
    language: str = LANGUAGE


@dataclass(frozen=True)
class ProgressSummaryDocument:
    """One partner's own summary: their check-in trends in words, sessions and homework.

    A client never sees a score or anything the other partner answered (even a combined
    trend would let one partner work out the other's), so each partner gets their own.
    """

    title: str
    subject: str
    partner_name: str
    period: str
    therapist_name: str
    practice_name: str
    paper: str
    trends: tuple[tuple[str, str], ...]  # what the check-in asks about, the direction in words
    sessions: str
    homework: str
    language: str = LANGUAGE


@dataclass(frozen=True)
class InvitationSlipDocument:
    """The slip a therapist hands one partner: how to open their personal link. It holds the
    link, so it is made on request and never stored; it holds nothing clinical."""

    title: str
    subject: str
    partner_name: str
    therapist_name: str
    practice_name: str
    contact_line: str
    purpose: str
    minutes: int
    expires: str
    link: str
    qr_code: str  # a data:image/svg+xml;base64 URL, which the PDF fetcher allows
    paper: str
    language: str = LANGUAGE


Document = (
    PlanDocument
    | HandoutDocument
    | ProgressDocument
    | ProgressSummaryDocument
    | InvitationSlipDocument
)
TEMPLATES = {
    PlanDocument: "counselor/reports/session_plan.html",
    HandoutDocument: "counselor/reports/handout.html",
    ProgressDocument: "counselor/reports/progress_report.html",
    ProgressSummaryDocument: "counselor/reports/progress_summary.html",
    InvitationSlipDocument: "counselor/reports/invitation_slip.html",
}
# Therapist records are kept for years: PDF/A, at level A (tagged, so the structure and the
# charts' alt text reach a screen reader). WeasyPrint claims one variant per file, and a PDF/UA
# claim beside PDF/A's would need an XMP extension schema it does not write. What clients read,
# some with screen readers, is tagged PDF/UA.
VARIANTS = {
    PlanDocument: "pdf/a-3a",
    HandoutDocument: "pdf/ua-1",
    ProgressDocument: "pdf/a-3a",
    ProgressSummaryDocument: "pdf/ua-1",
    InvitationSlipDocument: "pdf/ua-1",
}


@dataclass(frozen=True)
class Preview:
    """A document shown in the browser: a page of the app, so it has a way back."""

    back_url: str
    back_label: str


def render_html(doc: Document, *, preview: Preview | None = None) -> str:
    """The document's HTML: the PDF and the browser preview come from this same template.

    Only a preview gets a <main> landmark and the link back (reports/_document.html).
    """
    return render_template(TEMPLATES[type(doc)], doc=doc, preview=preview)


def render(doc: Document) -> Rendered:
    return render_pdf(render_html(doc), paper=doc.paper, variant=VARIANTS[type(doc)])
