"""counselor_app: a couples-therapy plugin for Flask.

``create_app`` builds a standalone application; ``init_app`` mounts the package into a host
Flask practice-management app (optionally under a URL prefix) without a global app object.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request, send_from_directory
from flask_login import current_user
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from counselor_app import config, errors
from counselor_app.encryption import ensure_data_keys
from counselor_app.extensions import EXTENSION_KEY, Counselor, csrf, login_manager, own_db
from counselor_app.sessions import HttpsAwareSessionInterface
from forms.rendering import choice_inputs

PACKAGE_DIR = Path(__file__).resolve().parent
# templates/ sits beside the package, both in a checkout and once installed into site-packages.
TEMPLATES_DIR = PACKAGE_DIR.parent / "templates"
REPORTS_DIR = PACKAGE_DIR.parent / "reports"
# The blueprints whose pages show client data (every one but the static files).
PAGE_BLUEPRINTS = frozenset(
    {
        "auth",
        "couples",
        "intake",
        "assessment",
        "plans",
        "library",
        "appointments",
        "progress",
        "admin",
    }
)

# Carries the package's templates and static files, so a host app gets them by registering it.
assets = Blueprint(
    "counselor",
    __name__,
    static_folder=str(PACKAGE_DIR / "static"),
    static_url_path="/counselor-static",
    template_folder=str(TEMPLATES_DIR),
)
assets.add_app_template_global(choice_inputs)


class IdConverter(IntegerConverter):
    """Database ids in URLs: a number beyond what a key column holds is a 404, not a 500."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, *args, **{"max": 2**31 - 1, **kwargs})


# No inline script anywhere (the pages' scripts are files). Styles may be inline: the progress
# charts are inline SVG that carry their own <style>, and style cannot run code.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)


def security_headers(response: Response) -> Response:
    """Headers every response of ours carries; HSTS only when the request came over HTTPS."""
    ours = (request.blueprint or "").split(".")[0] in PAGE_BLUEPRINTS | {"counselor"}
    if not (ours or current_app.config.get("SECURITY_HEADERS_EVERYWHERE")):
        return response  # a host application's own pages keep the host's policy
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.is_secure:
        # No includeSubDomains: mounted in a host, we must not commit the host's whole domain.
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def no_store(response: Response) -> Response:
    """Our pages for a signed-in therapist hold client data: no browser or proxy keeps a copy."""
    ours = (request.blueprint or "").split(".")[0] in PAGE_BLUEPRINTS
    if ours and current_user.is_authenticated:
        response.headers["Cache-Control"] = "no-store"
    return response


@assets.route("/counselor-static/print.css")
def print_css() -> Response:
    """The PDFs' print stylesheet, so a browser preview looks like the PDF it previews."""
    return send_from_directory(REPORTS_DIR, "print.css", mimetype="text/css")


@assets.route("/healthz")
def health() -> Response:
    """For load balancers and uptime checks, and the benchmarks' framework baseline: answers
    without touching the database or the session."""
    return Response("ok\n", mimetype="text/plain")


def _sqlite_pragmas(dbapi_connection: object, connection_record: object) -> None:
    """SQLite ignores foreign keys (and so ON DELETE CASCADE) unless each connection asks;
    secure_delete overwrites what is deleted (an erased couple) instead of leaving it in
    free pages of the file."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()


def create_app(
    test_config: dict[str, Any] | None = None, *, instance_path: str | None = None
) -> Flask:
    """Build the standalone application; ``test_config`` overrides every other setting.

    ``instance_path`` defaults to Flask's ``instance/`` beside the package (the checkout's
    top level); deployments and tests may point it elsewhere.
    """
    app = Flask(
        __name__, instance_relative_config=True, instance_path=instance_path, static_folder=None
    )
    os.makedirs(app.instance_path, exist_ok=True)
    config.load(app, test_config)
    if app.config["PROXY_FIX"]:
        # Behind nginx or a load balancer: trust one hop for the client address and scheme.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    init_app(app)
    errors.register(app)
    return app


def init_app(app: Flask, url_prefix: str = "") -> None:
    """Bind the extensions and register every blueprint and command on ``app``."""
    from counselor_app import cli
    from counselor_app.admin.views import bp as admin_bp
    from counselor_app.appointments.views import bp as appointments_bp
    from counselor_app.assessment.views import bp as assessment_bp
    from counselor_app.audit.views import audit_request
    from counselor_app.auth.views import bp as auth_bp
    from counselor_app.auth.views import enforce_session_limits, load_therapist
    from counselor_app.couples.views import bp as couples_bp
    from counselor_app.intake.views import bp as intake_bp
    from counselor_app.library.views import bp as library_bp
    from counselor_app.plans.views import bp as plans_bp
    from counselor_app.progress.views import bp as progress_bp

    for name, value in config.PACKAGE_DEFAULTS.items():
        app.config.setdefault(name, value)  # a host app may not have set these
    ensure_data_keys(app)
    errors.protect_logs(app)
    app.extensions[EXTENSION_KEY] = Counselor(db=own_db, name="counselor", url_prefix=url_prefix)
    own_db.init_app(app)
    with app.app_context():
        event.listen(own_db.engine, "connect", _sqlite_pragmas)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_therapist)
    app.session_interface = HttpsAwareSessionInterface()
    app.url_map.converters["id"] = IdConverter

    for blueprint in (
        assets,
        auth_bp,
        couples_bp,
        intake_bp,
        assessment_bp,
        plans_bp,
        library_bp,
        appointments_bp,
        progress_bp,
        admin_bp,
    ):
        app.register_blueprint(blueprint, url_prefix=url_prefix + (blueprint.url_prefix or ""))
    app.before_request(enforce_session_limits)
    # Flask runs after_request hooks last-registered first: the audit trail's commit goes last,
    # so the hooks before it read the signed-in therapist before the commit expires it
    # (otherwise every page paid one more query to load the therapist again).
    app.after_request(audit_request)
    app.after_request(no_store)
    app.after_request(security_headers)
    cli.register(app)
