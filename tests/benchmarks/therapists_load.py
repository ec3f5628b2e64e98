"""The dashboard under load from many therapists at once: 16 connections spread over 8
therapists, through gunicorn and wrk, on SQLite and PostgreSQL.

Every dashboard view writes an audit row, each therapist's on their own chain: this is the
path where one therapist's request must not wait for another's. After the runs the trail is
checked (``audit verify``): rows written concurrently must still form intact chains.

Run on its own: ``python tests/benchmarks/therapists_load.py [--quick] [--runs N]
[--db sqlite|postgresql]`` (each run is 10 s, 5 s with --quick; the median is reported).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent.parent)]

import load  # noqa: E402
import psycopg  # noqa: E402

import pgcluster  # noqa: E402
from bench_pages import DATA_KEYS, throwaway_app  # noqa: E402
from counselor_app import demo  # noqa: E402
from counselor_app.cli import counselor_cli  # noqa: E402
from counselor_app.schema import upgrade  # noqa: E402

THERAPISTS = 8
CONNECTIONS = 16
PASSWORD = "benchmark practice passphrase"
# 30 couples each: a full first page of the dashboard for every therapist.
SIZE = demo.Size(therapists=THERAPISTS, couples=240, appointments=2400, issue_documents=False)


def build(url: str) -> list[str]:
    """Migrate ``url`` and fill it with the 8 therapists' practice; their emails."""
    with throwaway_app(url) as app, app.app_context():
        upgrade()
        return [email for email, _ in demo.build(SIZE, password=PASSWORD).therapists]


def verify(url: str) -> str:
    """``flask counselor audit verify``'s last line on the database."""
    with throwaway_app(url) as app:
        result = app.test_cli_runner().invoke(counselor_cli, ["audit", "verify"])
    return result.output.strip().splitlines()[-1]


def bench(name: str, url: str, runs: int, seconds: int) -> None:
    emails = build(url)
    results = []
    with load.serve(url, DATA_KEYS) as base_url:
        cookies = [load.sign_in(base_url, email, PASSWORD) for email in emails]
        load.load(base_url, cookies, ["/"], connections=CONNECTIONS, seconds=2)  # warm up
        for _ in range(runs):
            results.append(load.load(base_url, cookies, ["/"], CONNECTIONS, seconds))
    rates = [result["rps"] for result in results]
    errors = sum(int(result["errors"]) for result in results)
    p95 = statistics.median(result["p95_ms"] for result in results)
    print(
        f"{name:<11} dashboard, {CONNECTIONS} conn. over {THERAPISTS} therapists: median "
        f"{statistics.median(rates):6.1f} req/s (runs: {', '.join(f'{r:.1f}' for r in rates)}), "
        f"p95 {p95:.0f} ms, {errors} errors, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'':<11} after the load: {verify(url)}")


def bench_both(quick: bool, runs: int, backends: tuple[str, ...]) -> None:
    seconds = 5 if quick else 10
    print(
        f"\nThroughput of the dashboard with {THERAPISTS} therapists at once (gunicorn "
        f"{load.default_workers()} sync workers, wrk, {runs} runs of {seconds} s)"
    )
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as folder:
            bench("SQLite", f"sqlite:///{folder}/therapists.sqlite3", runs, seconds)
    if "postgresql" in backends:
        cluster = pgcluster.start()
        try:
            with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench_therapists")
            bench("PostgreSQL", cluster.url("bench_therapists"), runs, seconds)
        finally:
            cluster.stop()


def main() -> None:
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = sys.argv[1:]
    runs = int(args[args.index("--runs") + 1]) if "--runs" in args else 3
    backends = (args[args.index("--db") + 1],) if "--db" in args else ("sqlite", "postgresql")
    start = time.perf_counter()
    bench_both("--quick" in args, runs, backends)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
