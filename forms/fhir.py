"""The form that imports a FHIR QuestionnaireResponse for one partner."""

from __future__ import annotations

from typing import Any

from flask_wtf.file import FileField, FileSize
from werkzeug.datastructures import FileStorage
from wtforms import RadioField, SelectChoice, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from counselor_app.fhir.services import CONTEXTS, MAX_IMPORT_BYTES
from counselor_app.forms.base import BaseForm

TOO_LARGE = f"The file is larger than {MAX_IMPORT_BYTES // 1000} kB: not a single response."
NOTHING = "Choose a file or paste the JSON of a QuestionnaireResponse."
BOTH = "Choose a file or paste JSON, not both: which one should be imported?"


class ImportResponseForm(BaseForm):
    partner = RadioField("Whose answers these are", validators=[InputRequired("Choose a partner.")])
    record_as = RadioField(
        "Record it as",
        choices=[
            SelectChoice("", "As the file says (a CSI-4 from elsewhere needs a choice)"),
            *(SelectChoice(key, label) for key, label in CONTEXTS.items()),
        ],
        default="",
        validators=[Optional()],
    )
    upload = FileField(
        "A QuestionnaireResponse file (.json)",
        validators=[FileSize(MAX_IMPORT_BYTES, message=TOO_LARGE)],
    )
    pasted = TextAreaField(
        "…or paste its JSON",
        validators=[Length(max=MAX_IMPORT_BYTES, message=TOO_LARGE)],
        render_kw={"rows": 8, "spellcheck": "false", "autocomplete": "off"},
    )

    def validate(self, extra_validators: Any = None) -> bool:
        if not super().validate(extra_validators):
            return False
        if self._file() is None and not self.pasted.data:
            self.form_errors.append(NOTHING)
            return False
        if self._file() is not None and self.pasted.data:
            self.form_errors.append(BOTH)
            return False
        return True

    def _file(self) -> FileStorage | None:
        upload = self.upload.data
        return upload if upload and getattr(upload, "filename", "") else None

    def resource(self) -> str | bytes:
        """What was sent: the file's bytes, or the pasted text."""
        upload = self._file()
        if upload is not None:
            return upload.read(MAX_IMPORT_BYTES + 1)
        return self.pasted.data
