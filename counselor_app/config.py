"""Configuration: defaults, then instance/config.py, then the environment.

The instance folder (config.py, secret_key, data_keys) is ``COUNSELOR_INSTANCE_PATH`` when set,
else Flask's default: ``instance/`` beside the package in a checkout, but
``<venv>/var/counselor_app-instance`` once installed from a wheel, which a new virtualenv
replaces. Deployments set it.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

logger = logging.getLogger(__name__)

# A file name, not a secret.
SECRET_KEY_FILE = "secret_key"  # noqa: S105  # nosec B105
INSTANCE_PATH_VARIABLE = "COUNSELOR_INSTANCE_PATH"
# Written by `flask counselor setup` on a database server: the instance is in production there.
PRODUCTION_MARKER = "production"
# Where the README's deployment keeps its environment (named in messages, never read).
ENVIRONMENT_FILE = "/etc/counselor/env"


class ConfigurationError(click.ClickException):
    """The app must not start as configured; the message says what is missing.

    A ClickException so that ``flask ...`` prints it as one line (exit status 1) instead of a
    traceback; counselor_app.wsgi prints it as one line too and gunicorn stops.
    """


def instance_path_from_environment() -> str | None:
    """``COUNSELOR_INSTANCE_PATH``, made absolute (Flask refuses a relative instance path)."""
    given = os.environ.get(INSTANCE_PATH_VARIABLE, "").strip()
    return os.path.abspath(os.path.expanduser(given)) if given else None


# Settings the package's own code reads, all named COUNSELOR_*. init_app applies them too, so a
# host app that mounts the package gets them unless it sets its own.
PACKAGE_DEFAULTS: dict[str, Any] = {
    # Automatic logoff (HIPAA) of our own sign-in: after this long without a request, and after
    # this long at most whatever the activity. Mounted on a host's sign-in, the host's rules hold.
    "COUNSELOR_IDLE_TIMEOUT": timedelta(minutes=30),
    "COUNSELOR_ABSOLUTE_TIMEOUT": timedelta(hours=12),
    # How long before the idle sign-out our pages warn and offer to stay signed in (WCAG 2.2.1).
    "COUNSELOR_IDLE_WARNING": timedelta(minutes=2),
    "COUNSELOR_COUPLES_PER_PAGE": 20,
    # werkzeug's hashing method for passwords: scrypt at its full default cost. Only the test
    # suite lowers it (thousands of sign-ins); a stored hash names its own cost, so any hash
    # made under one setting is still checked correctly under another.
    "COUNSELOR_PASSWORD_HASH": "scrypt",
    # A host's layout for our pages (it provides the blocks title, head and content).
    "COUNSELOR_BASE_TEMPLATE": None,
    # Mounted on a host's sign-in: where anonymous visitors go (else its Flask-Login view).
    "COUNSELOR_LOGIN_URL": None,
    # Mounted on a host's sign-in: a standalone account becomes a host clinician's when the
    # emails match. Only for a host that verifies its users' addresses (see auth.services).
    "COUNSELOR_ADOPT_ACCOUNTS_BY_EMAIL": False,
    # A partner's personal link: how long it works, how long a partner's session lasts without
    # a page being opened, and how many wrong links one address may try (Flask-Limiter syntax).
    "COUNSELOR_PARTNER_LINK_DAYS": 7,
    "COUNSELOR_PARTNER_SESSION_MINUTES": 60,
    "COUNSELOR_PARTNER_LINK_ATTEMPTS": "10 per 15 minutes",
    # Where rate-limit counts are kept: the app's own database, shared by every worker, unless
    # this names another Flask-Limiter storage ("redis://host:6379/0").
    "COUNSELOR_RATELIMIT_STORAGE_URI": "counselor-db://",
    # Sending partners their links by email: off until a server is named.
    "COUNSELOR_MAIL_SERVER": None,
    "COUNSELOR_MAIL_PORT": 25,
    "COUNSELOR_MAIL_USE_TLS": False,  # STARTTLS on the plain port
    "COUNSELOR_MAIL_USE_SSL": False,  # TLS from the start (port 465)
    "COUNSELOR_MAIL_USERNAME": None,
    "COUNSELOR_MAIL_PASSWORD": None,  # nosec B105: no password until one is set, none built in
    "COUNSELOR_MAIL_SENDER": None,
    # FHIR: the base of our Questionnaires' canonical URLs (…/Questionnaire/csi4). An identifier
    # that names them the same everywhere, not an address that must answer: the resources are
    # served at <mount>/fhir/Questionnaire/<id>. Change it only before any response is shared,
    # since imports recognise our questionnaires by it.
    "COUNSELOR_FHIR_CANONICAL_BASE": "https://counselor-app.example/fhir",
    # FHIR: the host's naming system (a URI) for its client ids, put on a partner's identifier
    # beside Partner.external_id; None: the identifier carries the value alone.
    "COUNSELOR_FHIR_PARTNER_ID_SYSTEM": None,
    # The private calendar feed: how many days ahead it lists upcoming appointments.
    "COUNSELOR_CALENDAR_FEED_DAYS": 180,
    # Flag rules: how close to a threshold a result counts as borderline, per unit, replacing
    # the ruleset's own margins, e.g. {"mean": 0.5, "points": 10, "hours": 3}. None: the
    # ruleset's (rules_v2.toml). Rulesets without margins (v1) are left as they were.
    "COUNSELOR_BORDERLINE_MARGINS": None,
    # Upgrades (counselor_app.operations): how long a worker trusts its last look at the schema
    # revision and the maintenance flag, and how long a request under way may still run (at
    # least gunicorn's --timeout: 30 in deploy/counselor.service). `flask counselor db upgrade`
    # waits the two together after raising the flag, before it migrates.
    "COUNSELOR_SCHEMA_CHECK_SECONDS": 2.0,
    "COUNSELOR_UPGRADE_DRAIN_SECONDS": 30.0,
}
# Standalone only: settings of an app of our own.
STANDALONE_DEFAULTS: dict[str, Any] = {
    "COUNSELOR_PROXY_FIX": False,
    # Refused sign-ins one address may make, whichever accounts they name, before it waits
    # (Flask-Limiter syntax); each account also locks after 10 of its own (auth.services).
    "COUNSELOR_SIGN_IN_ATTEMPTS": "20 per 15 minutes",
}
# The names used before the package could be mounted; still read standalone, with a warning.
LEGACY_NAMES = ("IDLE_TIMEOUT", "ABSOLUTE_TIMEOUT", "COUPLES_PER_PAGE", "DATA_KEYS", "PROXY_FIX")
# Flask-WTF's own defaults, for a host without a CSRFProtect: our forms check their tokens.
CSRF_DEFAULTS: dict[str, Any] = {
    "WTF_CSRF_ENABLED": True,
    "WTF_CSRF_METHODS": {"POST", "PUT", "PATCH", "DELETE"},
    "WTF_CSRF_FIELD_NAME": "csrf_token",
    "WTF_CSRF_HEADERS": ["X-CSRFToken", "X-CSRF-Token"],
    "WTF_CSRF_TIME_LIMIT": 3600,
    "WTF_CSRF_SSL_STRICT": True,
}


def defaults(instance_path: str) -> dict[str, Any]:
    """Settings that hold until instance/config.py or the environment says otherwise."""
    database = Path(instance_path) / "counselor_app.sqlite3"
    return {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
        # Bound values (names, answers) stay out of error messages and so out of the logs.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # False means "Secure whenever the request came over HTTPS" (see sessions.py);
        # True forces the flag even behind a proxy that does not say it terminated TLS.
        "SESSION_COOKIE_SECURE": False,
        "SESSION_COOKIE_NAME": "counselor_session",
        "REMEMBER_COOKIE_DURATION": 0,
        "WTF_CSRF_TIME_LIMIT": None,
        # The cookie itself lasts no longer than the longest session.
        "PERMANENT_SESSION_LIFETIME": PACKAGE_DEFAULTS["COUNSELOR_ABSOLUTE_TIMEOUT"],
    }


def normalise_database_url(url: str) -> str:
    """Point plain PostgreSQL URLs at psycopg 3, the driver the project ships with.

    Hosting platforms hand out ``postgres://`` or ``postgresql://``; SQLAlchemy would pick
    psycopg2 for those, which is not installed.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_private_sqlite_file(app: Flask) -> None:
    """Create a missing SQLite database file readable by its owner only (mode 0600).

    SQLite would create it with the process umask (0644 as a rule): every account on the
    server could read the practice's records. Its journals take the database file's mode.
    An existing file is left as it is.
    """
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    if url.query.get("uri"):
        return  # a "file:" URI: its own options, the deployment's business
    path = Path(url.database)
    # Flask-SQLAlchemy reads a relative path from the instance folder.
    write_once(path if path.is_absolute() else Path(app.instance_path) / path, "")


def from_environment() -> dict[str, Any]:
    """The settings a deployment most often gives through the environment."""
    settings: dict[str, Any] = {}
    if url := os.environ.get("DATABASE_URL"):
        settings["SQLALCHEMY_DATABASE_URI"] = url
    if key := os.environ.get("SECRET_KEY"):
        settings["SECRET_KEY"] = key
    for name in ("COUNSELOR_DATA_KEYS", "DATA_KEYS"):
        if keys := os.environ.get(name):
            # Comma-separated Fernet keys, newest first (see encryption.py).
            settings[name] = [key.strip() for key in keys.split(",") if key.strip()]
            break
    if keys := os.environ.get("COUNSELOR_AUDIT_KEYS"):
        # Comma-separated hex keys, newest first (see audit/keys.py).
        settings["COUNSELOR_AUDIT_KEYS"] = [key.strip() for key in keys.split(",") if key.strip()]
    for name in ENVIRONMENT_SETTINGS:
        if value := os.environ.get(name):
            settings[name] = _typed(name, value)
    return settings


def _typed(name: str, value: str) -> Any:
    if name == "COUNSELOR_MAIL_PORT":
        return int(value)
    if name in ("COUNSELOR_MAIL_USE_TLS", "COUNSELOR_MAIL_USE_SSL", "COUNSELOR_PROXY_FIX"):
        return value.strip().lower() in ("1", "true", "yes", "on")
    if name in ("COUNSELOR_SCHEMA_CHECK_SECONDS", "COUNSELOR_UPGRADE_DRAIN_SECONDS"):
        return float(value)
    return value


# Deployment secrets and addresses that belong in the environment rather than a file, and the
# upgrade's timings, which the workers and `db upgrade` must agree on (both read the env file).
ENVIRONMENT_SETTINGS = (
    "COUNSELOR_ENV",
    "COUNSELOR_PROXY_FIX",
    "COUNSELOR_SCHEMA_CHECK_SECONDS",
    "COUNSELOR_UPGRADE_DRAIN_SECONDS",
    "COUNSELOR_MAIL_SERVER",
    "COUNSELOR_MAIL_PORT",
    "COUNSELOR_MAIL_USE_TLS",
    "COUNSELOR_MAIL_USE_SSL",
    "COUNSELOR_MAIL_USERNAME",
    "COUNSELOR_MAIL_PASSWORD",
    "COUNSELOR_MAIL_SENDER",
    "COUNSELOR_RATELIMIT_STORAGE_URI",
)


def ensure_secret_key(app: Flask) -> None:
    """Use the configured key, else the one in instance/, else make and keep a new one.

    There is deliberately no built-in default: a known key would let anyone forge a session.
    """
    if app.config.get("SECRET_KEY"):
        return
    path = Path(app.instance_path) / SECRET_KEY_FILE
    write_once(path, secrets.token_hex(32))
    app.config["SECRET_KEY"] = path.read_text().strip()


def write_once(path: Path, content: str) -> None:
    """Create a private file (mode 0600) holding ``content``, unless it exists already.

    O_EXCL: two workers starting at once must not each write a different key.
    """
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole under a name of its own, then linked into place: a worker that finds the
    # file never reads it half written.
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        os.link(partial, path)
    except FileExistsError:
        pass  # another worker's file came first: theirs is the one every worker reads
    finally:
        partial.unlink()


def load(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Apply every configuration layer in order; the test mapping wins over all of them."""
    app.config.from_mapping(defaults(app.instance_path))
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_mapping(from_environment())
    if test_config:
        app.config.from_mapping(test_config)
    adopt_legacy_names(app)
    apply_defaults(app, STANDALONE_DEFAULTS)
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    refuse_default_database_in_production(app)  # before the empty SQLite file is made
    create_private_sqlite_file(app)
    ensure_secret_key(app)


# --- No silent wrong database ------------------------------------------------------------------


def in_development(app: Flask) -> bool:
    """COUNSELOR_ENV=development, or Flask's debug mode (`flask --debug run`)."""
    return app.config.get("COUNSELOR_ENV") == "development" or app.debug


def production_marker(app: Flask) -> Path:
    return Path(app.instance_path) / PRODUCTION_MARKER


def recorded_database(app: Flask) -> str | None:
    """The database `setup` recorded in the instance's production marker, if there is one."""
    path = production_marker(app)
    if not path.is_file():
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "database":
            return value.strip()
    return "a database server"


# Query parameters libpq reads a secret from (postgresql://u@db/x?password=...), any case.
PASSWORD_PARAMETERS = frozenset({"password", "sslpassword"})


def without_password(url: URL, *, drivername: str | None = None) -> URL:
    """``url`` without its password, whether after the user name or in the query string."""
    # URL.set(password=None) would leave the password as it is.
    return URL.create(
        drivername or url.drivername,
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query={
            name: value
            for name, value in url.query.items()
            if name.lower() not in PASSWORD_PARAMETERS
        },
    )


def display_url(url: str | URL) -> str:
    """A database URL as it may be shown and recorded: never the password."""
    parsed = make_url(url) if isinstance(url, str) else url
    plain = without_password(parsed, drivername=parsed.get_backend_name())
    return plain.render_as_string(hide_password=False)


def refuse_default_database_in_production(app: Flask) -> None:
    """Refuse the built-in SQLite file where the instance is known to run on another database.

    Without its exported variables (a cron job, a shell without the service's environment) the
    app would otherwise open a new empty SQLite file: backups of nothing, a second practice.
    """
    builtin = defaults(app.instance_path)["SQLALCHEMY_DATABASE_URI"]
    production = app.config.get("COUNSELOR_ENV") == "production"
    if app.config["SQLALCHEMY_DATABASE_URI"] != builtin or (in_development(app) and not production):
        return
    recorded = recorded_database(app)
    if recorded is not None:
        raise ConfigurationError(
            f"DATABASE_URL is not set: this instance was set up on {recorded} (recorded in "
            f"{production_marker(app)}); export the variables from {ENVIRONMENT_FILE} (or the "
            "service's environment) and run again."
        )
    if production:
        raise ConfigurationError(
            "DATABASE_URL is not set and COUNSELOR_ENV is production: refusing the built-in "
            f"SQLite database in {app.instance_path}; export the variables from "
            f"{ENVIRONMENT_FILE} (or set DATABASE_URL) and run again."
        )


def record_production_database(app: Flask) -> Path | None:
    """After `setup` on a database server, note it in the instance folder (no password), so a
    later run without DATABASE_URL is refused rather than given an empty SQLite file."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite" or app.testing or in_development(app):
        return None
    path = production_marker(app)
    content = (
        "# Written by `flask counselor setup`: this instance runs on the database below.\n"
        "# Started without DATABASE_URL, the app refuses to run on a new SQLite file instead.\n"
        f"database = {display_url(url)}\n"
    )
    if not path.is_file() or path.read_text(encoding="utf-8") != content:
        path.unlink(missing_ok=True)
        write_once(path, content)
    return path


def adopt_legacy_names(app: Flask) -> None:
    """Standalone, a setting under its old name (IDLE_TIMEOUT) still counts, with a warning;
    the new name (COUNSELOR_IDLE_TIMEOUT) wins when both are set."""
    for name in LEGACY_NAMES:
        if name in app.config:
            logger.warning("The setting %s is deprecated: name it COUNSELOR_%s.", name, name)
            app.config.setdefault(f"COUNSELOR_{name}", app.config.pop(name))


def apply_defaults(app: Flask, defaults: dict[str, Any] = PACKAGE_DEFAULTS) -> None:
    """Set what is not set yet (a host's own values, and the layers above, win)."""
    for name, value in defaults.items():
        app.config.setdefault(name, value)


def csrf_defaults(app: Flask) -> None:
    apply_defaults(app, CSRF_DEFAULTS)


def scope_sqlite_pragmas(engine: Engine) -> None:
    """Foreign keys (and so ON DELETE CASCADE) and secure_delete on the engine we use, and on
    no other: SQLite ignores foreign keys unless each connection asks, and secure_delete
    overwrites what is deleted (an erased couple) instead of leaving it in free pages."""
    if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _sqlite_pragmas):
        event.listen(engine, "connect", _sqlite_pragmas)


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, connection_record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
