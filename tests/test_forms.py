"""The base form's behaviour that every page relies on."""

from __future__ import annotations

import re

import pytest
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import Form, RadioField, SelectChoice, SelectField, SelectMultipleField
from wtforms.validators import InputRequired
from wtforms.widgets import CheckboxInput, ListWidget, Select

from appointment_support import Visit, seed_history
from counselor_app.forms.base import STALE_PAGE
from counselor_app.forms.couples import CoupleForm
from counselor_app.forms.rendering import QuickSelect, choice_inputs

TITLE = re.compile(r"<title>(.*?)</title>", re.S)


@pytest.fixture
def couple_id(therapist, make_couple):
    return make_couple(therapist, ("Avery", "Blake"))


def test_text_fields_are_trimmed_once_however_many_forms_are_built(app):
    # Found by the fuzzer: binding used to add the trimming filter to the class's shared
    # field definition, one more per form ever built.
    with app.test_request_context("/couples/new", method="POST"):
        for _ in range(3):
            form = CoupleForm(meta={"csrf": False})
    assert len(form.presenting_concerns.filters) == 1
    assert len(form.partner_a.form.display_name.filters) == 1


def test_text_is_trimmed_and_nul_free(app):
    data = {"presenting_concerns": "  Money\x00 talks  ", "partner_a-display_name": " Jo "}
    with app.test_request_context("/couples/new", method="POST", data=data):
        form = CoupleForm(meta={"csrf": False})
    assert form.presenting_concerns.data == "Money talks"
    assert form.partner_a.form.display_name.data == "Jo"


# forms.rendering draws choices without WTForms' per-choice subfields (for speed): its markup
# must stay WTForms' own, in every state a page shows.
class ChoiceForm(Form):
    required = RadioField(
        "Required",
        choices=[SelectChoice("1", "One"), SelectChoice("2", 'Two "quoted" <b>')],
        validators=[InputRequired()],
    )
    optional = RadioField(
        "Optional", choices=[SelectChoice(1, "One"), SelectChoice(2, "Two")], coerce=int
    )
    styled = RadioField(
        "Styled",
        choices=[SelectChoice("x", "X")],
        # A quote inside Markup must still be escaped; "class_" merges with a "class" given.
        render_kw={"data_kind": "styled", "title": Markup('x" onclick="y'), "class_": "pill"},
    )
    many = SelectMultipleField(
        "Many",
        choices=[SelectChoice("a", "A"), SelectChoice("b", "B & C")],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    pick = SelectField(
        "Pick",
        choices=[
            SelectChoice("", "Choose"),
            SelectChoice("k", "Key <k>"),
            SelectChoice("v", "Value", render_kw={"title": Markup('v" onclick="w')}),
        ],
    )
    flag = SelectField(
        "Flag", choices=[SelectChoice(True, "Yes"), SelectChoice(False, "No")], coerce=bool
    )


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"required": "2", "optional": "1", "styled": "x", "many": ["a", "b"], "pick": "k"},
        {"required": "nonsense", "optional": "9", "many": ["b"], "pick": "v", "flag": "True"},
    ],
    ids=["empty", "answered", "invalid"],
)
@pytest.mark.parametrize(
    "extra",
    [{}, {"aria-invalid": "true"}, {"class": "picked"}],
    ids=["plain", "invalid", "class"],
)
def test_quick_choice_markup_is_wtforms_own(data, extra):
    form = ChoiceForm(formdata=MultiDict(data))
    form.validate()
    for name in ("required", "optional", "styled", "many"):
        field = form[name]
        theirs = [(choice.id, str(choice(**extra)), choice.label.text) for choice in field]
        ours = [(c.id, str(c.input), c.label) for c in choice_inputs(field, **extra)]
        assert ours == theirs, name
    for name in ("pick", "flag"):
        field = form[name]
        assert str(QuickSelect()(field, **extra)) == str(Select()(field, **extra)), name
    # The states compared above include the ones that matter: checked and required.
    drawn = "".join(str(c.input) for c in choice_inputs(form.many) + choice_inputs(form.required))
    assert ("checked" in drawn) == bool(data)
    assert "required" in drawn


# ------------------------------------------------------------------------------ error summary
# What a refused form's page says, server side (tests/browser/test_error_summary.py shows it
# in a browser, where forms.js focuses the summary and its links focus their fields).
SUMMARY_HEADING = re.compile(
    r'<h(\d) class="error-summary-title" id="[^"]+" tabindex="-1">([^<]+)</h\1>'
)
SUMMARY_LINK = re.compile(r'<li><a href="#([^"]+)">([^<]+)</a></li>')


def summary_of(page: str) -> tuple[str, list[tuple[str, str]]]:
    """The summary's heading and its links (field id, text)."""
    start = page.index("data-error-summary")
    summary = page[start : page.index("</div>", start)]
    [(_, heading)] = SUMMARY_HEADING.findall(summary)
    return heading, SUMMARY_LINK.findall(summary)


def test_a_refused_form_says_so_in_the_title_and_links_each_problem_to_its_field(logged_in):
    page = logged_in.post_form("/couples/new", {}).get_data(as_text=True)
    assert TITLE.search(page).group(1).startswith("Error: New couple")
    heading, links = summary_of(page)
    assert heading == f"There are {len(links)} problems" and len(links) >= 3
    for field_id, text in links:
        # Each link names its field and says what is wrong, and the field it names is marked.
        field = re.search(rf'<[^>]+\bid="{field_id}"[^>]*>', page).group(0)
        assert 'aria-invalid="true"' in field, field
        assert ": " in text
    assert links[0][0] == "partner_a-display_name", links
    # Focus is the summary's (forms.js): no field takes it with autofocus, nothing is an
    # alert already present as the page loads.
    form = page[page.index('<form method="post" novalidate class="couple-form">') :]
    form = form[: form.index("</form>")]
    assert "autofocus" not in form and 'role="alert"' not in form
    assert "Nothing you typed has been lost." in page


def test_a_form_not_yet_sent_has_no_summary_and_its_first_field_takes_focus(logged_in):
    page = logged_in.get("/couples/new").get_data(as_text=True)
    assert TITLE.search(page).group(1).startswith("New couple")
    assert "data-error-summary" not in page
    assert re.search(r'<input [^>]*autofocus[^>]*id="partner_a-display_name"', page)


def test_a_password_form_never_claims_nothing_was_lost(logged_in):
    data = {"current_password": "wrong", "new_password": "short", "confirm_password": "other"}
    page = logged_in.post_form("/account/password", data).get_data(as_text=True)
    assert TITLE.search(page).group(1).startswith("Error: ")
    assert summary_of(page)[1]  # its problems are listed
    assert 'value="wrong"' not in page  # the passwords come back empty: so it may not say
    assert "Nothing you typed has been lost" not in page  # that nothing was lost


def test_signing_an_empty_note_marks_the_note_and_the_summary_links_to_it(
    app, logged_in, couple_id
):
    [appointment_id] = seed_history(app, couple_id, [Visit()])
    url = f"/couples/{couple_id}/appointments/{appointment_id}"
    data = {"note-dap_data": "", "note-version": "0", "action": "sign"}
    page = logged_in.post_form(f"{url}/note", data).get_data(as_text=True)
    assert summary_of(page)[1] == [("note-dap_data", "Data: Write the note before signing it.")]
    textarea = re.search(r'<textarea[^>]*id="note-dap_data"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in textarea and "note-dap_data-error" in textarea
    error = re.search(r'<p class="field-error" id="note-dap_data-error">(.*?)</p>', page)
    assert "Write the note before signing it." in error.group(1)
    # The form posts to its summary's heading: refused, the page comes back there, focused.
    assert f'action="{url}/note#note-errors"' in page
    assert '<h3 class="error-summary-title" id="note-errors" tabindex="-1">' in page


def test_a_stale_page_is_a_problem_of_the_whole_form_with_no_link(app, logged_in, couple_id):
    [appointment_id] = seed_history(app, couple_id, [Visit()])
    url = f"/couples/{couple_id}/appointments/{appointment_id}/private-note"
    page = logged_in.post_form(url, {"private-text": "x", "private-version": "no"})
    page = page.get_data(as_text=True)
    assert summary_of(page)[1] == []
    assert STALE_PAGE in page and "Nothing you typed has been lost" not in page
    assert TITLE.search(page).group(1).startswith("Error: ")


def test_a_refused_sign_in_never_claims_nothing_was_lost(client, therapist):
    data = {"email": therapist.email, "password": "not the password"}
    response = client.post_form("/login", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 401
    assert TITLE.search(page).group(1).startswith("Error: Sign in")
    assert summary_of(page)[1] == [("password", "Password: The email or password is not correct.")]
    assert "Nothing you typed has been lost" not in page


def test_a_lists_own_error_is_in_the_summary_and_rows_are_named_by_their_part(app):
    """A refused plan whose agenda came back otherwise than the page showed it: the list's
    own message must reach the summary (else a 422 page with nothing focused or announced),
    and each agenda row's error names its part."""
    from counselor_app.forms.plans import PlanForm
    from counselor_app.plans.services import AGENDA_PARTS

    keys = [key for key, _, _ in AGENDA_PARTS]
    data = MultiDict({"session_date": "2026-11-30"})
    for index, key in enumerate(reversed(keys)):  # the agenda's parts out of order
        data[f"agenda-{index}-part"] = key
        data[f"agenda-{index}-minutes"] = "" if index == 0 else "10"
    with app.test_request_context("/couples/1/plans/new", method="POST", data=data):
        form = PlanForm(meta={"csrf": False})
        form.set_choices([], [])
        assert not form.validate()
        problems = form.problems()
    messages = [problem.message for problem in problems]
    assert "The agenda was not sent as the page showed it. Reload the page." in messages
    part = dict((key, label) for key, label, _ in AGENDA_PARTS)[keys[-1]]
    assert any(m.startswith(f"Minutes for {part}: ") for m in messages), messages
