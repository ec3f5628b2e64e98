"""Session plans, the PDFs made from them, and what a couple's handout must never contain."""

from __future__ import annotations

import hashlib
import http.server
import io
import re
import threading
from datetime import date

import pypdf
import pytest
from sqlalchemy import select

from conftest import login
from counselor_app.extensions import db
from counselor_app.flags import CHALLENGES
from counselor_app.models import Flag, IssuedDocument, SafetyAlert, SessionPlan
from intake_support import CSI_DISTRESSED, seed_intake
from plan_support import clinical_leaks, issued, new_plan, pdf_text, plan_form
from vignettes import SAFE, VIGNETTES

VIGNETTE = {v.name: v for v in VIGNETTES}
MONEY = VIGNETTE["money_fights"]
MARKERS = {
    "goals_a": "ZQXMARKERGOALSA",
    "goals_b": "ZQXMARKERGOALSB",
    "notes_a": "ZQXMARKERPRESSURESA",
    "else_b": "ZQXMARKERANYTHINGB",
    "private": "ZQXMARKERPRIVATE",
    "plan_goals": "ZQXMARKERPLANGOALS",
    "flag_note": "ZQXMARKERFLAGNOTE",
}


def flags(app, couple_id):
    with app.app_context():
        rows = db.session.scalars(select(Flag).where(Flag.couple_id == couple_id))
        return {flag.challenge_key: flag for flag in rows}


@pytest.fixture
def couple_id(therapist, make_couple):
    return make_couple(therapist, ("Avery", "Blake"))


@pytest.fixture
def assessed(app, logged_in, couple_id):
    """A couple with both intakes (free text carrying markers) and two confirmed flags."""
    seed_intake(
        app,
        couple_id,
        "A",
        intake={
            **dict(MONEY.a),
            "bg_goals": MARKERS["goals_a"],
            "pres_notes": MARKERS["notes_a"],
            "need_more_together": 5,
            "need_more_space": 1,
            "need_space_rejection": 5,
        },
    )
    seed_intake(
        app,
        couple_id,
        "B",
        csi=CSI_DISTRESSED,
        intake={
            **dict(MONEY.b),
            "bg_goals": MARKERS["goals_b"],
            "end_anything_else": MARKERS["else_b"],
            "need_more_together": 1,
            "need_more_space": 5,
            "need_closeness_crowded": 5,
        },
    )
    raised = flags(app, couple_id)
    assert {"financial_tension", "mismatched_needs"} <= set(raised)
    for key in ("financial_tension", "mismatched_needs"):
        flag = raised[key]
        prefix = f"flag{flag.id}-confirm"
        response = logged_in.post_form(
            f"/couples/{couple_id}/flags/{flag.id}/confirm",
            {f"{prefix}-note": MARKERS["flag_note"], f"{prefix}-version": str(flag.version)},
        )
        assert response.status_code == 302
    return couple_id


def issue(client, couple_id, plan_id, kind):
    return client.post_form(f"/couples/{couple_id}/plans/{plan_id}/issue/{kind}")


def test_a_new_plan_is_prefilled_from_the_confirmed_flags(app, logged_in, assessed):
    page = logged_in.get(f"/couples/{assessed}/plans/new").get_data(as_text=True)
    data = plan_form(page)
    raised = flags(app, assessed)
    assert sorted(data["focus_flags"]) == sorted(
        str(raised[k].id) for k in ("financial_tension", "mismatched_needs")
    )
    # Strategies linked to the flags are suggested and chosen, and their homework filled in.
    assert "(suggested)" in page
    assert 1 <= len(data["strategies"]) <= 3
    assert data["homework-0-text"].strip()
    assert data["agenda-0-part"] == "check_in" and data["agenda-0-minutes"] == "5"
    assert data["session_date"] == date.today().isoformat()
    # Most severe flag first in the focus list (ties in key order).
    focus = page[page.index('id="focus_flags"') :]
    focus = focus[: focus.index("</fieldset>")]
    expected = sorted(raised.values(), key=lambda f: (-f.severity.rank, f.challenge_key))
    expected = [CHALLENGES[f.challenge_key][0] for f in expected if f.status.value == "confirmed"]
    positions = [focus.index(title) for title in expected]
    assert positions == sorted(positions) and len(positions) == 2


def test_plan_form_errors_keep_everything_typed(app, logged_in, assessed):
    page = logged_in.get(f"/couples/{assessed}/plans/new").get_data(as_text=True)
    data = {
        **plan_form(page),
        "session_date": "",
        "agenda-2-minutes": "900",
        "goals": "Goals typed before the error",
        "private_notes": "Private typed text",
        "homework-3-text": "An extra assignment typed by hand",
    }
    response = logged_in.post_form(f"/couples/{assessed}/plans/new", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="session_date-error"' in page and "Enter the session date." in page
    assert 'id="agenda-2-minutes-error"' in page and "between 0 and 180" in page
    for text in (
        "Goals typed before the error",
        "Private typed text",
        "An extra assignment typed by hand",
    ):
        assert text in page
    with app.app_context():
        assert db.session.scalar(select(SessionPlan)) is None


def test_a_tampered_agenda_or_strategy_is_refused(app, logged_in, assessed):
    page = logged_in.get(f"/couples/{assessed}/plans/new").get_data(as_text=True)
    data = {**plan_form(page), "agenda-0-part": "party"}
    assert logged_in.post_form(f"/couples/{assessed}/plans/new", data).status_code == 422
    data = {**plan_form(page), "strategies": ["not_a_strategy"]}
    assert logged_in.post_form(f"/couples/{assessed}/plans/new", data).status_code == 422
    with app.app_context():
        assert db.session.scalar(select(SessionPlan)) is None


def test_session_plan_pdf_has_flags_agenda_scores_and_metadata(app, logged_in, assessed):
    plan_id = new_plan(
        logged_in, assessed, goals=MARKERS["plan_goals"], private_notes=MARKERS["private"]
    )
    response = issue(logged_in, assessed, plan_id, "plan")
    assert response.status_code == 302
    [(kind, number, _, content)] = issued(app, plan_id)
    assert (kind, number) == ("session_plan", 1)
    text = pdf_text(content)
    for expected in (
        CHALLENGES["financial_tension"][0],
        CHALLENGES["mismatched_needs"][0],
        "Check-in",
        "Homework review",
        "Focus work",
        "Close",
        MARKERS["plan_goals"],
        MARKERS["private"],
        "CSI-4",
        "Page 1 of",
    ):
        assert expected in text, expected
    reader = pypdf.PdfReader(io.BytesIO(content))
    assert reader.metadata.title == "Session plan: Avery & Blake"
    assert reader.metadata.author == "Dana Whitfield"
    assert "Therapist's plan" in reader.metadata.subject
    assert reader.trailer["/Root"]["/Lang"] == "en"
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="A"' in xmp
    fonts = {
        str(f["/BaseFont"])
        for page in reader.pages
        for f in (page["/Resources"].get("/Font") or {}).values()
        if "/BaseFont" in f.get_object()
    }
    assert any("DejaVu" in name for name in fonts)


def test_handout_has_exercises_and_tracker_and_leaks_nothing(app, logged_in, assessed):
    plan_id = new_plan(
        logged_in, assessed, goals=MARKERS["plan_goals"], private_notes=MARKERS["private"]
    )
    assert issue(logged_in, assessed, plan_id, "handout").status_code == 302
    [(kind, _, _, content)] = issued(app, plan_id)
    assert kind == "handout"
    text = pdf_text(content)
    folded = " ".join(text.split()).lower()
    assert "weekly tracker" in folded and "mon" in folded and "sun" in folded
    assert "questions to think about together" in folded
    assert "between sessions: avery and blake" in folded
    with app.app_context():
        plan = db.session.get(SessionPlan, plan_id)
        from counselor_app.library import load_library

        library = load_library()
        for key in plan.strategy_keys:
            assert library.get(key).title.lower() in folded
    # Nothing clinical: no marker of any free-text answer, note, goal; no flag; no score.
    assert clinical_leaks(folded, MARKERS.values()) == []
    reader = pypdf.PdfReader(io.BytesIO(content))
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    assert 'pdfuaid:part="1"' in xmp
    assert bool(reader.trailer["/Root"]["/MarkInfo"]["/Marked"])
    assert "/StructTreeRoot" in reader.trailer["/Root"]
    assert reader.trailer["/Root"]["/Lang"] == "en"
    assert reader.metadata.title == "Between sessions: Avery and Blake"


def test_issued_documents_are_kept_exactly_and_versioned(app, logged_in, assessed):
    plan_id = new_plan(logged_in, assessed)
    issue(logged_in, assessed, plan_id, "handout")
    [(_, _, sha, content)] = issued(app, plan_id)
    assert hashlib.sha256(content).hexdigest() == sha
    with app.app_context():
        document_id = db.session.scalar(select(IssuedDocument.id))
    download = logged_in.get(f"/couples/{assessed}/plans/documents/{document_id}")
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert download.data == content
    assert "attachment" in download.headers["Content-Disposition"]
    # Issuing again without an edit does not make a new version.
    issue(logged_in, assessed, plan_id, "handout")
    assert len(issued(app, plan_id)) == 1
    # An edit, then a new issue: version 2, and version 1 is untouched.
    edit_page = logged_in.get(f"/couples/{assessed}/plans/{plan_id}/edit").get_data(as_text=True)
    data = {**plan_form(edit_page), "homework-0-text": "Take a twenty-minute walk together twice."}
    assert logged_in.post_form(f"/couples/{assessed}/plans/{plan_id}/edit", data).status_code == 302
    issue(logged_in, assessed, plan_id, "handout")
    versions = issued(app, plan_id)
    assert [v[1] for v in versions] == [1, 2]
    assert versions[0][3] == content and versions[0][2] == sha
    assert "twenty-minute walk" in pdf_text(versions[1][3])
    assert logged_in.get(f"/couples/{assessed}/plans/documents/{document_id}").data == content


def test_an_open_safety_alert_blocks_the_handout_not_the_plan(app, logged_in, couple_id):
    seed_intake(app, couple_id, "A", safety={**SAFE, "saf_fear": "yes"})
    seed_intake(app, couple_id, "B")
    plan_id = new_plan(logged_in, couple_id, strategies=["quality_time"])
    response = issue(logged_in, couple_id, plan_id, "handout")
    assert response.status_code == 409
    refused = response.get_data(as_text=True)
    assert "A safety alert is open for this couple" in refused
    # The refusal is the page's error summary: its heading takes focus, the title says so.
    assert 'id="errors" tabindex="-1"' in refused and "data-error-summary" in refused
    assert "<title>Error: " in refused
    preview = logged_in.get(f"/couples/{couple_id}/plans/{plan_id}/preview/handout")
    assert preview.status_code == 409
    assert issued(app, plan_id) == []
    assert issue(logged_in, couple_id, plan_id, "plan").status_code == 302
    plan_text = pdf_text(issued(app, plan_id, "session_plan")[0][3])
    assert "Safety alert" in plan_text
    with app.app_context():
        alert = db.session.scalar(select(SafetyAlert))
        version = alert.version
    logged_in.post_form(
        f"/couples/{couple_id}/safety/decision",
        {
            "safety-decision": "joint_ok",
            "safety-note": "Plan agreed.",
            "safety-version": str(version),
        },
    )
    assert issue(logged_in, couple_id, plan_id, "handout").status_code == 302
    handout = pdf_text(issued(app, plan_id, "handout")[0][3]).lower()
    assert "safety" not in handout and "plan agreed" not in handout


def test_an_unanswered_safety_screen_blocks_the_handout(app, logged_in, couple_id):
    seed_intake(app, couple_id, "A")
    plan_id = new_plan(logged_in, couple_id)
    response = issue(logged_in, couple_id, plan_id, "handout")
    assert response.status_code == 409
    assert "safety screen is not complete for Partner B" in response.get_data(as_text=True)


class CountingHandler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):
        CountingHandler.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    CountingHandler.hits = []
    server = http.server.HTTPServer(("127.0.0.1", 0), CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_typed_markup_renders_as_text_and_fetches_nothing(app, logged_in, couple_id, local_server):
    seed_intake(app, couple_id, "A")
    seed_intake(app, couple_id, "B")
    hostile = (
        f'<img src="file:///etc/passwd"> <img src="{local_server}/x.png"> '
        f'<link rel="stylesheet" href="{local_server}/s.css">'
    )
    plan_id = new_plan(logged_in, couple_id, private_notes=hostile, **{"homework-0-text": hostile})
    assert issue(logged_in, couple_id, plan_id, "plan").status_code == 302
    assert issue(logged_in, couple_id, plan_id, "handout").status_code == 302
    for _, _, _, content in issued(app, plan_id):
        text = " ".join(pdf_text(content).split())
        assert '<img src="file:///etc/passwd">' in text  # shown as typed, not interpreted
        assert f'<link rel="stylesheet" href="{local_server}/s.css">' in text


def test_the_renderer_itself_refuses_files_and_the_network(local_server):
    from counselor_app.reports.pdf import render_pdf

    html = (
        f'<html lang="en"><head><title>t</title></head><body>'
        f'<img src="file:///etc/passwd"><img src="{local_server}/y.png">'
        f'<img src="counselor-static:../../../../etc/passwd">'
        f'<img src="data:image/png;base64,iVBORw0KGgo="><p>ok</p></body></html>'
    )
    rendered = render_pdf(html, paper="a4", variant=None)
    # Only our own SVG charts may come as data: URIs; any other data: is refused too.
    assert set(rendered.refused_urls) == {
        "file:///etc/passwd",
        f"{local_server}/y.png",
        "counselor-static:../../../../etc/passwd",
        "data:image/png;base64,iVBORw0KGgo=",
    }
    assert CountingHandler.hits == []
    assert rendered.pdf.startswith(b"%PDF")


@pytest.mark.parametrize(("paper", "size"), [("a4", (595, 842)), ("letter", (612, 792))])
def test_paper_size_follows_the_practice_setting(
    app, client, make_therapist, make_couple, paper, size
):
    admin = make_therapist("Owner Admin", admin=True)
    login(client, admin)
    page = client.get("/admin/practice").get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    response = client.post_form(
        "/admin/practice",
        {"name": "Harbour Couples Clinic", "paper_size": paper, "version": version},
    )
    assert response.status_code == 302
    couple_id = make_couple(admin)
    seed_intake(app, couple_id, "A")
    seed_intake(app, couple_id, "B")
    plan_id = new_plan(client, couple_id, strategies=["quality_time"])
    issue(client, couple_id, plan_id, "handout")
    content = issued(app, plan_id)[0][3]
    box = pypdf.PdfReader(io.BytesIO(content)).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == size
    assert "Harbour Couples Clinic" in pdf_text(content)


def test_preview_is_the_same_template_as_the_pdf(app, logged_in, assessed):
    plan_id = new_plan(logged_in, assessed)
    preview = logged_in.get(f"/couples/{assessed}/plans/{plan_id}/preview/handout")
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert "<title>Between sessions: Avery and Blake</title>" in html
    assert 'lang="en"' in html and "Weekly tracker" in html
    assert "print.css" in html
    css = logged_in.get("/counselor-static/print.css")
    assert css.status_code == 200 and b"@page" in css.data
    css.close()


def test_editing_from_a_stale_page_is_a_conflict(app, logged_in, assessed):
    plan_id = new_plan(logged_in, assessed)
    page = logged_in.get(f"/couples/{assessed}/plans/{plan_id}/edit").get_data(as_text=True)
    stale = plan_form(page)
    assert (
        logged_in.post_form(
            f"/couples/{assessed}/plans/{plan_id}/edit", {**stale, "goals": "first tab"}
        ).status_code
        == 302
    )
    response = logged_in.post_form(
        f"/couples/{assessed}/plans/{plan_id}/edit", {**stale, "goals": "second tab words"}
    )
    assert response.status_code == 409
    assert "second tab words" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(SessionPlan, plan_id).goals == "first tab"


def test_another_therapist_cannot_reach_plans_or_documents(
    app, client, logged_in, assessed, make_therapist
):
    plan_id = new_plan(logged_in, assessed)
    issue(logged_in, assessed, plan_id, "plan")
    with app.app_context():
        document_id = db.session.scalar(select(IssuedDocument.id))
    other = app.test_client()
    login(other, make_therapist("Intruder"))
    for url in [
        f"/couples/{assessed}/plans",
        f"/couples/{assessed}/plans/new",
        f"/couples/{assessed}/plans/{plan_id}",
        f"/couples/{assessed}/plans/{plan_id}/edit",
        f"/couples/{assessed}/plans/{plan_id}/preview/plan",
        f"/couples/{assessed}/plans/{plan_id}/preview/handout",
        f"/couples/{assessed}/plans/documents/{document_id}",
    ]:
        assert other.get(url).status_code == 404, url
    for url in [
        f"/couples/{assessed}/plans/{plan_id}/issue/plan",
        f"/couples/{assessed}/plans/{plan_id}/issue/handout",
        f"/couples/{assessed}/plans/{plan_id}/edit",
        f"/couples/{assessed}/plans/new",
    ]:
        assert other.post_form(url, {"goals": "x"}).status_code == 404, url
    assert len(issued(app, plan_id)) == 1


def test_the_plan_pdf_is_marked_as_the_therapists_copy(app, logged_in, assessed):
    plan_id = new_plan(logged_in, assessed)
    issue(logged_in, assessed, plan_id, "plan")
    text = pdf_text(issued(app, plan_id)[0][3])
    assert text.count("Confidential: therapist's working document") >= 2  # a footer on every page


def test_a_change_in_the_assessment_makes_a_new_version(app, logged_in, assessed):
    plan_id = new_plan(logged_in, assessed)
    issue(logged_in, assessed, plan_id, "plan")
    issue(logged_in, assessed, plan_id, "plan")
    assert len(issued(app, plan_id)) == 1  # nothing changed: still one version
    money = flags(app, assessed)["financial_tension"]
    prefix = f"flag{money.id}-confirm"
    logged_in.post_form(
        f"/couples/{assessed}/flags/{money.id}/confirm",
        {
            f"{prefix}-note": "Updated after the second session.",
            f"{prefix}-version": str(money.version),
        },
    )
    issue(logged_in, assessed, plan_id, "plan")
    versions = issued(app, plan_id)
    assert [v[1] for v in versions] == [1, 2]
    assert "Updated after the second session." in pdf_text(versions[1][3])


def test_homework_rows_are_bounded_and_a_long_plan_stays_editable(app, logged_in, assessed):
    page = logged_in.get(f"/couples/{assessed}/plans/new").get_data(as_text=True)
    extra = {f"homework-{i}-text": f"Assignment number {i}" for i in range(12)}
    extra |= {f"homework-{i}-strategy_key": "" for i in range(12)}
    response = logged_in.post_form(f"/couples/{assessed}/plans/new", {**plan_form(page), **extra})
    assert response.status_code == 302
    plan_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        assert len(db.session.get(SessionPlan, plan_id).homework) == 8
    edit = logged_in.get(f"/couples/{assessed}/plans/{plan_id}/edit").get_data(as_text=True)
    again = logged_in.post_form(f"/couples/{assessed}/plans/{plan_id}/edit", plan_form(edit))
    assert again.status_code == 302


def test_a_handout_with_nothing_to_do_is_refused(app, logged_in, couple_id):
    seed_intake(app, couple_id, "A")
    seed_intake(app, couple_id, "B")
    plan_id = new_plan(logged_in, couple_id)  # no flags, so no strategies or homework
    response = issue(logged_in, couple_id, plan_id, "handout")
    assert response.status_code == 409
    assert "at least one intervention or homework" in response.get_data(as_text=True)
    assert issued(app, plan_id) == []


def test_each_preview_link_says_which_document_it_shows(logged_in, assessed):
    """Two links both called "Preview" would sound alike in a screen reader's list of links."""
    plan_id = new_plan(logged_in, assessed, strategies=["quality_time"])
    page = logged_in.get(f"/couples/{assessed}/plans/{plan_id}").get_data(as_text=True)
    links = re.findall(r'<a href="[^"]*/preview/[^"]*">([^<]*)</a>', page)
    assert links == ["Preview session plan", "Preview handout"]
