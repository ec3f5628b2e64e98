"""Rate limits (Flask-Limiter) counted in the app's own database, so that every worker process
of a deployment sees the same counts without a Redis or memcached to run.

``COUNSELOR_RATELIMIT_STORAGE_URI`` may name any storage Flask-Limiter knows instead
("redis://localhost:6379/0", say). Each app gets a limiter of its own, applied to our routes
only: a host's pages, and a host's own Flask-Limiter, are left as they were.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import Storage
from sqlalchemy import case, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from counselor_app.extensions import db
from counselor_app.models.ratelimit import RateLimitCount

SCHEME = "counselor-db"
# Our own sign-in's endpoint (standalone), without the parent blueprint's name.
SIGN_IN = "auth.login"
# The sign-in page answers a refused attempt (a wrong password, an unknown email) with this.
REFUSED_SIGN_IN = 401
TABLE = RateLimitCount.__table__


class DatabaseStorage(Storage):
    """A fixed-window storage for the `limits` library on the app's SQLAlchemy engine.

    Each call uses a connection of its own and commits at once: a count must stand even when
    the request that made it is rolled back, and must not wait for that request to end.
    """

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any):
        super().__init__(uri, wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        expired = TABLE.c.expires_at <= now
        dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(TABLE).values(key=key, count=amount, expires_at=now + expiry)
        statement = statement.on_conflict_do_update(
            index_elements=[TABLE.c.key],
            set_={
                "count": case((expired, amount), else_=TABLE.c.count + amount),
                "expires_at": case((expired, now + expiry), else_=TABLE.c.expires_at),
            },
        ).returning(TABLE.c.count)
        with db.engine.begin() as connection:
            # Windows long over are of no use to anyone: they go as new ones are counted.
            connection.execute(delete(TABLE).where(TABLE.c.expires_at < now - 3600))
            return int(connection.execute(statement).scalar_one())

    def get(self, key: str) -> int:
        query = select(TABLE.c.count).where(TABLE.c.key == key, TABLE.c.expires_at > time.time())
        with db.engine.connect() as connection:
            return int(connection.execute(query).scalar() or 0)

    def get_expiry(self, key: str) -> float:
        with db.engine.connect() as connection:
            found = connection.execute(select(TABLE.c.expires_at).where(TABLE.c.key == key))
            return float(found.scalar() or time.time())

    def check(self) -> bool:
        try:
            with db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with db.engine.begin() as connection:
            return connection.execute(delete(TABLE)).rowcount

    def clear(self, key: str) -> None:
        with db.engine.begin() as connection:
            connection.execute(delete(TABLE).where(TABLE.c.key == key))


def limiter_for(app: Flask, applies_to: Any) -> Limiter:
    """A limiter of this app's own. ``applies_to()`` says whether the request is one of ours:
    any other is exempt, whatever limits a host's configuration names (RATELIMIT_DEFAULT)."""
    limiter = Limiter(
        key_func=get_remote_address,
        storage_uri=app.config["COUNSELOR_RATELIMIT_STORAGE_URI"],
        strategy="fixed-window",
        headers_enabled=False,
    )
    limiter.request_filter(lambda: not applies_to())
    limiter.init_app(app)
    return limiter


def limit_sign_in(app: Flask, limiter: Limiter, endpoint: str) -> None:
    """Count refused sign-ins per client address across every account, in front of the
    per-account lockout (auth.services): one address guessing a password or two for each of
    many accounts never reaches any account's limit. Only refusals count, so colleagues
    signing in from the practice's one address are not held up by each other.

    The view is wrapped where the app has registered it: the auth blueprint is shared by every
    app in the process, the limiter is this app's. A burst sent all at once may pass the limit
    by as many requests as the workers run at a time; the per-account lockout counts first.
    """
    app.view_functions[endpoint] = limiter.limit(
        lambda: current_app.config["COUNSELOR_SIGN_IN_ATTEMPTS"],
        methods=["POST"],
        deduct_when=lambda response: response.status_code == REFUSED_SIGN_IN,
    )(app.view_functions[endpoint])
