"""A partner's session (the cookie a real personal link is exchanged for) reaches no therapist's
page, and a partner's pages show and change nothing but that partner's own answers.

The therapist's side: every route of ours in the app's URL map that is not a partner's page or
public, every method, standalone and mounted in the reference host, requested with a partner's
session: a 403 (mount.require_therapist) or a 404, and not a row changed. The cookie's Path
keeps it to the partner's pages (``/answer``), so a browser never sends it to a therapist's page
on its own: the walk sends it on every path, as a partner who copied it by hand would.

The partner's side: partner URLs take no id (test_access_matrix checks it), so what a page shows
comes from the session alone. Partner A's pages show A's answers, never partner B's (typed by
the therapist) or another couple's; A's answers change A's rows only; a check-in's session has
no intake page, nor an intake's a check-in. Without a working session (none, a forged cookie,
a link since revoked or made again, a therapist's sign-in), every partner page is the same
neutral 404 page.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

import route_walk
from conftest import add_couple
from counselor_app.extensions import db
from counselor_app.intake.services import steps
from counselor_app.invitations import services as invitations
from counselor_app.models import Base, Couple, Invitation
from counselor_app.partner.services import COOKIE_NAME, PAGES_PATH
from host_support import clinician, host, host_template, other_clinician  # noqa: F401
from intake_support import CSI_SATISFIED, post_step
from partner_support import HIDDEN_CSRF, PartnerBrowser, invite
from route_walk import Practice, collect_forms, form_for, forms_of, routes, snapshot
from snapshot_support import changes
from test_access_matrix import APPEND_ONLY, COUPLE_NAMES, admin_forms, rule_of, walk
from vignettes import NEUTRAL, SAFE, on_intake_v2

# The shared fixtures: a seeded practice, standalone or mounted in the reference host.
standalone, mounted = route_walk.standalone, route_walk.mounted

# What the neutral page says (each page without a working session is that very page, byte for
# byte, whatever the reason: compared with the page a wrong link gets).
NEUTRAL_PAGE = "This link cannot be opened"
# The rate limit on wrong links counts each miss: its row may change when a wrong link is tried.
RATE_LIMIT = "counselor_rate_limit"
# The couples of the partner walks below; the partners' markers are typed into their free text.
COUPLE, ELSEWHERE = ("Avery", "Blake"), ("Casey", "Drew")
MARK = {  # no character that HTML escapes: each is found as typed
    "a": "Own words of Avery, partner A",
    "a_safety": "Avery alone knows this",
    "b": "Words of Blake, typed by the therapist",
    "b_safety": "Safety note of Blake, typed by the therapist",
    "elsewhere": "Words of Casey, of another couple",
}
# A cookie of the right name and shape, not signed with the app's key.
FORGED = "eyJpIjoxLCJoIjoiMCJ9.ZmFrZQ.Zm9yZ2VkLXNpZ25hdHVyZQ"
WEEK = timedelta(days=7)
STRANGERS = re.compile(r"Blake|Casey|Drew|typed by the therapist|of another couple")


def partner_routes(app):
    return [route for route in routes(app) if route.partner]


def page_token(browser: PartnerBrowser, path: str) -> str:
    """A CSRF token of the partner's own session, from one of their pages' forms."""
    browser.get(path)
    match = HIDDEN_CSRF.search(browser.page)
    assert match, browser.page[:1000]
    return match.group(1)


# ------------------------------------------------------------------------------ therapist routes
def a_partners_session_reaches_no_therapist_route_and_changes_nothing(practice: Practice) -> None:
    """Partner A of the practice's couple, signed in by their real link, requests every route
    of the therapists' (with ids, own scope, admin), every method, with the forms the owner's
    pages post and a CSRF token of the partner's own session: a 403 or a 404, the couple named
    nowhere, not a row changed."""
    app, ids = practice.app, practice.ids
    forms = forms_of(app, practice.owner, ids) | admin_forms(practice)
    session = practice.partner(practice.path(f"/answer/{ids['link_token']}"))
    client = session.client
    token = page_token(session.browser, practice.path("/answer/check-in"))

    cookie = client.get_cookie(COOKIE_NAME, path=practice.path(PAGES_PATH))
    assert cookie is not None and cookie.http_only, "the partner session is a cookie of its own"
    # A browser keeps it to the partner's pages: a therapist's page sees a signed-out visitor.
    response = client.get(practice.path(f"/couples/{ids['couple_id']}"))
    assert response.status_code == 302, response.status_code
    assert urlsplit(response.headers["Location"]).path == practice.sign_in_path
    # Sent on every path from now on.
    client.set_cookie(COOKIE_NAME, cookie.value, path="/")

    todo = [
        (route, method)
        for route in routes(app)
        if rule_of(route) in ("object", "own", "admin")
        for method in sorted(route.methods)
    ]
    therapists = {r.name for r in routes(app) if rule_of(r) not in ("public", "partner", "keyed")}
    assert {route.name for route, _ in todo} == therapists
    statuses: Counter[int] = Counter()

    def refused(status, response) -> bool:
        statuses[status] += 1
        body = response.get_data(as_text=True)
        return status in (403, 404) and not COUPLE_NAMES.search(body)

    failures = walk(app, client, todo, forms, ids, token, refused)

    assert not failures, "a partner's session must get no therapist's route:\n" + (
        "\n".join(failures)
    )
    # The session was live throughout: the partner's own pages still open with it.
    assert client.get(practice.path("/answer/check-in")).status_code == 200
    assert len(todo) >= 65, len(todo)
    print(f"\n{len(todo)} therapist (route, method) pairs refused a partner: {dict(statuses)}")


# ------------------------------------------------------------------------------ no session
def newest_invitation() -> Invitation:
    return db.session.scalars(select(Invitation).order_by(Invitation.id.desc())).first()


def partner_pages_without_a_working_session_show_the_neutral_page(practice: Practice) -> None:
    """Every partner route, every method, from browsers with no working partner session: a
    visitor, a forged cookie, sessions of links since revoked and made again, and the signed-in
    therapist who made the links. The same neutral 404 page, naming nobody, not a row changed
    (but for the wrong link being counted). The thank-you page alone needs nobody."""
    app, ids = practice.app, practice.ids
    ended = {}
    for name, end in (
        ("revoked", lambda i: invitations.revoke(i, expected_version=i.version)),
        ("made again", lambda i: invitations.reissue(i, WEEK, expected_version=i.version)),
    ):
        _, link = invite(
            practice.owner, ids["couple_id"], "B", purpose="check_in", prefix=practice.path("")
        )
        ended[name] = practice.partner(link).client
        with app.app_context():
            end(newest_invitation())
            db.session.commit()
    forged = practice.visitor()
    forged.set_cookie(COOKIE_NAME, FORGED, path="/")
    clients = {
        "a visitor": practice.visitor(),
        "a forged cookie": forged,
        **{f"a link {name}": client for name, client in ended.items()},
        "the therapist, signed in": practice.owner,
    }
    wrong_link = practice.path("/answer/" + "x" * 43)
    neutral = practice.visitor().get(wrong_link)
    assert neutral.status_code == 404 and NEUTRAL_PAGE in neutral.get_data(as_text=True)
    failures, checked = [], 0
    before = snapshot(app)
    for who, client in clients.items():
        token = client.csrf_token()  # the client's own: so a 404 is the session's, not CSRF's
        for route in partner_routes(app):
            url = wrong_link if "token" in route.arguments else route.url(ids)
            for method in sorted(route.methods):
                if method == "GET":
                    response = client.get(url)
                else:
                    response = client.post(url, data={"csrf_token": token})
                body = response.get_data(as_text=True)
                response.close()
                checked += 1
                after = snapshot(app)
                changed = changes(before, after, append_only=APPEND_ONLY)
                changed.pop(RATE_LIMIT, None)
                if route.name == "partner.done":
                    ok = response.status_code == 200 and "Thank you" in body
                else:
                    ok = response.status_code == 404 and body == neutral.get_data(as_text=True)
                if not ok or COUPLE_NAMES.search(body) or changed:
                    failures.append(f"{method} {url} as {who}: {response.status_code} {changed}")
                    before = after
    assert not failures, "must be the neutral page and change nothing:\n" + "\n".join(failures)
    assert checked == len(clients) * sum(len(r.methods) for r in partner_routes(app))
    print(f"\n{checked} partner requests without a working session: the neutral page")


CHECKS = (
    a_partners_session_reaches_no_therapist_route_and_changes_nothing,
    partner_pages_without_a_working_session_show_the_neutral_page,
)


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_standalone(standalone, check):
    check(standalone)


def test_mounted_in_the_reference_host(mounted):
    """The same checks on the reference host, from its URL map, on one seeded practice."""
    failed = {}
    for check in CHECKS:
        try:
            check(mounted)
        except AssertionError as error:
            failed[check.__name__] = str(error)
    assert not failed, "mounted:\n" + "\n\n".join(f"{k}: {v}" for k, v in failed.items())


# ------------------------------------------------------------------------------ one partner's own
def belongings(snap, couple_ids: set[int], partner_ids: set[int]) -> dict[str, list]:
    """The rows of ``snap`` that are these couples' or these partners' (their responses' changes
    too): to compare before and after another partner answered."""
    found: dict[str, list] = {}
    responses: set[int] = set()
    for table in Base.metadata.sorted_tables:  # parents first: responses before their changes
        columns = [column.name for column in table.columns]
        rows = [dict(zip(columns, row, strict=True)) for row in snap.get(table.name, [])]
        if table.name == "counselor_couple":
            kept = [row for row in rows if row["id"] in couple_ids]
        elif table.name == "counselor_partner":
            kept = [r for r in rows if r["id"] in partner_ids or r["couple_id"] in couple_ids]
        else:
            kept = [
                row
                for row in rows
                if row.get("couple_id") in couple_ids
                or row.get("partner_id") in partner_ids
                or row.get("response_id") in responses
            ]
        if table.name == "counselor_response":
            responses = {row["id"] for row in kept}
        found[table.name] = kept
    return found


def partner_ids(app, couple_id: int) -> dict[str, int]:
    with app.app_context():
        couple = db.session.get(Couple, couple_id)
        return {partner.label: partner.id for partner in couple.partners}


def partner_pages(browser: PartnerBrowser) -> dict[str, str]:
    """Every intake page a partner's session shows, by path: welcome, each step, finish."""
    paths = [browser.url("/"), *(browser.url(f"/intake/{s.slug}") for s in steps())]
    pages = {}
    for path in [*paths, browser.url("/intake/finish")]:
        response = browser.get(path)
        assert response.status_code == 200, (path, response.status_code)
        pages[path] = browser.page
    return pages


def test_a_partners_pages_show_and_change_their_own_answers_only(app, logged_in, therapist):
    """Avery (partner A) answers by link. Blake (partner B) has answers the therapist typed on
    Blake's intake pages, and Casey of another couple answers by a link of their own. Avery's
    pages show Avery's answers and nothing of Blake's or Casey's (Blake's own pages do show
    Blake's: the control); Avery saving every page, a page posted with ids of other rows, and
    sending the intake change nothing of Blake's or Casey's couple."""
    couple_id = add_couple(app, therapist.id, COUPLE)
    elsewhere_id = add_couple(app, therapist.id, ELSEWHERE)
    partners, others = partner_ids(app, couple_id), partner_ids(app, elsewhere_id)
    background = {key: value for key, value in NEUTRAL.items() if key.startswith("bg_")}
    for slug, values in (
        ("background", {**background, "bg_goals": MARK["b"]}),
        ("safety", {**SAFE, "saf_notes": MARK["b_safety"]}),
    ):
        assert post_step(logged_in, couple_id, "B", slug, values).status_code == 302
    links = {label: invite(logged_in, couple_id, label)[1] for label in ("A", "B")}
    casey = PartnerBrowser(app)
    casey.open(invite(logged_in, elsewhere_id, "A")[1])
    saved = casey.answer_page("background", {**background, "bg_goals": MARK["elsewhere"]})
    assert saved.status_code == 303
    avery, blake = PartnerBrowser(app), PartnerBrowser(app)
    avery.open(links["A"])
    blake.open(links["B"])
    before = snapshot(app)
    theirs = belongings(before, {elsewhere_id}, {partners["B"]} | set(others.values()))
    assert theirs["counselor_response"], "Blake's and Casey's answers are stored"

    def leaks(pages: dict[str, str]) -> dict[str, list[str]]:
        found = {path: STRANGERS.findall(page) for path, page in pages.items()}
        return {path: names for path, names in found.items() if names}

    assert not leaks(partner_pages(avery))  # nothing answered yet: nothing of anyone's
    answers = {**on_intake_v2(NEUTRAL), **CSI_SATISFIED, "bg_goals": MARK["a"]}
    answers |= {**SAFE, "saf_notes": MARK["a_safety"]}
    saved = [
        avery.answer_page(
            step.slug, {i.id: answers[i.id] for i in step.section.items if i.id in answers}
        )
        for step in steps()
    ]
    # Naming other rows in the form: ignored or refused, never theirs changed.
    tampered = {"partner_id": partners["B"], "label": "B", "couple_id": elsewhere_id}
    saved.append(avery.answer_page("background", {**background, **tampered}))
    assert belongings(snapshot(app), {elsewhere_id}, {partners["B"]} | set(others.values())) == (
        theirs
    )
    assert [r.status_code for r in saved[:-1]] == [303] * len(steps())
    assert saved[-1].status_code < 500
    pages = partner_pages(avery)
    assert MARK["a"] in pages[avery.url("/intake/background")]
    # Saved safety answers are never shown again, not even to their own author's session.
    assert MARK["a_safety"] not in pages[avery.url("/intake/safety")]
    assert not leaks(pages)
    # The control: Blake's own pages show what the therapist typed for Blake, none of Avery's.
    blakes = partner_pages(blake)
    assert MARK["b"] in blakes[blake.url("/intake/background")]
    assert MARK["b_safety"] not in blakes[blake.url("/intake/safety")]
    assert not any(MARK["a"] in page or MARK["a_safety"] in page for page in blakes.values())

    sent = avery.post(avery.url("/intake/finish"), {})
    assert sent.status_code == 303, sent.get_data(as_text=True)[:2000]
    after = snapshot(app)
    assert belongings(after, {elsewhere_id}, {partners["B"]} | set(others.values())) == theirs
    avery_rows = belongings(after, set(), {partners["A"]})["counselor_response"]
    assert avery_rows != belongings(before, set(), {partners["A"]})["counselor_response"]
    assert len(avery_rows) == 3  # the intake, the CSI-4, the safety screen: Avery's own


def test_a_partners_session_has_the_pages_of_its_purpose_only(app, logged_in, therapist):
    """A check-in's session gets no intake page and an intake's no check-in, by any method, even
    posting the form the other page shows: a 404, and not a row changed. The control: each gets
    its own pages."""
    couple_id = add_couple(app, therapist.id, COUPLE)
    sessions = {}
    for purpose, label in (("intake", "A"), ("check_in", "B")):
        sessions[purpose] = PartnerBrowser(app)
        sessions[purpose].open(invite(logged_in, couple_id, label, purpose=purpose)[1])
    intake, check_in = sessions["intake"], sessions["check_in"]
    own_pages = {
        "intake": [intake.url(f"/intake/{slug}") for slug in ("background", "safety")],
        "check_in": [check_in.url("/check-in")],
    }
    forms = {}
    for purpose, browser in sessions.items():
        forms |= collect_forms(app, browser.client, own_pages[purpose], fill=True)
    tokens = {p: page_token(b, own_pages[p][0]) for p, b in sessions.items()}
    todo = [
        (route, method)
        for route in partner_routes(app)
        if route.name.startswith("partner.intake") or route.name == "partner.check_in"
        for method in sorted(route.methods)
    ]

    def request(purpose, route, method):
        browser, url = sessions[purpose], route.url({})
        if method == "GET":
            response = browser.client.get(url)
        else:
            form = form_for(route, forms, {})
            response = browser.client.post(url, data=form.payload(tokens[purpose]))
        response.close()
        return f"{method} {url} as the {purpose} partner: {response.status_code}", response

    def owner_of(route) -> str:
        return "check_in" if route.name == "partner.check_in" else "intake"

    failures, before = [], snapshot(app)
    for route, method in todo:
        other = "intake" if owner_of(route) == "check_in" else "check_in"
        said, response = request(other, route, method)
        after = snapshot(app)
        changed = changes(before, after, append_only=APPEND_ONLY)
        if response.status_code != 404 or changed:
            failures.append(f"{said} {changed}")
            before = after
    # The control, after: each session's own pages reach their views (a 422 is the intake not
    # being finished yet), naming the other partner nowhere. Sending the check-in ends that
    # session, so it comes last.
    names = dict(zip(("intake", "check_in"), COUPLE, strict=True))
    for route, method in sorted(todo, key=lambda pair: pair[0].name == "partner.check_in"):
        mine = owner_of(route)
        said, response = request(mine, route, method)
        other_name = names["check_in" if mine == "intake" else "intake"]
        if response.status_code in (400, 403, 404, 405) or response.status_code >= 500:
            failures.append(f"{said}: the control")
        elif other_name in response.get_data(as_text=True):
            failures.append(f"{said}: names {other_name}")
    assert not failures, "a session of one purpose must get no page of the other:\n" + (
        "\n".join(failures)
    )
    assert {route.name for route, _ in todo} >= {
        "partner.intake_start",
        "partner.intake_page",
        "partner.intake_finish",
        "partner.check_in",
    }
