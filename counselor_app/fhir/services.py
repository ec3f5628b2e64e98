"""FHIR R4 from the instruments' own data: Questionnaires, QuestionnaireResponses out, and a
QuestionnaireResponse in, checked against the instrument before anything is stored.

Everything is built from the TOML instruments (``instruments.load``), never from a second copy,
so a new instrument version is a new Questionnaire version by itself. Resources are plain dicts
(JSON values); ``fhir.resources`` (R4B models, wire-compatible with R4 for these resources)
parses what comes in, and the tests parse everything that goes out with the same models.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.questionnaireresponse import (
    QuestionnaireResponse,
    QuestionnaireResponseItem,
    QuestionnaireResponseItemAnswer,
)
from flask import current_app
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from counselor_app.appointments import services as appointments
from counselor_app.assessment import services as assessment
from counselor_app.encryption import UnreadableRecord, require_readable
from counselor_app.extensions import db
from counselor_app.instruments import (
    AnswerError,
    Instrument,
    Item,
    Option,
    Section,
    available,
    load,
)
from counselor_app.instruments import validate_answer as clean_answer
from counselor_app.instruments.model import MAX_TEXT_LENGTH, AnswerValue, missing_required
from counselor_app.instruments.registry import INTAKE_ID, latest_version
from counselor_app.instruments.scoring import healthy_value
from counselor_app.intake import services as intake
from counselor_app.models import CheckIn, Couple, Partner, Response, Therapist
from counselor_app.models.base import as_utc, flush_versioned, utcnow

FHIR_JSON = "application/fhir+json"

# Extensions from the FHIR core specification.
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
ITEM_CONTROL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"
ITEM_CONTROL_SYSTEM = "http://hl7.org/fhir/questionnaire-item-control"

ITEM_TYPES = {"likert": "choice", "choice": "choice", "hours": "integer", "text": "text"}

# What a response was part of: the intake, or a check-in. Carried as a meta tag on what we
# export, because the CSI-4 is answered in both and its answers alone cannot tell which.
INTAKE = "intake"
CHECK_IN = "check-in"
CONTEXTS = {INTAKE: "Part of the intake", CHECK_IN: "A check-in between sessions"}
# The instruments each context takes, from the lists the intake and the check-ins use.
CONTEXT_INSTRUMENTS = {INTAKE: intake.INSTRUMENT_ORDER, CHECK_IN: appointments.CHECK_IN_MEASURES}

# Contained resources of a QuestionnaireResponse: the partner (subject) and the therapist.
PARTNER_REF = "partner"
THERAPIST_REF = "therapist"

# A full intake with long free-text answers is well under 100 kB; anything far beyond is a
# wrong file, and parsing it would only cost time.
MAX_IMPORT_BYTES = 1_000_000
# Our responses nest about ten levels deep (groups, items, answers, codings); far deeper is no
# response of ours, and parsing it would only recurse.
MAX_DEPTH = 40
TOO_DEEP = "The file nests far deeper than any questionnaire response. Nothing was imported."
# A check-in dated further ahead than this is a wrong clock or a wrong file.
FUTURE_SLACK = timedelta(days=1)


# ------------------------------------------------------------------------------ identifiers
def canonical_base() -> str:
    """The base of our canonical URLs: an identifier (COUNSELOR_FHIR_CANONICAL_BASE), not
    necessarily an address anything answers at. The resources themselves are served under
    /fhir/Questionnaire/<id> wherever the package is mounted."""
    return current_app.config["COUNSELOR_FHIR_CANONICAL_BASE"].rstrip("/")


def canonical_url(instrument_id: str) -> str:
    return f"{canonical_base()}/Questionnaire/{instrument_id}"


def canonical_reference(instrument: Instrument) -> str:
    """``url|version``: the form a QuestionnaireResponse names its Questionnaire in."""
    return f"{canonical_url(instrument.id)}|{instrument.version}"


def resource_id(instrument: Instrument) -> str:
    return f"{instrument.id}-v{instrument.version}"


def every_instrument() -> list[Instrument]:
    """Every version of every instrument the package ships, in a stable order."""
    return [
        load(instrument_id, version)
        for instrument_id, versions in sorted(available().items())
        for version in versions
    ]


def instrument_for_resource_id(value: str) -> Instrument | None:
    """The instrument version a Questionnaire id ("csi4-v1") names, or None."""
    instrument_id, _, version = value.rpartition("-v")
    if not version.isdigit() or int(version) not in available().get(instrument_id, ()):
        return None
    return load(instrument_id, int(version))


def _context_tag(context: str) -> dict[str, str]:
    return {
        "system": f"{canonical_base()}/CodeSystem/answered-as",
        "code": context,
        "display": CONTEXTS[context].replace(" between sessions", ""),
    }


# ------------------------------------------------------------------------------ Questionnaire
def option_score(instrument: Instrument, item: Item, option: Option) -> int | None:
    """The number our scoring counts for this answer, or None when it counts none.

    Intake statements count in their domain with reverse-worded ones flipped (so 5 is always
    the healthy end); the CSI-4 and the check-in sum the values; the safety screen counts a
    positive answer as 1. Background choices (relationship stage, say) are not scored.
    """
    method = instrument.scoring.method
    if method == "screen":
        return 1 if option.positive else 0
    if not isinstance(option.value, int):
        return None
    if method == "domains":
        return healthy_value(item, option.value) if item.kind == "likert" else None
    return option.value


def questionnaire(instrument: Instrument) -> dict[str, Any]:
    """One instrument version as a FHIR R4 Questionnaire: sections are groups, item linkIds
    are our item ids, answer options carry our codes and (ordinalValue) the scores we use."""
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": resource_id(instrument),
        "url": canonical_url(instrument.id),
        "version": str(instrument.version),
        "name": instrument.id.capitalize(),
        "title": instrument.title,
        "status": "active",
        "subjectType": ["Patient"],
        "description": instrument.description,
        # The published source and the terms of use travel with the items (the CSI-4's above
        # all: its wording is the authors', reproduced under their licence).
        "copyright": f"Source: {instrument.source}\n\nLicence: {instrument.licence}",
        "item": [_group(instrument, section) for section in instrument.sections],
    }
    return resource


def _group(instrument: Instrument, section: Section) -> dict[str, Any]:
    children: list[dict[str, Any]] = []
    if section.intro:
        children.append(
            {"linkId": f"{section.key}.intro", "text": section.intro, "type": "display"}
        )
    # The section's therapist note stays out: a Questionnaire is shown to respondents, and
    # the note is for the therapist asking the questions.
    children += [_question(instrument, item) for item in section.items]
    return {"linkId": section.key, "text": section.title, "type": "group", "item": children}


def _question(instrument: Instrument, item: Item) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "linkId": item.id,
        "text": item.text,
        "type": ITEM_TYPES[item.kind],
        "required": item.required,
    }
    if item.options:
        entry["answerOption"] = [_answer_option(instrument, item, opt) for opt in item.options]
    if item.kind == "hours":
        low = 0 if item.min_value is None else item.min_value
        entry["extension"] = [{"url": MIN_VALUE, "valueInteger": low}]
        if item.max_value is not None:
            entry["extension"].append({"url": MAX_VALUE, "valueInteger": item.max_value})
    if item.kind == "text":
        entry["maxLength"] = MAX_TEXT_LENGTH
    if item.help:
        entry["item"] = [
            {
                "linkId": f"{item.id}.help",
                "text": item.help,
                "type": "display",
                "extension": [
                    {
                        "url": ITEM_CONTROL,
                        "valueCodeableConcept": {
                            "coding": [{"system": ITEM_CONTROL_SYSTEM, "code": "help"}]
                        },
                    }
                ],
            }
        ]
    # No enableWhen: none of our items is asked only after another answer (yet). A condition
    # added to the instrument data would be written here, as enableWhen on the item.
    return entry


def _answer_option(instrument: Instrument, item: Item, option: Option) -> dict[str, Any]:
    entry: dict[str, Any] = {"valueCoding": _coding(option)}
    score = option_score(instrument, item, option)
    if score is not None:
        entry["extension"] = [{"url": ORDINAL_VALUE, "valueDecimal": score}]
    return entry


def _coding(option: Option) -> dict[str, str]:
    # No code system: the codes are the answer values stored with every response, meaningful
    # within the Questionnaire that lists them (as answerOption codes usually are).
    return {"code": str(option.value), "display": option.label}


# ------------------------------------------------------------------------------ responses out
@dataclass(frozen=True)
class Answered:
    """One set of answers to export: an intake response or a check-in, in plain values."""

    resource_id: str
    context: str  # INTAKE or CHECK_IN
    partner: Partner
    instrument: Instrument
    answers: dict[str, Any]
    complete: bool
    authored: datetime | None
    by_partner: bool  # answered by the partner by their own link (else entered by the therapist)
    appointment_at: datetime | None = None  # a check-in taken at an appointment
    check_in_id: int | None = None


def intake_resource_id(label: str, instrument_id: str) -> str:
    return f"intake-{label.lower()}-{instrument_id}"


def check_in_resource_id(check_in_id: int) -> str:
    return f"check-in-{check_in_id}"


def _from_response(partner: Partner, response: Response) -> Answered:
    # An altered answer set reads as empty: exported, it would say the partner answered nothing.
    require_readable(response.answers)
    return Answered(
        resource_id=intake_resource_id(partner.label, response.instrument_id),
        context=INTAKE,
        partner=partner,
        instrument=load(response.instrument_id, response.instrument_version),
        answers=dict(response.answers),
        complete=response.is_complete,
        # authored is "when these answers were last changed": the response's last save.
        authored=response.updated_at,
        by_partner=response.partner_answered_at is not None,
    )


def _from_check_in(couple: Couple, check_in: CheckIn) -> Answered:
    require_readable(check_in.answers)  # as for a response (_from_response)
    appointment = check_in.appointment
    instrument = load(check_in.instrument_id, check_in.instrument_version)
    return Answered(
        resource_id=check_in_resource_id(check_in.id),
        context=CHECK_IN,
        partner=next(p for p in couple.partners if p.label == check_in.partner_label),
        instrument=instrument,
        answers=dict(check_in.answers),
        complete=not missing_required(instrument, check_in.answers),
        authored=check_in.answered_at or (appointment.starts_at if appointment else None),
        by_partner=check_in.by_partner,
        appointment_at=appointment.starts_at if appointment else None,
        check_in_id=check_in.id,
    )


def intake_answered(couple: Couple, partner: Partner, instrument_id: str) -> Answered | None:
    """The partner's answers to one intake instrument, or None when there are none."""
    response = intake.responses_of(partner).get(instrument_id)
    return None if response is None else _from_response(partner, response)


def check_in_answered(couple: Couple, check_in: CheckIn) -> Answered:
    return _from_check_in(couple, check_in)


def _readable(make: Callable[[Any], Answered], rows: Iterable[Any]) -> list[Answered]:
    """``make`` of each row whose answers can be read: a whole-couple bundle leaves an altered
    answer set out (its load was logged; the export's JSON marks it) rather than fail."""
    made = []
    for row in rows:
        try:
            made.append(make(row))
        except UnreadableRecord:
            continue
    return made


def answered_of(couple: Couple) -> list[Answered]:
    """Everything the couple answered: each partner's intake responses (intake, CSI-4, safety
    screen), then every check-in, at appointments and between sessions, oldest first."""
    responses = intake.responses_of_couple(couple)
    found = _readable(
        lambda pair: _from_response(*pair),
        [
            (partner, responses[partner.label][instrument_id])
            for partner in couple.partners
            for instrument_id in intake.INSTRUMENT_ORDER
            if instrument_id in responses[partner.label]
        ],
    )
    query = (
        select(CheckIn)
        .where(CheckIn.couple_id == couple.id)
        .options(selectinload(CheckIn.appointment))
    )
    check_ins = _readable(lambda row: _from_check_in(couple, row), db.session.scalars(query))
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    check_ins.sort(
        key=lambda a: (as_utc(a.authored) if a.authored else epoch, a.partner.label, a.resource_id)
    )
    return found + check_ins


def questionnaire_response(answered: Answered, therapist: Therapist) -> dict[str, Any]:
    """One set of answers as a FHIR QuestionnaireResponse: the partner as its subject, and the
    partner (answered by their own link) or the therapist as its author, both contained."""
    partner, instrument = answered.partner, answered.instrument
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": PARTNER_REF,
        "name": [{"text": partner.display_name}],
    }
    if partner.external_id:
        identifier = {"value": partner.external_id}
        if system := current_app.config.get("COUNSELOR_FHIR_PARTNER_ID_SYSTEM"):
            identifier = {"system": system, **identifier}
        patient["identifier"] = [identifier]
    contained = [patient]
    if not answered.by_partner:
        contained.append(
            {
                "resourceType": "Practitioner",
                "id": THERAPIST_REF,
                "name": [{"text": therapist.name}],
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": answered.resource_id,
        "meta": {"tag": [_context_tag(answered.context)]},
        "contained": contained,
        "questionnaire": canonical_reference(instrument),
        "status": "completed" if answered.complete else "in-progress",
        "subject": {"reference": f"#{PARTNER_REF}", "display": partner.display_name},
    }
    if answered.authored is not None:
        resource["authored"] = _instant(answered.authored)
    author = PARTNER_REF if answered.by_partner else THERAPIST_REF
    resource["author"] = {"reference": f"#{author}"}
    resource["source"] = {"reference": f"#{PARTNER_REF}"}
    groups = [_answered_group(section, answered.answers) for section in instrument.sections]
    resource["item"] = [group for group in groups if group["item"]]
    return resource


def _instant(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="seconds")


def _answered_group(section: Section, answers: dict[str, Any]) -> dict[str, Any]:
    return {
        "linkId": section.key,
        "text": section.title,
        "item": [
            {"linkId": item.id, "text": item.text, "answer": [_answer(item, answers[item.id])]}
            for item in section.items
            if answers.get(item.id) not in (None, "")
        ],
    }


def _answer(item: Item, value: AnswerValue) -> dict[str, Any]:
    if item.kind == "hours":
        return {"valueInteger": int(value)}
    if item.kind == "text":
        return {"valueString": str(value)}
    option = item.option(value)
    return {"valueCoding": _coding(option) if option else {"code": str(value)}}


def couple_bundle(couple: Couple) -> dict[str, Any]:
    """Every response of the couple's as a FHIR Bundle (type collection)."""
    therapist = couple.therapist
    entries = []
    for answered in answered_of(couple):
        # Stable within this couple's record: the same response has the same fullUrl in
        # every export, so two exports can be compared entry by entry.
        name = f"{canonical_base()}/couple/{couple.id}/QuestionnaireResponse/{answered.resource_id}"
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}",
                "resource": questionnaire_response(answered, therapist),
            }
        )
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _instant(utcnow()),
        "entry": entries,
    }


def to_json(resource: dict[str, Any]) -> str:
    return json.dumps(resource, indent=2, ensure_ascii=False)


# ------------------------------------------------------------------------------ responses in
class FhirImportError(ValueError):
    """A QuestionnaireResponse that cannot be imported; each problem is for the therapist and
    names the item it is about. Nothing was stored."""

    def __init__(self, *problems: str) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Imported:
    """What an import stored."""

    partner: Partner
    instrument: Instrument
    context: str
    check_in: CheckIn | None = None
    # An intake import: whether the partner's intake is complete now, whether this import
    # completed it, and the instruments it still waits for.
    intake_complete: bool = False
    newly_complete: bool = False
    still_missing: tuple[str, ...] = ()


def import_response(
    couple: Couple,
    partner: Partner,
    resource: dict[str, Any] | str | bytes,
    *,
    therapist: Therapist,
    record_as: str | None = None,
) -> Imported:
    """Store one QuestionnaireResponse for ``partner`` as if its answers had been typed.

    Checked as FHIR first (the R4B models), then against our instrument: the questionnaire
    and its version known, every answer one the item allows, every required item answered,
    the subject no other partner. Any problem raises FhirImportError before anything is
    written. Intake answers go through the intake's own saving and completion, then the
    couple is re-scored; a check-in is kept between sessions at its authored time. Flushes;
    the caller commits (and audits).
    """
    if partner.couple_id != couple.id:
        raise FhirImportError("That partner is not one of this couple's.")
    data = _json_object(resource)
    parsed = _parse(data)
    instrument = _instrument_of(parsed, couple)
    _check_status(parsed)
    context = _context(instrument, parsed, record_as)
    _check_subject(parsed, partner)
    answers = _answers(instrument, parsed)
    if context == INTAKE:
        return _store_intake(couple, partner, instrument, answers, therapist)
    return _store_check_in(couple, partner, instrument, answers, _authored(parsed))


def _json_object(resource: dict[str, Any] | str | bytes) -> dict[str, Any]:
    if isinstance(resource, dict):
        return resource
    if len(resource) > MAX_IMPORT_BYTES:
        raise FhirImportError(
            f"The file is larger than {MAX_IMPORT_BYTES // 1000} kB: not a single "
            "QuestionnaireResponse. Nothing was imported."
        )
    try:
        text = resource.decode("utf-8-sig") if isinstance(resource, bytes) else resource
        data = json.loads(text)
    except UnicodeDecodeError:
        raise FhirImportError("The file is not text (UTF-8 JSON). Nothing was imported.") from None
    except json.JSONDecodeError as error:
        raise FhirImportError(
            f"The file is not valid JSON (line {error.lineno}, column {error.colno}: "
            f"{error.msg}). Nothing was imported."
        ) from None
    except RecursionError:
        raise FhirImportError(TOO_DEEP) from None
    if not isinstance(data, dict):
        raise FhirImportError("The JSON is not a FHIR resource (an object). Nothing was imported.")
    return data


def _parse(data: dict[str, Any]) -> QuestionnaireResponse:
    kind = data.get("resourceType")
    if kind != "QuestionnaireResponse":
        raise FhirImportError(_wrong_type(kind))
    if _depth(data) > MAX_DEPTH:
        raise FhirImportError(TOO_DEEP)
    try:
        return QuestionnaireResponse.model_validate(data)
    except ValidationError as error:
        problems = [_fhir_problem(data, detail) for detail in error.errors()[:5]]
        raise FhirImportError(
            "This is not a valid FHIR R4 QuestionnaireResponse:",
            *problems,
            "Nothing was imported.",
        ) from None


def _depth(value: Any, limit: int = MAX_DEPTH + 1) -> int:
    """How deeply ``value`` nests, counted no further than ``limit``: the models recurse on
    nested items, and a crafted file nested thousands deep would exhaust the stack."""
    pending, deepest = [(value, 1)], 0
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _wrong_type(kind: object) -> str:
    if not isinstance(kind, str) or not kind:
        return "The JSON is not a FHIR resource: it has no resourceType. Nothing was imported."
    try:
        get_fhir_model_class(kind)
    except (KeyError, ValueError):
        return f"“{kind[:60]}” is not a FHIR resource type. Nothing was imported."
    hint = " Import the QuestionnaireResponses it holds one at a time." if kind == "Bundle" else ""
    return f"This is a FHIR {kind}, not a QuestionnaireResponse.{hint} Nothing was imported."


def _fhir_problem(data: dict[str, Any], detail: Any) -> str:
    """One validation error, located, naming the item it is in (linkId and text) if any."""
    location = [part for part in detail.get("loc", ()) if part != "__root__"]
    node: Any = data
    item: dict[str, Any] | None = None
    for part in location:
        in_object = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if not (in_object or in_list):
            break
        node = node[part]
        if isinstance(node, dict) and "linkId" in node:
            item = node
    where = ".".join(str(part) for part in location) or "the resource"
    message = " ".join(str(detail.get("msg", "invalid")).split())
    if item is not None:
        return f"{_item_name(item.get('linkId'), item.get('text'))}: {where}: {message}."
    return f"{where}: {message}."


def _item_name(link_id: object, text: object) -> str:
    name = f"Item {link_id}"
    return f"{name} (“{text}”)" if isinstance(text, str) and text else name


def _recorded_version(instrument_id: str, couple: Couple) -> int:
    """The version answers are stored on now: for the intake questionnaire the one this couple
    answers (both partners answer one version, so the pair is scored by one ruleset), else the
    latest."""
    if instrument_id == INTAKE_ID:
        return intake.intake_version(couple.id)
    return latest_version(instrument_id)


def _instrument_of(parsed: QuestionnaireResponse, couple: Couple) -> Instrument:
    canonical = parsed.questionnaire
    if not canonical:
        raise FhirImportError(
            "The response does not say which questionnaire it answers (no questionnaire "
            "element). Nothing was imported."
        )
    url, _, version = str(canonical).partition("|")
    prefix = f"{canonical_base()}/Questionnaire/"
    instrument_id = url.removeprefix(prefix) if url.startswith(prefix) else ""
    if instrument_id not in available():
        raise FhirImportError(
            f"The response answers {url}, which is not one of this app's questionnaires "
            f"({prefix}…). Nothing was imported."
        )
    current = load(instrument_id, _recorded_version(instrument_id, couple))
    known = ", ".join(str(v) for v in available()[instrument_id])
    if not version:
        raise FhirImportError(
            f"The response names the {current.title} without a version ({url}|<version>); "
            f"this app knows version {known}. Nothing was imported."
        )
    if not version.isdigit() or int(version) not in available()[instrument_id]:
        raise FhirImportError(
            f"The response answers version {version} of the {current.title}, which this app "
            f"does not know (it knows version {known}). Nothing was imported."
        )
    if int(version) != current.version:
        raise FhirImportError(
            f"The response answers version {version} of the {current.title}; answers are "
            f"recorded on version {current.version} now. Nothing was imported."
        )
    return current


def _check_status(parsed: QuestionnaireResponse) -> None:
    # A draft from elsewhere would land here as answers the partner never finished giving.
    if parsed.status not in ("completed", "amended"):
        raise FhirImportError(
            f"The response's status is “{parsed.status}”: only a completed response can be "
            "imported. Nothing was imported."
        )


def _context(instrument: Instrument, parsed: QuestionnaireResponse, record_as: str | None) -> str:
    if record_as and record_as not in CONTEXTS:
        raise FhirImportError(f"“{record_as}” is neither the intake nor a check-in.")
    tags = [t.code for t in (parsed.meta.tag or []) if t.code in CONTEXTS] if parsed.meta else []
    allowed = [c for c, ids in CONTEXT_INSTRUMENTS.items() if instrument.id in ids]
    chosen = record_as or (tags[0] if tags else None)
    if chosen is None:
        if len(allowed) > 1:
            raise FhirImportError(
                f"The {instrument.title} is answered in the intake and at check-ins, and the "
                "response does not say which this is: choose one. Nothing was imported."
            )
        return allowed[0]
    if chosen not in allowed:
        where = "the intake" if chosen == INTAKE else "a check-in"
        raise FhirImportError(
            f"The {instrument.title} is not part of {where}. Nothing was imported."
        )
    return chosen


def _check_subject(parsed: QuestionnaireResponse, partner: Partner) -> None:
    """Refuse a response whose subject carries an identifier that is not this partner's:
    another partner of this therapist's (external ids are unique per therapist), or any other
    when this partner has one. Only the therapist's own partners are looked at, so a refusal
    tells nothing about another therapist's clients."""
    values = _subject_identifiers(parsed)
    if not values:
        return
    someone_else = db.session.scalar(
        select(Partner.id)
        .join(Couple, Couple.id == Partner.couple_id)
        .where(
            Couple.therapist_id == partner.couple.therapist_id,
            Partner.external_id.in_(values),
            Partner.id != partner.id,
        )
    )
    mismatch = partner.external_id is not None and partner.external_id not in values
    if someone_else or mismatch:
        shown = ", ".join(sorted(v for v in values if v != partner.external_id))
        raise FhirImportError(
            f"The response is about someone else (identifier {shown}), not "
            f"{partner.display_name}. Nothing was imported."
        )


def _subject_identifiers(parsed: QuestionnaireResponse) -> set[str]:
    subject = parsed.subject
    if subject is None:
        return set()
    values = set()
    if subject.identifier is not None and subject.identifier.value:
        values.add(subject.identifier.value)
    reference = subject.reference or ""
    if reference.startswith("#"):
        contained = {resource.id: resource for resource in parsed.contained or []}
        target = contained.get(reference[1:])
        if target is None:
            raise FhirImportError(
                f"The response's subject points at {reference}, which it does not contain. "
                "Nothing was imported."
            )
        for identifier in getattr(target, "identifier", None) or []:
            if identifier.value:
                values.add(identifier.value)
    return values


def _answers(instrument: Instrument, parsed: QuestionnaireResponse) -> dict[str, AnswerValue]:
    """Our item id -> clean value, or FhirImportError listing every item with a problem."""
    problems: list[str] = []
    troubled: set[str] = set()  # items already named in a problem
    found: dict[str, QuestionnaireResponseItem] = {}
    for entry in _walk(parsed.item or []):
        link_id = entry.linkId
        if instrument.has_item(link_id):
            if link_id in found:
                problems.append(f"{_item_name(link_id, entry.text)}: answered twice.")
                troubled.add(link_id)
            found[link_id] = entry
        elif entry.answer:
            problems.append(
                f"{_item_name(link_id, entry.text)}: not a question of the {instrument.title} "
                f"(version {instrument.version})."
            )
    answers: dict[str, AnswerValue] = {}
    for link_id, entry in found.items():
        item = instrument.item(link_id)
        try:
            value = _value_of(item, entry.answer or [])
        except AnswerError as error:
            problems.append(f"{_item_name(item.id, item.text)}: {error.message}.")
            troubled.add(item.id)
            continue
        if value is not None:
            answers[item.id] = value
    for item_id in missing_required(instrument, answers):
        if item_id not in troubled:
            item = instrument.item(item_id)
            problems.append(f"{_item_name(item.id, item.text)}: required, but not answered.")
    if problems:
        raise FhirImportError(*problems, "Nothing was imported.")
    return answers


def _walk(items: Sequence[QuestionnaireResponseItem]) -> Iterator[QuestionnaireResponseItem]:
    """Every item at any depth: in groups, and nested under answers as FHIR allows."""
    for entry in items:
        yield entry
        yield from _walk(entry.item or [])
        for answer in entry.answer or []:
            yield from _walk(answer.item or [])


def _value_of(item: Item, answers: Sequence[QuestionnaireResponseItemAnswer]) -> AnswerValue | None:
    if not answers:
        return None
    if len(answers) > 1:
        raise AnswerError(item.id, "more than one answer, where the question takes one")
    answer = answers[0]
    if item.options:
        coding = answer.valueCoding
        if coding is None or not coding.code:
            raise AnswerError(item.id, f"expects one of its answers as a coding ({_choices(item)})")
        if item.option(coding.code) is None:
            raise AnswerError(
                item.id, f"“{coding.code}” is not one of its answers ({_choices(item)})"
            )
        return clean_answer(item, coding.code)
    if item.kind == "hours":
        if answer.valueInteger is None:
            raise AnswerError(item.id, "expects a whole number of hours (valueInteger)")
        return clean_answer(item, answer.valueInteger)
    if answer.valueString is None:
        raise AnswerError(item.id, "expects text (valueString)")
    return clean_answer(item, answer.valueString)


def _choices(item: Item) -> str:
    return ", ".join(f"{opt.value} = {opt.label}" for opt in item.options)


def _authored(parsed: QuestionnaireResponse) -> datetime:
    authored = parsed.authored
    if authored is None:
        return utcnow()
    if isinstance(authored, datetime):
        moment = as_utc(authored).astimezone(UTC)
    elif isinstance(authored, date):
        moment = datetime(authored.year, authored.month, authored.day, tzinfo=UTC)
    else:
        raise FhirImportError(
            f"The response was authored “{authored}”: a check-in needs at least its day. "
            "Nothing was imported."
        )
    if moment > utcnow() + FUTURE_SLACK:
        raise FhirImportError(
            f"The response is dated {moment:%d %b %Y}, in the future. Nothing was imported."
        )
    return moment


def _store_intake(
    couple: Couple,
    partner: Partner,
    instrument: Instrument,
    answers: dict[str, AnswerValue],
    therapist: Therapist,
) -> Imported:
    existing = intake.responses_of(partner).get(instrument.id)
    if existing is not None and existing.instrument_version != instrument.version:
        raise FhirImportError(
            f"{partner.display_name}'s {instrument.title} was answered on version "
            f"{existing.instrument_version}; this response is version {instrument.version}. "
            "Nothing was imported."
        )
    # Page by page, as the therapist would type it: every item of the instrument is set, so an
    # answer the file leaves out is cleared, and changes to a completed intake are recorded.
    for step in intake.steps(intake.intake_version(couple.id)):
        if step.instrument.id != instrument.id:
            continue
        responses = intake.responses_of(partner)
        intake.save_section(
            partner,
            step,
            {item.id: answers.get(item.id) for item in step.section.items},
            expected_version=intake.version_token(responses, step),
            therapist=therapist,
        )
    completion = intake.complete(partner)
    assessment.rescore(couple)
    responses = intake.responses_of(partner)
    still = tuple(
        load(instrument_id).title
        for instrument_id in intake.INSTRUMENT_ORDER
        if instrument_id not in responses
        or missing_required(
            load(instrument_id, responses[instrument_id].instrument_version),
            responses[instrument_id].answers,
        )
    )
    return Imported(
        partner=partner,
        instrument=instrument,
        context=INTAKE,
        intake_complete=not completion.missing,
        newly_complete=completion.newly_complete,
        still_missing=still,
    )


def _store_check_in(
    couple: Couple,
    partner: Partner,
    instrument: Instrument,
    answers: dict[str, AnswerValue],
    authored: datetime,
) -> Imported:
    """A check-in between sessions at the authored time, as a partner's own link records one
    with no appointment to join; a second import of the same one is refused."""
    earlier = db.session.scalars(
        select(CheckIn.answered_at).where(
            CheckIn.couple_id == couple.id,
            CheckIn.partner_label == partner.label,
            CheckIn.instrument_id == instrument.id,
            CheckIn.appointment_id.is_(None),
            CheckIn.answered_at.is_not(None),
        )
    )
    if any(as_utc(moment) == authored for moment in earlier):
        raise FhirImportError(
            f"{partner.display_name}'s {instrument.title} of {authored:%d %b %Y %H:%M} UTC is "
            "already in the record. Nothing was imported."
        )
    row = CheckIn(
        couple_id=couple.id,
        partner_label=partner.label,
        instrument_id=instrument.id,
        instrument_version=instrument.version,
        answers=dict(answers),
        total=appointments.check_in_total(instrument.id, dict(answers)),
        answered_at=authored,
    )
    db.session.add(row)
    flush_versioned(db.session)
    return Imported(partner=partner, instrument=instrument, context=CHECK_IN, check_in=row)
