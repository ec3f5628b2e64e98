"""What the package binds to an app, created once at import time and bound in ``init_app``.

Nothing here is global to the process: the database a request uses is the one ``init_app``
was given for that app (the host's Flask-SQLAlchemy when mounted, our own otherwise), read
through ``state()`` so one process can hold several apps (the test suite does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from flask import current_app
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from werkzeug.local import LocalProxy

from counselor_app.models.base import Base

EXTENSION_KEY = "counselor"

# Standalone only: a host app brings its own database, sign-in and CSRF protection.
# Our models are on Base (its own registry), never on a db.Model, so they work on either.
own_db = SQLAlchemy(metadata=Base.metadata)
login_manager = LoginManager()
csrf = CSRFProtect()


@dataclass
class Counselor:
    """The package as bound to one app by ``init_app``."""

    db: SQLAlchemy
    # The parent blueprint's name: every endpoint of ours is "<name>.<area>.<view>".
    name: str
    url_prefix: str
    # Mounted with the host's sign-in: returns the host's signed-in clinician, or None.
    identity: Callable[[], Any] | None = None
    # This app's Flask-Limiter, applied to our partner links and our own sign-in only
    # (counselor_app.ratelimit).
    limiter: Any = None

    @property
    def standalone_sign_in(self) -> bool:
        return self.identity is None


def state() -> Counselor:
    # On every request path (each `db.session` goes through it): a plain return, no cast().
    counselor: Counselor = current_app.extensions[EXTENSION_KEY]
    return counselor


# Our code says `db.session`, `db.engine`, `db.paginate`: whichever SQLAlchemy this app uses.
db = cast(SQLAlchemy, LocalProxy(lambda: state().db))
