"""Sending mail with the standard library: only partners' invitation links go out this way.

Configured by COUNSELOR_MAIL_* (see config.py); with no server named, nothing is sent and the
pages offer the link and the printed slip instead.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app

TIMEOUT_SECONDS = 15


class MailError(Exception):
    """The message could not be handed to the mail server; the text says so in plain words."""


def configured() -> bool:
    config = current_app.config
    return bool(config.get("COUNSELOR_MAIL_SERVER") and config.get("COUNSELOR_MAIL_SENDER"))


def send(recipient: str, subject: str, body: str) -> None:
    """Hand one plain-text message to the configured server, or raise MailError."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["COUNSELOR_MAIL_SENDER"]
    message["To"] = recipient
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=_domain(config["COUNSELOR_MAIL_SENDER"]))
    message.set_content(body)
    server, port = config["COUNSELOR_MAIL_SERVER"], int(config["COUNSELOR_MAIL_PORT"])
    context = ssl.create_default_context()
    try:
        if config["COUNSELOR_MAIL_USE_SSL"]:
            connection: smtplib.SMTP = smtplib.SMTP_SSL(
                server, port, timeout=TIMEOUT_SECONDS, context=context
            )
        else:
            connection = smtplib.SMTP(server, port, timeout=TIMEOUT_SECONDS)
        with connection:
            if config["COUNSELOR_MAIL_USE_TLS"]:
                connection.starttls(context=context)
            if config.get("COUNSELOR_MAIL_USERNAME"):
                if not (config["COUNSELOR_MAIL_USE_TLS"] or config["COUNSELOR_MAIL_USE_SSL"]):
                    # A password sent in clear is worse than a message not sent.
                    raise MailError("login without TLS refused")
                connection.login(
                    config["COUNSELOR_MAIL_USERNAME"], config["COUNSELOR_MAIL_PASSWORD"]
                )
            connection.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        # The server's reply may quote the recipient: only the kind of failure is passed on.
        raise MailError(type(error).__name__) from None


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip(" >") or "localhost"
