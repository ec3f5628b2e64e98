"""Every page carries the security headers; pages with client data are never cached."""

from __future__ import annotations

import re

import route_walk
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
