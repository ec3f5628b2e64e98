"""Over real HTTP: page times through gunicorn, and throughput under load with wrk.

``bench_load`` starts gunicorn (the worker count the README recommends: 2 × cores) against a
PostgreSQL database, signs in over HTTP, then drives the main pages, the cheapest signed-in page
and the trivial ``/healthz`` with wrk at 16 and 64 connections, so the table shows our pages
beside the framework's ceiling and beside what signing in alone costs.

Run on its own (``python tests/benchmarks/load.py [--quick]``) it starts a throwaway cluster and
fills it with a mid-sized demo practice first.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(ROOT)]

import psycopg  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

import pgcluster  # noqa: E402
from bench_pages import AUDIT_KEYS, throwaway_app  # noqa: E402
from counselor_app import demo  # noqa: E402
from counselor_app.extensions import db  # noqa: E402
from counselor_app.models import Appointment, Couple, SessionPlan, Therapist  # noqa: E402
from counselor_app.schema import upgrade  # noqa: E402

# timed, print_table and PASSWORD come from run.py, imported where used: run.py imports this
# module, and a top-level import back would be circular.

VENV_BIN = ROOT / ".venv" / "bin"
SECRET_KEY = "load benchmark secret key, not for production"
COOKIE_NAME = "counselor_session"
# Flask-Login's "basic" session protection hashes the address and the User-Agent: every client
# here (sign-in, page timings, wrk) sends the same one.
USER_AGENT = "counselor-bench"
RESULT_PREFIX = "WRK-RESULT"
# The cheapest page a signed-in therapist can ask for (a short form, no client data, nothing
# audited): what signing in, the session and the page frame cost before any page's own work.
SIGNED_IN_FLOOR = "/account/password"

# wrk's Lua side. One Lua state per wrk thread: each rotates through the pages (and the signed-in
# sessions, when there are several) on its own, counts what is not a 2xx (a 302 to /login means
# the cookie no longer signs in: an error here), and done() adds the threads' counts (setup()
# kept a handle on each thread) and prints one line.
WRK_SCRIPT = """
local paths = {%(paths)s}
local cookies = {%(cookies)s}
local threads = {}
local counter = 0
non2xx = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.headers["User-Agent"] = "%(agent)s"
end

function request()
  counter = counter + 1
  wrk.headers["Cookie"] = cookies[(counter %% #cookies) + 1]
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    "%(prefix)s requests=%%d duration_us=%%d p50_us=%%d p95_us=%%d max_us=%%d non2xx=%%d "
    .. "connect=%%d read=%%d write=%%d timeout=%%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency.max, bad, e.connect, e.read, e.write, e.timeout))
end
"""


def default_workers() -> int:
    """The README's starting point: 2 × cores."""
    return 2 * (os.cpu_count() or 1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(base_url: str, server: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, _, _ = _request(base_url, "/healthz")
            if status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(
        f"gunicorn did not answer /healthz within {timeout:.0f} s:\n{log.read_text()}"
    )


@contextlib.contextmanager
def serve(
    database_url: str,
    data_keys: str,
    workers: int | None = None,
    *,
    worker_class: str = "sync",
    threads: int = 1,
) -> Iterator[str]:
    """Run gunicorn on 127.0.0.1 and a free port; yield its base URL; stop it afterwards.

    Sync workers by default, deliberately: that is what the README deploys (`gunicorn --workers
    N`, nginx in front), and the pages are CPU-bound Python (templates, ORM, decryption), so on
    a 2-core machine threads inside a worker only take turns on the GIL. gthread's one gain,
    keep-alive, is what nginx's upstream connections do without anyway (HTTP/1.0 by default).
    Measured on 2 cores (5 s runs, 16 and 64 connections): 2, 4 and 6 sync workers served the
    main pages at 130–160 req/s alike, 2 gthread workers of 4 threads at 83–129 req/s. Pass
    ``workers``, ``worker_class="gthread"`` and ``threads`` to compare again.
    """
    workers = workers or default_workers()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "COUNSELOR_DATA_KEYS": data_keys,
        "COUNSELOR_AUDIT_KEYS": AUDIT_KEYS,
        "SECRET_KEY": SECRET_KEY,
    }
    with tempfile.TemporaryDirectory(prefix="counselor-gunicorn-") as folder:
        log = Path(folder) / "gunicorn.log"
        command = [
            str(VENV_BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            worker_class,
            "--threads",
            str(threads),
            # The listen queue holds the connections the busy workers have not accepted yet.
            "--backlog",
            "2048",
            "--error-logfile",
            str(log),
            "counselor_app.wsgi:app",
        ]
        with log.open("w") as handle:
            server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=handle, stderr=handle)
        try:
            _wait_healthy(base_url, server, log, timeout=60)
            yield base_url
        finally:
            server.terminate()  # SIGTERM: gunicorn's graceful shutdown
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _connection(base_url: str) -> http.client.HTTPConnection:
    parts = urlsplit(base_url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)


def _request(
    base_url: str,
    path: str,
    *,
    method: str = "GET",
    cookie: str = "",
    form: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, str]:
    """One request on a new connection: status, headers and body text."""
    headers = {"User-Agent": USER_AGENT}
    body = None
    if cookie:
        headers["Cookie"] = cookie
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection = _connection(base_url)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def _session_cookie(headers: http.client.HTTPMessage, current: str) -> str:
    """The session cookie a response sets, else the one we had."""
    for header in headers.get_all("Set-Cookie") or ():
        jar = SimpleCookie()
        jar.load(header)
        if COOKIE_NAME in jar:
            return f"{COOKIE_NAME}={jar[COOKIE_NAME].value}"
    return current


def sign_in(base_url: str, email: str, password: str) -> str:
    """Sign in like a browser; return the Cookie header value of the signed-in session."""
    status, headers, page = _request(base_url, "/login")
    if status != 200:
        raise RuntimeError(f"GET /login answered {status}")
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    if match is None:
        raise RuntimeError("no csrf-token meta tag on the sign-in page")
    cookie = _session_cookie(headers, "")
    form = {"csrf_token": match.group(1), "email": email, "password": password}
    status, headers, _ = _request(base_url, "/login", method="POST", cookie=cookie, form=form)
    if status != 302 or urlsplit(headers.get("Location", "")).path == "/login":
        raise RuntimeError(f"sign-in as {email} failed ({status})")
    cookie = _session_cookie(headers, cookie)
    # Follow the redirect once: that shows (and so drops) the "Signed in as" flash, which would
    # otherwise ride along in every request of the benchmark.
    status, headers, _ = _request(base_url, headers["Location"], cookie=cookie)
    if status != 200:
        raise RuntimeError(f"the page after sign-in answered {status}")
    return _session_cookie(headers, cookie)


def http_page_times(
    base_url: str, cookie: str, pages: dict[str, str], repeat: int
) -> list[tuple[str, tuple[float, float, float]]]:
    """Median, p95 and max ms per page for sequential requests over real HTTP.

    One http.client connection, reused while the server keeps it alive (gthread); sync workers
    close after each response and http.client reconnects, so the time includes the connect.
    """
    from run import timed

    connection = _connection(base_url)
    headers = {"Cookie": cookie, "User-Agent": USER_AGENT} if cookie else {"User-Agent": USER_AGENT}
    rows = []
    try:
        for name, path in pages.items():

            def get(path: str = path) -> None:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"GET {path} answered {response.status}")

            # Every worker answers some of the timed requests: each first builds its templates
            # and connections, which is start-up, not the page (timed() warms only one).
            for _ in range(2 * default_workers()):
                get()
            rows.append((name, timed(get, repeat)))
    finally:
        connection.close()
    return rows


def load(
    base_url: str, cookie: str | list[str], urls: list[str], connections: int, seconds: int
) -> dict[str, float]:
    """Drive ``urls`` in turn with wrk for ``seconds``: requests/s, latency and errors. A list
    of cookies: the requests go to each signed-in session in turn (several therapists).

    ``errors`` counts every response that is not a 2xx (a redirect to the sign-in page included)
    and every socket error (connect, read, write, timeout).
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is missing: apt-get install -y wrk")
    script = WRK_SCRIPT % {
        "paths": ", ".join(f'"{url}"' for url in urls),
        "cookies": ", ".join(f'"{c}"' for c in ([cookie] if isinstance(cookie, str) else cookie)),
        "agent": USER_AGENT,
        "prefix": RESULT_PREFIX,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="counselor-wrk-") as handle:
        handle.write(script)
        handle.flush()
        command = [
            wrk,
            f"--threads={min(connections, 2)}",
            f"--connections={connections}",
            f"--duration={seconds}s",
            # Queueing at 64 connections is part of what is measured, not a failure.
            "--timeout=10s",
            f"--script={handle.name}",
            base_url,
        ]
        out = subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=seconds + 60
        )
    line = next((x for x in out.stdout.splitlines() if x.startswith(RESULT_PREFIX)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    raw = {key: int(value) for key, value in (f.split("=") for f in line.split()[1:])}
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "non2xx": raw["non2xx"],
        "socket_errors": socket_errors,
        "errors": raw["non2xx"] + socket_errors,
    }


def print_load_table(title: str, rows: list[tuple[str, dict[str, float], float | None]]) -> None:
    print(f"\n{title}")
    print(
        f"{'what':<36} {'req/s':>9} {'p50 ms':>9} {'p95 ms':>9} {'errors':>7} {'pages/healthz':>14}"
    )
    for name, result, ratio in rows:
        shown = f"{ratio:.2f}" if ratio is not None else ""
        print(
            f"{name:<36} {result['rps']:>9.1f} {result['p50_ms']:>9.1f} {result['p95_ms']:>9.1f} "
            f"{result['errors']:>7d} {shown:>14}"
        )


def bench_load(
    database_url: str,
    data_keys: str,
    email: str,
    password: str,
    urls: list[str],
    quick: bool,
    *,
    workers: int | None = None,
    worker_class: str = "sync",
    threads: int = 1,
) -> list[tuple[str, dict[str, float], float | None]]:
    """The throughput table: mixed pages, the signed-in floor and /healthz at 16 and 64
    connections.

    Goals: pages at least 0.3 of /healthz's requests/s at the same concurrency, zero errors.
    """
    workers = workers or default_workers()
    seconds = 5 if quick else 20
    rows: list[tuple[str, dict[str, float], float | None]] = []
    with serve(database_url, data_keys, workers, worker_class=worker_class, threads=threads) as (
        base_url
    ):
        cookie = sign_in(base_url, email, password)
        # Warm every worker (imports, templates, connection pool) before anything is counted.
        load(base_url, cookie, urls, connections=2 * workers, seconds=2)
        for connections in (16, 64):
            pages = load(base_url, cookie, urls, connections, seconds)
            floor = load(base_url, cookie, [SIGNED_IN_FLOOR], connections, seconds)
            ceiling = load(base_url, cookie, ["/healthz"], connections, seconds)
            rows += [
                (f"main pages ({len(urls)}), {connections} conn.", pages, _ratio(pages, ceiling)),
                (f"signed-in floor, {connections} conn.", floor, _ratio(floor, ceiling)),
                (f"/healthz, {connections} conn.", ceiling, None),
            ]
    kind = worker_class if threads == 1 else f"{worker_class} ({threads} threads)"
    print_load_table(
        f"Throughput under load (gunicorn {workers} {kind} workers, wrk, {seconds} s per run)",
        rows,
    )
    return rows


def _ratio(result: dict[str, float], ceiling: dict[str, float]) -> float:
    return result["rps"] / ceiling["rps"] if ceiling["rps"] else 0.0


def main_pages(database_url: str, data_keys: str, email: str) -> dict[str, str]:
    """The main pages of one of ``email``'s couples with a plan and a held appointment."""
    with throwaway_app(database_url, data_keys) as app, app.app_context():
        # The couple with the longest history: the heaviest progress page of the practice.
        couple_id, plan_id, appointment_id = db.session.execute(
            select(Couple.id, func.max(SessionPlan.id), func.max(Appointment.id))
            .join(Therapist, Therapist.id == Couple.therapist_id)
            .join(SessionPlan, SessionPlan.couple_id == Couple.id)
            .join(Appointment, Appointment.couple_id == Couple.id)
            .where(Therapist.email == email)
            .group_by(Couple.id)
            .order_by(func.count(Appointment.id).desc(), Couple.id)
            .limit(1)
        ).one()
    couple = f"/couples/{couple_id}"
    return {
        "dashboard": "/",
        "couple page": couple,
        "assessment": f"{couple}/assessment",
        "plan editor": f"{couple}/plans/{plan_id}/edit",
        "appointment page": f"{couple}/appointments/{appointment_id}",
        "progress page": f"{couple}/progress",
    }


def main() -> None:
    import logging

    from run import PASSWORD, print_table

    quick = "--quick" in sys.argv
    logging.getLogger("alembic").setLevel(logging.WARNING)
    size = demo.Size(therapists=5, couples=500, appointments=10_000, issue_documents=False)
    cluster = pgcluster.start()
    try:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE counselor_load")
        url = cluster.url("counselor_load")
        keys = Fernet.generate_key().decode()
        with throwaway_app(url, keys) as app, app.app_context():
            upgrade()
            email = demo.build(size, password=PASSWORD).therapists[0][0]
        pages = main_pages(url, keys, email)
        with serve(url, keys) as base_url:
            cookie = sign_in(base_url, email, PASSWORD)
            repeat = 20 if quick else 100
            rows = http_page_times(base_url, "", {"login (signed out)": "/login"}, repeat)
            rows += http_page_times(base_url, cookie, pages, repeat)
            print_table(f"PostgreSQL over HTTP, gunicorn ({size.couples} couples)", rows)
        bench_load(url, keys, email, PASSWORD, list(pages.values()), quick)
    finally:
        cluster.stop()


if __name__ == "__main__":
    # wrk and gunicorn are children: Ctrl-C should still stop the cluster in main()'s finally.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    main()
