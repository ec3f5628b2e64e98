"""The dashboard and couple pages, as a therapist uses them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from counselor_app.extensions import db
from counselor_app.models import Couple, CoupleStatus, Partner


def couple_form(**overrides):
    data = {
        "partner_a-display_name": "Jordan",
        "partner_a-pronouns": "he/him",
        "partner_a-email": "jordan@example.org",
        "partner_b-display_name": "Riley",
        "partner_b-pronouns": "she/her",
        "partner_b-email": "",
        "relationship_stage": "engaged",
        "length_years": "3",
        "length_months": "6",
        "presenting_concerns": "Riley feels crowded; Jordan feels shut out.",
    }
    data.update(overrides)
    return data


def stored_couples(app):
    with app.app_context():
        return db.session.scalars(select(Couple)).all()


def test_create_couple_with_both_partners(app, logged_in):
    response = logged_in.post_form("/couples/new", couple_form())
    assert response.status_code == 302
    page = logged_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "Couple added." in page
    assert "Partner A: Jordan" in page and "Partner B: Riley" in page
    assert "3 years 6 months" in page
    assert "Engaged" in page
    with app.app_context():
        couple = db.session.scalars(select(Couple)).one()
        assert [(p.label, p.display_name, p.email) for p in couple.partners] == [
            ("A", "Jordan", "jordan@example.org"),
            ("B", "Riley", None),
        ]
        assert couple.status == CoupleStatus.ACTIVE


@pytest.mark.parametrize(
    ("overrides", "field_id", "message"),
    [
        (
            {"partner_a-display_name": ""},
            "partner_a-display_name",
            "Enter a name for this partner.",
        ),
        (
            {"partner_b-display_name": "  "},
            "partner_b-display_name",
            "Enter a name for this partner.",
        ),
        ({"partner_b-email": "not-an-email"}, "partner_b-email", "Enter a valid email address."),
        ({"relationship_stage": ""}, "relationship_stage", "Choose the relationship stage."),
        ({"relationship_stage": "polyamorous-trial"}, "relationship_stage", "Not a valid choice"),
        ({"length_years": "200"}, "length_years", "from 0 to 80"),
        ({"length_months": "12"}, "length_months", "from 0 to 11"),
        ({"length_years": "three"}, "length_years", "Not a valid integer value"),
        ({"partner_a-display_name": "x" * 81}, "partner_a-display_name", "longer than 80"),
    ],
)
def test_invalid_couple_form_keeps_input_and_shows_error_at_field(
    app, logged_in, overrides, field_id, message
):
    data = couple_form(**overrides)
    response = logged_in.post_form("/couples/new", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field_id}-error"' in page
    assert message in page[page.index(f'id="{field_id}-error"') :][:300]
    # What the therapist typed elsewhere is all still there.
    assert "Riley feels crowded; Jordan feels shut out." in page
    if field_id != "partner_a-display_name":
        assert 'value="Jordan"' in page
    assert stored_couples(app) == []


def test_dashboard_lists_search_and_filters(app, logged_in, therapist, make_couple):
    make_couple(therapist, ("Alex", "Sam"))
    make_couple(therapist, ("Morgan", "Casey"))
    closed = make_couple(therapist, ("Priya", "Tom"))
    logged_in.post_form(f"/couples/{closed}/close", follow_redirects=True)

    page = logged_in.get("/").get_data(as_text=True)
    assert "Alex &amp; Sam" in page and "Morgan &amp; Casey" in page
    assert "Priya" not in page  # closed couples are not in the default (active) list

    response = logged_in.post_form("/search", {"q": "case", "status": "active"})
    assert response.status_code == 302
    assert "case" not in response.headers["Location"]  # names never go into a URL
    with logged_in.session_transaction() as session:  # nor into the cookie in clear
        assert "case" not in str(dict(session))
    page = logged_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "Morgan &amp; Casey" in page and "Alex" not in page
    assert 'value="case"' in page  # the box shows what is being searched for
    page = logged_in.get("/?page=1").get_data(as_text=True)
    assert "Alex" not in page  # the search holds while paging
    logged_in.post_form("/search", {"q": "case", "status": "active", "clear": "1"})

    page = logged_in.get("/?status=closed").get_data(as_text=True)
    assert "Priya &amp; Tom" in page and "Alex" not in page

    page = logged_in.get("/?status=all").get_data(as_text=True)
    assert "Last appointment" in page and "Next appointment" in page

    logged_in.post_form("/search", {"q": "%", "status": "all"})
    page = logged_in.get("/?status=all").get_data(as_text=True)
    assert "No couples match" in page  # a % is searched for literally, not as a wildcard
    too_long = logged_in.post_form("/search", {"q": "x" * 81, "status": "all"})
    assert too_long.status_code == 400


def test_dashboard_paginates(app, logged_in, therapist, make_couple):
    for number in range(23):
        make_couple(therapist, (f"Partner{number:02d}", "Other"))
    first = logged_in.get("/").get_data(as_text=True)
    assert "Page 1 of 2" in first
    second = logged_in.get("/?page=2").get_data(as_text=True)
    assert second.count("&amp; Other") == 3
    assert logged_in.get("/?page=99").status_code == 200


def test_edit_couple(app, logged_in, therapist, make_couple):
    couple_id = make_couple(therapist)
    form = logged_in.get(f"/couples/{couple_id}/edit").get_data(as_text=True)
    assert 'value="Alex"' in form and "Arguing about time apart." in form
    data = couple_form(version="1")
    response = logged_in.post_form(f"/couples/{couple_id}/edit", data)
    assert response.status_code == 302
    with app.app_context():
        couple = db.session.get(Couple, couple_id)
        assert couple.display_name == "Jordan & Riley"
        assert couple.relationship_length_months == 42
        assert couple.version == 2


def test_edit_from_a_stale_page_is_a_conflict_and_keeps_the_text(
    app, logged_in, therapist, make_couple
):
    couple_id = make_couple(therapist)
    first = logged_in.post_form(
        f"/couples/{couple_id}/edit",
        couple_form(version="1", **{"partner_a-display_name": "First"}),
    )
    assert first.status_code == 302
    second = logged_in.post_form(
        f"/couples/{couple_id}/edit",
        couple_form(version="1", presenting_concerns="Typed in the second tab"),
    )
    page = second.get_data(as_text=True)
    assert second.status_code == 409
    assert "Someone saved changes to this couple" in page
    assert "Typed in the second tab" in page
    with app.app_context():
        couple = db.session.get(Couple, couple_id)
        assert couple.partner_a.display_name == "First"
        assert couple.presenting_concerns == couple_form()["presenting_concerns"]


def test_close_and_reopen(app, logged_in, therapist, make_couple):
    couple_id = make_couple(therapist)
    response = logged_in.post_form(f"/couples/{couple_id}/close", follow_redirects=True)
    assert "file closed" in response.get_data(as_text=True)
    assert stored_couples(app)[0].status == CoupleStatus.CLOSED
    response = logged_in.post_form(f"/couples/{couple_id}/reopen", follow_redirects=True)
    assert "file reopened" in response.get_data(as_text=True)
    assert stored_couples(app)[0].status == CoupleStatus.ACTIVE


def test_close_needs_post_and_a_csrf_token(app, logged_in, therapist, make_couple):
    couple_id = make_couple(therapist)
    assert logged_in.get(f"/couples/{couple_id}/close").status_code == 405
    assert logged_in.post(f"/couples/{couple_id}/close").status_code == 400
    assert stored_couples(app)[0].status == CoupleStatus.ACTIVE


def test_unknown_couple_is_404(logged_in):
    assert logged_in.get("/couples/999999").status_code == 404


def couple_urls(couple_id):
    return {
        "GET": [f"/couples/{couple_id}", f"/couples/{couple_id}/edit"],
        "POST": [
            f"/couples/{couple_id}/edit",
            f"/couples/{couple_id}/close",
            f"/couples/{couple_id}/reopen",
        ],
    }


def snapshot(app):
    with app.app_context():
        couples = db.session.execute(select(Couple.__table__)).all()
        partners = db.session.execute(select(Partner.__table__)).all()
    return couples, partners


def test_another_therapists_couples_are_404_and_untouched(app, client, make_therapist, make_couple):
    from conftest import login

    owner = make_therapist("Owner")
    intruder = make_therapist("Intruder")
    couple_id = make_couple(owner, ("Hidden", "Pair"))
    before = snapshot(app)
    login(client, intruder)
    urls = couple_urls(couple_id)
    for url in urls["GET"]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Hidden" not in response.get_data(as_text=True)
    for url in urls["POST"]:
        response = client.post_form(url, couple_form(version="1"))
        assert response.status_code == 404, url
    assert "Hidden" not in client.get("/?status=all").get_data(as_text=True)
    assert snapshot(app) == before


@pytest.mark.parametrize("couples", [5, 50])
def test_dashboard_query_count_does_not_grow_with_couples(
    app, backend, logged_in, therapist, make_couple, count_queries, couples
):
    for number in range(couples):
        make_couple(therapist, (f"A{number}", f"B{number}"))
    with count_queries() as statements:
        response = logged_in.get("/?status=all")
    assert response.status_code == 200
    # Session user, page count, page rows, partners of the page, the last and next
    # appointments of the page's couples, and the audit trail's record of the visit (last
    # hash and insert, plus on PostgreSQL the lock that keeps the audit chain in order): the
    # same number however many couples.
    assert len(statements) == 8 + (backend == "postgresql"), statements


def test_hostile_input_is_a_4xx_never_a_500(app, logged_in, therapist, make_couple):
    couple_id = make_couple(therapist)
    assert logged_in.get("/couples/99999999999999999999").status_code == 404
    assert logged_in.get("/couples/2147483648/edit").status_code == 404
    assert logged_in.get("/?page=999999999999999999999999").status_code == 200
    assert logged_in.post_form("/search", {"q": "\x00abc", "status": "x"}).status_code == 400
    assert logged_in.post_form("/search", {"q": "\x00abc", "status": "all"}).status_code == 302
    assert logged_in.get("/").status_code == 200  # NUL in a search
    response = logged_in.post_form(
        "/couples/new", couple_form(**{"partner_a-display_name": "Jo\x00rdan"})
    )
    assert response.status_code == 302
    response = logged_in.post_form(f"/couples/{couple_id}/edit", couple_form(version="abc"))
    assert response.status_code == 422
    assert "out of date" in response.get_data(as_text=True)
    with app.app_context():
        names = {couple.display_name for couple in db.session.scalars(select(Couple))}
    assert "Jordan & Riley" in names
