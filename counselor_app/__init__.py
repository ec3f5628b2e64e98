"""counselor_app: a couples-therapy plugin for Flask practice-management apps.

``init_app`` mounts the package into a host app: on the host's database and sign-in when it is
given them, with everything it adds scoped to one parent blueprint. ``create_app`` builds the
standalone application from the same pieces, adding what only an app of our own may change
(its session cookie, its logger, its app-wide error pages).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from flask_sqlalchemy import SQLAlchemy
from werkzeug.middleware.proxy_fix import ProxyFix

from counselor_app import config, errors
from counselor_app.audit.keys import ensure_audit_keys
from counselor_app.config import ConfigurationError
from counselor_app.encryption import DataKeysError, ensure_data_keys
from counselor_app.extensions import EXTENSION_KEY, Counselor, csrf, login_manager, own_db
from counselor_app.sessions import HttpsAwareSessionInterface
from counselor_app.web import CONVERTER, IdConverter, security_headers

__all__ = ["ConfigurationError", "DataKeysError", "create_app", "init_app"]

DEFAULT_URL_PREFIX = "/couples-therapy"
DEFAULT_NAME = "counselor"


def create_app(
    test_config: dict[str, Any] | None = None, *, instance_path: str | None = None
) -> Flask:
    """Build the standalone application; ``test_config`` overrides every other setting.

    The instance folder (config.py, secret_key, data_keys, audit_keys): ``instance_path`` when
    given, else ``COUNSELOR_INSTANCE_PATH`` from the environment, else Flask's default
    (``instance/`` in a checkout, ``<venv>/var/counselor_app-instance`` installed). Raises
    ConfigurationError (printed as one line by ``flask``) when the app must not start as
    configured.
    """
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=instance_path or config.instance_path_from_environment(),
        static_folder=None,
    )
    os.makedirs(app.instance_path, exist_ok=True)
    config.load(app, test_config)
    if app.config["COUNSELOR_PROXY_FIX"]:
        # Behind nginx or a load balancer: trust one hop for the client address and scheme.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    app.session_interface = HttpsAwareSessionInterface()
    csrf.init_app(app)
    init_app(app, url_prefix="")
    # The whole app is ours: error pages for every URL, headers on every response, and the
    # app's own logger withholds exception messages too.
    errors.register(app)
    errors.protect_logger(app.logger)
    app.after_request(headers_outside_our_blueprint)
    from counselor_app.mount import template_context

    app.context_processor(template_context)
    return app


def headers_outside_our_blueprint(response: Response) -> Response:
    """Standalone, responses that no blueprint of ours answered (an unknown URL's 404) carry the
    security headers too; our blueprint's own hook covers the rest."""
    return response if request.blueprint else security_headers(response)


def init_app(
    app: Flask,
    *,
    url_prefix: str = DEFAULT_URL_PREFIX,
    db: SQLAlchemy | None = None,
    identity: Callable[[], Any] | None = None,
    name: str | None = None,
) -> None:
    """Mount the package on ``app`` under ``url_prefix``.

    ``db``: the host's Flask-SQLAlchemy; our models then live on its engine and session (one
    transaction for the host's work and ours). Without it we bind a database of our own.
    ``identity``: a callable with no arguments, called per request, returning None (nobody
    signed in, or not a clinician) or an object with ``external_id``, ``name``, ``email`` and
    ``is_admin``. With it we have no sign-in pages of our own. ``name``: the parent
    blueprint's name (``COUNSELOR_BLUEPRINT_NAME``, else "counselor").
    """
    from counselor_app import cli, mount, ratelimit
    from counselor_app.flags.rules import margins_setting_problem

    config.apply_defaults(app)
    # The flag rules import nothing of the app (a domain package): its refusal is said here.
    if problem := margins_setting_problem(app.config["COUNSELOR_BORDERLINE_MARGINS"]):
        raise ConfigurationError(problem)
    if identity is None and getattr(app, "login_manager", None) not in (None, login_manager):
        raise RuntimeError(
            "This app has a Flask-Login LoginManager of its own: pass identity= to "
            "counselor_app.init_app so the package uses the host's sign-in."
        )
    counselor = Counselor(
        db=db or own_db,
        name=name or app.config.get("COUNSELOR_BLUEPRINT_NAME") or DEFAULT_NAME,
        url_prefix=url_prefix.rstrip("/"),
        identity=identity,
    )
    app.extensions[EXTENSION_KEY] = counselor
    if db is None:
        own_db.init_app(app)
    if identity is None:
        _bind_own_sign_in(app)
    if "csrf" not in app.extensions:
        config.csrf_defaults(app)  # our pages check their forms; the host's stay unchecked
    app.url_map.converters.setdefault(CONVERTER, IdConverter)
    counselor.limiter = ratelimit.limiter_for(app, _rate_limited_request)
    errors.redact_partner_links()
    with app.app_context():
        config.scope_sqlite_pragmas(counselor.db.engine)
        try:
            # Checked against the stored ciphertext and trail: never a new key beside data or
            # a trail it cannot open.
            ensure_data_keys(app, counselor.db.engine)
            ensure_audit_keys(app, counselor.db.engine)
        except ConfigurationError:
            counselor.db.engine.dispose()  # a refused start leaves no connection open
            raise
    app.register_blueprint(mount.build(counselor), url_prefix=counselor.url_prefix)
    if counselor.standalone_sign_in:
        ratelimit.limit_sign_in(app, counselor.limiter, f"{counselor.name}.{ratelimit.SIGN_IN}")
    cli.register(app)


def _rate_limited_request() -> bool:
    """Our limiter's routes: the partner links and our own sign-in. Every other route, ours
    or the host's, is exempt."""
    from counselor_app.ratelimit import SIGN_IN
    from counselor_app.web import PARTNER_LINK, local_endpoint

    return local_endpoint() in (PARTNER_LINK, SIGN_IN)


def _bind_own_sign_in(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    from counselor_app.auth.views import load_therapist

    login_manager.user_loader(load_therapist)
