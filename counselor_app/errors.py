"""Error pages in the base layout; a failed request never leaves a half-done transaction."""

import logging
import re
import traceback
from contextlib import suppress
from types import TracebackType
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    jsonify,
    make_response,
    render_template,
    request,
)
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError
from werkzeug.wrappers import Response

from counselor_app.encryption import UnreadableRecord
from counselor_app.extensions import db
from counselor_app.web import is_partner_page, local_endpoint

logger = logging.getLogger(__name__)

PAGES = {
    400: ("Bad request", "The request could not be understood. Nothing was saved."),
    403: ("Not allowed", "Your account does not have access to this page."),
    404: ("Not found", "There is nothing here, or it belongs to another account."),
    405: ("Not allowed", "That action is not available here."),
    429: ("Too many attempts", "Please wait a little before trying again."),
    500: ("Something went wrong", "Nothing was saved. Please try again."),
}
UNREADABLE_MESSAGE = (
    "A stored record failed its integrity check, so it is not shown and nothing was changed. "
    "The database may have been altered: please tell your practice administrator."
)
CSRF_MESSAGE = (
    "This form had expired or was not sent from this application, so nothing was saved. "
    "Go back, reload the page and submit it again."
)
# Flask-WTF's reasons when, over HTTPS, the Referer names another host than the request's.
REFERRER_REFUSALS = ("The referrer does not match the host.", "The referrer header is missing.")
# 503 pages: (title, message, seconds for Retry-After). "outage" and "upgrade" are answered
# by the guard (operations.guard) before the view runs, so nothing was saved; "interrupted" by
# the error handlers, after the view may have committed part of its work.
UNAVAILABLE = {
    "outage": (
        "Temporarily unavailable",
        "The service is temporarily unavailable: nothing you sent was saved. "
        "Please try again in a minute.",
        60,
    ),
    "upgrade": (
        "Upgrade in progress",
        "The service is being upgraded: nothing you sent was saved. "
        "Please try again in a few minutes.",
        120,
    ),
    "interrupted": (
        "Temporarily unavailable",
        "The service became unavailable while answering: some of what you sent may have been "
        "saved. Please try again in a minute, and check the page before sending it again.",
        60,
    ),
}


class WithholdExceptionMessages(logging.Filter):
    """Exception messages can quote what was typed (a database error echoing a value), so a
    logged traceback keeps where it happened and the exception's type, never its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = withheld_traceback(record.exc_info[1])
            record.exc_info = None
        return True


class RedactPartnerLinks(logging.Filter):
    """A partner's link opens their questions: the token never reaches a log line. The access
    logs of the development server (werkzeug) and gunicorn print each request's path, and the
    first request of a partner's visit has the token in it. So does every fetch of a
    therapist's calendar feed, which opens their appointment times."""

    TOKEN = re.compile(r"(/answer/)[A-Za-z0-9_-]{16,}")
    FEED_TOKEN = re.compile(r"(/calendar/feed/)[A-Za-z0-9_-]{16,}")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.TOKEN.sub(r"\1[personal-link]", message)
        redacted = self.FEED_TOKEN.sub(r"\1[feed-link]", redacted)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")


def redact_partner_links() -> None:
    for name in (*ACCESS_LOGGERS, logger.name):
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactPartnerLinks) for f in target.filters):
            target.addFilter(RedactPartnerLinks())


def withheld_traceback(error: BaseException) -> str:
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:  # `raise e from e` loops
        seen.add(id(current))
        lines[:0] = [*_frames(current.__traceback__), _kind(current)]
        current = current.__cause__ or current.__context__
    return "Traceback (most recent call last):\n" + "".join(lines).rstrip("\n")


def _frames(frames: TracebackType | None) -> list[str]:
    return traceback.format_tb(frames) if frames else []


def _kind(error: BaseException) -> str:
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__} (message withheld: it may hold client data)\n"


def render_error(code: int, detail: str | None = None) -> tuple[str, int] | Response:
    title, message = PAGES.get(code, (f"Error {code}", "The request could not be completed."))
    # A partner's pages have a layout of their own, which names no therapist page.
    partner = is_partner_page(local_endpoint())
    template = "counselor/partner/error.html" if partner else "counselor/errors/error.html"
    try:
        return render_template(template, code=code, title=title, message=detail or message), code
    except (DBAPIError, PoolTimeout) as error:
        # The page looks the signed-in therapist up: with the database gone, that fails too.
        if not is_outage(error):
            raise
        return database_unavailable(error)


def database_unavailable(error: Exception) -> Response:
    """The database is down or unreachable: our 503 page, and a log line naming the route and
    the exception's class, never its message."""
    _rollback()
    logger.error("Database unavailable on %s [%s]: %s", _rule(), request.method, _kind_name(error))
    return unavailable("interrupted")


# SQLite says OperationalError for a missing table or a syntax error too: only these primary
# result codes are the database not answering (busy, locked, read-only, I/O, full, can't open).
SQLITE_OUTAGES = frozenset({5, 6, 8, 10, 13, 14})


def is_outage(error: BaseException | None) -> bool:
    """The database did not answer (down, restarting, unreachable, its pool exhausted), as
    opposed to a fault in a statement: the request can succeed later, unchanged."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        sqlite_code = getattr(error.orig, "sqlite_errorcode", None)
        if sqlite_code is not None:
            return sqlite_code & 0xFF in SQLITE_OUTAGES
        return isinstance(error, OperationalError | InterfaceError)
    return isinstance(error, PoolTimeout)


def unavailable(kind: str) -> Response:
    """Our 503 page ("outage" or "upgrade"), without touching the database: nobody is looked
    up (the page shows no one's name), our layout rather than a host's (which may read the
    database), and never cached."""
    if kind == "interrupted" and request.method in ("GET", "HEAD"):
        kind = "outage"  # a page only read: nothing was sent to be saved
    title, message, retry_after = UNAVAILABLE[kind]
    g.counselor_therapist = None  # counselor_app.auth.identity: nobody to look up now
    manager = getattr(current_app, "login_manager", None)
    if manager is not None and "_login_user" not in g:
        # Flask-Login's template context loads the signed-in user (ours or a host's): not now.
        g._login_user = manager.anonymous_user()
    if request.accept_mimetypes.best == "application/json":
        response = make_response(jsonify(saved=False, error=message), 503)
    elif is_partner_page(local_endpoint()):
        body = render_template(
            "counselor/partner/error.html", code=503, title=title, message=message
        )
        response = make_response(body, 503)
    else:
        body = render_template(
            "counselor/errors/unavailable.html",
            title=title,
            message=message,
            sent_a_form=request.method not in ("GET", "HEAD"),
            current_therapist=None,
            counselor_base_template=None,
        )
        response = make_response(body, 503)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Retry-After"] = str(retry_after)
    return response


def _rollback() -> None:
    """End the failed request's transaction; with the database gone, that fails too, and the
    error page must still be answered (the pool drops the dead connection)."""
    with suppress(Exception):  # nothing left to undo on a dead connection
        db.session.rollback()


def _rule() -> str:
    # The route's pattern, not the path: a partner's path holds the token of their link.
    return request.url_rule.rule if request.url_rule else "(no route)"


def _kind_name(error: BaseException) -> str:
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}"


def protect_logger(target: logging.Logger) -> None:
    """Fit the filter to a logger (ours always; the app's own when the app is ours)."""
    if not any(isinstance(f, WithholdExceptionMessages) for f in target.filters):
        target.addFilter(WithholdExceptionMessages())


# Our pages' failures are logged here, never through the host's app.logger, and the filter on
# it withholds exception messages (a host's own logging keeps its messages).
protect_logger(logger)


def register(target: Flask | Blueprint) -> None:
    """Error pages for our blueprint (mounted: our pages only), or for the whole standalone app."""

    @target.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int] | Response:
        if error.description in REFERRER_REFUSALS:
            # Behind a proxy that does not pass the host on, every form fails here: say where
            # to look. Host names only (a Referer's path may hold a partner's link).
            logger.warning(
                "Form refused over HTTPS: the Referer's host (%s) is not this request's (%s). "
                "Behind a proxy, pass the host on (nginx: proxy_set_header Host $host; and "
                "X-Forwarded-Host with COUNSELOR_PROXY_FIX).",
                urlsplit(request.referrer or "").netloc or "none",
                request.host,
            )
        return render_error(400, CSRF_MESSAGE)

    @target.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int] | Response:
        if isinstance(error, CSRFError):
            return csrf_error(error)  # reached through the 400 handler registered below
        if isinstance(error, InternalServerError) and is_outage(error.original_exception):
            # Raised where no handler of ours could catch it first (an after_request hook).
            return database_unavailable(error.original_exception)  # type: ignore[arg-type]
        # A 400 raised by our own code with abort(400, "...") carries a message worth showing.
        own_message = (
            isinstance(error, BadRequest)
            and error.description != BadRequest.description
            and error.description
        )
        return render_error(error.code or 500, own_message or None)

    # Flask prefers an app's handler for a status code (a host's @app.errorhandler(404)) to a
    # blueprint's handler for an exception class: registered by code too, ours keep our pages.
    for code in PAGES:
        target.register_error_handler(code, http_error)

    @target.errorhandler(UnreadableRecord)
    def unreadable_record(error: UnreadableRecord) -> tuple[str, int] | Response:
        _rollback()
        # The endpoint says where to look; the record's content is never logged.
        logger.error("Encrypted value failed its integrity check on %s", local_endpoint())
        return render_error(500, UNREADABLE_MESSAGE)

    @target.errorhandler(DBAPIError)
    @target.errorhandler(PoolTimeout)
    def database_error(error: Exception) -> tuple[str, int] | Response:
        """An outage answers our 503 page whether testing or not (it is no fault of the code);
        any other database error is a server error."""
        return database_unavailable(error) if is_outage(error) else server_error(error)

    @target.errorhandler(Exception)
    def server_error(error: Exception) -> tuple[str, int] | Response:
        if _propagates():
            raise error  # testing and debugging: the exception itself is what helps
        _rollback()
        logger.error("Exception on %s [%s]", _rule(), request.method, exc_info=error)
        return render_error(500)


def _propagates() -> bool:
    """Flask's own rule for letting an exception through: testing and debugging, unless set."""
    propagate = current_app.config["PROPAGATE_EXCEPTIONS"]
    return bool(current_app.testing or current_app.debug) if propagate is None else propagate
