"""Error pages in the base layout; a failed request never leaves a half-done transaction."""

import logging
import re
import traceback
from types import TracebackType

from flask import Blueprint, Flask, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest, HTTPException

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


def render_error(code: int, detail: str | None = None) -> tuple[str, int]:
    title, message = PAGES.get(code, (f"Error {code}", "The request could not be completed."))
    # A partner's pages have a layout of their own, which names no therapist page.
    partner = is_partner_page(local_endpoint())
    template = "counselor/partner/error.html" if partner else "counselor/errors/error.html"
    return render_template(template, code=code, title=title, message=detail or message), code


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
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        return render_error(400, CSRF_MESSAGE)

    @target.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        if isinstance(error, CSRFError):
            return csrf_error(error)  # reached through the 400 handler registered below
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
    def unreadable_record(error: UnreadableRecord) -> tuple[str, int]:
        db.session.rollback()
        # The endpoint says where to look; the record's content is never logged.
        logger.error("Encrypted value failed its integrity check on %s", local_endpoint())
        return render_error(500, UNREADABLE_MESSAGE)

    @target.errorhandler(Exception)
    def server_error(error: Exception) -> tuple[str, int]:
        if _propagates():
            raise error  # testing and debugging: the exception itself is what helps
        db.session.rollback()
        # The route's pattern, not the path: a partner's path holds the token of their link.
        rule = request.url_rule.rule if request.url_rule else "(no route)"
        logger.error("Exception on %s [%s]", rule, request.method, exc_info=error)
        return render_error(500)


def _propagates() -> bool:
    """Flask's own rule for letting an exception through: testing and debugging, unless set."""
    propagate = current_app.config["PROPAGATE_EXCEPTIONS"]
    return bool(current_app.testing or current_app.debug) if propagate is None else propagate
