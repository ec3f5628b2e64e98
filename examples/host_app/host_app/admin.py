"""The practice admin's pages.

The blueprint is named ``admin``, a name counselor_app used to take at the top level: mounted,
the plugin's admin area is ``counselor.admin`` and the two sit side by side.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required
from sqlalchemy import select

from .extensions import db
from .models import User

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def require_admin() -> None:
    """Checked once for the whole blueprint, so no admin view can forget it."""
    if not current_user.is_admin:
        abort(403)


@bp.get("/users")
def users() -> str:
    """Staff accounts and their roles."""
    staff = db.session.scalars(select(User).order_by(User.name)).all()
    return render_template("admin/users.html", users=staff)
