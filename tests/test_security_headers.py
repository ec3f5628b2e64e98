"""Every page carries the security headers; pages with client data are never cached."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

import route_walk
from conftest import PASSWORD, base_config
from counselor_app import create_app
from counselor_app.errors import CSRF_MESSAGE
from counselor_app.extensions import db
from counselor_app.web import PUBLIC_FILES
from route_walk import routes

every_id = route_walk.every_id  # the shared fixture: a couple with a row behind every id

REQUIRED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# Where a page asks for a stricter value than REQUIRED: the partner's personal link refers
# nowhere, since its own URL holds the link's token (partner.views.open_link).
STRICTER = {("partner_link", "Referrer-Policy"): "no-referrer"}
CSP_PARTS = ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "script-src 'self'")


def get_pages(app, ids):
    for route in routes(app):
        if "GET" in route.methods:
            yield route, route.url(ids)


def test_every_page_has_the_security_headers(app, logged_in, every_id):
    checked = 0
    for route, url in get_pages(app, every_id):
        response = logged_in.get(url)
        response.close()
        for name, value in REQUIRED.items():
            expected = STRICTER.get((route.name, name), value)
            assert response.headers.get(name) == expected, (url, name)
        policy = response.headers.get("Content-Security-Policy", "")
        for part in CSP_PARTS:
            assert part in policy, (url, part)
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0], url
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP here
        checked += 1
    assert checked >= 25
    # Error pages too.
    assert logged_in.get("/no/such/page").headers["X-Content-Type-Options"] == "nosniff"


def test_pages_with_client_data_are_not_cached(app, logged_in, every_id):
    checked = 0
    for route, url in get_pages(app, every_id):
        if route.name in PUBLIC_FILES:
            continue  # the package's own static files and health check hold no client data
        response = logged_in.get(url)
        response.close()
        assert response.headers.get("Cache-Control") == "no-store", url
        checked += 1
    assert checked >= 25


def test_hsts_over_https(client):
    response = client.get("/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_no_page_has_inline_script(app, logged_in, every_id):
    for _route, url in get_pages(app, every_id):
        response = logged_in.get(url)
        response.close()
        if "text/html" not in response.headers.get("Content-Type", ""):
            continue
        body = response.get_data(as_text=True)
        for tag in body.split("<script")[1:]:
            assert tag.lstrip().startswith("src="), (url, tag[:80])
        assert not re.search(r"\son[a-z]+\s*=", body), url
        assert "javascript:" not in body.lower(), url


def test_hsts_does_not_claim_subdomains(client):
    response = client.get("/login", base_url="https://localhost")
    assert "includeSubDomains" not in response.headers["Strict-Transport-Security"]


# --- Behind nginx -----------------------------------------------------------------------------
# gunicorn trusts X-Forwarded-Proto from 127.0.0.1 (its secure_scheme_headers and
# forwarded_allow_ips defaults), so behind nginx on the same server a request reaches the app as
# https. nginx's default Host is the upstream's own address ($proxy_host): the real one travels
# in X-Forwarded-Host only when nginx is told to send it.
UPSTREAM = "127.0.0.1:8000"
THROUGH_NGINX = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


def sign_in_through_nginx(app, therapist, headers: dict[str, str]):
    """GET the sign-in page then POST it, each as nginx and gunicorn pass them on."""
    client = app.test_client()
    options = {
        "base_url": f"http://{UPSTREAM}",
        "headers": {**THROUGH_NGINX, **headers},
        "environ_overrides": {"wsgi.url_scheme": "https"},  # gunicorn's doing, from the header
    }
    page = client.get("/login", **options).get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
    headers = {**options["headers"], "Referer": "https://clinic.example/login"}
    return client.post(
        "/login",
        data={"csrf_token": token, "email": therapist.email, "password": PASSWORD},
        **{**options, "headers": headers},
    )


@pytest.fixture
def proxied_app(app, tmp_path):
    """The same database, as an app with COUNSELOR_PROXY_FIX on."""
    proxied = create_app(
        base_config(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path) | {"COUNSELOR_PROXY_FIX": True}
    )
    yield proxied
    with proxied.app_context():
        db.session.remove()
        db.engine.dispose()


def test_signing_in_over_https_behind_nginx_with_proxy_fix(proxied_app, therapist):
    """X-Forwarded-Host names the site: the Referer check compares it, not the upstream's."""
    response = sign_in_through_nginx(proxied_app, therapist, {"X-Forwarded-Host": "clinic.example"})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert urlsplit(response.headers["Location"]).path == "/"
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_without_proxy_fix_the_forwarded_host_is_not_trusted(app, therapist, caplog):
    """The same request to an app that does not trust the proxy's headers: the Referer names
    another host than the request's, so the form is refused (and the log says where to look)."""
    response = sign_in_through_nginx(app, therapist, {"X-Forwarded-Host": "clinic.example"})
    assert response.status_code == 400
    assert CSRF_MESSAGE in response.get_data(as_text=True)
    assert "proxy_set_header Host $host" in caplog.text
    assert "clinic.example" in caplog.text and UPSTREAM in caplog.text


def test_nginx_passing_the_host_on_needs_no_proxy_fix_for_the_referrer(app, therapist):
    """`proxy_set_header Host $host;`: the request's own Host is the site's."""
    client_headers = {"Host": "clinic.example"}
    response = sign_in_through_nginx(app, therapist, client_headers)
    assert response.status_code == 302
