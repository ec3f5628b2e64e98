"""The parent blueprint: everything the package adds to an app hangs from it.

Every hook, error handler and context processor is registered here, so it runs for our pages
only; a host app's own pages, sign-in, CSRF exemptions and error pages stay the host's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    request,
    send_from_directory,
    url_for,
)
from flask_wtf.csrf import generate_csrf

from counselor_app import errors, operations, paths
from counselor_app.admin.views import bp as admin_bp
from counselor_app.appointments.views import bp as appointments_bp
from counselor_app.assessment.views import bp as assessment_bp
from counselor_app.assessment.views import safety_review_pending
from counselor_app.audit.views import audit_request, forget_request, watch_commits
from counselor_app.auth.identity import current_therapist, host_user_signed_in
from counselor_app.auth.views import bp as auth_bp
from counselor_app.auth.views import enforce_session_limits
from counselor_app.calendars.views import bp as calendars_bp
from counselor_app.calendars.views import couple_calendar_bp
from counselor_app.couples.views import bp as couples_bp
from counselor_app.couples.views import couple_bp
from counselor_app.encryption import is_unreadable
from counselor_app.extensions import Counselor, csrf, state
from counselor_app.fhir.views import bp as fhir_bp
from counselor_app.fhir.views import couple_fhir_bp
from counselor_app.forms.rendering import choice_inputs
from counselor_app.intake.views import bp as intake_bp
from counselor_app.invitations.views import bp as invitations_bp
from counselor_app.library.views import bp as library_bp
from counselor_app.partner import views as partner_views
from counselor_app.partner.services import COOKIE_NAME as PARTNER_COOKIE
from counselor_app.plans.views import bp as plans_bp
from counselor_app.progress.views import bp as progress_bp
from counselor_app.web import (
    PARTNER_LINK,
    PUBLIC_FILES,
    counselor_url,
    form_failed,
    is_partner_page,
    local_endpoint,
    security_headers,
)

# The couple's areas sit under /couples/<id>, whose parent loads and authorises g.couple.
for _child in (
    intake_bp,
    assessment_bp,
    plans_bp,
    appointments_bp,
    progress_bp,
    invitations_bp,
    couple_fhir_bp,
    couple_calendar_bp,
):
    couple_bp.register_blueprint(_child)

# Pages anyone may open: the public files, the sign-in page, a therapist's calendar feed
# (its link's token is the key a calendar app holds: calendars.views), and our instruments as
# FHIR Questionnaires (item wording and scoring only: no client data).
# And the readiness check, for load balancers: one word per check, no data.
OPEN_ENDPOINTS = PUBLIC_FILES | {
    "auth.login",
    "calendars.feed",
    "fhir.questionnaire",
    operations.READY,
}


def build(counselor: Counselor) -> Blueprint:
    """A parent blueprint for one app, named and mounted as ``init_app`` was told."""
    parent = Blueprint(
        counselor.name,
        __name__,
        static_folder=str(paths.STATIC_DIR),
        static_url_path="/counselor-static",
        template_folder=str(paths.TEMPLATES_DIR),
    )
    parent.add_url_rule("/counselor-static/print.css", "print_css", print_css)
    parent.add_url_rule("/healthz", "health", health)
    parent.add_url_rule("/readyz", operations.READY, ready)
    # First of our hooks: nothing reads the database before the guard has seen it is ours to
    # use (our revision, no upgrade under way, reachable).
    parent.before_request(operations.guard)
    # Each app's own limiter counts wrong links per address: only misses (the neutral page)
    # count, so a partner reopening their link is never held up by their own visits.
    parent.add_url_rule(
        f"{partner_views.services.PAGES_PATH}/<token>",
        PARTNER_LINK,
        counselor.limiter.limit(
            lambda: current_app.config["COUNSELOR_PARTNER_LINK_ATTEMPTS"],
            deduct_when=lambda response: response.status_code == partner_views.UNAVAILABLE_STATUS,
            # A link that works is never held up, even from an address that tried wrong ones
            # (a practice's shared Wi-Fi, or a host behind one proxy address).
            exempt_when=partner_views.link_works,
        )(partner_views.open_link),
    )
    if counselor.standalone_sign_in:
        parent.register_blueprint(auth_bp)
        parent.before_request(enforce_session_limits)
    for child in (
        couples_bp,
        couple_bp,
        library_bp,
        admin_bp,
        partner_views.bp,
        fhir_bp,
        calendars_bp,
    ):
        parent.register_blueprint(child)
    parent.before_request(require_therapist)
    parent.before_request(check_csrf)
    # Last: only a request let through (signed in, its token checked) may change anything.
    parent.before_request(watch_commits)
    parent.teardown_request(forget_request)
    # Flask runs after_request hooks last-registered first: the audit trail's commit goes last,
    # so the hooks before it read the signed-in therapist before the commit expires it.
    parent.after_request(audit_request)
    parent.after_request(no_store)
    parent.after_request(security_headers)
    parent.context_processor(template_context)
    for name, function in TEMPLATE_GLOBALS.items():
        parent.add_app_template_global(function, name)
    errors.register(parent)
    return parent


def print_css() -> Response:
    """The PDFs' print stylesheet, so a browser preview looks like the PDF it previews."""
    return send_from_directory(paths.REPORTS_DIR, "print.css", mimetype="text/css")


def health() -> Response:
    """For load balancers and uptime checks, and the benchmarks' framework baseline: answers
    without touching the database or the session."""
    return Response("ok\n", mimetype="text/plain")


def ready() -> Response:
    """For load balancers and orchestrators: 200 "ready" when the database answers, is at the
    revision this code was built for with no upgrade under way, and the data keys open what it
    stores; else 503 "not ready". One word per check, never an exception's text."""
    checks = operations.readiness()
    ready = all(result == operations.OK for result in checks.values())
    lines = [
        "ready" if ready else "not ready",
        *(f"{name}: {word}" for name, word in checks.items()),
    ]
    response = Response("\n".join(lines) + "\n", 200 if ready else 503, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    return response


def require_therapist() -> Response | None:
    """Every page but the open ones is for a signed-in therapist of ours; nobody else gets in."""
    endpoint = local_endpoint()
    if endpoint in OPEN_ENDPOINTS or is_partner_page(endpoint) or current_therapist:
        return None
    if request.cookies.get(PARTNER_COOKIE):
        abort(403)  # a partner's session, sent where it does not belong: no therapist page
    if state().standalone_sign_in:
        return redirect(counselor_url("auth.login", next=request.full_path.rstrip("?")))
    if host_user_signed_in():
        abort(403)  # signed in to the host, but not as a clinician
    return redirect(login_url())


def login_url() -> str:
    """Mounted: the host's sign-in page (COUNSELOR_LOGIN_URL, else its Flask-Login view)."""
    configured = current_app.config.get("COUNSELOR_LOGIN_URL")
    if configured:
        target = configured
    else:
        manager: Any = getattr(current_app, "login_manager", None)
        view = getattr(manager, "login_view", None)
        if not view:
            abort(403)  # a host with no sign-in page of its own: nothing to send them to
        target = url_for(view)
    separator = "&" if "?" in target else "?"
    # Quoted, so the page's own query ("?status=all&page=2") stays inside `next`.
    return f"{target}{separator}next={quote(request.full_path.rstrip('?'), safe='/')}"


def check_csrf() -> None:
    """Forms of ours are checked whether or not the host has a CSRFProtect of its own (or one
    that only checks on request): the host's exemptions never cover our routes."""
    if g.get("csrf_valid"):
        return  # the host's CSRFProtect (or ours, standalone) has checked it already
    protector = current_app.extensions.get("csrf", csrf)
    protector.protect()


def no_store(response: Response) -> Response:
    """Our pages for a signed-in therapist hold client data: no browser or proxy keeps a copy."""
    if local_endpoint() not in PUBLIC_FILES and current_therapist:
        response.headers["Cache-Control"] = "no-store"
    return response


def template_context() -> dict[str, Any]:
    return {
        "current_therapist": current_therapist,
        "counselor_standalone": state().standalone_sign_in,
        "counselor_base_template": current_app.config.get("COUNSELOR_BASE_TEMPLATE"),
    }


TEMPLATE_GLOBALS = {
    "counselor_url": counselor_url,
    "counselor_csrf_token": generate_csrf,
    "counselor_choice_inputs": choice_inputs,
    "counselor_safety_pending": safety_review_pending,
    "counselor_form_failed": form_failed,
    "counselor_unreadable": is_unreadable,
}
