"""Calls from other systems, which post JSON and carry no CSRF token.

The route is exempted from the host's CSRFProtect; counselor_app uses that same CSRFProtect
when mounted, so it must leave this route alone (no second protector answering 400).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request

from .extensions import csrf

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.post("/calendar")
@csrf.exempt
def calendar() -> Response:
    """Accept a calendar provider's change notice.

    A real host would check the provider's signature here and queue a sync; this one only
    checks the shape, because the route exists to show that an exempt host route still works.
    """
    if not isinstance(request.get_json(silent=True), dict):
        abort(400)
    return Response(status=204)
