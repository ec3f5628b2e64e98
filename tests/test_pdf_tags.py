"""Tagged PDFs: the structure tree a screen reader walks, read back from the issued files.

The therapist's session plan and progress report are PDF/A-3a (archival and tagged): headings,
lists and tables tagged, each chart a Figure with its alt text, each header cell with the
/Scope its ``th`` declares. No document has an empty paragraph. The browser preview of a
document is a page of the app (a <main>, a link back); the PDF has neither.
"""

# The host fixtures are imported from host_support and named as test arguments, by design.

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pypdf
import pytest
from flask import Flask
from sqlalchemy import select

from appointment_support import Visit, seed_history
from counselor_app.extensions import db
from counselor_app.models import Couple, DocumentKind, Flag, FlagStatus, IssuedDocument
from counselor_app.progress import AppointmentPoint, build_progress
from counselor_app.progress.services import progress_of
from counselor_app.reports.documents import (
    VARIANTS,
    AgendaRow,
    Exercise,
    HandoutDocument,
    Intervention,
    InvitationSlipDocument,
    PlanDocument,
    ProgressDocument,
    ProgressSummaryDocument,
    render,
    render_html,
)
from counselor_app.reports.pdf import DATA_SVG, render_pdf
from counselor_app.reports.progress import (
    measure_section,
    progress_document,
    progress_summary_document,
)
from host_support import (  # noqa: F401  (fixtures)
    COUPLE_FORM,
    PREFIX,
    clinician,
    host,
    host_client,
    host_template,
)
from intake_support import seed_intake
from plan_support import new_plan, pdf_text
from vignettes import VIGNETTES

MONEY = next(v for v in VIGNETTES if v.name == "money_fights")
VISITS = [
    Visit(csi={"A": 11, "B": 14}, balance={"A": 9, "B": 12}),
    Visit(csi={"A": 13, "B": 15}, balance={"A": 11, "B": 13}),
]
BACK = "Back to the plan"


# ------------------------------------------------------------------------------ reading back
@dataclass(frozen=True)
class Element:
    """One structure element: its role (/P, /TH...), attributes, alt text, and whether any
    marked content (what a reader actually reads) lies in it or below it."""

    role: str
    attributes: dict[str, object]
    alt: str | None
    marked: bool


def _attributes(node: pypdf.generic.DictionaryObject) -> dict[str, object]:
    found = node.get("/A")
    if found is None:
        return {}
    found = found.get_object()
    dicts = found if isinstance(found, list) else [found]
    merged: dict[str, object] = {}
    for entry in dicts:
        merged.update(entry.get_object())
    return merged


def structure(content: bytes) -> list[Element]:
    """Every structure element of the document, in reading order."""
    root = pypdf.PdfReader(io.BytesIO(content)).trailer["/Root"]
    assert "/StructTreeRoot" in root, "no structure tree: the PDF is not tagged"
    found: list[Element] = []

    def walk(node: pypdf.generic.DictionaryObject) -> bool:
        slot = len(found)
        kids = node.get("/K", [])
        kids = kids if isinstance(kids, list) else [kids]
        marked = False
        for kid in kids:
            if isinstance(kid, int):  # a marked-content id on the element's page
                marked = True
                continue
            kid = kid.get_object()
            if kid.get("/Type") == "/MCR":
                marked = True
            elif "/S" in kid:
                marked = walk(kid) or marked
        alt = node.get("/Alt")
        found.insert(slot, Element(str(node["/S"]), _attributes(node), alt and str(alt), marked))
        return marked

    for top in root["/StructTreeRoot"].get_object()["/K"]:
        walk(top.get_object())
    return found


def roles(elements: list[Element]) -> set[str]:
    return {element.role for element in elements}


def empty_paragraphs(content: bytes) -> list[Element]:
    return [e for e in structure(content) if e.role == "/P" and not e.marked]


def xmp(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()


def pdfinfo(content: bytes, folder: Path) -> str:
    """poppler's pdfinfo on the file (Debian's poppler-utils, installed by `make test`)."""
    if shutil.which("pdfinfo") is None:
        pytest.fail("pdfinfo is missing: `make test` installs Debian's poppler-utils.")
    path = folder / "document.pdf"
    path.write_bytes(content)
    return subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout


def assert_tagged_record(content: bytes, folder: Path) -> list[Element]:
    """What both therapist's records must be: PDF/A-3a, tagged, in English, every header
    cell scoped, no empty paragraph."""
    assert 'pdfaid:part="3"' in xmp(content) and 'pdfaid:conformance="A"' in xmp(content)
    assert re.search(r"^Tagged:\s+yes$", pdfinfo(content, folder), re.M)
    reader = pypdf.PdfReader(io.BytesIO(content))
    assert reader.trailer["/Root"]["/Lang"] == "en"
    assert bool(reader.trailer["/Root"]["/MarkInfo"]["/Marked"])
    elements = structure(content)
    assert {"/H1", "/H2", "/Table", "/TR", "/TH", "/TD"} <= roles(elements)
    headers = [e for e in elements if e.role == "/TH"]
    assert all(e.attributes.get("/Scope") in ("/Column", "/Row") for e in headers), headers
    assert empty_paragraphs(content) == []
    return elements


# ------------------------------------------------------------------------------ issued, standalone
def seed_couple(app: Flask, couple_id: int) -> None:
    """Both intakes, their flags confirmed, two appointments with both partners' check-ins."""
    seed_intake(app, couple_id, "A", intake=dict(MONEY.a))
    seed_intake(app, couple_id, "B", intake=dict(MONEY.b))
    with app.app_context():
        for flag in db.session.scalars(select(Flag).where(Flag.couple_id == couple_id)):
            flag.status = FlagStatus.CONFIRMED
        db.session.commit()
    seed_history(app, couple_id, VISITS)


def issue_both(app: Flask, client, couple_id: int, prefix: str = "") -> dict[str, bytes]:
    """The session plan (with an intervention and homework) and the progress report, issued
    through the web as a therapist would, read back as stored."""
    plan_id = new_plan(
        client,
        couple_id,
        prefix=prefix,
        strategies=["quality_time"],
        **{"homework-0-text": "A walk together twice this week."},
    )
    base = f"{prefix}/couples/{couple_id}"
    assert client.post_form(f"{base}/plans/{plan_id}/issue/plan").status_code == 302
    assert client.post_form(f"{base}/progress/issue/report").status_code == 302
    with app.app_context():
        return {
            d.kind.value: d.content
            for d in db.session.scalars(
                select(IssuedDocument).where(IssuedDocument.couple_id == couple_id)
            )
        }


def expected_chart_alts(app: Flask, couple_id: int) -> list[str]:
    with app.app_context():
        progress = progress_of(db.session.get(Couple, couple_id))
        return [measure_section(m, progress).chart_alt for m in progress.measures]


def assert_plan_and_report(app: Flask, issued: dict[str, bytes], couple_id: int, folder: Path):
    plan = assert_tagged_record(issued[DocumentKind.SESSION_PLAN.value], folder)
    # Focus flags and interventions are h3; the intervention's steps and the homework lists.
    assert {"/H3", "/L", "/LI"} <= roles(plan)
    report = assert_tagged_record(issued[DocumentKind.PROGRESS_REPORT.value], folder)
    scopes = {e.attributes["/Scope"] for e in report if e.role == "/TH"}
    assert scopes == {"/Column", "/Row"}  # column heads, and the homework/attendance rows
    figures = [e for e in report if e.role == "/Figure"]
    assert [f.alt for f in figures] == expected_chart_alts(app, couple_id)
    assert all(f.marked for f in figures)
    # The preview's frame never reaches the PDF: no Part (<main>), no link back.
    assert "/Part" not in roles(plan) | roles(report)
    assert BACK not in pdf_text(issued[DocumentKind.SESSION_PLAN.value])


def host_couple(client) -> int:
    """A couple added through our form, in the reference host."""
    response = client.post_form(
        f"{PREFIX}/couples/new",
        {**COUPLE_FORM, "presenting_concerns": "Money, mostly."},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_issued_plan_and_report_are_tagged_pdf_a(app, logged_in, make_couple, therapist, tmp_path):
    couple_id = make_couple(therapist, ("Avery", "Blake"))
    seed_couple(app, couple_id)
    issued = issue_both(app, logged_in, couple_id)
    assert_plan_and_report(app, issued, couple_id, tmp_path)


def test_mounted_plan_and_report_are_tagged_pdf_a(host, host_client, tmp_path):
    couple_id = host_couple(host_client)
    seed_couple(host, couple_id)
    issued = issue_both(host, host_client, couple_id, prefix=PREFIX)
    assert_plan_and_report(host, issued, couple_id, tmp_path)


# ------------------------------------------------------------------------------ every document
START = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
NAMES = {"A": "Avery", "B": "Blake"}
PRACTICE = SimpleNamespace(name="", paper_size=SimpleNamespace(value="a4"))
THERAPIST = SimpleNamespace(name="Dana Whitfield")
COUPLE = SimpleNamespace(display_name="Avery & Blake")
BLACK_SQUARE = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>'
)
QR = DATA_SVG + base64.b64encode(BLACK_SQUARE).decode()


def history() -> list[AppointmentPoint]:
    return [
        AppointmentPoint(
            appointment_id=week + 1,
            starts_at=START + timedelta(weeks=week),
            status="completed",
            attendance="both",
            scores={"csi4": {"A": 10 + week, "B": 14 - week}, "balance": {"A": 9, "B": 12}},
            homework={"A": {"done": 1}},
            flag_statuses={"communication": "active"},
        )
        for week in range(3)
    ]


def sparse_documents() -> dict[str, object]:
    """All five documents with every optional word left empty (no practice name, an
    exercise without explanation, an intervention without guidance...): nothing may leave
    an empty paragraph behind."""
    progress = build_progress(history(), NAMES)
    common = {"therapist_name": "Dana Whitfield", "practice_name": "", "paper": "a4"}
    return {
        "plan": PlanDocument(
            title="Session plan: Avery & Blake",
            subject="Therapist's plan",
            couple_name="Avery & Blake",
            partner_names=("Avery", "Blake"),
            session_date="2 Mar 2026",
            goals="",
            agenda=(AgendaRow("Check-in", 10, ""),),
            total_minutes=10,
            focus=(),
            csi=(),
            csi_source="",
            domains=(),
            safety=None,
            interventions=(Intervention("Walk and talk", 10, "", ("Walk", "Talk")),),
            homework=(),
            private_notes="",
            **common,
        ),
        "handout": HandoutDocument(
            title="Between sessions: Avery and Blake",
            subject="Exercises",
            couple_name="Avery and Blake",
            session_date="2 Mar 2026",
            exercises=(Exercise("Walk and talk", "", ("Walk",)),),
            homework=("Walk twice.",),
            tracker_rows=("Walk",),
            reflection_questions=("What helped?", " "),
            **common,
        ),
        "progress report": progress_document(COUPLE, progress, THERAPIST, PRACTICE),
        "progress summary": progress_summary_document(COUPLE, progress, "A", THERAPIST, PRACTICE),
        "invitation slip": InvitationSlipDocument(
            title="Your questions from Dana Whitfield",
            subject="How to open your link",
            partner_name="Avery",
            contact_line="",
            purpose="a short check-in",
            minutes=5,
            expires="9 Mar 2026",
            link="https://example.org/p/abc",
            qr_code=QR,
            **common,
        ),
    }


@pytest.mark.parametrize("name", ["plan", "handout", "progress report", "progress summary", "invitation slip"])  # fmt: skip
def test_no_document_has_an_empty_paragraph(app, name):
    with app.test_request_context():
        doc = sparse_documents()[name]
        content = render(doc).pdf
        html = render_html(doc)
    assert empty_paragraphs(content) == []
    assert roles(structure(content)) >= {"/H1", "/P"}
    # The PDF's HTML is the document alone: no preview frame.
    assert "<main" not in html and BACK not in html


def test_the_records_are_pdf_a_level_a_and_the_rest_pdf_ua():
    assert VARIANTS[PlanDocument] == VARIANTS[ProgressDocument] == "pdf/a-3a"
    for kind in (HandoutDocument, ProgressSummaryDocument, InvitationSlipDocument):
        assert VARIANTS[kind] == "pdf/ua-1"


def test_the_handouts_tracker_rows_and_days_are_scoped(app):
    with app.test_request_context():
        doc = replace(sparse_documents()["handout"], tracker_rows=("Walk", "Talk"))
        elements = structure(render(doc).pdf)
    scopes = [e.attributes.get("/Scope") for e in elements if e.role == "/TH"]
    assert scopes == ["/Column"] * 8 + ["/Row"] * 2  # "What we agreed", seven days; two rows


@pytest.mark.parametrize(
    ("scope", "expected"),
    [('scope="row"', "/Row"), ('scope="col"', "/Column"), ("", "/Column")],
)
def test_header_scope_follows_the_html(scope, expected):
    html = (
        '<html lang="en"><head><title>t</title></head><body>'
        f"<table><tr><th {scope}>Head</th><td>Cell</td></tr></table></body></html>"
    )
    content = render_pdf(html, paper="a4", variant="pdf/ua-1").pdf
    [header] = [e for e in structure(content) if e.role == "/TH"]
    assert header.attributes["/Scope"] == expected


# ------------------------------------------------------------------------------ previews
def assert_preview(page: str, plan_url: str) -> None:
    """The preview is a page: one <main>, after a nav whose link goes back to the plan."""
    assert page.count("<main>") == 1 and page.count("</main>") == 1
    nav = page.index('<nav class="preview-nav"')
    assert nav < page.index("<main>")
    assert f'<a href="{plan_url}">{BACK}</a>' in page[nav : page.index("<main>")]
    assert page.index("<h1>") > page.index("<main>")


@pytest.mark.parametrize("kind", ["plan", "handout"])
def test_a_preview_has_a_main_landmark_and_a_way_back(app, logged_in, make_couple, therapist, kind):
    couple_id = make_couple(therapist, ("Avery", "Blake"))
    seed_intake(app, couple_id, "A", intake=dict(MONEY.a))
    seed_intake(app, couple_id, "B", intake=dict(MONEY.b))
    plan_id = new_plan(logged_in, couple_id, strategies=["quality_time"])
    plan_url = f"/couples/{couple_id}/plans/{plan_id}"
    response = logged_in.get(f"{plan_url}/preview/{kind}")
    assert response.status_code == 200
    assert_preview(response.get_data(as_text=True), plan_url)


def test_a_mounted_preview_links_back_inside_the_host(host, host_client):
    couple_id = host_couple(host_client)
    plan_id = new_plan(host_client, couple_id, prefix=PREFIX)
    plan_url = f"{PREFIX}/couples/{couple_id}/plans/{plan_id}"
    page = host_client.get(f"{plan_url}/preview/plan")
    assert page.status_code == 200
    assert_preview(page.get_data(as_text=True), plan_url)
