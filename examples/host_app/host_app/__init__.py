"""A small practice-management app that mounts counselor_app: the reference host.

Read ``create_app`` top to bottom: the host sets itself up exactly as it would without the
plugin (its own database, migrations, sign-in and CSRF protection), then mounts the plugin
with one call that hands it the host's database and the host's idea of who is signed in.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

import counselor_app
from counselor_app.schema import include_object as counselor_include_object

from .extensions import Base, csrf, db, login_manager, migrate
from .identity import ClinicianIdentity, clinician_identity
from .seed import seed_command

__all__ = ["Base", "ClinicianIdentity", "clinician_identity", "create_app", "db"]

PACKAGE_DIR = Path(__file__).resolve().parent
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"
# examples/host_app/instance/. Flask's own guess would be the repository's top-level instance/
# (the parent of the top-level package, `examples`), which the standalone plugin uses.
DEFAULT_INSTANCE_PATH = PACKAGE_DIR.parent / "instance"
SECRET_KEY_FILE = "secret_key"  # noqa: S105  (a file name, not a secret)


def create_app(
    test_config: dict[str, Any] | None = None,
    *,
    instance_path: str | os.PathLike[str] | None = None,
) -> Flask:
    """Build the host app; ``test_config`` wins over every other setting.

    Tests may pass the instance folder as ``instance_path`` or as ``INSTANCE_PATH`` in
    ``test_config`` (the folder must be known before the app exists, hence the two ways).
    """
    given = instance_path or (test_config or {}).get("INSTANCE_PATH") or DEFAULT_INSTANCE_PATH
    # Resolved, because Flask refuses a relative instance path.
    app = Flask(__name__, instance_relative_config=True, instance_path=str(Path(given).resolve()))
    # Owner only: the folder holds the database of client names and the secret key.
    os.makedirs(app.instance_path, mode=0o700, exist_ok=True)
    _configure(app, test_config)

    db.init_app(app)
    # The host's own Alembic history and version table. counselor_app keeps its tables in
    # this same database (it is given `db` below) but migrates them with its own history
    # (`flask counselor db upgrade`). include_object hides those `counselor_*` tables from
    # the host's autogenerate, which would otherwise write a migration dropping them.
    migrate.init_app(
        app, db, directory=str(MIGRATIONS_DIR), include_object=counselor_include_object
    )
    login_manager.init_app(app)
    # The plugin sends anonymous visitors to this view too: one sign-in for the whole app.
    login_manager.login_view = "auth.login"
    csrf.init_app(app)

    from . import admin, auth, clients, webhooks

    for module in (auth, clients, admin, webhooks):
        app.register_blueprint(module.bp)

    # The mount. `db`: the plugin's models live on the host's engine and session, so host and
    # plugin work share one transaction. `identity`: called on each request to the plugin's
    # pages; it returns the signed-in clinician, or None, which keeps the receptionist out.
    # Every plugin route is under the prefix, and its endpoints under "counselor.".
    counselor_app.init_app(app, url_prefix="/couples-therapy", db=db, identity=clinician_identity)

    app.cli.add_command(seed_command)
    return app


def _configure(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Defaults, then instance/config.py, then the environment, then the test mapping."""
    app.config.from_mapping(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{Path(app.instance_path) / 'host_app.sqlite3'}",
        SESSION_COOKIE_SAMESITE="Lax",
        # The plugin's pages extend the host's layout, so the practice looks like one app.
        COUNSELOR_BASE_TEMPLATE="base.html",
    )
    app.config.from_pyfile("config.py", silent=True)
    for name, variable in (
        ("SECRET_KEY", "SECRET_KEY"),
        ("SQLALCHEMY_DATABASE_URI", "DATABASE_URL"),
    ):
        if value := os.environ.get(variable):
            app.config[name] = value
    if test_config:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret_key(app)


def _instance_secret_key(app: Flask) -> str:
    """A random key kept in the instance folder: never a built-in default anyone could know."""
    path = Path(app.instance_path) / SECRET_KEY_FILE
    try:
        # O_EXCL: two workers starting at once keep the first key; 0600: owner only.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    return path.read_text().strip()
