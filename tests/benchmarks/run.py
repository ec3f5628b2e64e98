"""`make bench`: timings printed as tables (never asserted: seconds are not test results).

Measures, on SQLite and on a throwaway PostgreSQL cluster:
- the flag engine alone (pure Python) for one couple;
- a full re-score (load responses, evaluate, sync flags and safety alert, flush);
- server time of the main pages, in-process through Flask's test client.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent.parent)]

import psycopg  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

import pgcluster  # noqa: E402
from counselor_app import create_app  # noqa: E402
from counselor_app.assessment.services import rescore  # noqa: E402
from counselor_app.auth.services import create_therapist  # noqa: E402
from counselor_app.couples.services import CoupleDetails, PartnerDetails, create_couple  # noqa: E402
from counselor_app.extensions import db  # noqa: E402
from counselor_app.flags import evaluate, load_ruleset  # noqa: E402
from counselor_app.models import Couple, RelationshipStage  # noqa: E402
from intake_support import seed_intake  # noqa: E402
from vignettes import VIGNETTES  # noqa: E402

PASSWORD = "benchmark passphrase 1"
RUNS = 200


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


def seeded_app(url: str, instance: Path):
    app = create_app(
        {"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url}, instance_path=str(instance)
    )
    with app.app_context():
        upgrade()
        therapist = create_therapist("Bench Therapist", "bench@example.org", PASSWORD)
        story = next(v for v in VIGNETTES if v.name == "money_fights")
        for number in range(30):
            create_couple(
                therapist,
                CoupleDetails(
                    PartnerDetails(f"A{number}"),
                    PartnerDetails(f"B{number}"),
                    RelationshipStage.MARRIED,
                    40,
                    "Bench couple",
                ),
            )
        db.session.commit()
        couple_id = db.session.scalar(db.select(Couple.id).order_by(Couple.id))
    seed_intake(app, couple_id, "A", intake=dict(story.a))
    seed_intake(app, couple_id, "B", intake=dict(story.b))
    return app, couple_id


def bench_backend(name: str, url: str, instance: Path) -> None:
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    app, couple_id = seeded_app(url, instance)

    def rescore_once() -> None:
        with app.app_context():
            rescore(db.session.get(Couple, couple_id))
            db.session.commit()

    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    client.post(
        "/login", data={"csrf_token": token, "email": "bench@example.org", "password": PASSWORD}
    )

    def get(url: str) -> Callable[[], object]:
        def run() -> None:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        return run

    rows = [
        ("re-score one couple (DB + engine)", timed(rescore_once, RUNS)),
        ("GET dashboard (30 couples)", timed(get("/"), RUNS)),
        ("GET couple page", timed(get(f"/couples/{couple_id}"), RUNS)),
        (
            "GET intake page (18 items)",
            timed(get(f"/couples/{couple_id}/intake/a/closeness_space"), RUNS),
        ),
        ("GET assessment page", timed(get(f"/couples/{couple_id}/assessment"), RUNS)),
        ("GET intake export (JSON)", timed(get(f"/couples/{couple_id}/intake/export.json"), RUNS)),
    ]
    print_table(f"{name}: server time in-process ({RUNS} requests each)", rows)
    with app.app_context():
        db.engine.dispose()


def main() -> None:
    machine = platform.processor() or platform.machine()
    print(f"Machine: {machine}, Python {platform.python_version()}, {os.cpu_count()} cores")
    bench_engine()
    with tempfile.TemporaryDirectory() as folder:
        bench_backend("SQLite", f"sqlite:///{folder}/bench.sqlite3", Path(folder))
    cluster = pgcluster.start()
    try:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE counselor_bench")
        with tempfile.TemporaryDirectory() as folder:
            bench_backend("PostgreSQL", cluster.url("counselor_bench"), Path(folder))
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
