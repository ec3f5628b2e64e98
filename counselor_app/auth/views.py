"""Signing in and out, and changing one's own password."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
)
from flask_limiter.errors import RateLimitExceeded
from flask_login import login_user, logout_user
from flask_wtf.csrf import generate_csrf
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from counselor_app.audit import services as audit
from counselor_app.auth import services
from counselor_app.auth.identity import current_therapist, forget_therapist
from counselor_app.extensions import db, state
from counselor_app.forms.auth import ChangePasswordForm, LoginForm
from counselor_app.forms.base import ActionForm
from counselor_app.models import Therapist
from counselor_app.web import PUBLIC_FILES, counselor_url, local_endpoint, renew_csrf_token

bp = Blueprint("auth", __name__)

# The pages whose forms give back text sent after the session ran out (forms.base.restore_draft
# is called in their views); a form posted from any other page is not kept.
RESTORING_PAGES = frozenset(
    {
        "couple.intake.section",
        "couples.create",
        "couple.edit",
        "couple.plans.create",
        "couple.plans.edit",
        "couple.appointments.detail",
    }
)


def load_therapist(token: str) -> Therapist | None:
    """Flask-Login's loader: the cookie holds a login token that logout and deactivation rotate."""
    return services.load_by_login_token(token)


def start_session_clock() -> None:
    now = int(time.time())
    session["signed_in_at"] = now
    session["seen_at"] = now
    session.permanent = True


def expired_reason(now: float) -> str | None:
    """Why the signed-in session has run out (idle too long, or open too long), if it has."""
    config = current_app.config
    signed_in_at = session.get("signed_in_at")
    seen_at = session.get("seen_at")
    if signed_in_at is None or seen_at is None:
        return "Please sign in again."
    # The absolute limit first: once it has passed, no activity could have helped, so it is
    # the reason to give even when the idle limit has passed as well.
    if now - signed_in_at > config["COUNSELOR_ABSOLUTE_TIMEOUT"].total_seconds():
        hours = int(config["COUNSELOR_ABSOLUTE_TIMEOUT"].total_seconds() // 3600)
        return f"You were signed out because you had been signed in for {hours} hours."
    if now - seen_at > config["COUNSELOR_IDLE_TIMEOUT"].total_seconds():
        minutes = int(config["COUNSELOR_IDLE_TIMEOUT"].total_seconds() // 60)
        return f"You were signed out after {minutes} minutes without activity."
    return None


# The time-out warning's requests. Asking how long is left is not activity, and ends nothing:
# a form sent from the page after the time is up must still find the session to keep its text.
SESSION_STATUS = "auth.session_status"
# "Stay signed in" moves the idle clock itself, once its CSRF token has been checked.
KEEP_ALIVE = "auth.keep_alive"


def enforce_session_limits() -> Response | None:
    """Automatic logoff: checked on every request of a signed-in therapist."""
    endpoint = local_endpoint()
    if endpoint in PUBLIC_FILES or endpoint == SESSION_STATUS or not current_therapist:
        return None  # static files neither count as activity nor need the check
    now = time.time()
    if reason := expired_reason(now):
        return sign_out_expired(reason)
    if endpoint != KEEP_ALIVE:
        session["seen_at"] = int(now)
    if request.method == "GET" and request.path in session.get("draft_paths", ()):
        restore_form_draft()
    return None


def sign_out_expired(reason: str) -> Response:
    kept_for = keep_unsent_form()
    logout_user()
    forget_therapist()
    # Keep the CSRF token until the next sign-in: a form a page left open sends meanwhile is
    # still kept for after it (keep_unsent_form), instead of refused as forged.
    token = session.get("csrf_token")
    session.clear()
    if token:
        session["csrf_token"] = token
    if request.accept_mimetypes.best == "application/json":
        error = reason + " Sign in again; your text is still on screen."
        return jsonify(saved=False, error=error), 401
    flash(reason, "info")
    if kept_for:
        flash(KEPT_MESSAGE, "info")
    next_page = request.full_path if request.method == "GET" else kept_for
    return redirect(counselor_url("auth.login", next=next_page))


KEPT_MESSAGE = (
    "What you had just sent was not saved, but it has been kept: sign in and it will be back "
    "in the form for you to check and save."
)
RESTORED_MESSAGE = (
    "This is what you typed before you were signed out. It is not saved yet: check it, then save."
)


def keep_unsent_form() -> str | None:
    """A form sent after the session ran out (its CSRF token already checked): keep what it
    held, encrypted, for the page it came from; return that page's path.

    Only forms whose page gives a draft back (RESTORING_PAGES) are kept: telling the therapist
    that text was kept, then never showing it, would be worse than saying nothing.
    """
    if request.method != "POST" or (request.content_length or 0) > services.DRAFT_MAX_BYTES:
        return None
    page = form_page_path()
    fields = [
        (name, value)
        for name, value in request.form.items(multi=True)
        if not name.endswith("csrf_token")
    ]
    if page is None or not fields:
        return None
    services.keep_form_draft(current_therapist.id, page, fields)
    db.session.commit()
    return page


def form_page_path() -> str | None:
    """The page the form was on, if it is one that restores drafts: the referring page (the
    appointment page's forms and the autosave post elsewhere), else the form's own address."""
    referrer = urlsplit(request.referrer or "")
    candidates = [request.path]
    if referrer.netloc == request.host and safe_next(referrer.path):
        candidates.insert(0, referrer.path)
    adapter = current_app.url_map.bind_to_environ(request.environ)
    for path in candidates:
        try:
            endpoint, _ = adapter.match(path.removeprefix(request.script_root), method="GET")
        except HTTPException:
            continue
        if endpoint.removeprefix(state().name + ".") in RESTORING_PAGES:
            return path
    return None


def restore_form_draft() -> None:
    """Hand a kept draft to this page's forms (forms.base.restore_draft fills them)."""
    session["draft_paths"] = [p for p in session["draft_paths"] if p != request.path]
    if local_endpoint() not in RESTORING_PAGES:
        return
    fields = services.take_form_draft(current_therapist.id, request.path)
    db.session.commit()
    if fields:
        g.restored_form = MultiDict(fields)
        flash(RESTORED_MESSAGE, "warning")


def safe_next(target: str | None) -> str | None:
    """Only same-site paths: an open redirect would let a phishing link borrow our login page."""
    if not target or any(ch in target for ch in "\\\r\n\t") or not target.isprintable():
        return None  # browsers read "/\\evil.com" as "//evil.com"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def current_clock(now: float) -> services.SessionClock:
    config = current_app.config
    return services.session_clock(
        signed_in_at=session["signed_in_at"],
        seen_at=session["seen_at"],
        now=now,
        idle=config["COUNSELOR_IDLE_TIMEOUT"],
        absolute=config["COUNSELOR_ABSOLUTE_TIMEOUT"],
    )


def clock_answer(now: float) -> Response:
    """The time-out warning's view of the session, as JSON."""
    if reason := expired_reason(now):
        return jsonify(signed_out=True, message=reason, remaining=0)
    clock = current_clock(now)
    return jsonify(
        signed_out=False,
        remaining=clock.remaining,
        absolute_remaining=max(0, int(clock.absolute_left)),
        final=clock.final,
        # The page's forms take it over (session.js): an open page outlives its first token.
        csrf_token=generate_csrf(),
    )


@bp.route("/session")
def session_status() -> Response:
    """How long the session has left. The time-out warning asks before it shows: activity in
    another tab may have kept the session alive meanwhile."""
    return clock_answer(time.time())


@bp.route("/session/keep-alive", methods=["POST"])
def keep_alive() -> Response:
    """The warning's "Stay signed in": activity, as opening a page would be. The absolute
    limit stays where it was (expired_reason still measures it from signing in)."""
    now = time.time()
    session["seen_at"] = int(now)
    return clock_answer(now)


@bp.app_template_global("counselor_session_timeout")
def session_timeout() -> dict[str, object]:
    """What the time-out warning of a page needs to know when the page is shown."""
    # After a form was sent the page's address may take posts only: sign-in returns home.
    here = request.full_path.rstrip("?") if request.method == "GET" else None
    now = time.time()
    return {
        # An error page may be shown without the clock checked: then the warning asks at once.
        "remaining": 0 if expired_reason(now) else current_clock(now).remaining,
        "warning": int(current_app.config["COUNSELOR_IDLE_WARNING"].total_seconds()),
        "sign_in": counselor_url("auth.login", next=here),
    }


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    """Sign in with email and password."""
    if current_therapist:
        # The time-out warning's "Sign in again" names the page to come back to; when another
        # tab has signed in meanwhile, go there.
        return redirect(safe_next(request.args.get("next")) or counselor_url("couples.index"))
    form = LoginForm()
    if form.validate_on_submit():
        attempt = services.begin_attempt(form.email.data)
        if wait := services.locked_for(form.email.data, attempt):
            form.email.errors.append(
                f"Too many failed sign-in attempts for this account. {_try_again_in(wait)}"
            )
            return render_template("counselor/auth/login.html", form=form), 429
        therapist = services.authenticate(form.email.data, form.password.data)
        if therapist is None or not therapist.active:
            _record_sign_in("login_failure", therapist.id if therapist else None)
            db.session.commit()
        if therapist is None:
            form.password.errors.append("The email or password is not correct.")
        elif not therapist.active:
            form.email.errors.append(
                "This account has been deactivated. Ask your practice administrator."
            )
        else:
            services.clear_failures(form.email.data)
            _record_sign_in("login_success", therapist.id)
            db.session.commit()
            login_user(therapist)
            forget_therapist()
            renew_csrf_token()
            start_session_clock()
            flash(f"Signed in as {therapist.name}.", "success")
            # Text kept from a form sent after the last session ran out: go back to it.
            if drafts := services.form_draft_paths(therapist.id):
                session["draft_paths"] = drafts
            fallback = drafts[-1] if drafts else counselor_url("couples.index")
            return redirect(safe_next(request.args.get("next")) or fallback)
    status = 401 if form.errors and request.method == "POST" else 200
    return render_template("counselor/auth/login.html", form=form), status


@bp.errorhandler(RateLimitExceeded)
def too_many_sign_ins(error: RateLimitExceeded) -> tuple[str, int]:
    """This address has been refused too often (counselor_app.ratelimit.limit_sign_in): the
    sign-in page again, with the email as typed (never the password) and how long to wait."""
    form = LoginForm()
    wait = timedelta(seconds=state().limiter.current_limit.reset_at - time.time())
    form.form_errors.append(
        f"Too many failed sign-in attempts from your network. {_try_again_in(wait)}"
    )
    return render_template("counselor/auth/login.html", form=form), 429


def _try_again_in(wait: timedelta) -> str:
    minutes = max(1, round(wait.total_seconds() / 60))
    return f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """Sign out, and make the old session cookie worthless should anyone replay it."""
    form = ActionForm()
    if form.validate_on_submit():
        current_therapist.rotate_login_token()
        _record_sign_in("logout", current_therapist.id)
        db.session.commit()
        logout_user()
        forget_therapist()
        renew_csrf_token()
        flash("You have been signed out.", "success")
    return redirect(counselor_url("auth.login"))


def _record_sign_in(action: str, therapist_id: int | None) -> None:
    """Sign-in, its failures and sign-out are audited here: only the view knows the outcome."""
    audit.record(
        action,
        therapist_id=therapist_id,
        endpoint=local_endpoint(),
        address=request.remote_addr or "",
    )


@bp.route("/account/password", methods=["GET", "POST"])
def change_password() -> str | Response:
    """Change one's own password (every other session of the account is signed out)."""
    form = ChangePasswordForm(
        personal=services.account_inputs(current_therapist.name, current_therapist.email)
    )
    if form.validate_on_submit():
        try:
            services.change_password(
                current_therapist, form.current_password.data, form.new_password.data
            )
        except services.AccountError as error:
            form.current_password.errors.append(str(error))
        else:
            db.session.commit()
            # The cookie must carry the new login token (pass the object, not the proxy).
            login_user(current_therapist._get_current_object())
            flash("Your password has been changed.", "success")
            return redirect(counselor_url("couples.index"))
    return render_template("counselor/auth/password.html", form=form)
