"""PDF batches and a worker's memory: handouts with a process pool, RSS over 1,000 renders.

``bench_pool`` renders a batch of handouts serially in one process, then with a process pool
of one worker per core. ``bench_memory`` renders the same document a thousand times in a fresh
process and compares its resident memory after the first 100 renders with the end (goal: no
more than 10% growth); over the goal it diffs tracemalloc snapshots to show what grows.

Run on its own (``python tests/benchmarks/pdfs.py [--quick]``) it builds the small demo practice
in a temporary SQLite database first.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(ROOT)]

from sqlalchemy import select  # noqa: E402

from bench_pages import throwaway_app  # noqa: E402
from counselor_app.extensions import db  # noqa: E402
from counselor_app.models import SessionPlan  # noqa: E402
from counselor_app.plans import services as plan_services  # noqa: E402
from counselor_app.reports import builders  # noqa: E402
from counselor_app.reports.documents import render  # noqa: E402

GOAL_GROWTH = 10.0  # per cent, after the first 100 renders
BASELINE_AT = 100
# Enough frames to reach our code from inside WeasyPrint; each one more slows tracing down.
TRACE_FRAMES = 5
# Traced renders after the baseline: enough to show a steady growth (a traced render takes
# seconds: the investigation costs minutes per document).
TRACE_AFTER = 50
KINDS = {"handout": builders.handout_document, "session plan": builders.plan_document}


@contextlib.contextmanager
def renderer(database_url: str, data_keys: str, kind: str = "handout") -> Iterator[Callable]:
    """A function rendering ``kind`` for a plan, as a worker would: its own app, and each render
    gathers from the database in a fresh session (as one request would), then renders."""
    gather = KINDS[kind]
    with throwaway_app(database_url, data_keys) as app, app.test_request_context():

        def render_one(plan_id: int) -> int:
            try:
                plan = db.session.get(SessionPlan, plan_id)
                document = gather(plan, plan.couple.therapist, plan_services.practice())
                return len(render(document).pdf)
            finally:
                db.session.remove()

        yield render_one


# ------------------------------------------------------------------------------ process pool
_worker_stack = contextlib.ExitStack()
_worker_render: Callable[[int], int] | None = None


def _init_worker(database_url: str, data_keys: str) -> None:
    global _worker_render
    _worker_render = _worker_stack.enter_context(renderer(database_url, data_keys))


def _render_in_worker(plan_id: int) -> int:
    assert _worker_render is not None
    return _worker_render(plan_id)


def bench_pool(
    database_url: str, data_keys: str, plan_id: int, count: int = 100
) -> list[tuple[str, float, float]]:
    """Wall time and handouts/s for ``count`` handouts: one process, then one worker per core.

    The workers are spawned: each imports the caller's main module again, so that module must
    keep its work under ``if __name__ == "__main__":`` (run.py does).
    """
    workers = os.cpu_count() or 1
    rows = []
    with renderer(database_url, data_keys) as render_one:
        render_one(plan_id)  # warm: fonts, stylesheets, templates
        start = time.perf_counter()
        for _ in range(count):
            render_one(plan_id)
        rows.append(("serial, one warm process", time.perf_counter() - start))
    # spawn, not fork: a forked child would share the parent's open database connections (and
    # WeasyPrint's font state); each worker starts clean and builds its own app.
    context = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(database_url, data_keys),
    ) as pool:
        list(pool.map(_render_in_worker, [plan_id] * count))
        rows.append((f"pool of {workers}, counting start-up", time.perf_counter() - start))
        start = time.perf_counter()
        list(pool.map(_render_in_worker, [plan_id] * count))
        rows.append((f"pool of {workers}, warm workers", time.perf_counter() - start))
    table = [(label, seconds, count / seconds) for label, seconds in rows]
    print(f"\nHandouts in a batch ({count}, {workers} cores)")
    print(f"{'what':<44} {'wall s':>10} {'handouts/s':>11}")
    for label, seconds, rate in table:
        print(f"{label:<44} {seconds:>10.2f} {rate:>11.1f}")
    return table


# ------------------------------------------------------------------------------ memory
def rss_kib() -> int:
    """This process's resident set size (VmRSS), in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def malloc_in_use_kib() -> int | None:
    """What the C allocator has handed out and not had back (glibc's mallinfo2), in KiB: the
    native libraries' share of the heap, which tracemalloc does not see."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):
        return None  # not glibc, or older than 2.33
    mallinfo2.restype = _MallInfo2
    return mallinfo2().uordblks // 1024


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _memory_child(kind: str, plan_id: int, renders: int, trace: bool) -> dict:
    """In the fresh process: render ``renders`` times; RSS and the C heap in use after the
    first, the 100th and the last render. With ``trace``, also the Python heap (tracemalloc,
    after a full collection so that garbage awaiting the cycle collector does not count) and
    the allocations that grew."""
    result: dict = {}
    with renderer(os.environ["BENCH_DATABASE_URL"], os.environ["BENCH_DATA_KEYS"], kind) as one:
        if trace:
            tracemalloc.start(TRACE_FRAMES)
        before = None
        for number in range(1, renders + 1):
            one(plan_id)
            if number == 1:
                result["rss_first_kib"] = rss_kib()
            if number == BASELINE_AT:
                result["rss_baseline_kib"] = rss_kib()
                result["malloc_baseline_kib"] = malloc_in_use_kib()
                if trace:
                    gc.collect()
                    result["python_baseline_kib"] = tracemalloc.get_traced_memory()[0] // 1024
                    before = tracemalloc.take_snapshot()
        result["rss_last_kib"] = rss_kib()
        result["malloc_last_kib"] = malloc_in_use_kib()
        if before is not None:
            gc.collect()
            result["python_last_kib"] = tracemalloc.get_traced_memory()[0] // 1024
            after = tracemalloc.take_snapshot()
            noise = (tracemalloc.__file__, "<frozen importlib._bootstrap>")
            filters = [tracemalloc.Filter(False, pattern) for pattern in noise]
            diff = after.filter_traces(filters).compare_to(
                before.filter_traces(filters), "traceback"
            )
            result["growth_top"] = [
                {
                    "size_diff": stat.size_diff,
                    "count_diff": stat.count_diff,
                    "traceback": stat.traceback.format(limit=TRACE_FRAMES),
                }
                for stat in diff[:5]
            ]
    return result


def measure_memory(
    database_url: str, data_keys: str, plan_id: int, kind: str, renders: int, trace: bool = False
) -> dict:
    """Run one fresh process rendering ``kind`` ``renders`` times; its figures as a dict."""
    if renders <= BASELINE_AT:
        raise ValueError(f"growth is measured after render {BASELINE_AT}: render more than that")
    env = {**os.environ, "BENCH_DATABASE_URL": database_url, "BENCH_DATA_KEYS": data_keys}
    command = [sys.executable, __file__, "--memory-child", kind, str(plan_id), str(renders)]
    if trace:
        command.append("--trace")
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"memory child failed ({out.returncode}):\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    baseline, last = result["rss_baseline_kib"], result["rss_last_kib"]
    result["growth_pct"] = 100 * (last - baseline) / baseline
    return result


def bench_memory(
    database_url: str,
    data_keys: str,
    plan_id: int,
    renders: int = 1000,
    *,
    investigate: bool = True,
) -> list[tuple[str, float, float, float]]:
    """A fresh worker's RSS after render 100 and after the last, for handout and session plan.

    Over the goal, with ``investigate``, a second, traced run (to render 100 + TRACE_AFTER only:
    tracing is slow) shows whether the Python heap or the C heap (the native libraries:
    Pango, HarfBuzz, cairo...) grows, and the Python allocations that grew the most.
    """
    rows = []
    results = {}
    traced = {}
    for kind in KINDS:
        result = results[kind] = measure_memory(database_url, data_keys, plan_id, kind, renders)
        rows.append(
            (
                kind,
                result["rss_baseline_kib"] / 1024,
                result["rss_last_kib"] / 1024,
                result["growth_pct"],
            )
        )
        if investigate and result["growth_pct"] > GOAL_GROWTH:
            traced[kind] = measure_memory(
                database_url, data_keys, plan_id, kind, BASELINE_AT + TRACE_AFTER, True
            )
    print(f"\nMemory of a fresh worker over {renders} renders (goal: ≤ {GOAL_GROWTH:.0f}% growth)")
    print(f"{'what':<30} {'RSS @100 MiB':>13} {f'RSS @{renders} MiB':>14} {'growth':>8}")
    for kind, baseline, last, growth in rows:
        print(f"{kind:<30} {baseline:>13.1f} {last:>14.1f} {growth:>7.1f}%")
    for kind, result in traced.items():
        print(f"\n{kind}: what grows, per render after render {BASELINE_AT}")
        python = (result["python_last_kib"] - result["python_baseline_kib"]) / TRACE_AFTER
        print(f"  Python heap (tracemalloc after gc, traced run): {python:+.1f} KiB")
        plain = results[kind]
        if plain["malloc_baseline_kib"] is not None:
            # From the untraced run: tracemalloc's own bookkeeping is C heap too.
            native = plain["malloc_last_kib"] - plain["malloc_baseline_kib"]
            per_render = native / (renders - BASELINE_AT)
            print(f"  C heap in use (mallinfo2, untraced run): {per_render:+.1f} KiB")
        print("  Python allocations that grew the most (traced run):")
        for stat in result["growth_top"]:
            print(f"  +{stat['size_diff'] / 1024:.1f} KiB in {stat['count_diff']:+d} blocks")
            for line in stat["traceback"]:
                print(f"    {line}")
    return rows


# ------------------------------------------------------------------------------ on its own
def first_plan_id(database_url: str, data_keys: str) -> int:
    with throwaway_app(database_url, data_keys) as app, app.app_context():
        plan_id = db.session.scalar(select(SessionPlan.id).order_by(SessionPlan.id))
    if plan_id is None:
        raise RuntimeError("no session plan in this database")
    return plan_id


def main() -> None:
    import logging

    from cryptography.fernet import Fernet

    from counselor_app import demo
    from counselor_app.schema import upgrade

    quick = "--quick" in sys.argv
    logging.getLogger("alembic").setLevel(logging.WARNING)
    keys = Fernet.generate_key().decode()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/pdfs.sqlite3"
        with throwaway_app(url, keys) as app, app.app_context():
            upgrade()
            demo.build(demo.DEMO, password="benchmark passphrase 1")
        plan_id = first_plan_id(url, keys)
        bench_pool(url, keys, plan_id, count=20 if quick else 100)
        bench_memory(url, keys, plan_id, renders=200 if quick else 1000)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--memory-child"]:
        kind, plan_id, renders = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(_memory_child(kind, plan_id, renders, "--trace" in sys.argv)))
    else:
        main()
