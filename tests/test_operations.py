"""Production operations: the instance folder, the data keys checked at start, no silent wrong
database, one-line command-line errors, operator accounts and their audit trail."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from flask import Flask
from flask.cli import FlaskGroup
from sqlalchemy import select
from sqlalchemy.engine import make_url

from conftest import DATA_KEY, PASSWORD, add_couple, base_config, login
from counselor_app import ConfigurationError, DataKeysError, backup, create_app
from counselor_app.auth.services import MAX_FAILURES, begin_attempt, find_by_email
from counselor_app.encryption import EXTENSION
from counselor_app.extensions import db
from counselor_app.models import AuditEvent, LoginFailure, Therapist
from examples.host_app.host_app import create_app as create_host_app
from host_support import DATA_KEY as HOST_DATA_KEY
from host_support import host, host_config, host_template, other_clinician, signed_in  # noqa: F401

BIN = Path(sys.executable).parent
# The subprocesses get none of this process's environment but where the package is imported from.
SOURCE = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
NEW_PASSWORD = "a lighthouse keeper's long winter"
_numbers = itertools.count(1)


def dispose(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def clean_env(monkeypatch):
    for name in (
        "DATABASE_URL",
        "SECRET_KEY",
        "DATA_KEYS",
        "COUNSELOR_DATA_KEYS",
        "COUNSELOR_ENV",
        "COUNSELOR_INSTANCE_PATH",
        "FLASK_DEBUG",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def run_flask(instance: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`flask --app counselor_app ...` as cron runs it: none of the service's variables."""
    environment = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(instance.parent),
        "LANG": "C.UTF-8",
        "COUNSELOR_INSTANCE_PATH": str(instance),
        **SOURCE,
        **env,
    }
    return subprocess.run(
        [str(BIN / "flask"), "--app", "counselor_app", *args],
        env=environment,
        cwd=instance.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line_error(result) -> str:
    """The command failed with exit status 1 and exactly one line on stderr, no traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def invoke(app, *args: str, input: str | None = None):
    return app.test_cli_runner().invoke(args=["counselor", *args], input=input)


def flask_cli(factory: Callable[[], object], *args: str):
    """The `flask` command line loading the app through ``factory``, as `flask --app` does."""
    group = FlaskGroup(create_app=factory, load_dotenv=False, set_debug_flag=False)
    return CliRunner().invoke(group, list(args))


@pytest.fixture
def empty_database(backend, tmp_path, request) -> Iterator[Callable[[], str]]:
    """Empty databases (no tables at all) on the test's backend: ``url = empty_database()``."""
    made: list[str] = []
    cluster = request.getfixturevalue("pg_cluster") if backend == "postgresql" else None

    def make() -> str:
        name = f"counselor_ops_{next(_numbers)}"
        if cluster is None:
            return f"sqlite:///{tmp_path / name}.sqlite3"
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        made.append(name)
        return cluster.url(name)

    yield make
    if cluster is not None:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            for name in made:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def without_keys(app, instance: Path) -> dict:
    settings = base_config(app.config["SQLALCHEMY_DATABASE_URI"], instance)
    del settings["COUNSELOR_DATA_KEYS"]
    return settings


# --- The instance folder --------------------------------------------------------------------


def test_counselor_instance_path_holds_config_and_keys(tmp_path, clean_env):
    instance = tmp_path / "srv-instance"
    instance.mkdir()
    database = tmp_path / "practice.sqlite3"
    (instance / "config.py").write_text(
        f"SQLALCHEMY_DATABASE_URI = 'sqlite:///{database}'\nCOUNSELOR_COUPLES_PER_PAGE = 7\n"
    )
    (instance / "data_keys").write_text(DATA_KEY + "\n")
    (instance / "secret_key").write_text("kept-secret-key\n")
    default_instance = Path(Flask("counselor_app").instance_path)  # Flask's own choice
    before = sorted(default_instance.rglob("*")) if default_instance.exists() else []
    clean_env.setenv("COUNSELOR_INSTANCE_PATH", str(instance))

    app = create_app()
    assert app.instance_path == str(instance)
    assert app.config["COUNSELOR_COUPLES_PER_PAGE"] == 7
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{database}"
    assert app.config["SECRET_KEY"] == "kept-secret-key"
    token = app.extensions[EXTENSION].encrypt(b"x")
    assert Fernet(DATA_KEY).decrypt(token) == b"x"  # the key read from the instance folder
    assert sorted(p.name for p in instance.iterdir()) == [
        "audit_keys",  # made at first start, beside the data keys
        "config.py",
        "data_keys",
        "secret_key",
    ]
    # Nothing written beside the package (where an installed wheel's instance folder would be).
    after = sorted(default_instance.rglob("*")) if default_instance.exists() else []
    assert after == before
    dispose(app)
    # An explicit instance_path still wins over the variable.
    other = create_app(instance_path=str(tmp_path / "explicit"))
    assert other.instance_path == str(tmp_path / "explicit")
    dispose(other)


def test_a_relative_instance_path_is_made_absolute(tmp_path, clean_env):
    clean_env.chdir(tmp_path)
    clean_env.setenv("COUNSELOR_INSTANCE_PATH", "relative-instance")
    app = create_app()
    assert app.instance_path == str(tmp_path / "relative-instance")
    dispose(app)


@pytest.mark.sqlite_only
def test_the_wsgi_entry_point_reads_counselor_instance_path(backend, tmp_path):
    instance = tmp_path / "wsgi-instance"
    result = subprocess.run(
        [sys.executable, "-c", "from counselor_app.wsgi import app; print(app.instance_path)"],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "COUNSELOR_INSTANCE_PATH": str(instance),
            **SOURCE,
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(instance)
    assert (instance / "data_keys").is_file()


# --- The data keys, checked at start ---------------------------------------------------------


def test_encrypted_data_without_a_key_refuses_to_start_and_makes_no_key(
    app, therapist, make_couple, tmp_path
):
    make_couple(therapist)
    instance = tmp_path / "rebuilt-venv-instance"
    with pytest.raises(DataKeysError) as refused:
        create_app(without_keys(app, instance), instance_path=str(instance))
    message = refused.value.format_message()
    assert "encrypted data" in message and "no data key is configured" in message
    assert "No new key was made" in message
    assert not (instance / "data_keys").exists()


@pytest.mark.parametrize("where", ["setting", "file"])
def test_keys_that_do_not_open_the_data_refuse_to_start(
    app, therapist, make_couple, tmp_path, where
):
    make_couple(therapist)
    instance = tmp_path / "other-keys"
    instance.mkdir()
    wrong = Fernet.generate_key().decode()
    settings = without_keys(app, instance)
    if where == "setting":
        settings["COUNSELOR_DATA_KEYS"] = [wrong]
    else:
        (instance / "data_keys").write_text(wrong + "\n")
    with pytest.raises(DataKeysError) as refused:
        create_app(settings, instance_path=str(instance))
    assert "do not open the encrypted data" in refused.value.format_message()
    assert "counselor_couple.presenting_concerns" in refused.value.format_message()


def test_keys_that_open_the_data_start_as_before(app, therapist, make_couple, tmp_path):
    make_couple(therapist)
    instance = tmp_path / "rotated"
    instance.mkdir()
    # A new key first and the old one after it (a rotation part way through): all readable.
    (instance / "data_keys").write_text(f"{Fernet.generate_key().decode()}\n{DATA_KEY}\n")
    started = create_app(without_keys(app, instance), instance_path=str(instance))
    dispose(started)


def test_a_fresh_database_gets_a_new_key(empty_database, tmp_path):
    instance = tmp_path / "fresh"
    settings = base_config(empty_database(), instance)
    del settings["COUNSELOR_DATA_KEYS"]
    fresh = create_app(settings, instance_path=str(instance))
    [key] = (instance / "data_keys").read_text().split()
    Fernet(key)
    dispose(fresh)


def test_an_unreachable_database_skips_the_check_with_one_log_line(tmp_path, caplog):
    settings = base_config("postgresql+psycopg://nobody:pw@127.0.0.1:9/none", tmp_path)
    unreachable = create_app(settings, instance_path=str(tmp_path / "instance"))
    lines = [
        r.getMessage() for r in caplog.records if "data keys were not checked" in r.getMessage()
    ]
    assert len(lines) == 1 and "pw" not in lines[0]
    # On the command line: one line saying so, no traceback.
    result = invoke(unreachable, "therapist", "create", "--email", "a@example.org", "--name", "A")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: Cannot connect to the database postgresql://nobody@127.0.0.1:9")
    assert ":pw@" not in line


def test_an_unreachable_database_and_no_key_refuse_to_start_and_make_no_key(tmp_path, clean_env):
    """Without an answer nothing says the database holds no encrypted data: no key is made."""
    instance = tmp_path / "instance"
    url = "postgresql+psycopg://u@127.0.0.1:9/none?connect_timeout=2"
    settings = base_config(url, instance)
    del settings["COUNSELOR_DATA_KEYS"]
    with pytest.raises(DataKeysError) as refused:
        create_app(settings, instance_path=str(instance))
    message = refused.value.format_message()
    assert "cannot check the database postgresql://u@127.0.0.1:9/none" in message
    assert "so no new key was made" in message and "set COUNSELOR_DATA_KEYS" in message
    assert not (instance / "data_keys").exists()


@pytest.mark.sqlite_only
def test_the_command_line_and_gunicorn_refuse_in_one_line(
    backend, app, therapist, make_couple, tmp_path
):
    make_couple(therapist)
    instance = tmp_path / "cron-instance"
    instance.mkdir()
    (instance / "config.py").write_text(
        f"SQLALCHEMY_DATABASE_URI = {app.config['SQLALCHEMY_DATABASE_URI']!r}\n"
    )
    line = one_line_error(run_flask(instance, "counselor", "backup", "x.backup"))
    assert line.startswith("Error: The database holds encrypted data")
    assert not (instance / "data_keys").exists() and not (tmp_path / "x.backup").exists()

    server = subprocess.run(
        [
            str(BIN / "gunicorn"),
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "1",
            "counselor_app.wsgi:app",
        ],
        env={
            "PATH": f"{BIN}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "COUNSELOR_INSTANCE_PATH": str(instance),
            **SOURCE,
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert server.returncode == 4  # gunicorn: "App failed to load", the master stops
    ours = [line for line in server.stderr.splitlines() if "counselor_app cannot start" in line]
    assert len(ours) == 1 and "no data key is configured" in ours[0]
    assert "Traceback" not in server.stderr
    assert not (instance / "data_keys").exists()


def test_mounted_the_check_applies_to_our_tables_on_the_hosts_database(
    host, other_clinician, tmp_path
):
    our_page = signed_in(host, other_clinician).get("/couples-therapy/")
    assert our_page.status_code == 200
    with host.app_context():
        therapist_id = db.session.scalar(select(Therapist.id))
    add_couple(host, therapist_id)
    settings = host_config(host.config["SQLALCHEMY_DATABASE_URI"], tmp_path / "elsewhere")
    settings["COUNSELOR_DATA_KEYS"] = [Fernet.generate_key().decode()]
    with pytest.raises(DataKeysError):
        create_host_app(settings)
    result = flask_cli(lambda: create_host_app(settings), "counselor", "db", "current")
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "do not open the encrypted data" in line
    settings["COUNSELOR_DATA_KEYS"] = [HOST_DATA_KEY]
    dispose(create_host_app(settings))


# --- No silent wrong database ------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_a_run_without_the_database_url_is_refused_where_setup_recorded_one(backend, tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "production").write_text(
        "database = postgresql://counselor@db.internal:5432/counselor\n"
    )
    line = one_line_error(run_flask(instance, "counselor", "backup", "x.backup"))
    assert line == (
        "Error: DATABASE_URL is not set: this instance was set up on "
        f"postgresql://counselor@db.internal:5432/counselor (recorded in {instance}/production); "
        "export the variables from /etc/counselor/env (or the service's environment) and run "
        "again."
    )
    # Nothing made: no empty database, no key, no backup.
    assert sorted(p.name for p in instance.iterdir()) == ["production"]
    assert not (tmp_path / "x.backup").exists()
    # A developer on purpose: the default works again in development.
    development = run_flask(instance, "counselor", "--help", COUNSELOR_ENV="development")
    assert development.returncode == 0, development.stderr


def test_counselor_env_production_refuses_the_builtin_sqlite(tmp_path, clean_env):
    clean_env.setenv("COUNSELOR_ENV", "production")
    instance = tmp_path / "instance"
    with pytest.raises(ConfigurationError) as refused:
        create_app(instance_path=str(instance))
    assert "DATABASE_URL is not set and COUNSELOR_ENV is production" in refused.value.message
    assert not (instance / "counselor_app.sqlite3").exists()
    result = flask_cli(lambda: create_app(instance_path=str(instance)), "counselor", "setup")
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: DATABASE_URL is not set and COUNSELOR_ENV is production")
    # Given a database, production starts.
    clean_env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'named.sqlite3'}")
    dispose(create_app(instance_path=str(instance)))
    # Set in instance/config.py, it counts the same.
    clean_env.delenv("DATABASE_URL")
    clean_env.delenv("COUNSELOR_ENV")
    (instance / "config.py").write_text("COUNSELOR_ENV = 'production'\n")
    with pytest.raises(ConfigurationError):
        create_app(instance_path=str(instance))


def test_setup_on_a_database_server_records_it_without_the_password(
    app, backend, tmp_path, clean_env
):
    if backend != "postgresql":
        pytest.skip("setup records a database server only: a SQLite file is named in config.py")
    instance = tmp_path / "server-instance"
    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgres@", "postgres:s3cret-pw@")
    settings = {**base_config(url, instance), "TESTING": False}
    deployed = create_app(settings, instance_path=str(instance))
    result = deployed.test_cli_runner().invoke(args=["counselor", "setup"])
    assert result.exit_code == 0, result.output
    marker = (instance / "production").read_text()
    assert "database = postgresql://postgres@/counselor_test_" in marker
    assert "s3cret-pw" not in marker
    dispose(deployed)
    # The cron job: no DATABASE_URL. Refused, naming the database setup ran on.
    with pytest.raises(ConfigurationError) as refused:
        create_app(instance_path=str(instance))
    assert "DATABASE_URL is not set: this instance was set up on postgresql://" in str(
        refused.value.message
    )
    assert not (instance / "counselor_app.sqlite3").exists()


def test_setup_on_sqlite_records_nothing(tmp_path, clean_env):
    # `make demo` sets up instance/demo.sqlite3 through DATABASE_URL; `make run` must still work.
    instance = tmp_path / "instance"
    clean_env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    demo = create_app(instance_path=str(instance))
    assert demo.test_cli_runner().invoke(args=["counselor", "setup"]).exit_code == 0
    assert not (instance / "production").exists()
    dispose(demo)


# --- One line for every expected failure -------------------------------------------------------


def test_therapist_create_on_an_unmigrated_database_says_run_setup(empty_database, tmp_path):
    unmigrated = create_app(base_config(empty_database(), tmp_path))
    result = invoke(unmigrated, "therapist", "create", "--email", "a@example.org", "--name", "A")
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith(
        "Error: The database has no tables yet: run `flask counselor setup` (or `db upgrade`) "
        "first."
    )
    dispose(unmigrated)


def test_backup_of_a_database_without_our_tables_is_refused(empty_database, tmp_path):
    unmigrated = create_app(base_config(empty_database(), tmp_path))
    target = tmp_path / "nightly.backup"
    result = invoke(unmigrated, "backup", str(target))
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "has no couples-therapy tables: there is nothing to back up" in line
    assert not target.exists()
    dispose(unmigrated)


def test_a_backup_path_that_cannot_be_written_is_one_line(app, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = invoke(app, "backup", str(blocker / "inside" / "x.backup"))
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: Not a directory")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://u:s3cret@db/x",
        "postgresql+psycopg://u@db/x?password=s3cret&sslmode=require",
    ],
    ids=["user-part", "query-string"],
)
def test_pg_dump_gets_the_password_by_environment_never_on_its_command_line(url, monkeypatch):
    """A command line is readable by every account on the machine (ps); the environment is not."""
    ran: dict[str, object] = {}

    def run(command: list[str], *, env: dict[str, str], **options: object):
        ran.update(command=command, env=env)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(backup, "_postgres_tool", lambda program: program)
    monkeypatch.setattr(backup.subprocess, "run", run)
    backup._postgres("pg_dump", make_url(url), "--file=x.backup")
    assert not any("s3cret" in argument for argument in ran["command"]), ran["command"]
    assert ran["command"][-1].startswith("--dbname=postgresql://u@db/x")
    assert ran["env"]["PGPASSWORD"] == "s3cret"
    # libpq reads an sslpassword from the connection string only: refused, never passed.
    with pytest.raises(backup.BackupError, match="sslpassword"):
        backup._postgres("pg_dump", make_url(f"{url}{'&' if '?' in url else '?'}sslpassword=k"))


# --- Operator accounts -------------------------------------------------------------------------


def operator_events(app, command: str) -> list[AuditEvent]:
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.endpoint == f"flask counselor {command}")
        ).all()
        db.session.expunge_all()
        return list(events)


def test_set_password_sets_it_ends_sessions_lifts_the_lockout_and_is_audited(
    app, client, make_therapist
):
    owner = make_therapist("Olive Owner", admin=True)
    with app.app_context():
        for _ in range(MAX_FAILURES + 1):
            begin_attempt(owner.email)
        old_token = db.session.get(Therapist, owner.id).login_token

    result = invoke(
        app,
        "therapist",
        "set-password",
        owner.email.upper(),
        "--password-stdin",
        input=f"{NEW_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    with app.app_context():
        therapist = db.session.get(Therapist, owner.id)
        assert therapist.check_password(NEW_PASSWORD) and not therapist.check_password(PASSWORD)
        assert therapist.login_token != old_token
        assert db.session.scalars(select(LoginFailure)).all() == []
    assert login(client, owner, password=NEW_PASSWORD).status_code == 302

    [event] = operator_events(app, "therapist set-password")
    assert (event.action, event.object_type, event.object_id) == ("update", "therapist", owner.id)
    assert event.therapist_id is None and event.address == "operator (command line)"
    with app.app_context():
        trail = repr(db.session.execute(select(AuditEvent.__table__)).all())
    assert NEW_PASSWORD not in trail


def test_set_password_asks_twice_unseen(app, make_therapist):
    owner = make_therapist("Olive Owner", admin=True)
    result = invoke(
        app, "therapist", "set-password", owner.email, input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert "Repeat the new password" in result.output and NEW_PASSWORD not in result.output
    with app.app_context():
        assert db.session.get(Therapist, owner.id).check_password(NEW_PASSWORD)


@pytest.mark.parametrize(
    ("password", "problem"),
    [("short", "at least 12 characters"), ("password1234", "most common passwords")],
)
def test_set_password_applies_the_password_policy(app, make_therapist, password, problem):
    owner = make_therapist("Olive Owner", admin=True)
    result = invoke(
        app, "therapist", "set-password", owner.email, "--password-stdin", input=password + "\n"
    )
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert problem in line
    with app.app_context():
        assert db.session.get(Therapist, owner.id).check_password(PASSWORD)
    assert operator_events(app, "therapist set-password") == []


def test_set_password_of_an_unknown_email_is_one_line(app):
    result = invoke(
        app, "therapist", "set-password", "nobody@example.org", "--password-stdin", input="x\n"
    )
    assert result.exit_code == 1
    assert result.output.strip() == "Error: No therapist has the email address nobody@example.org."


def test_edit_changes_an_account_and_is_audited(app, make_therapist):
    make_therapist("Olive Owner", admin=True)
    colleague = make_therapist("Cole League")
    result = invoke(
        app, "therapist", "edit", colleague.email,
        "--name", "Cole League-Smith", "--email", "Cole@Example.org", "--admin",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Updated cole@example.org: Cole League-Smith, administrator, active." in result.output
    with app.app_context():
        edited = db.session.get(Therapist, colleague.id)
        assert (edited.name, edited.email, edited.is_admin) == (
            "Cole League-Smith",
            "cole@example.org",
            True,
        )
        token = edited.login_token
    off = invoke(app, "therapist", "edit", "cole@example.org", "--inactive")
    assert off.exit_code == 0, off.output
    with app.app_context():
        edited = db.session.get(Therapist, colleague.id)
        assert not edited.active and edited.login_token != token  # its sessions end
    events = operator_events(app, "therapist edit")
    assert [(e.action, e.object_id) for e in events] == [("update", colleague.id)] * 2


@pytest.mark.parametrize("change", ["--no-admin", "--inactive"])
def test_edit_refuses_to_remove_the_last_active_administrator(app, make_therapist, change):
    owner = make_therapist("Olive Owner", admin=True)
    make_therapist("Inactive Admin", admin=True, active=False)
    result = invoke(app, "therapist", "edit", owner.email, change)
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "is the last active administrator" in line
    with app.app_context():
        kept = db.session.get(Therapist, owner.id)
        assert kept.is_admin and kept.active
    # With another active administrator, it may.
    make_therapist("Second Admin", admin=True)
    assert invoke(app, "therapist", "edit", owner.email, change).exit_code == 0


def test_edit_refuses_an_email_in_use_or_invalid(app, make_therapist):
    first, second = make_therapist(), make_therapist()
    taken = invoke(app, "therapist", "edit", second.email, "--email", first.email)
    assert taken.exit_code == 1 and "already exists" in taken.output
    invalid = invoke(app, "therapist", "edit", second.email, "--email", "not-an-address")
    assert invalid.exit_code == 1 and "valid email address" in invalid.output
    nothing = invoke(app, "therapist", "edit", second.email)
    assert nothing.exit_code == 1 and "Nothing to change" in nothing.output


def test_create_setup_and_key_commands_are_audited(app, tmp_path):
    created = invoke(app, "therapist", "create", "--email", "n@example.org", "--name", "N")
    assert created.exit_code == 0, created.output
    [event] = operator_events(app, "therapist create")
    with app.app_context():
        assert event.object_id == find_by_email("n@example.org").id
    assert invoke(app, "setup").exit_code == 0
    assert [e.action for e in operator_events(app, "setup")] == ["setup"]
    assert invoke(app, "data-keys", "reencrypt").exit_code == 0
    assert [e.action for e in operator_events(app, "data-keys reencrypt")] == ["keys_reencrypt"]
    assert invoke(app, "audit", "verify").exit_code == 0  # chained like every other event


def test_mounted_operator_commands_work_under_the_hosts_flask_counselor(host, other_clinician):
    signed_in(host, other_clinician).get("/couples-therapy/")  # the host's clinician is met
    runner = host.test_cli_runner()
    refused = runner.invoke(
        args=["counselor", "therapist", "set-password", other_clinician.email, "--password-stdin"],
        input=NEW_PASSWORD + "\n",
    )
    assert refused.exit_code == 1
    [line] = refused.output.strip().splitlines()
    assert "signs in through the host application" in line
    off = runner.invoke(
        args=["counselor", "therapist", "edit", other_clinician.email, "--inactive"]
    )
    assert off.exit_code == 0, off.output
    with host.app_context():
        assert not find_by_email(other_clinician.email).active
    assert len(operator_events(host, "therapist edit")) == 1
