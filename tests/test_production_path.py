"""The README's production path, for real: the wheel installed with pip into a fresh venv,
the settings in an env file, PostgreSQL owned by the app's own role, gunicorn (two workers)
behind Debian's nginx over HTTPS, the daily backup as cron runs it, the venv rebuilt, and the
backup restored onto a new database.

The files in deploy/ are what runs: nginx's server block, the gunicorn command line and its
environment (counselor.service), the env file, the admin's wrapper (counselor-flask) and the
backup command (crontab.example and counselor-backup.service) are read from there, with only
their paths, ports and the user switch changed for a temporary folder. The browser side
believes it is at https://counselor.example.org (the name in nginx's block, sent as SNI, Host
and Referer) while it connects to nginx's loopback port, as a browser would through DNS.

`pytest -s tests/test_production_path.py` prints how long each step took.
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import ipaddress
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import psycopg
import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_packaging import build_wheel

import pgcluster
from conftest import CSRF_META, PASSWORD
from host_support import COUPLE_FORM

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SERVER_NAME = "counselor.example.org"
# The production paths in deploy/, and where each goes in the test's temporary folder.
PRODUCTION_PATHS = {
    "/srv/counselor/venv": "srv/venv",
    "/var/lib/counselor": "var/lib/counselor",
    "/run/counselor": "run/counselor",
    "/var/backups/counselor": "var/backups/counselor",
    "/etc/counselor/env": "etc/env",
    "/var/log/nginx": "var/log/nginx",
    f"/etc/letsencrypt/live/{SERVER_NAME}": "etc/tls",
}
# What systemd gives a service besides its Environment= and EnvironmentFile= settings.
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# A partner's personal link: never in a log line (nginx's log format, the app's log filter).
PARTNER_TOKEN = "Pt" + "x" * 40


# ------------------------------------------------------------------------------- the timing
@dataclass
class Steps:
    """How long each step took; printed at the end (`pytest -s`)."""

    times: list[tuple[str, float]] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.times.append((name, time.monotonic() - started))

    def report(self) -> str:
        lines = [f"  {seconds:6.1f} s  {name}" for name, seconds in self.times]
        total = sum(seconds for _, seconds in self.times)
        return "\n".join(["production path:", *lines, f"  {total:6.1f} s  in all"])


# ------------------------------------------------------------------ the folder and its files
@dataclass
class Site:
    """The temporary machine: a folder standing for /, the ports nginx listens on."""

    root: Path
    https_port: int
    http_port: int

    def local(self, text: str) -> str:
        """A deploy/ file's text with its production paths moved into the folder."""
        for production, here in PRODUCTION_PATHS.items():
            text = text.replace(production, str(self.root / here))
        return text

    def path(self, production: str) -> Path:
        return Path(self.local(production))

    @property
    def venv(self) -> Path:
        return self.path("/srv/counselor/venv")

    @property
    def env_file(self) -> Path:
        return self.path("/etc/counselor/env")

    @property
    def socket(self) -> Path:
        return self.path("/run/counselor/gunicorn.sock")


def replace_once(text: str, old: str, new: str) -> str:
    """A deploy file changed under the test fails here, not with a puzzling error later."""
    assert text.count(old) == 1, f"expected {old!r} once in the deploy file"
    return text.replace(old, new)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def env_values(path: Path) -> dict[str, str]:
    """An env file as systemd's EnvironmentFile= reads ours: NAME="value" lines, # comments."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            [assignment] = shlex.split(line)
            name, _, value = assignment.partition("=")
            values[name] = value
    return values


def write_env_file(site: Site, settings: dict[str, str]) -> None:
    """deploy/env.example with its values filled in, as the README's first install does."""
    lines = []
    for line in (DEPLOY / "env.example").read_text().splitlines():
        name = line.partition("=")[0]
        if line and not line.startswith("#"):
            assert name in settings, f"env.example sets {name}: the test does not know it"
            line = f'{name}="{settings[name]}"'
        lines.append(line)
    site.env_file.parent.mkdir(parents=True, exist_ok=True)
    site.env_file.write_text("\n".join(lines) + "\n")
    site.env_file.chmod(0o600)


def unit_settings(unit: str) -> list[tuple[str, str]]:
    """A systemd unit's Key=value lines (continuations joined)."""
    joined = re.sub(r"\\\n\s*", " ", unit)
    return [
        tuple(line.split("=", 1))
        for line in joined.splitlines()
        if "=" in line and not line.startswith(("#", ";"))
    ]


def systemd_unescape(command: str) -> str:
    return command.replace("$$", "$").replace("%%", "%")


def service_environment(site: Site, unit: str) -> dict[str, str]:
    """What systemd gives the service: PATH, HOME, Environment= and EnvironmentFile=."""
    env = {"PATH": SYSTEMD_PATH, "HOME": str(site.path("/var/lib/counselor")), "LANG": "C.UTF-8"}
    for key, value in unit_settings(unit):
        if key == "Environment":
            name, _, setting = value.partition("=")
            env[name] = setting
        elif key == "EnvironmentFile":
            assert value == str(site.env_file)
            env.update(env_values(site.env_file))
    return env


# ------------------------------------------------------------------------------- certificate
def self_signed_certificate(folder: Path) -> Path:
    """A certificate for SERVER_NAME at the paths nginx.conf names; returns the one to trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    (folder / "fullchain.pem").write_bytes(pem)
    private = folder / "privkey.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    return folder / "fullchain.pem"


# ------------------------------------------------------------------------------------ nginx
def nginx_config(site: Site) -> Path:
    """deploy/nginx.conf on loopback ports, inside a main config that keeps every file nginx
    writes in the folder. Run as root, the workers run as root too (they read the folder)."""
    block = site.local((DEPLOY / "nginx.conf").read_text())
    block = replace_once(
        block, "    listen 443 ssl;\n", f"    listen 127.0.0.1:{site.https_port} ssl;\n"
    )
    block = replace_once(block, "    listen [::]:443 ssl;\n", "")
    block = replace_once(block, "    listen 80;\n", f"    listen 127.0.0.1:{site.http_port};\n")
    block = replace_once(block, "    listen [::]:80;\n", "")
    folder = site.root / "nginx"
    folder.mkdir()
    site.path("/var/log/nginx").mkdir(parents=True, exist_ok=True)
    (folder / "counselor.conf").write_text(block)
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = f"""{user}worker_processes 1;
daemon off;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} info;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log {folder / "access.log"};
{temp}
    include {folder / "counselor.conf"};
}}
"""
    (folder / "nginx.conf").write_text(main)
    return folder / "nginx.conf"


def nginx_command(site: Site, config: Path, *extra: str) -> list[str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    folder = config.parent
    return [nginx, "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log"), *extra]


# ---------------------------------------------------------------------------------- browser
class Loopback(http.client.HTTPSConnection):
    """HTTPS to nginx's loopback port, with the server's name for SNI and the certificate."""

    def connect(self) -> None:
        raw = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


@dataclass
class Page:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    url: str

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def csrf_token(self) -> str:
        match = CSRF_META.search(self.text)
        assert match, f"no CSRF token on {self.url}"
        return match.group(1)


class Browser:
    """Keeps cookies, follows redirects, sends Referer (the page a form came from) and Origin
    as a browser does, and trusts the test's certificate (verified, name and all)."""

    def __init__(self, port: int, cafile: Path) -> None:
        self.port = port
        self.context = ssl.create_default_context(cafile=str(cafile))
        self.cookies = SimpleCookie()
        self.page_url = f"https://{SERVER_NAME}/"

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Page:
        connection = Loopback(SERVER_NAME, self.port, context=self.context, timeout=60)
        headers = {
            "Host": SERVER_NAME,
            "User-Agent": "counselor-production-test",
            "Referer": self.page_url,
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={m.value}" for k, m in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"https://{SERVER_NAME}"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            page = Page(
                response.status, response.headers, response.read(), f"https://{SERVER_NAME}{path}"
            )
        finally:
            connection.close()
        for header in page.headers.get_all("Set-Cookie") or []:
            self.cookies.load(header)
        return page

    def go(self, method: str, path: str, form: dict[str, str] | None = None) -> Page:
        """One request and the redirects after it, as a browser follows them."""
        page = self.request(method, path, form)
        for _ in range(5):
            if page.status not in (301, 302, 303):
                break
            target = urlsplit(urljoin(page.url, page.headers["Location"]))
            assert (target.scheme, target.hostname) == ("https", SERVER_NAME), target
            page = self.request("GET", target.path + (f"?{target.query}" if target.query else ""))
            page.url = target.geturl()
        if page.headers.get_content_type() == "text/html":
            self.page_url = page.url.split("#")[0]
        return page

    def get(self, path: str) -> Page:
        return self.go("GET", path)

    def submit(self, page: Page, path: str, form: dict[str, str] | None = None) -> Page:
        """Send a form from ``page`` (its CSRF token, and it as the Referer)."""
        self.page_url = page.url.split("#")[0]
        return self.go("POST", path, {"csrf_token": page.csrf_token(), **(form or {})})

    def sign_in(self, email: str, password: str) -> Page:
        login = self.get("/login")
        assert login.status == 200, login.status
        page = self.submit(login, "/login", {"email": email, "password": password})
        assert page.status == 200 and "Sign out" in page.text, (page.status, page.text[:2000])
        return page


# ------------------------------------------------------------------------------- processes
def run(command: list[str], env: dict[str, str], *, cwd: Path, stdin: str = "") -> str:
    result = subprocess.run(
        command, env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, (command, result.stdout[-3000:], result.stderr[-3000:])
    return result.stdout


def stop(process: subprocess.Popen | None, how: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(how)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Production:
    """The temporary machine and what runs on it."""

    site: Site
    cluster: pgcluster.Cluster
    cafile: Path
    unit: str
    gunicorn: subprocess.Popen | None = None
    nginx: subprocess.Popen | None = None
    gunicorn_logs: list[Path] = field(default_factory=list)

    def install(self, wheel: Path) -> None:
        """The README's install: a venv, then the wheel with the prod extra, by pip."""
        venv = self.site.venv
        run([sys.executable, "-m", "venv", str(venv)], dict(os.environ), cwd=self.site.root)
        requirement = f"counselor_app[prod] @ {wheel.as_uri()}"
        run(
            [str(venv / "bin" / "pip"), "install", "-q", requirement],
            {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
            cwd=self.site.root,
        )

    def flask(self, *arguments: str, stdin: str = "") -> str:
        """deploy/counselor-flask as root runs it, without the switch to the counselor user
        (the test has no such user): the env file sourced by sh, then the venv's flask."""
        script = self.site.local((DEPLOY / "counselor-flask").read_text())
        script = replace_once(script, "runuser -u counselor -- ", "")
        wrapper = self.site.root / "counselor-flask"
        wrapper.write_text(script)
        wrapper.chmod(0o700)
        return run(
            [str(wrapper), *arguments],
            {"PATH": SYSTEMD_PATH, "LANG": "C.UTF-8"},
            cwd=self.site.root,
            stdin=stdin,
        )

    def start_gunicorn(self) -> None:
        self.launch_gunicorn()
        self.wait_until_served()

    def refused_start(self) -> str:
        """gunicorn started as the service starts it, expected to stop: what it logged."""
        self.launch_gunicorn()
        assert self.gunicorn is not None
        try:
            self.gunicorn.wait(timeout=90)
        except subprocess.TimeoutExpired:
            pytest.fail("gunicorn started although it should have refused to")
        assert self.gunicorn.returncode != 0
        self.gunicorn = None
        return self.gunicorn_logs[-1].read_text()

    def launch_gunicorn(self) -> None:
        """counselor.service's ExecStart, in its environment and working directory."""
        settings = dict(unit_settings(self.unit))
        command = shlex.split(systemd_unescape(settings["ExecStart"]))
        command[command.index("--workers") + 1] = "2"  # the test machine has two cores
        self.site.socket.parent.mkdir(parents=True, exist_ok=True)
        self.site.socket.parent.chmod(0o750)
        log = self.site.root / f"gunicorn-{len(self.gunicorn_logs) + 1}.log"
        self.gunicorn_logs.append(log)
        with log.open("wb") as output:
            self.gunicorn = subprocess.Popen(
                command,
                env=service_environment(self.site, self.unit),
                cwd=settings["WorkingDirectory"],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop_gunicorn(self) -> None:
        stop(self.gunicorn)
        self.gunicorn = None

    def start_nginx(self) -> None:
        config = nginx_config(self.site)
        tested = subprocess.run(
            nginx_command(self.site, config, "-t"), capture_output=True, text=True, check=False
        )
        assert tested.returncode == 0, tested.stderr
        self.nginx = subprocess.Popen(
            nginx_command(self.site, config),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_until_served(self) -> None:
        """/healthz through nginx: 502 until a gunicorn worker answers on the socket."""
        browser = Browser(self.site.https_port, self.cafile)
        deadline = time.monotonic() + 90
        while True:
            assert self.gunicorn is not None
            if self.gunicorn.poll() is not None:
                pytest.fail(f"gunicorn stopped:\n{self.gunicorn_logs[-1].read_text()[-4000:]}")
            try:
                if browser.request("GET", "/healthz").status == 200:
                    return
            except (ConnectionError, ssl.SSLError, OSError):
                pass  # nginx not listening yet
            assert time.monotonic() < deadline, self.gunicorn_logs[-1].read_text()[-4000:]
            time.sleep(0.2)

    def logs(self) -> str:
        nginx = self.site.root / "nginx"
        files = [*self.gunicorn_logs, *self.site.path("/var/log/nginx").iterdir()]
        files += [nginx / "access.log", nginx / "error.log"]
        return "\n".join(path.read_text() for path in files if path.exists())

    def close(self) -> None:
        self.stop_gunicorn()
        stop(self.nginx, signal.SIGQUIT)


def create_database(cluster: pgcluster.Cluster, role: str, name: str, *, new_role: bool) -> None:
    """The README's SQL: a role that owns the database (PostgreSQL 15 gives the public schema
    to the database's owner, not to everyone)."""
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        if new_role:
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'not-checked-here'")
        conn.execute(f"CREATE DATABASE {name} OWNER {role}")


def drop_databases(cluster: pgcluster.Cluster, role: str, names: list[str]) -> None:
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        for name in names:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"DROP ROLE IF EXISTS {role}")


def database_url(cluster: pgcluster.Cluster, role: str, name: str) -> str:
    return (
        f"postgresql://{role}:not-checked-here@/{name}"
        f"?host={cluster.socket_dir}&port={pgcluster.PORT}"
    )


def cron_command(site: Site) -> str:
    """crontab.example's job line: what cron hands to /bin/sh (\\% is cron's escape)."""
    [line] = [
        line
        for line in (DEPLOY / "crontab.example").read_text().splitlines()
        if line and not line.startswith("#") and not re.match(r"^[A-Z]+=", line)
    ]
    command = line.split(None, 5)[5]
    return site.local(command.replace("\\%", "%"))


def backup_check(site: Site) -> str:
    """The check in the cron job's command: from ``test -s`` up to the pruning."""
    parts = cron_command(site).split(" && ")
    start = next(i for i, part in enumerate(parts) if part.startswith("test -s"))
    end = next(i for i, part in enumerate(parts) if part.startswith("find "))
    return " && ".join(parts[start:end])


def backup_service_command(site: Site) -> str:
    """counselor-backup.service's ExecStart: the script it hands to /bin/sh."""
    unit = (DEPLOY / "counselor-backup.service").read_text()
    [shell, flag, script] = shlex.split(systemd_unescape(dict(unit_settings(unit))["ExecStart"]))
    assert (shell, flag) == ("/bin/sh", "-c")
    return site.local(script)


def handout_plan(cluster: pgcluster.Cluster, name: str) -> tuple[int, int]:
    """A demo couple whose plan has an issued handout: (couple id, plan id)."""
    with psycopg.connect(cluster.conninfo(name)) as conn:
        row = conn.execute(
            "SELECT d.couple_id, d.plan_id FROM counselor_issued_document d "
            "WHERE d.kind = 'handout' ORDER BY d.id LIMIT 1"
        ).fetchone()
    assert row, "the demo practice issued no handout"
    return row


def sign_in_addresses(cluster: pgcluster.Cluster, name: str) -> set[str]:
    """The client addresses the audit trail recorded for sign-ins."""
    with psycopg.connect(cluster.conninfo(name)) as conn:
        rows = conn.execute(
            "SELECT DISTINCT address FROM counselor_audit_event WHERE action = 'login_success'"
        ).fetchall()
    return {address for (address,) in rows}


def document_id(page: Page) -> int:
    match = re.search(r"#document-(\d+)$", page.url)
    assert match, page.url
    return int(match.group(1))


# -------------------------------------------------------------------------------- the test
@pytest.fixture
def production(pg_cluster: pgcluster.Cluster) -> Iterator[Production]:
    if os.environ.get("PGHOST"):
        pytest.fail("PGHOST is set: the suite's PostgreSQL must be reached by its URL only")
    root = Path(tempfile.mkdtemp(prefix="counselor-prod-"))  # short: unix socket paths
    root.chmod(0o700)
    site = Site(root, https_port=free_port(), http_port=free_port())
    unit = site.local((DEPLOY / "counselor.service").read_text())
    cafile = self_signed_certificate(site.path(f"/etc/letsencrypt/live/{SERVER_NAME}"))
    machine = Production(site, pg_cluster, cafile, unit)
    try:
        yield machine
    finally:
        machine.close()
        drop_databases(pg_cluster, "counselor_prod", ["counselor_prod", "counselor_restored"])
        shutil.rmtree(root, ignore_errors=True)


def test_the_documented_production_path(production: Production, tmp_path: Path) -> None:
    steps = Steps()
    try:
        run_production_path(production, steps, tmp_path)
    except BaseException:
        print("\n--- the servers' logs (last 6,000 characters):\n" + production.logs()[-6000:])
        raise
    finally:
        print("\n" + steps.report())


def run_production_path(production: Production, steps: Steps, tmp_path: Path) -> None:
    site, cluster = production.site, production.cluster
    with steps.step("build the wheel"):
        wheel = build_wheel(ROOT, tmp_path / "wheel")
    with steps.step("venv and pip install of the wheel with [prod]"):
        production.install(wheel)

    # First install: the role and database, the env file with keys made once, the folders.
    with steps.step("first install: database, env file, setup, accounts"):
        create_database(cluster, "counselor_prod", "counselor_prod", new_role=True)
        instance = site.path("/var/lib/counselor/instance")
        instance.mkdir(parents=True, mode=0o700)
        settings = {
            "COUNSELOR_ENV": "production",
            "DATABASE_URL": database_url(cluster, "counselor_prod", "counselor_prod"),
            "SECRET_KEY": secrets.token_hex(32),
            "COUNSELOR_DATA_KEYS": Fernet.generate_key().decode(),
            "COUNSELOR_INSTANCE_PATH": str(instance),
            "COUNSELOR_PROXY_FIX": "true",
        }
        write_env_file(site, settings)
        output = production.flask("counselor", "setup")
        email = re.search(r"email:\s+(\S+)", output).group(1)
        owner_password = "harbour lights over a quiet bay"
        production.flask(
            "counselor",
            "therapist",
            "set-password",
            email,
            "--password-stdin",
            stdin=f"{owner_password}\n",
        )
        demo = production.flask(
            "counselor",
            "demo-data",
            "--therapists",
            "1",
            "--couples",
            "4",
            "--appointments",
            "8",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        assert "4 couples" in demo, demo
        # The instance folder is the env file's, outside the venv (setup recorded the database
        # there), and nothing landed in the venv's own default one.
        assert (instance / "production").is_file(), sorted(instance.iterdir())
        assert not list(site.venv.glob("var/counselor_app-instance*")), "instance in the venv"

    with steps.step("start nginx and gunicorn (2 workers)"):
        production.start_nginx()
        production.start_gunicorn()
        assert stat_mode(site.socket.parent) == 0o750

    with steps.step("through nginx: sign in, a couple, issue and download PDFs"):
        plain = http.client.HTTPConnection("127.0.0.1", site.http_port, timeout=10)
        plain.request("GET", "/login?next=%2F", headers={"Host": SERVER_NAME})
        redirect = plain.getresponse()
        assert redirect.status == 301
        assert redirect.headers["Location"] == f"https://{SERVER_NAME}/login?next=%2F"
        plain.close()

        owner = Browser(site.https_port, production.cafile)
        dashboard = owner.sign_in(email, owner_password)
        cookie = owner.cookies["counselor_session"]
        # The app knows the request came over HTTPS: a Secure cookie, and HSTS.
        assert cookie["secure"], "session cookie not Secure: X-Forwarded-Proto not trusted"
        assert "max-age" in dashboard.headers.get("Strict-Transport-Security", "")
        assert "no-store" in dashboard.headers["Cache-Control"]
        # COUNSELOR_PROXY_FIX from the env file: the client's address (X-Forwarded-For) is the
        # one the audit trail records and partner links are rate-limited by. (gunicorn alone
        # trusts X-Forwarded-Proto on a unix socket, so the Secure cookie does not show it.)
        assert sign_in_addresses(cluster, "counselor_prod") == {"127.0.0.1"}, (
            "COUNSELOR_PROXY_FIX=true in the env file did not reach the app"
        )
        form = owner.get("/couples/new")
        couple = owner.submit(form, "/couples/new", COUPLE_FORM)
        assert couple.status == 200 and "Couple added." in couple.text, couple.text
        couple_path = urlsplit(couple.url).path

        therapist = Browser(site.https_port, production.cafile)
        therapist.sign_in("demo2@example.org", PASSWORD)
        couple_id, plan_id = handout_plan(cluster, "counselor_prod")
        plan_page = therapist.get(f"/couples/{couple_id}/plans/{plan_id}")
        assert plan_page.status == 200, plan_page.status
        issued = therapist.submit(plan_page, f"/couples/{couple_id}/plans/{plan_id}/issue/handout")
        assert issued.status == 200 and "Handout" in issued.text, issued.text[:2000]
        handout_path = f"/couples/{couple_id}/plans/documents/{document_id(issued)}"
        progress = therapist.get(f"/couples/{couple_id}/progress")
        report = therapist.submit(progress, f"/couples/{couple_id}/progress/issue/report")
        assert report.status == 200 and "issued as version" in report.text, report.text[:2000]
        report_path = f"/couples/{couple_id}/plans/documents/{document_id(report)}"
        documents = {}
        for path in (handout_path, report_path):
            pdf = therapist.get(path)
            assert pdf.status == 200 and pdf.body.startswith(b"%PDF-"), (path, pdf.status)
            assert hashlib.sha256(pdf.body).hexdigest() == pdf.headers["X-Content-SHA256"]
            documents[path] = pdf.body

        # A partner's link (a wrong one) in a URL: checked in the logs at the end.
        assert therapist.get(f"/answer/{PARTNER_TOKEN}").status == 404
        ready = therapist.get("/readyz")
        assert ready.status == 200, (ready.status, ready.text[:500])

    with steps.step("the daily backup as cron and systemd run it, while the app runs"):
        backups = site.path("/var/backups/counselor")
        backups.mkdir(parents=True, mode=0o700)
        old = backups / "counselor-2020-01-01.backup"
        old.write_bytes(b"an old backup")
        os.utime(old, (time.time() - 40 * 86400,) * 2)
        kept = backups / "notes.txt"
        kept.write_text("not a backup")
        os.utime(kept, (time.time() - 40 * 86400,) * 2)
        # Cron's own environment, nothing else: the line sources the env file itself.
        cron_env = {
            "PATH": "/usr/bin:/bin",
            "SHELL": "/bin/sh",
            "HOME": str(site.path("/var/lib/counselor")),
            "LOGNAME": "counselor",
        }
        cron = subprocess.run(
            ["/bin/sh", "-c", cron_command(site)],
            env=cron_env,
            cwd=site.path("/var/lib/counselor"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert cron.returncode == 0 and not cron.stdout, (cron.stdout, cron.stderr)
        [backup] = backups.glob("counselor-2*.backup")
        assert backup.name == f"counselor-{datetime.date.today().isoformat()}.backup"
        assert backup.read_bytes()[:5] == b"PGDMP" and stat_mode(backup) == 0o600
        assert kept.exists() and not old.exists()
        # A job that forgot to source the env file is refused, not given an empty SQLite file.
        forgot = subprocess.run(
            [
                str(site.venv / "bin" / "flask"),
                "--app",
                "counselor_app",
                "counselor",
                "backup",
                "x",
            ],
            env=cron_env | {"COUNSELOR_INSTANCE_PATH": str(instance)},
            cwd=site.path("/var/lib/counselor"),
            capture_output=True,
            text=True,
            check=False,
        )
        assert forgot.returncode != 0 and "DATABASE_URL is not set" in forgot.stderr, forgot
        assert not (site.path("/var/lib/counselor") / "x").exists()
        assert not list(instance.glob("*.sqlite3"))
        # The timer's service runs the same command (its environment: the env file's).
        service = subprocess.run(
            ["/bin/sh", "-c", backup_service_command(site)],
            env=service_environment(
                site, site.local((DEPLOY / "counselor-backup.service").read_text())
            )
            | {"PATH": SYSTEMD_PATH},
            cwd=site.path("/var/lib/counselor"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert service.returncode == 0, service.stderr
        # The check catches a damaged copy: the same command fails on a truncated one.
        truncated = backups / "truncated.backup"
        truncated.write_bytes(backup.read_bytes()[: backup.stat().st_size // 2])
        damaged = subprocess.run(
            ["/bin/sh", "-c", f"f={shlex.quote(str(truncated))}; {backup_check(site)}"],
            env=cron_env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert damaged.returncode != 0, "the backup check passed a truncated backup"
        truncated.unlink()

    with steps.step("rebuild the venv (delete, create, install the wheel again)"):
        production.stop_gunicorn()
        shutil.rmtree(site.venv)
        production.install(wheel)

    with steps.step("start again: everything still reads, documents byte-identical"):
        production.start_gunicorn()
        assert_everything_reads(owner, therapist, couple_path, documents)
        production.stop_gunicorn()

    with steps.step("the key check: gunicorn refuses to start with another data key"):
        write_env_file(site, settings | {"COUNSELOR_DATA_KEYS": Fernet.generate_key().decode()})
        log = production.refused_start()
        assert "counselor_app cannot start" in log and "do not open" in log, log[-3000:]

    with steps.step("restore the backup onto a new database, serve it"):
        create_database(cluster, "counselor_prod", "counselor_restored", new_role=False)
        settings["DATABASE_URL"] = database_url(cluster, "counselor_prod", "counselor_restored")
        write_env_file(site, settings)
        restored = production.flask("counselor", "restore", "--yes", str(backup))
        assert "restored" in restored, restored
        production.start_gunicorn()
        assert_everything_reads(owner, therapist, couple_path, documents)
        ready = owner.get("/readyz")
        assert ready.status == 200, (ready.status, ready.text[:500])

    # A partner's link in a URL is in neither access log (nor anywhere else in the logs).
    gunicorn_log = production.gunicorn_logs[0].read_text()
    nginx_log = site.path("/var/log/nginx/counselor.access.log").read_text()
    assert "GET /answer/[personal-link]" in gunicorn_log, gunicorn_log[-3000:]
    assert "GET /answer/[personal-link] HTTP/1.1" in nginx_log, nginx_log[-3000:]
    assert PARTNER_TOKEN not in production.logs(), "a partner's link reached a log"


def assert_everything_reads(
    owner: Browser, therapist: Browser, couple_path: str, documents: dict[str, bytes]
) -> None:
    """The sessions from before still hold (same SECRET_KEY); the couple and the documents
    read back (same data keys), the PDFs byte for byte."""
    page = owner.get(couple_path)
    assert page.status == 200 and "Jordan" in page.text and "Riley" in page.text, page.status
    assert "Riley feels crowded" in page.text
    for path, body in documents.items():
        again = therapist.get(path)
        assert again.status == 200 and again.body == body, path


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777
