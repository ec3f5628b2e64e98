"""The base form's behaviour that every page relies on."""

from __future__ import annotations

import pytest
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import Form, RadioField, SelectChoice, SelectField, SelectMultipleField
from wtforms.validators import InputRequired
from wtforms.widgets import CheckboxInput, ListWidget, Select

from counselor_app.forms.couples import CoupleForm
from counselor_app.forms.rendering import QuickSelect, choice_inputs


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
