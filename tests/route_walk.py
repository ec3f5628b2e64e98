"""Every route of ours in an app's URL map, with real ids filled in: for checks that must
cover every page, standalone (``create_app``) or mounted in a host (``init_app``).

Our routes are the endpoints under the parent blueprint's name, wherever the app mounted it
(``app.extensions["counselor"]``: its ``name`` and ``url_prefix``); a host's own routes are
never walked. Also what those checks share: ``every_id``, a couple with something behind every
kind of id (and behind every form); ``Practice``, one seeded practice to walk as its therapist,
another therapist, an administrator and a visitor; and the forms the pages post, read back as
a browser would send them.

A partner's pages (``/answer/...``, and the personal link ``/answer/<token>``) are ours too, but
no therapist's: they are left out of the therapist's pages (``object_pages``) and walked with a
partner's session instead (``Practice.partner_sessions``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from html.parser import HTMLParser
from itertools import product
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

import snapshot_support
from appointment_support import Visit, seed_history
from conftest import add_couple, login
from counselor_app import mail
from counselor_app.appointments.services import save_note
from counselor_app.assessment.services import confirm_flag
from counselor_app.calendars.services import make_feed
from counselor_app.extensions import EXTENSION_KEY, Counselor, db
from counselor_app.models import (
    Appointment,
    AppointmentStatus,
    CheckIn,
    Couple,
    Flag,
    Invitation,
    IssuedDocument,
    Partner,
    SessionPlan,
    Therapist,
)
from counselor_app.models.base import utcnow
from counselor_app.web import CONVERTER, is_partner_page
from intake_support import seed_intake
from partner_support import PartnerBrowser, invite
from plan_support import plan_form
from vignettes import SAFE, VIGNETTES

# Raises two flags: one stays suggested, the other is confirmed.
TWO_FLAGS = next(v for v in VIGNETTES if v.name == "identical_answers")

# Values for URL arguments that are not database ids.
FIXED_ARGUMENTS = {
    "label": "a",
    "slug": "background",
    "kind": "plan",
    "key": "quality_time",
    "filename": "css/app.css",
    "resource_id": "csi4-v1",
    "instrument_id": "csi4",
}
# Arguments naming a database row: our id converter (or a plain <int:...>).
ID_ARGUMENT = re.compile(rf"<(?:{CONVERTER}|int)(?:\([^)]*\))?:(\w+)>")
ANY_ARGUMENT = re.compile(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>")
# URL arguments whose value in ``ids`` goes by another name on the route named: a name that
# another kind of route may use too (a partner's link is not the only thing with a token).
ARGUMENT_KEYS = {
    ("partner_link", "token"): "link_token",
    ("calendars.feed", "token"): "feed_token",
}
# The parent of every page about one couple; the rest are its children's ids.
PARENT_ID = "couple_id"
# The rows behind each child id a URL can take (a row of one couple: its couple_id column).
CHILD_ROWS = {
    "plan_id": SessionPlan,
    "appointment_id": Appointment,
    "flag_id": Flag,
    "document_id": IssuedDocument,
    "invitation_id": Invitation,
    "check_in_id": CheckIn,
}
# The forms of the page that shows a partner's new link (print a slip, email it): that page is
# the response that made the link, never a GET page, so the walks post these as the page would
# (the link's token sent back); build_every_id checks that the page's own forms are these.
DELIVERY_FORMS = ("couple.invitations.slip", "couple.invitations.email")
# Where invitation emails go in the practices below: nowhere (mail.send is replaced).
MAIL_SETTINGS = {
    "COUNSELOR_MAIL_SERVER": "mail.invalid",
    "COUNSELOR_MAIL_SENDER": "practice@example.org",
}
PARTNER_A_EMAIL = "partner-a@example.org"
# The couple whose partner A answers the intake by link in the partner walks.
PARTNER_WALK_NAMES = ("Remy", "Noor")


def mount_of(app: Flask) -> Counselor:
    """Where the package sits in ``app``: the parent blueprint's ``name`` and ``url_prefix``."""
    return app.extensions[EXTENSION_KEY]


def our_path(app: Flask, local: str) -> str:
    """One of our paths as ``app`` serves it: "/couples/1" is "/couples-therapy/couples/1"
    in the reference host and unchanged standalone."""
    return mount_of(app).url_prefix + local


@dataclass(frozen=True)
class Route:
    endpoint: str  # as in app.url_map: "counselor.couple.plans.detail"
    name: str  # without the parent blueprint's name: "couple.plans.detail"
    rule: str
    methods: frozenset[str]
    arguments: frozenset[str]

    @property
    def partner(self) -> bool:
        """A partner's page or link: reached with a partner's session, never a therapist's."""
        return is_partner_page(self.name)

    @property
    def id_arguments(self) -> frozenset[str]:
        return frozenset(ID_ARGUMENT.findall(self.rule))

    @property
    def child_id_arguments(self) -> frozenset[str]:
        """The ids of a couple's rows, in a URL under that couple's id."""
        ids = self.id_arguments
        return ids - {PARENT_ID} if PARENT_ID in ids else frozenset()

    def url(self, ids: dict[str, Any]) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            found = ids.get(ARGUMENT_KEYS.get((self.name, name), name), FIXED_ARGUMENTS.get(name))
            assert found is not None, f"no value for <{name}> in {self.rule}"
            return str(found)

        return ANY_ARGUMENT.sub(value, self.rule)


def local_name(app: Flask, endpoint: str) -> str | None:
    """``endpoint`` without the parent blueprint's name; None for a route of the host's."""
    prefix = mount_of(app).name + "."
    return endpoint.removeprefix(prefix) if endpoint.startswith(prefix) else None


def routes(app: Flask) -> list[Route]:
    """Our routes in ``app.url_map`` (the host's own are left out), ordered by rule."""
    found = []
    for rule in app.url_map.iter_rules():
        name = local_name(app, rule.endpoint)
        if name is None:
            continue
        methods = frozenset(rule.methods or ()) - {"HEAD", "OPTIONS"}
        found.append(Route(rule.endpoint, name, rule.rule, methods, frozenset(rule.arguments)))
    return sorted(found, key=lambda route: route.rule)


# ------------------------------------------------------------------------------ snapshots
def snapshot(app: Flask) -> snapshot_support.Snapshot:
    """Every row of our tables, and mounted, of the host's tables too (one database): a
    request of ours must not change the host's rows either."""
    rows = snapshot_support.snapshot(app)
    metadatas = app.extensions["sqlalchemy"].metadatas.values()
    with app.app_context():
        for metadata in metadatas:
            for table in metadata.sorted_tables:
                if table.name in rows:
                    continue
                order = list(table.primary_key.columns)
                result = db.session.execute(sa.select(table).order_by(*order))
                rows[table.name] = [tuple(row) for row in result]
        db.session.rollback()
    return rows


# ------------------------------------------------------------------------------ every_id


def add_plan(app: Flask, client: Any, couple_id: int, **changes: str) -> int:
    """A session plan made through the plan form, as the couple's therapist would."""
    url = our_path(app, f"/couples/{couple_id}/plans/new")
    data = {**plan_form(client.get(url).get_data(as_text=True)), **changes}
    response = client.post_form(url, data)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    return int(response.headers["Location"].rsplit("/", 1)[1])


def build_every_id(
    app: Flask, client: Any, therapist_id: int, names: tuple[str, str] = ("Alex", "Sam")
) -> dict[str, Any]:
    """A couple of ``therapist`` (signed in on ``client``) with something behind every id.

    And behind as many forms as the pages of one couple can show at once (see
    ``object_pages``): an open safety alert (the safety decision) and a private safety note not
    yet read (marking it read); a suggested flag (confirm, dismiss) and a confirmed one (reset,
    and the appointment's flag statuses); an earlier held
    appointment with a signed note (an addendum) whose plan set homework (the homework review);
    an upcoming appointment, and partner A's invitation (made on the invitation page) to check
    in for it by personal link, still open (revoke, make again; the slip and the email): its
    link's token too (``link_token``, the partner link's ``<token>``).
    """
    couple_id = add_couple(app, therapist_id, names)
    safety = {**SAFE, "saf_fear": "yes", "saf_notes": "Worried about weekends."}
    seed_intake(app, couple_id, "A", intake=dict(TWO_FLAGS.a), safety=safety)
    seed_intake(app, couple_id, "B", intake=dict(TWO_FLAGS.b))
    plan_id = add_plan(
        app,
        client,
        couple_id,
        strategies=["quality_time"],
        **{"homework-0-text": "Take a twenty-minute walk together twice."},
    )
    issue = our_path(app, f"/couples/{couple_id}/plans/{plan_id}/issue/plan")
    assert client.post_form(issue).status_code == 302
    # A week apart, in this order: the later appointment reviews the earlier one's plan.
    earlier, appointment_id = seed_history(
        app, couple_id, [Visit(csi={"A": 11, "B": 12}), Visit(csi={"A": 12, "B": 13})]
    )
    with app.app_context():
        signer = db.session.get(Therapist, therapist_id)
        held = db.session.get(Appointment, earlier)
        held.plan_id = plan_id
        save_note(held, data="Seen.", assessment="", plan="", expected_version=0, sign_as=signer)
        suggested, confirmed, *_ = db.session.scalars(
            select(Flag).where(Flag.couple_id == couple_id).order_by(Flag.id)
        ).all()
        confirm_flag(confirmed, signer, "", expected_version=confirmed.version)
        upcoming = Appointment(
            couple_id=couple_id,
            starts_at=utcnow() + timedelta(days=7),
            status=AppointmentStatus.SCHEDULED,
        )
        db.session.add(upcoming)
        partner_a = db.session.scalars(
            select(Partner).where(Partner.couple_id == couple_id, Partner.label == "A")
        ).one()
        partner_a.email = PARTNER_A_EMAIL
        db.session.commit()
        flag_id, upcoming_id = suggested.id, upcoming.id
        document_id = db.session.scalar(
            select(IssuedDocument.id).where(IssuedDocument.couple_id == couple_id)
        )
    delivery, link = invite(
        client,
        couple_id,
        "A",
        purpose="check_in",
        appointment_id=upcoming_id,
        prefix=mount_of(app).url_prefix,
    )
    with app.app_context():
        invitation_id = db.session.scalar(
            select(Invitation.id).where(Invitation.couple_id == couple_id)
        )
        check_in_id = db.session.scalar(
            select(CheckIn.id).where(CheckIn.couple_id == couple_id).order_by(CheckIn.id)
        )
        feed_token = make_feed(db.session.get(Therapist, therapist_id))
        db.session.commit()
    ids = {
        "couple_id": couple_id,
        "plan_id": plan_id,
        "appointment_id": appointment_id,
        "upcoming_appointment_id": upcoming_id,
        "flag_id": flag_id,
        "document_id": document_id,
        "invitation_id": invitation_id,
        "check_in_id": check_in_id,
        "link_token": urlsplit(link).path.rsplit("/", 1)[1],
        "feed_token": feed_token,
        "therapist_id": therapist_id,
    }
    assert all(ids.values()), ids
    _check_delivery_forms(app, ids, delivery.get_data(as_text=True))
    return ids


def delivery_forms(app: Flask, ids: dict[str, Any]) -> dict[str, PostedForm]:
    """The delivery page's forms for the invitation in ``ids``, as that page posts them."""
    return {
        route.name: PostedForm(
            route.name, route.url(ids), {"token": [ids["link_token"]]}, ("csrf_token",), ""
        )
        for route in routes(app)
        if route.name in DELIVERY_FORMS
    }


def _check_delivery_forms(app: Flask, ids: dict[str, Any], page: str) -> None:
    """The delivery page posts what ``delivery_forms`` says (the email form shows only when
    mail is set up and the partner has an address)."""
    url = our_path(app, f"/couples/{ids['couple_id']}/invitations/new")
    shown = {form.name: form for form in forms_on(app, url, page) if form.name in DELIVERY_FORMS}
    with app.app_context():
        expected = set(DELIVERY_FORMS) if mail.configured() else {"couple.invitations.slip"}
    assert set(shown) == expected, (sorted(shown), page[-3000:])
    made = delivery_forms(app, ids)
    for name, form in shown.items():
        assert (form.url, form.data, form.csrf_fields) == (
            made[name].url,
            made[name].data,
            made[name].csrf_fields,
        ), form


def object_pages(app: Flask, ids: dict[str, Any]) -> list[str]:
    """Every GET page of the therapist's with ``ids``, then again for each other row of the
    couple's: those show the forms of another state (the earlier appointment's signed note takes
    an addendum). A partner's pages are no therapist's: left out."""
    couple_id = ids["couple_id"]
    with app.app_context():
        rows = {
            name: list(
                db.session.scalars(
                    select(model.id).where(model.couple_id == couple_id).order_by(model.id)
                )
            )
            for name, model in CHILD_ROWS.items()
        }
    get_routes = [r for r in routes(app) if "GET" in r.methods and not r.partner]
    pages = [route.url(ids) for route in get_routes]
    for route in get_routes:
        names = sorted(route.id_arguments & rows.keys())
        for values in product(*(rows[name] for name in names)):
            pages.append(route.url({**ids, **dict(zip(names, values, strict=True))}))
    return list(dict.fromkeys(pages))


@pytest.fixture
def every_id(app, logged_in, therapist):
    """A couple with something behind every kind of id a URL can take."""
    return build_every_id(app, logged_in, therapist.id)


# ------------------------------------------------------------------------------ forms
# What a therapist types into a blank field, by the kind of field, when a form is filled in.
TYPED = {
    "textarea": "Written by the route walk.",
    "text": "Route walk",
    "number": "10",
    "date": "2026-03-02",
    "datetime-local": "2026-03-02T17:00",
}


@dataclass
class PostedForm:
    """A form of one of our pages, as the browser would post it."""

    name: str  # the endpoint it posts to, without the parent blueprint's name
    url: str  # where it posts: path and query
    data: dict[str, list[str]]  # without the CSRF token
    csrf_fields: tuple[str, ...]  # where the form carries its CSRF token ("csrf_token", "note-…")
    source: str  # the page it was found on

    def payload(self, token: str | None) -> dict[str, list[str]]:
        """The form data with ``token`` in every CSRF field, or with no CSRF field at all."""
        if token is None:
            return dict(self.data)
        return {**self.data, **{name: [token] for name in self.csrf_fields or ("csrf_token",)}}


@dataclass
class _Control:
    name: str
    kind: str  # an input's type, or "textarea", "select", "select-multiple"
    value: str
    checked: bool = False
    required: bool = False
    options: list[tuple[str, bool]] = field(default_factory=list)  # (value, selected)


@dataclass
class _Form:
    action: str
    autosave: str | None = None  # where autosave.js posts the form's fields meanwhile
    controls: list[_Control] = field(default_factory=list)
    submit: tuple[str, str] | None = None

    def data(self, fill: bool, *, button: bool = True) -> list[tuple[str, str]]:
        """What the browser sends; with ``fill``, as if blank fields had been filled in."""
        sent: list[tuple[str, str]] = []
        radios: dict[str, list[_Control]] = {}
        for control in self.controls:
            if control.kind == "radio":
                radios.setdefault(control.name, []).append(control)
            elif control.kind == "checkbox":
                if control.checked:
                    sent.append((control.name, control.value))
            elif control.kind.startswith("select"):
                chosen = [value for value, selected in control.options if selected]
                if not chosen and control.kind == "select" and control.options:
                    chosen = [control.options[0][0]]  # a browser sends the first option
                if fill and control.required and chosen in ([], [""]):
                    chosen = [value for value, _ in control.options if value][:1]
                sent.extend((control.name, value) for value in chosen)
            else:
                typed = TYPED.get(control.kind) if fill and not control.value.strip() else None
                sent.append((control.name, typed or control.value))
        for name, group in radios.items():
            chosen = [c.value for c in group if c.checked]
            if fill and not chosen and any(c.required for c in group):
                chosen = [group[0].value]
            sent.extend((name, value) for value in chosen)
        if self.submit and button:  # pressing Enter submits with the first button
            sent.append(self.submit)
        return sent


class _FormReader(HTMLParser):
    """Reads the controls of each POST form of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self._form: _Form | None = None
        self._text: list[str] | None = None  # a textarea's or an option's text so far
        self._control: _Control | None = None  # the open textarea or select
        self._option: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            post = (a.get("method") or "get").lower() == "post"
            self._form = _Form(a.get("action") or "", a.get("data-autosave")) if post else None
            if self._form is not None:
                self.forms.append(self._form)
            return
        if self._form is None or "disabled" in a:
            return
        name = a.get("name") or ""
        kind = (a.get("type") or ("submit" if tag == "button" else "text")).lower()
        if tag in ("input", "button") and kind in ("submit", "image"):
            if name and self._form.submit is None:
                self._form.submit = (name, a.get("value") or "")
        elif tag == "input" and name and kind not in ("button", "reset", "file"):
            default = "on" if kind in ("checkbox", "radio") else ""
            value = a.get("value")
            value = default if value is None else value
            control = _Control(name, kind, value, "checked" in a, "required" in a)
            self._form.controls.append(control)
        elif tag in ("textarea", "select") and name:
            kind = "select-multiple" if "multiple" in a else tag
            self._control = _Control(name, kind, "", required="required" in a)
            self._form.controls.append(self._control)
            self._text = [] if tag == "textarea" else None
        elif tag == "option" and self._control is not None:
            self._option, self._text = a, []

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        control, text = self._control, "".join(self._text or ())
        if tag == "form":
            self._form = None
        elif tag == "textarea" and control is not None:
            # The parser drops one newline right after <textarea>, as browsers do.
            text = text.replace("\r\n", "\n")
            control.value = text[1:] if text.startswith("\n") else text
            self._control = self._text = None
        elif tag == "option" and control is not None:
            value = self._option.get("value")
            control.options.append(
                (text.strip() if value is None else value, "selected" in self._option)
            )
            self._text = None
        elif tag == "select":
            self._control = None


def post_target(app: Flask, url: str) -> str | None:
    """Our endpoint a POST to ``url`` reaches (without the parent's name), or None: a form of
    the host's (its sign-out button in its layout, say) is not ours to post."""
    try:
        endpoint, _ = app.url_map.bind("localhost").match(urlsplit(url).path, method="POST")
    except (HTTPException, RequestRedirect):
        return None
    return local_name(app, endpoint)


def forms_on(app: Flask, page_url: str, html: str, *, fill: bool = False) -> list[PostedForm]:
    """The POST forms of a page; ``fill`` fills blank fields in as a therapist would."""
    reader = _FormReader()
    reader.feed(html)
    found = []
    posts = [(form, form.action, True) for form in reader.forms]
    # autosave.js posts the same form's fields (new FormData(form): no button) as one types.
    posts += [(form, form.autosave, False) for form in reader.forms if form.autosave]
    for form, action, button in posts:
        parts = urlsplit(urljoin(page_url, action))
        url = parts.path + (f"?{parts.query}" if parts.query else "")
        name = post_target(app, url)
        if name is None:
            continue
        data: dict[str, list[str]] = {}
        csrf_fields = []
        for field_name, value in form.data(fill, button=button):
            if field_name.endswith("csrf_token"):
                csrf_fields.append(field_name)
            else:
                data.setdefault(field_name, []).append(value)
        found.append(PostedForm(name, url, data, tuple(csrf_fields), page_url))
    return found


def collect_forms(
    app: Flask, client: Any, page_urls: list[str], *, fill: bool = False
) -> dict[str, PostedForm]:
    """The first form found for each of our endpoints, walking ``page_urls`` as ``client``."""
    forms: dict[str, PostedForm] = {}
    for page_url in page_urls:
        response = client.get(page_url)
        if response.status_code == 200 and response.mimetype == "text/html":
            for form in forms_on(app, page_url, response.get_data(as_text=True), fill=fill):
                forms.setdefault(form.name, form)
        response.close()
    return forms


def form_for(route: Route, forms: dict[str, PostedForm], ids: dict[str, Any]) -> PostedForm:
    """The form the pages post to ``route``, or a bare one (a CSRF token only) if none shows it:
    some forms show only in a state the couple is not in (reopen a closed file, say)."""
    return forms.get(route.name) or PostedForm(route.name, route.url(ids), {}, (), "")


def typed_by_the_owner(app: Flask, ids: dict[str, Any], forms: dict[str, PostedForm]):
    """What only the owner knows to type: the couple's name, to confirm erasing the couple."""
    with app.app_context():
        couple = db.session.get(Couple, ids["couple_id"])
        name = couple.display_name if couple else ""
    for form in forms.values():
        if "confirm_name" in form.data:
            form.data["confirm_name"] = [name]
    return forms


def forms_of(
    app: Flask, client: Any, ids: dict[str, Any], pages: list[str] | None = None
) -> dict[str, PostedForm]:
    """The forms ``client`` is shown (on every page of the couple in ``ids`` and its link's
    delivery page, or on ``pages``), filled in as the owner would post them."""
    every_page = pages is None
    pages = object_pages(app, ids) if pages is None else pages
    forms = collect_forms(app, client, pages, fill=True)
    if every_page:
        forms = {**delivery_forms(app, ids), **forms}
    return typed_by_the_owner(app, ids, forms)


def signed_in(app: Flask, therapist: Any) -> Any:
    """A client of its own, signed in as ``therapist``."""
    client = app.test_client()
    response = login(client, therapist)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


# ------------------------------------------------------------------------------ practices
@dataclass
class Practice:
    """One seeded practice to walk, standalone or mounted in the reference host.

    ``ids``: a couple of the owner's with something behind every id (``build_every_id``).
    The clients are signed in: ``owner`` as that couple's therapist, ``other`` as another
    therapist who is not an administrator, ``admin`` (made when first asked for) as an
    administrator. Anonymous visitors are sent to ``sign_in_path``: our sign-in page
    standalone, the host's mounted. Mail is set up, and what would be sent lands in ``outbox``.
    """

    app: Flask
    owner: Any
    owner_id: int
    owner_email: str
    other: Any
    other_id: int
    ids: dict[str, Any]
    mounted: bool
    make_admin: Callable[[], Any]
    sign_in_path: str = "/login"
    outbox: list[tuple[str, str, str]] = field(default_factory=list)

    @cached_property
    def admin(self) -> Any:
        return self.make_admin()

    @cached_property
    def partner_sessions(self) -> dict[str, PartnerSession]:
        """A partner's browser with a session of each purpose, each opened by its real link:
        "check_in", partner A of ``ids``'s couple (its ``link_token``); "intake", partner A of a
        couple of the owner's made for it (``ids``'s partners have finished their intakes),
        every page answered but not sent yet (so the page that sends it shows its form).
        Made when first asked for; opening a link marks it opened, so ask before a snapshot."""
        couple_id = add_couple(self.app, self.owner_id, PARTNER_WALK_NAMES)
        _, link = invite(self.owner, couple_id, "A", prefix=mount_of(self.app).url_prefix)
        intake = self.partner(link)
        intake.browser.answer_intake(send=False)
        check_in = self.partner(self.path(f"/answer/{self.ids['link_token']}"))
        return {"check_in": check_in, "intake": intake}

    def partner(self, link: str) -> PartnerSession:
        """A partner's browser of its own that has opened ``link``: signed in as that partner."""
        session = PartnerSession(link, PartnerBrowser(self.app, mount_of(self.app).url_prefix))
        session.open()
        return session

    def path(self, local: str) -> str:
        return our_path(self.app, local)

    def visitor(self) -> Any:
        return self.app.test_client()


@dataclass
class PartnerSession:
    """A partner's browser and the personal link it opened (to open again when a page such as
    "paused" has ended the session)."""

    link: str
    browser: PartnerBrowser

    @property
    def client(self) -> Any:
        return self.browser.client

    def open(self) -> None:
        response = self.browser.open(self.link)
        assert response.status_code == 200, response.get_data(as_text=True)[:1000]


def set_up_mail(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Mail set up in ``app``, and sent nowhere: the messages land in the list returned."""
    outbox: list[tuple[str, str, str]] = []
    app.config.update(MAIL_SETTINGS)
    monkeypatch.setattr(mail, "send", lambda *message: outbox.append(message))
    return outbox


@pytest.fixture
def standalone(app, logged_in, therapist, make_therapist, monkeypatch) -> Practice:
    """``create_app`` with conftest's therapists: Dana owns the couple, Toni is the other."""
    outbox = set_up_mail(app, monkeypatch)
    ids = build_every_id(app, logged_in, therapist.id)
    other = make_therapist("Toni Elsewhere")
    return Practice(
        app=app,
        owner=logged_in,
        owner_id=therapist.id,
        owner_email=therapist.email,
        other=signed_in(app, other),
        other_id=other.id,
        ids=ids,
        mounted=False,
        make_admin=lambda: signed_in(app, make_therapist("Ada Administrator", admin=True)),
        outbox=outbox,
    )


def host_therapist(app: Flask, client: Any, staff: Any) -> Therapist:
    """The therapist of ours a host clinician is: made on their first page of ours, which this
    opens (so that no later request in a walk adds the row)."""
    response = client.get(our_path(app, "/"))
    assert response.status_code == 200, response.status_code
    with app.app_context():
        therapist = db.session.scalars(
            select(Therapist).where(Therapist.email == staff.email)
        ).one()
        db.session.expunge(therapist)
        return therapist


@pytest.fixture
def mounted(host, clinician, other_clinician, monkeypatch) -> Practice:
    """The reference host (tests/host_support.py, whose fixtures the test module imports): its
    clinician Ada, a practice admin, owns the couple; its clinician Ben, not an admin, is the
    other therapist."""
    outbox = set_up_mail(host, monkeypatch)
    owner_client, other_client = host.test_client(), host.test_client()
    owner_client.sign_in(clinician)
    other_client.sign_in(other_clinician)
    owner = host_therapist(host, owner_client, clinician)
    other = host_therapist(host, other_client, other_clinician)
    assert owner.is_admin and not other.is_admin
    return Practice(
        app=host,
        owner=owner_client,
        owner_id=owner.id,
        owner_email=owner.email,
        other=other_client,
        other_id=other.id,
        ids=build_every_id(host, owner_client, owner.id),
        mounted=True,
        make_admin=lambda: owner_client,  # Ada: an admin of the host's, so of ours
        outbox=outbox,
    )


@pytest.fixture(params=("standalone", "mounted"))
def any_app(request, backend) -> Flask:
    """The app alone, nothing seeded: standalone, and the reference host with us mounted."""
    return request.getfixturevalue("app" if request.param == "standalone" else "host")
