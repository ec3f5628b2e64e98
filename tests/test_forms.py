"""The base form's behaviour that every page relies on."""

from __future__ import annotations

from forms.couples import CoupleForm


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
