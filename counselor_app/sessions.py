"""A session interface that marks the cookie Secure whenever the request came over HTTPS."""

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, Secure on HTTPS without breaking plain-HTTP development."""

    def get_cookie_secure(self, app: Flask) -> bool:
        forced = super().get_cookie_secure(app)
        return forced or (has_request_context() and request.is_secure)
