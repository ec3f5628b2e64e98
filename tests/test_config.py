"""Configuration layers, the instance secret key, and session cookie flags."""

from __future__ import annotations

import stat

import pytest
from sqlalchemy import func, select

from conftest import base_config
from counselor_app import create_app
from counselor_app.auth.services import create_therapist
from counselor_app.config import display_url, normalise_database_url, record_production_database
from counselor_app.extensions import db
from counselor_app.models import Therapist
from counselor_app.schema import upgrade


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATA_KEYS", raising=False)
    monkeypatch.delenv("COUNSELOR_DATA_KEYS", raising=False)
    # A developer's shell may name an instance or production: these tests choose their own.
    monkeypatch.delenv("COUNSELOR_INSTANCE_PATH", raising=False)
    monkeypatch.delenv("COUNSELOR_ENV", raising=False)
    return monkeypatch


def test_secret_key_is_generated_once_into_the_instance_folder(tmp_path, clean_env):
    first = create_app(instance_path=str(tmp_path))
    key_file = tmp_path / "secret_key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first.config["SECRET_KEY"]) == 64
    second = create_app(instance_path=str(tmp_path))
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    assert (
        create_app(instance_path=str(tmp_path / "other")).config["SECRET_KEY"]
        != first.config["SECRET_KEY"]
    )


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path, clean_env):
    app = create_app(instance_path=str(tmp_path))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/counselor_app.sqlite3"


def test_layers_apply_in_order(tmp_path, clean_env):
    (tmp_path / "config.py").write_text(
        "SQLALCHEMY_DATABASE_URI = 'sqlite:///from-instance.db'\nCOUNSELOR_COUPLES_PER_PAGE = 7\n"
    )
    app = create_app(instance_path=str(tmp_path))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///from-instance.db"
    assert app.config["COUNSELOR_COUPLES_PER_PAGE"] == 7

    clean_env.setenv("DATABASE_URL", "postgres://user:pw@db.internal/counselor")
    clean_env.setenv("SECRET_KEY", "from-the-environment")
    app = create_app(instance_path=str(tmp_path))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == (
        "postgresql+psycopg://user:pw@db.internal/counselor"
    )
    assert app.config["SECRET_KEY"] == "from-the-environment"

    app = create_app({"COUNSELOR_COUPLES_PER_PAGE": 3}, instance_path=str(tmp_path))
    assert app.config["COUNSELOR_COUPLES_PER_PAGE"] == 3


def test_old_setting_names_still_work_standalone_with_a_warning(tmp_path, clean_env, caplog):
    (tmp_path / "config.py").write_text("COUPLES_PER_PAGE = 4\nIDLE_TIMEOUT = 60\n")
    clean_env.setenv("DATA_KEYS", "QmVuY2htYXJrUHJhY3RpY2VLZXlOb3RGb3JSZWFsVXM=")
    app = create_app(instance_path=str(tmp_path))
    assert app.config["COUNSELOR_COUPLES_PER_PAGE"] == 4
    assert app.config["COUNSELOR_IDLE_TIMEOUT"] == 60
    assert app.config["COUNSELOR_DATA_KEYS"] == ["QmVuY2htYXJrUHJhY3RpY2VLZXlOb3RGb3JSZWFsVXM="]
    assert "COUPLES_PER_PAGE" not in app.config
    warnings = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert any("COUPLES_PER_PAGE" in line for line in warnings), warnings
    assert any("DATA_KEYS" in line for line in warnings), warnings
    # Both names set: the new one wins.
    app = create_app(
        {"COUPLES_PER_PAGE": 4, "COUNSELOR_COUPLES_PER_PAGE": 9}, instance_path=str(tmp_path)
    )
    assert app.config["COUNSELOR_COUPLES_PER_PAGE"] == 9


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_urls_use_psycopg3(given, expected):
    assert normalise_database_url(given) == expected


def cookie_header(response) -> str:
    return next(v for v in response.headers.getlist("Set-Cookie") if "counselor_session" in v)


def test_session_cookie_is_httponly_lax_and_secure_only_over_https(client):
    plain = cookie_header(client.get("/login"))
    assert "HttpOnly" in plain
    assert "SameSite=Lax" in plain
    assert "Secure" not in plain
    secure = cookie_header(client.get("/login", base_url="https://localhost"))
    assert "Secure" in secure


def test_the_sqlite_database_is_created_private(tmp_path, clean_env):
    # SQLite would make it with the umask (0644 as a rule), readable by every local account.
    app = create_app(instance_path=str(tmp_path))
    database = tmp_path / "counselor_app.sqlite3"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    with app.app_context():
        upgrade()
        create_therapist("Ada Owner", "ada@example.org", "a long enough passphrase 7")
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Therapist)) == 1
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    # A relative path is read from the instance folder, as Flask-SQLAlchemy reads it.
    create_app({"SQLALCHEMY_DATABASE_URI": "sqlite:///relative.db"}, instance_path=str(tmp_path))
    assert stat.S_IMODE((tmp_path / "relative.db").stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["password", "PassWord", "sslpassword"])
def test_a_password_in_the_query_string_is_never_shown_nor_recorded(tmp_path, clean_env, name):
    url = f"postgresql+psycopg://u@127.0.0.1:9/none?{name}=s3cret&connect_timeout=2"
    assert display_url(url) == "postgresql://u@127.0.0.1:9/none?connect_timeout=2"
    settings = {**base_config(url, tmp_path), "TESTING": False}
    app = create_app(settings, instance_path=str(tmp_path))  # the keys are given: it starts
    marker = record_production_database(app)
    assert marker is not None
    assert "database = postgresql://u@127.0.0.1:9/none?connect_timeout=2\n" in marker.read_text()
    assert "s3cret" not in marker.read_text()


def test_the_upgrade_timings_may_come_from_the_environment(tmp_path, clean_env):
    """The workers and `db upgrade` both read the env file: one place for what they share."""
    clean_env.setenv("COUNSELOR_UPGRADE_DRAIN_SECONDS", "45")
    clean_env.setenv("COUNSELOR_SCHEMA_CHECK_SECONDS", "1.5")
    app = create_app(instance_path=str(tmp_path))
    assert app.config["COUNSELOR_UPGRADE_DRAIN_SECONDS"] == 45.0
    assert app.config["COUNSELOR_SCHEMA_CHECK_SECONDS"] == 1.5
