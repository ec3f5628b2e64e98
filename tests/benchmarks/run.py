"""`make bench`: timings printed as tables (never asserted: seconds are not test results).

Measures, on SQLite and on a throwaway PostgreSQL cluster:
- the flag engine alone (pure Python) for one couple, and a full re-score;
- server time of the main pages in-process, on the small demo practice and on the large one
  (50 therapists, 5,000 couples, 100,000 appointments; `--quick`: 300 couples), with the SQL
  statements each page sends;
- on PostgreSQL, the large practice served by gunicorn: the pages over HTTP one at a time, then
  throughput under load with wrk at 16 and 64 connections beside /healthz (bench_pages, load);
- on both databases, the dashboard through gunicorn with 16 connections spread over 8
  therapists, each audited on their own chain (therapists_load);
- PDFs: warm renders beside plain WeasyPrint, re-downloads, the progress report, a batch of 100
  handouts with a process pool, and a worker's memory over 1,000 renders (pdfs).
"""

from __future__ import annotations

import dataclasses
import gc
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent.parent)]

import load  # noqa: E402
import pdfs  # noqa: E402
import psycopg  # noqa: E402
import pypdf  # noqa: E402
import therapists_load  # noqa: E402
from sqlalchemy import select  # noqa: E402
from weasyprint import CSS, HTML  # noqa: E402

import bench_pages as pages  # noqa: E402
import pgcluster  # noqa: E402
from appointment_support import Visit, seed_history  # noqa: E402
from counselor_app import demo  # noqa: E402
from counselor_app.assessment.services import confirmed_flags, rescore  # noqa: E402
from counselor_app.couples.services import CoupleDetails, PartnerDetails, create_couple  # noqa: E402
from counselor_app.extensions import db  # noqa: E402
from counselor_app.flags import evaluate, load_ruleset  # noqa: E402
from counselor_app.library.services import strategies_for  # noqa: E402
from counselor_app.models import (  # noqa: E402
    Couple,
    Flag,
    FlagStatus,
    IssuedDocument,
    RelationshipStage,
    SessionPlan,
    Therapist,
)
from counselor_app.plans import services as plan_services  # noqa: E402
from counselor_app.progress.services import progress_of  # noqa: E402
from counselor_app.reports import builders  # noqa: E402
from counselor_app.reports import pdf as report_pdf  # noqa: E402
from counselor_app.reports.documents import VARIANTS, render, render_html  # noqa: E402
from counselor_app.reports.progress import progress_document  # noqa: E402
from vignettes import VIGNETTES  # noqa: E402

PASSWORD = "benchmark passphrase 1"
RUNS = 200
QUICK_RUNS = 30
# bench-quick's "large" practice: big enough to show growth, small enough for three minutes.
QUICK_LARGE = demo.Size(therapists=5, couples=300, appointments=6000, issue_documents=False)


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """Median, 95th percentile and maximum in milliseconds, after one warm-up call."""
    run()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))], samples[-1]


def frozen(run: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """``timed`` with everything alive so far frozen out of the garbage collector's scans, as
    counselor_app/wsgi.py does in each gunicorn worker."""
    gc.collect()
    gc.freeze()
    try:
        return timed(run, repeat)
    finally:
        gc.unfreeze()


def print_table(title: str, rows: list[tuple[str, tuple[float, float, float]]]) -> None:
    print(f"\n{title}")
    print(f"{'what':<44} {'median ms':>10} {'p95 ms':>10} {'max ms':>10}")
    for name, (median, p95, worst) in rows:
        print(f"{name:<44} {median:>10.2f} {p95:>10.2f} {worst:>10.2f}")


def bench_engine() -> None:
    ruleset = load_ruleset()
    story = next(v for v in VIGNETTES if v.name == "pursue_withdraw")
    rows = [
        (
            "flags.evaluate, pursue/withdraw couple",
            timed(lambda: evaluate(story.a, story.b, ruleset=ruleset), 2000),
        ),
        (
            "flags.evaluate, one partner only",
            timed(lambda: evaluate(story.a, None, ruleset=ruleset), 2000),
        ),
    ]
    print_table("Flag engine (pure Python, 2000 runs)", rows)


def seed_plan(app, couple_id: int) -> int:
    """Confirm the couple's flags and save a prefilled plan with goals and notes."""
    with app.app_context():
        couple = db.session.get(Couple, couple_id)
        for flag in db.session.scalars(select(Flag).where(Flag.couple_id == couple_id)):
            flag.status = FlagStatus.CONFIRMED
            flag.note = "Came up in the first session."
        values = plan_services.prefill(
            confirmed_flags(couple),
            strategies_for(couple.therapist),
            date(2026, 11, 24),
        )
        values = dataclasses.replace(
            values,
            goals="Name the cycle together.\nAgree one money conversation.",
            private_notes="Watch for withdrawal when money comes up.",
        )
        plan = plan_services.create_plan(couple, couple.therapist, values)
        db.session.commit()
        return plan.id


def bench_documents(app, couple_id: int, client) -> None:
    """Warm renders of plan and handout beside plain WeasyPrint on the same HTML."""
    plan_id = seed_plan(app, couple_id)
    rows = []
    with app.test_request_context():
        plan = db.session.get(SessionPlan, plan_id)
        therapist = plan.couple.therapist
        practice = plan_services.practice()
        for label, gather in (
            ("session plan", builders.plan_document),
            ("handout", builders.handout_document),
        ):
            doc = gather(plan, therapist, practice)
            html = render_html(doc)
            variant = VARIANTS[type(doc)]
            pages = len(pypdf.PdfReader(io.BytesIO(render(doc).pdf)).pages)
            css = str(Path(report_pdf.__file__).with_name("print.css"))

            def plain(html=html, variant=variant, css=css) -> None:
                HTML(string=html).write_pdf(stylesheets=[CSS(filename=css)], pdf_variant=variant)

            def plain_same_css(html=html, variant=variant, paper=doc.paper) -> None:
                # WeasyPrint's own time: the same HTML and the same parsed stylesheets.
                HTML(string=html).write_pdf(
                    stylesheets=list(report_pdf._stylesheets(paper)),
                    font_config=report_pdf._font_config(),
                    pdf_variant=variant,
                )

            def ours(doc=doc) -> None:
                render(doc)

            def ours_with_gathering(gather=gather) -> None:
                render(gather(plan, therapist, practice))

            rows += [
                (f"{label} ({pages} pages): plain, CSS parsed", timed(plain, 30)),
                (f"{label}: plain, same parsed CSS", timed(plain_same_css, 30)),
                (f"{label}: ours (template + render)", timed(ours, 30)),
                (f"{label}: ours + database gather", timed(ours_with_gathering, 30)),
                (f"{label}: ours + gather, gc frozen", frozen(ours_with_gathering, 30)),
            ]
    print_table("PDF rendering, warm process (30 renders each)", rows)

    page = client.get("/").get_data(as_text=True)
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    for kind in ("plan", "handout"):
        url = f"/couples/{couple_id}/plans/{plan_id}/issue/{kind}"
        assert client.post(url, data={"csrf_token": token}).status_code == 302
    with app.app_context():
        document_ids = db.session.scalars(
            select(IssuedDocument.id).where(IssuedDocument.couple_id == couple_id)
        ).all()

    def download() -> None:
        for document_id in document_ids:
            response = client.get(f"/couples/{couple_id}/plans/documents/{document_id}")
            assert response.status_code == 200

    print_table(
        "Re-downloading an issued PDF (stored bytes, 200 requests)",
        [("GET issued document", tuple(v / len(document_ids) for v in timed(download, RUNS)))],
    )


def bench_progress(app, therapist_email: str, client) -> None:
    """A couple with 100 appointments: progress page, appointment page, progress PDF."""
    with app.app_context():
        therapist = db.session.scalar(select(Therapist).where(Therapist.email == therapist_email))
        couple = create_couple(
            therapist,
            CoupleDetails(
                PartnerDetails("Avery"), PartnerDetails("Blake"), RelationshipStage.MARRIED, 90, ""
            ),
        )
        db.session.commit()
        couple_id = couple.id
    visits = [
        Visit(csi={"A": 8 + (i % 9), "B": 14 - (i % 7)}, balance={"A": 8 + i % 5, "B": 12 - i % 4})
        for i in range(100)
    ]
    ids = seed_history(app, couple_id, visits)

    def get(url: str) -> Callable[[], object]:
        def run() -> None:
            assert client.get(url).status_code == 200, url

        return run

    rows = [
        ("GET progress page (100 appointments)", timed(get(f"/couples/{couple_id}/progress"), 50)),
        (
            "GET appointment page (with latest scores)",
            timed(get(f"/couples/{couple_id}/appointments/{ids[-1]}"), 50),
        ),
    ]
    with app.test_request_context():
        couple = db.session.get(Couple, couple_id)
        progress = progress_of(couple)
        doc = progress_document(couple, progress, couple.therapist, plan_services.practice())
        rows.append(("progress report PDF (render)", timed(lambda: render(doc), 20)))
    print_table("Progress with 100 appointments", rows)


def bench_backend(name: str, url_of: Callable[[str], str], folder: Path, quick: bool) -> None:
    """Pages on a small and a large practice; then, on the small one, documents and progress."""
    repeat = QUICK_RUNS if quick else RUNS
    small = pages.build_practice(url_of("small"), folder / "small", demo.DEMO)
    large_size = QUICK_LARGE if quick else demo.LARGE
    large = pages.build_practice(url_of("large"), folder / "large", large_size)
    print(
        f"\n{name}: built the small practice in {small.build_seconds:.0f} s and the large one "
        f"in {large.build_seconds:.0f} s"
    )
    pages.print_growth(
        name,
        small,
        pages.page_times(small, repeat, timed),
        large,
        pages.page_times(large, repeat, timed),
        repeat,
    )
    if name == "PostgreSQL":
        bench_http(large, quick)
    pages.dispose(large)
    app, couple_id = small.app, small.ids["couple_id"]

    def rescore_once() -> None:
        with app.app_context():
            rescore(db.session.get(Couple, couple_id))
            db.session.commit()

    print_table(
        f"{name}: re-scoring on the small practice ({repeat} runs)",
        [("re-score one couple (DB + engine)", timed(rescore_once, repeat))],
    )
    client = pages.signed_in_client(small)
    if not quick:
        bench_documents(app, couple_id, client)
        bench_progress(app, small.email, client)
    if name == "SQLite":
        plan_id = small.ids["plan_id"]
        pdfs.bench_pool(small.url, pages.DATA_KEYS, plan_id, count=20 if quick else 100)
        renders = 200 if quick else 1000
        pdfs.bench_memory(small.url, pages.DATA_KEYS, plan_id, renders, investigate=False)
    pages.dispose(small)


def bench_http(practice: pages.Practice, quick: bool) -> None:
    """The main pages over real HTTP from gunicorn, then the load runs, on the large practice."""
    signed_out = {name: url for name, url in practice.urls().items() if url == "/login"}
    urls = {name: url for name, url in practice.urls().items() if url != "/login"}
    repeat = QUICK_RUNS if quick else 100
    with load.serve(practice.url, pages.DATA_KEYS) as base_url:
        cookie = load.sign_in(base_url, practice.email, pages.PASSWORD)
        rows = load.http_page_times(base_url, "", signed_out, repeat)
        rows += load.http_page_times(base_url, cookie, urls, repeat)
    print_table(
        f"PostgreSQL, large practice: over HTTP from gunicorn ({load.default_workers()} sync "
        f"workers), one request at a time ({repeat} each)",
        rows,
    )
    load.bench_load(
        practice.url, pages.DATA_KEYS, practice.email, pages.PASSWORD, list(urls.values()), quick
    )


def main() -> None:
    quick = "--quick" in sys.argv
    machine = platform.processor() or platform.machine()
    print(f"Machine: {machine}, Python {platform.python_version()}, {os.cpu_count()} cores")
    print("Mode: quick (make bench-quick)" if quick else "Mode: full (make bench)")
    bench_engine()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        bench_backend("SQLite", lambda name: f"sqlite:///{root}/{name}.sqlite3", root, quick)
    cluster = pgcluster.start()
    try:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            for name in ("small", "large"):
                conn.execute(f"CREATE DATABASE bench_{name}")
        with tempfile.TemporaryDirectory() as folder:
            bench_backend(
                "PostgreSQL", lambda name: cluster.url(f"bench_{name}"), Path(folder), quick
            )
    finally:
        cluster.stop()
    therapists_load.bench_both(quick, runs=3, backends=("sqlite", "postgresql"))


if __name__ == "__main__":
    main()
