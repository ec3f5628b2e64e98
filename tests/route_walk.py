"""Every route of the app with real ids filled in: for checks that must cover every page.

Also what those checks share: ``every_id``, a couple with something behind every kind of id
(and behind every form), and the forms the pages post, read back as a browser would send them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from itertools import product
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from appointment_support import Visit, seed_history
from conftest import login
from counselor_app.appointments.services import save_note
from counselor_app.assessment.services import confirm_flag
from counselor_app.extensions import db
from counselor_app.models import (
    Appointment,
    Couple,
    Flag,
    IssuedDocument,
    SessionPlan,
    Therapist,
)
from intake_support import seed_intake
from plan_support import new_plan
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
}
# Arguments naming a database row: the <id:...> converter (or a plain <int:...>).
ID_ARGUMENT = re.compile(r"<(?:id|int)(?:\([^)]*\))?:(\w+)>")
ANY_ARGUMENT = re.compile(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>")


@dataclass(frozen=True)
class Route:
    endpoint: str
    rule: str
    methods: frozenset[str]
    arguments: frozenset[str]

    @property
    def id_arguments(self) -> frozenset[str]:
        return frozenset(ID_ARGUMENT.findall(self.rule))

    def url(self, ids: dict[str, Any]) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            found = ids.get(name, FIXED_ARGUMENTS.get(name))
            assert found is not None, f"no value for <{name}> in {self.rule}"
            return str(found)

        return ANY_ARGUMENT.sub(value, self.rule)


def routes(app: Flask) -> list[Route]:
    found = []
    for rule in app.url_map.iter_rules():
        methods = frozenset(rule.methods or ()) - {"HEAD", "OPTIONS"}
        found.append(Route(rule.endpoint, rule.rule, methods, frozenset(rule.arguments)))
    return sorted(found, key=lambda route: route.rule)


# ------------------------------------------------------------------------------ every_id
def build_every_id(app: Flask, client: Any, therapist: Any, make_couple: Any) -> dict[str, int]:
    """A couple of ``therapist`` (signed in on ``client``) with something behind every id.

    And behind as many forms as the pages of one couple can show at once (see
    ``object_pages``): an open safety alert (the safety decision); a suggested flag (confirm,
    dismiss) and a confirmed one (reset, and the appointment's flag statuses); an earlier held
    appointment with a signed note (an addendum) whose plan set homework (the homework review).
    """
    couple_id = make_couple(therapist)
    seed_intake(app, couple_id, "A", intake=dict(TWO_FLAGS.a), safety={**SAFE, "saf_fear": "yes"})
    seed_intake(app, couple_id, "B", intake=dict(TWO_FLAGS.b))
    plan_id = new_plan(
        client,
        couple_id,
        strategies=["quality_time"],
        **{"homework-0-text": "Take a twenty-minute walk together twice."},
    )
    assert client.post_form(f"/couples/{couple_id}/plans/{plan_id}/issue/plan").status_code == 302
    # A week apart, in this order: the later appointment reviews the earlier one's plan.
    earlier, appointment_id = seed_history(
        app, couple_id, [Visit(csi={"A": 11, "B": 12}), Visit(csi={"A": 12, "B": 13})]
    )
    with app.app_context():
        signer = db.session.get(Therapist, therapist.id)
        held = db.session.get(Appointment, earlier)
        held.plan_id = plan_id
        save_note(held, data="Seen.", assessment="", plan="", expected_version=0, sign_as=signer)
        suggested, confirmed, *_ = db.session.scalars(
            select(Flag).where(Flag.couple_id == couple_id).order_by(Flag.id)
        ).all()
        confirm_flag(confirmed, signer, "", expected_version=confirmed.version)
        db.session.commit()
        flag_id = suggested.id
        document_id = db.session.scalar(
            select(IssuedDocument.id).where(IssuedDocument.couple_id == couple_id)
        )
    ids = {
        "couple_id": couple_id,
        "plan_id": plan_id,
        "appointment_id": appointment_id,
        "flag_id": flag_id,
        "document_id": document_id,
        "therapist_id": therapist.id,
    }
    assert all(ids.values()), ids
    return ids


def object_pages(app: Flask, ids: dict[str, Any]) -> list[str]:
    """Every GET page with ``ids``, then again for each other row of the couple's: those show
    the forms of another state (the earlier appointment's signed note takes an addendum)."""
    couple_id = ids["couple_id"]
    kinds = {
        "plan_id": SessionPlan,
        "appointment_id": Appointment,
        "flag_id": Flag,
        "document_id": IssuedDocument,
    }
    with app.app_context():
        rows = {
            name: list(
                db.session.scalars(
                    select(model.id).where(model.couple_id == couple_id).order_by(model.id)
                )
            )
            for name, model in kinds.items()
        }
    get_routes = [route for route in routes(app) if "GET" in route.methods]
    pages = [route.url(ids) for route in get_routes]
    for route in get_routes:
        names = sorted(route.id_arguments & rows.keys())
        for values in product(*(rows[name] for name in names)):
            pages.append(route.url({**ids, **dict(zip(names, values, strict=True))}))
    return list(dict.fromkeys(pages))


@pytest.fixture
def every_id(app, logged_in, therapist, make_couple):
    """A couple with something behind every kind of id a URL can take."""
    return build_every_id(app, logged_in, therapist, make_couple)


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

    endpoint: str
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
    """The endpoint a POST to ``url`` reaches, or None."""
    try:
        endpoint, _ = app.url_map.bind("localhost").match(urlsplit(url).path, method="POST")
    except (HTTPException, RequestRedirect):
        return None
    return endpoint


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
        endpoint = post_target(app, url)
        if endpoint is None:
            continue
        data: dict[str, list[str]] = {}
        csrf_fields = []
        for name, value in form.data(fill, button=button):
            if name.endswith("csrf_token"):
                csrf_fields.append(name)
            else:
                data.setdefault(name, []).append(value)
        found.append(PostedForm(endpoint, url, data, tuple(csrf_fields), page_url))
    return found


def collect_forms(
    app: Flask, client: Any, page_urls: list[str], *, fill: bool = False
) -> dict[str, PostedForm]:
    """The first form found for each endpoint, walking ``page_urls`` as ``client``."""
    forms: dict[str, PostedForm] = {}
    for page_url in page_urls:
        response = client.get(page_url)
        if response.status_code == 200 and response.mimetype == "text/html":
            for form in forms_on(app, page_url, response.get_data(as_text=True), fill=fill):
                forms.setdefault(form.endpoint, form)
        response.close()
    return forms


def form_for(route: Route, forms: dict[str, PostedForm], ids: dict[str, Any]) -> PostedForm:
    """The form the pages post to ``route``, or a bare one (a CSRF token only) if none shows it:
    some forms show only in a state the couple is not in (reopen a closed file, say)."""
    return forms.get(route.endpoint) or PostedForm(route.endpoint, route.url(ids), {}, (), "")


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
    """The forms ``client`` is shown (on every page of the couple in ``ids``, or on ``pages``),
    filled in as the owner would post them."""
    pages = object_pages(app, ids) if pages is None else pages
    return typed_by_the_owner(app, ids, collect_forms(app, client, pages, fill=True))


def signed_in(app: Flask, therapist: Any) -> Any:
    """A client of its own, signed in as ``therapist``."""
    client = app.test_client()
    response = login(client, therapist)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client
