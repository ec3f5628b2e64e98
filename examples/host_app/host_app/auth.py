"""The host's sign-in: the only one in the app once counselor_app is mounted.

The blueprint is named ``auth`` and its template is ``auth/login.html``: both names counselor_app
used to claim for itself, kept here on purpose.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from .extensions import db, login_manager
from .forms import LoginForm
from .models import User

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    """Sign in, then go back to the page that asked for it (the plugin's pages included)."""
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.email == form.email.data))
        if user is not None and user.check_password(form.password.data):
            login_user(user)
            _renew_csrf_token()
            return redirect(_safe_next(request.args.get("next")))
        flash("Email or password is not right.", "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Response:
    """Sign out (a POST, so another site cannot sign staff out with a link)."""
    logout_user()
    _renew_csrf_token()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


def _renew_csrf_token() -> None:
    """Forms after signing in or out carry a new CSRF token (Flask-WTF keeps it in the
    session): one read before, or planted with a session cookie, is refused after. The
    plugin's pages take their token from this same session, so they follow."""
    session.pop("csrf_token", None)


def _safe_next(target: str | None) -> str:
    """Follow ``next`` only within this site: an open redirect would help phishing."""
    if target and target.startswith("/") and not urlsplit(target).netloc and "\\" not in target:
        return target
    return url_for("clients.index")
