"""Every field a person types into says what it holds (WCAG 1.3.5): the user's own sign-in
details and organisation carry their autocomplete token, so browsers and password managers
fill them; fields about someone else (clients, a colleague) turn autofill off, so the browser
never offers the therapist's own name there nor keeps clients' names in its form history."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from conftest import login

# The inputs a browser would autofill or remember; numbers, choices and free text are not.
TYPED = {"text", "email", "password", "search", "tel"}
PARTNER_FIELDS = {
    f"partner_{label}-{name}": "off"
    for label in "ab"
    for name in ("display_name", "pronouns", "email")
}
# Page -> every typed input on it by name -> its autocomplete (None: no attribute, on purpose).
EXPECTED: dict[str, dict[str, str | None]] = {
    "/login": {"email": "username", "password": "current-password"},
    "/account/password": {
        "current_password": "current-password",
        "new_password": "new-password",
        "confirm_password": "new-password",
    },
    "/admin/therapists/new": {"name": "off", "email": "off"},
    # Free-text lines (a phone number or an address; a hotline): no one token fits them.
    "/admin/practice": {"name": "organization", "contact_line": None, "crisis_line": None},
    "/": {"q": "off"},
    "/couples/new": PARTNER_FIELDS,
    "/couples/{couple}/edit": PARTNER_FIELDS,
    "/couples/{couple}/erase": {"confirm_name": "off"},
}


class TypedInputs(HTMLParser):
    """name -> autocomplete of every typed input of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type", "text") in TYPED:
            assert attributes["name"] not in self.found, f"two inputs named {attributes['name']}"
            self.found[attributes["name"]] = attributes.get("autocomplete")


def typed_inputs(page: str) -> dict[str, str | None]:
    parser = TypedInputs()
    parser.feed(page)
    return parser.found


@pytest.mark.parametrize("path", EXPECTED)
def test_every_typed_field_says_whose_data_it_holds(path, client, make_therapist, make_couple):
    admin = make_therapist("Owner", admin=True)
    if path != "/login":
        assert login(client, admin).status_code == 302
    response = client.get(path.format(couple=make_couple(admin)))
    assert response.status_code == 200
    assert typed_inputs(response.get_data(as_text=True)) == EXPECTED[path]


def test_the_tokens_stay_on_a_form_shown_again_with_errors(client, therapist):
    """A refused sign-in or password change redraws the form: a password manager must still
    tell the saved password from the new one."""
    response = client.post_form("/login", {"email": therapist.email, "password": "wrong"})
    assert typed_inputs(response.get_data(as_text=True)) == EXPECTED["/login"]
    assert login(client, therapist).status_code == 302
    response = client.post_form(
        "/account/password",
        {"current_password": "wrong", "new_password": "short", "confirm_password": "other"},
    )
    page = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in page
    assert typed_inputs(page) == EXPECTED["/account/password"]
