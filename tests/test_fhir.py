"""FHIR R4: the instruments as Questionnaires, the couple's answers as QuestionnaireResponses
(downloads, the export ZIP's Bundle), and a QuestionnaireResponse imported for one partner.

Every resource we produce is parsed with the fhir.resources R4B models, the same models the
import parses with. Round trips go out of one couple and into another, and must land with
the same answers, scores, flags and safety alert as typing them did.
"""

# The host fixtures are imported from host_support and named as test arguments, by design.
from __future__ import annotations

import io
import json
import re
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from flask import Flask
from sqlalchemy import select

from appointment_support import START, Visit, seed_history
from conftest import add_couple, login
from counselor_app import api, paths
from counselor_app.assessment.services import build_assessment
from counselor_app.extensions import db
from counselor_app.fhir import services as fhir
from counselor_app.instruments import available, load
from counselor_app.models import AuditEvent, CheckIn, Couple, Response, SafetyAlert
from counselor_app.models.base import as_utc
from counselor_app.progress.services import progress_of
from host_support import (  # noqa: F401  (fixtures)
    PREFIX,
    clinician,
    host,
    host_client,
    host_template,
    other_clinician,
    signed_in,
)
from intake_support import CSI_DISTRESSED, enter_intake_via_web
from snapshot_support import changes, snapshot
from vignettes import SAFE, VIGNETTES

FHIR_JSON = "application/fhir+json"
BASE = "https://counselor-app.example/fhir"
AUDIT = ("counselor_audit_event",)
INSTRUMENTS_DIR = Path(paths.__file__).parent / "instruments"
# A story that raises flags, with partner A's safety screen positive and free text in both.
STORY = next(v for v in VIGNETTES if v.name == "pursue_withdraw")
SAFETY_A = {**SAFE, "saf_fear": "yes", "saf_notes": "Ängstlich — on weekends mostly."}
GOALS = {"bg_goals": "Evenings that feel like ours, “not a schedule”."}


def parsed(resource: dict[str, Any]) -> Any:
    """The resource read back by the fhir.resources R4B model of its type (raises if invalid)."""
    return get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def fhir_get(client: Any, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert response.mimetype == FHIR_JSON
    resource = json.loads(response.data)
    parsed(resource)
    return resource


def questions(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """linkId -> item, at any depth: a Questionnaire's questions (not its groups or display
    text), or a QuestionnaireResponse's answered items."""
    found: dict[str, dict[str, Any]] = {}
    response = resource["resourceType"] == "QuestionnaireResponse"

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if ("answer" in item) if response else item["type"] not in ("group", "display"):
                found[item["linkId"]] = item
            walk(item.get("item", []))

    walk(resource.get("item", []))
    return found


def text_of(page: str) -> str:
    """What a reader sees of a page: its text, one space between words."""
    text = re.sub(r"<[^>]+>", " ", page)
    text = text.replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&")
    return " ".join(text.split())


def audited(app: Flask, couple_id: int) -> set[tuple[str, str]]:
    with app.app_context():
        query = select(AuditEvent.action, AuditEvent.endpoint).where(
            AuditEvent.couple_id == couple_id
        )
        return set(db.session.execute(query).all())


# ------------------------------------------------------------------------------ Questionnaires
@pytest.mark.sqlite_only
def test_every_questionnaire_is_valid_fhir_and_mirrors_its_instrument(app):
    with app.app_context():
        instruments = fhir.every_instrument()
        assert {(i.id, i.version) for i in instruments} == {
            (key, v) for key, versions in available().items() for v in versions
        }
        for instrument in instruments:
            resource = fhir.questionnaire(instrument)
            model = parsed(resource)
            assert model.url == f"{BASE}/Questionnaire/{instrument.id}"
            assert model.version == str(instrument.version)
            assert model.id == f"{instrument.id}-v{instrument.version}"
            asked = questions(resource)
            # linkIds are our item ids, in form order, and unique across the resource.
            assert list(asked) == [item.id for item in instrument.items]
            every_link = re.findall(r'"linkId": "([^"]+)"', json.dumps(resource))
            assert len(every_link) == len(set(every_link))
            for item in instrument.items:
                entry = asked[item.id]
                assert entry["required"] is item.required
                assert "enableWhen" not in entry  # no conditions in the instruments today
                codes = [o["valueCoding"]["code"] for o in entry.get("answerOption", [])]
                assert codes == [str(o.value) for o in item.options]


@pytest.mark.sqlite_only
def test_answer_options_carry_the_scores_we_use(app):
    with app.app_context():
        intake = questions(fhir.questionnaire(load("intake")))
        safety = questions(fhir.questionnaire(load("safety")))
        balance = questions(fhir.questionnaire(load("balance")))

    def ordinals(item: dict[str, Any]) -> dict[str, float | None]:
        return {
            o["valueCoding"]["code"]: next(
                (e["valueDecimal"] for e in o.get("extension", []) if e["url"] == ORDINAL), None
            )
            for o in item["answerOption"]
        }

    ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
    reversed_item = next(i for i in load("intake").items if i.reverse)
    plain_item = next(i for i in load("intake").items if i.kind == "likert" and not i.reverse)
    # Intake statements count 1–5 towards their domain, reverse-worded ones flipped.
    assert ordinals(intake[plain_item.id]) == {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5}
    assert ordinals(intake[reversed_item.id]) == {"1": 5, "2": 4, "3": 3, "4": 2, "5": 1}
    assert ordinals(intake["bg_stage"]) == dict.fromkeys(
        ["dating", "engaged", "married", "cohabiting", "other"]
    )
    # A positive safety answer counts 1; "Not sure" is positive where doubt needs follow-up.
    assert ordinals(safety["saf_speak_openly"]) == {"yes": 0, "no": 1, "unsure": 1}
    assert ordinals(balance["bal_heard"]) == {"0": 0, "1": 1, "2": 2, "3": 3, "4": 4}
    hours = intake["bg_hours_alone_now"]
    assert hours["type"] == "integer"
    assert {e["url"].rsplit("/", 1)[1]: e["valueInteger"] for e in hours["extension"]} == {
        "minValue": 0,
        "maxValue": 168,
    }
    assert intake["bg_goals"]["type"] == "text" and intake["bg_goals"]["required"] is False


@pytest.mark.sqlite_only
def test_the_csi4_questionnaire_carries_the_published_items_anchors_source_and_licence(app):
    raw = tomllib.loads((INSTRUMENTS_DIR / "csi4_v1.toml").read_text(encoding="utf-8"))
    scales = {key: spec["options"] for key, spec in raw["scales"].items()}
    with app.app_context():
        resource = fhir.questionnaire(load("csi4", 1))
    asked = questions(resource)
    for item in raw["sections"][0]["items"]:
        entry = asked[item["id"]]
        assert entry["text"] == item["text"]  # verbatim, punctuation and all
        anchors = item.get("options") or scales[item["scale"]]
        assert [
            (
                o["valueCoding"]["code"],
                o["valueCoding"]["display"],
                o["extension"][0]["valueDecimal"],
            )
            for o in entry["answerOption"]
        ] == [(str(a["value"]), a["label"], a["value"]) for a in anchors]
    source = " ".join(raw["source"].split())
    assert source.startswith("Funk, J. L., & Rogge, R. D. (2007).")
    assert source in resource["copyright"] and raw["licence"] in resource["copyright"]
    assert resource["title"] == "Couples Satisfaction Index (CSI-4)"


def test_a_questionnaire_is_open_to_anyone_as_fhir_json(app, client, therapist):
    resource = fhir_get(client, "/fhir/Questionnaire/csi4-v1")
    with app.app_context():
        assert resource == fhir.questionnaire(load("csi4", 1))
    assert client.get("/fhir/Questionnaire/csi4-v2").status_code == 404
    assert client.get("/fhir/Questionnaire/nothing-v1").status_code == 404
    # Not a page of anyone's record: fetching it is not audited, signed in or not.
    login(client, therapist)
    fhir_get(client, "/fhir/Questionnaire/intake-v1")
    with app.app_context():
        assert not db.session.scalar(
            select(AuditEvent.id).where(AuditEvent.endpoint.like("%fhir%"))
        )


def test_the_questionnaire_is_open_in_the_host_too_and_the_record_pages_are_not(host):
    client = host.test_client()
    resource = fhir_get(client, f"{PREFIX}/fhir/Questionnaire/safety-v1")
    assert resource["url"] == f"{BASE}/Questionnaire/safety"
    response = client.get(f"{PREFIX}/couples/1/fhir/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.sqlite_only
def test_the_cli_writes_one_questionnaire_file_per_instrument_version(app, tmp_path):
    out = tmp_path / "questionnaires"
    result = app.test_cli_runner().invoke(args=["counselor", "fhir", "questionnaires", str(out)])
    assert result.exit_code == 0, result.output
    files = sorted(path.name for path in out.iterdir())
    assert files == sorted(
        f"Questionnaire-{key}-v{v}.json" for key, versions in available().items() for v in versions
    )
    with app.app_context():
        for path in out.iterdir():
            resource = json.loads(path.read_text(encoding="utf-8"))
            parsed(resource)
            assert resource == fhir.questionnaire(fhir.instrument_for_resource_id(resource["id"]))


# ------------------------------------------------------------------------------ round trips
def assessment_summary(app: Flask, couple_id: int) -> dict[str, Any]:
    """What typing the intake produced: answers, scores, flags and the safety alert."""
    with app.app_context():
        couple = db.session.get(Couple, couple_id)
        result = build_assessment(couple)
        labels = {p.id: p.label for p in couple.partners}
        responses = db.session.scalars(select(Response).where(Response.couple_id == couple_id))
        alert = db.session.scalar(select(SafetyAlert).where(SafetyAlert.couple_id == couple_id))
        return {
            "answers": {
                (labels[r.partner_id], r.instrument_id): (r.instrument_version, r.status, r.answers)
                for r in responses
            },
            "partners": [(p.label, p.intake_complete, p.csi4) for p in result.partners],
            "comparisons": result.comparisons,
            "notes": result.notes,
            "flags": [
                (f.challenge_key, f.severity, f.partners, f.evidence, f.hits, f.status)
                for f in result.flags
            ],
            "safety": (alert.partners, alert.positive_items) if alert else None,
            "safety_pending": result.safety_pending,
        }


def intake_resources(client: Any, couple_id: int, label: str) -> list[dict[str, Any]]:
    base = f"/couples/{couple_id}/fhir/QuestionnaireResponse"
    return [
        fhir_get(client, f"{base}/intake-{label}-{i}.json") for i in ("intake", "csi4", "safety")
    ]


def import_page(client: Any, couple_id: int, partner: str, body: bytes | str, **extra: str):
    data: dict[str, Any] = {"partner": partner, "record_as": "", **extra}
    if isinstance(body, bytes):
        data["upload"] = (io.BytesIO(body), "response.json")
    else:
        data["pasted"] = body
    return client.post_form(f"/couples/{couple_id}/fhir/import", data)


def test_an_intake_goes_out_as_questionnaire_responses_and_comes_back_identical(
    app, logged_in, therapist
):
    source = add_couple(app, therapist.id, ("Avery", "Blake"))
    enter_intake_via_web(
        logged_in, source, "A", intake={**STORY.a, **GOALS}, safety=SAFETY_A, csi=CSI_DISTRESSED
    )
    enter_intake_via_web(logged_in, source, "B", intake=dict(STORY.b))
    a_out, b_out = (
        intake_resources(logged_in, source, "a"),
        intake_resources(logged_in, source, "b"),
    )

    intake_a, csi_a, safety_a = a_out
    assert intake_a["questionnaire"] == f"{BASE}/Questionnaire/intake|2"  # new intakes: v2
    assert csi_a["questionnaire"] == f"{BASE}/Questionnaire/csi4|1"
    assert intake_a["status"] == "completed" and intake_a["authored"].endswith("+00:00")
    contained = {r["id"]: r for r in intake_a["contained"]}
    assert intake_a["subject"]["reference"] == "#partner"
    assert contained["partner"]["resourceType"] == "Patient"
    assert contained["partner"]["name"] == [{"text": "Avery"}]
    assert "identifier" not in contained["partner"]  # no host reference for this partner
    # Typed by the therapist: the author is the therapist, contained as a Practitioner.
    assert intake_a["author"] == {"reference": "#therapist"}
    assert contained["therapist"] == {
        "resourceType": "Practitioner",
        "id": "therapist",
        "name": [{"text": "Dana Whitfield"}],
    }
    answered = {k: v["answer"][0] for k, v in questions(intake_a).items()}
    assert answered["bg_goals"] == {"valueString": GOALS["bg_goals"]}
    assert answered["bg_hours_together_want"] == {"valueInteger": 35}
    assert answered["need_more_together"] == {
        "valueCoding": {"code": "5", "display": "Strongly agree"}
    }
    assert questions(safety_a)["saf_notes"]["answer"] == [{"valueString": SAFETY_A["saf_notes"]}]
    assert questions(safety_a)["saf_fear"]["answer"] == [
        {"valueCoding": {"code": "yes", "display": "Yes"}}
    ]
    assert {k: v["answer"][0]["valueCoding"]["code"] for k, v in questions(csi_a).items()} == {
        k: str(v) for k, v in CSI_DISTRESSED.items()
    }

    target = add_couple(app, therapist.id, ("Avery", "Blake"))
    # Partner A through the page (one uploaded, two pasted); partner B through the Python API.
    for index, resource in enumerate(a_out):
        body = json.dumps(resource)
        response = import_page(logged_in, target, "A", body.encode() if index == 0 else body)
        assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    page = logged_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "Imported into partner A&#39;s intake, which is now complete." in page
    with app.app_context():
        for resource in b_out:
            api.import_questionnaire_response(target, "B", resource)
        db.session.commit()

    before, after = assessment_summary(app, source), assessment_summary(app, target)
    assert after == before
    assert after["safety"][0] == "A" and after["flags"], after
    assert ("update", "couple.fhir.import_response") in audited(app, target)
    assert ("update", "api.import_questionnaire_response") in audited(app, target)
    assert ("export", "couple.fhir.intake_response") in audited(app, source)
    # Out again from the copy: the same answers, item for item.
    again = intake_resources(logged_in, target, "a")
    assert [r["item"] for r in again] == [r["item"] for r in a_out]


def test_a_partial_import_leaves_the_intake_a_draft_until_the_rest_arrives(
    app, logged_in, therapist
):
    source = add_couple(app, therapist.id)
    enter_intake_via_web(logged_in, source, "A")
    csi = intake_resources(logged_in, source, "a")[1]
    target = add_couple(app, therapist.id)
    nothing = logged_in.post_form(f"/couples/{target}/fhir/import", {"partner": "A"})
    assert nothing.status_code == 422
    assert "Choose a file or paste the JSON" in text_of(nothing.get_data(as_text=True))
    response = import_page(logged_in, target, "A", json.dumps(csi))
    page = logged_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "which still has 2 parts to answer." in page
    with app.app_context():
        [row] = db.session.scalars(select(Response).where(Response.couple_id == target)).all()
        assert (row.instrument_id, row.status.value, row.answers) == (
            "csi4",
            "draft",
            csi_answers(csi),
        )


def csi_answers(resource: dict[str, Any]) -> dict[str, int]:
    return {k: int(v["answer"][0]["valueCoding"]["code"]) for k, v in questions(resource).items()}


def test_check_ins_go_out_and_come_back_as_check_ins_between_sessions(app, logged_in, therapist):
    source = add_couple(app, therapist.id)
    visits = [Visit(csi={"A": 9, "B": 15}, balance={"A": 7, "B": 12}), Visit(csi={"A": 12})]
    seed_history(app, source, visits)
    with app.app_context():
        rows = db.session.scalars(
            select(CheckIn).where(CheckIn.couple_id == source).order_by(CheckIn.id)
        ).all()
        first_a = [
            (r.id, r.instrument_id, r.answers, r.total) for r in rows if r.partner_label == "A"
        ][:2]
    page = logged_in.get(f"/couples/{source}/fhir/").get_data(as_text=True)
    out = []
    for check_in_id, _, _, _ in first_a:
        url = f"/couples/{source}/fhir/QuestionnaireResponse/check-in-{check_in_id}.json"
        assert url in page
        out.append(fhir_get(logged_in, url))
    csi, balance = out
    assert csi["authored"] == START.isoformat(timespec="seconds")
    assert csi["meta"]["tag"][0]["code"] == "check-in"
    assert balance["questionnaire"] == f"{BASE}/Questionnaire/balance|1"
    assert balance["author"] == {"reference": "#therapist"}  # entered at the appointment

    target = add_couple(app, therapist.id)
    for resource in out:
        response = import_page(logged_in, target, "A", json.dumps(resource))
        assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    with app.app_context():
        imported = db.session.scalars(
            select(CheckIn).where(CheckIn.couple_id == target).order_by(CheckIn.id)
        ).all()
        assert [(r.instrument_id, r.answers, r.total) for r in imported] == [
            (instrument, answers, total) for _, instrument, answers, total in first_a
        ]
        assert all(
            r.appointment_id is None and as_utc(r.answered_at) == START and r.partner_label == "A"
            for r in imported
        )
        # One sitting between sessions on the progress page, with both measures' totals.
        progress = progress_of(db.session.get(Couple, target))
        assert progress.between_count == 1
    # Kept between sessions at its authored time, and still the therapist's entry: an import
    # is no answer by the partner's own link.
    again = fhir_get(
        logged_in, f"/couples/{target}/fhir/QuestionnaireResponse/check-in-{imported[0].id}.json"
    )
    assert again["item"] == csi["item"] and again["authored"] == csi["authored"]
    assert again["author"] == {"reference": "#therapist"}
    assert {r["resourceType"] for r in again["contained"]} == {"Patient", "Practitioner"}
    # The same check-in a second time is refused: it is already there.
    response = import_page(logged_in, target, "A", json.dumps(csi))
    assert response.status_code == 422
    assert "is already in the record. Nothing was imported." in response.get_data(as_text=True)


def test_the_export_zip_holds_every_response_as_a_fhir_bundle(app, logged_in, therapist):
    couple_id = add_couple(app, therapist.id)
    with app.app_context():
        couple = db.session.get(Couple, couple_id)
        couple.partners[0].external_id = "client-0042"
        db.session.commit()
    enter_intake_via_web(logged_in, couple_id, "A")
    with app.app_context():
        # Partner A answered the safety screen on their own device.
        row = db.session.scalar(select(Response).where(Response.instrument_id == "safety"))
        row.partner_answered_at = row.updated_at
        db.session.commit()
    seed_history(app, couple_id, [Visit(csi={"A": 10, "B": 14}, balance={"A": 8})])
    response = logged_in.get(f"/couples/{couple_id}/export.zip")
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert "fhir-bundle.json" in archive.read("README.txt").decode()
    bundle = json.loads(archive.read("fhir-bundle.json"))
    model = parsed(bundle)
    assert model.type == "collection"
    resources = [entry["resource"] for entry in bundle["entry"]]
    assert [r["id"] for r in resources[:3]] == [
        "intake-a-intake",
        "intake-a-csi4",
        "intake-a-safety",
    ]
    assert sorted(r["questionnaire"].split("/")[-1] for r in resources[3:]) == [
        "balance|1",
        "csi4|1",
        "csi4|1",
    ]
    assert len({entry["fullUrl"] for entry in bundle["entry"]}) == 6
    for resource in resources:
        parsed(resource)
        assert resource["resourceType"] == "QuestionnaireResponse"
    # The host's reference travels as the partner's identifier.
    patient = resources[0]["contained"][0]
    assert patient["identifier"] == [{"value": "client-0042"}]
    # Who answered: the therapist typed the intake and the CSI-4, the partner the safety screen.
    assert [r["author"]["reference"] for r in resources[:3]] == [
        "#therapist",
        "#therapist",
        "#partner",
    ]
    assert [c["resourceType"] for c in resources[2]["contained"]] == ["Patient"]


# ------------------------------------------------------------------------------ refusals
def csi4_resource(**changes: Any) -> dict[str, Any]:
    """A valid CSI-4 QuestionnaireResponse from elsewhere (no tag): answers 4, 4, 4, 4."""
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{BASE}/Questionnaire/csi4|1",
        "status": "completed",
        "authored": "2026-02-03T18:30:00+00:00",
        "item": [
            {"linkId": f"csi_{n}", "answer": [{"valueCoding": {"code": "4"}}]} for n in range(1, 5)
        ],
    }
    resource.update(changes)
    return resource


CHECK_IN_TAG = {"tag": [{"code": "check-in"}]}


def nested_items(depth: int) -> dict[str, Any]:
    """A CSI-4 response whose first item nests ``depth`` levels of items: no response of ours,
    and deep enough that parsing it blindly would exhaust the stack."""
    resource = csi4_resource()
    innermost: dict[str, Any] = {"linkId": "csi_1"}
    for _ in range(depth):
        innermost = {"linkId": "csi_1", "item": [innermost]}
    resource["item"] = [innermost]
    return resource


REFUSALS = {
    "malformed JSON": ('{"resourceType": "QuestionnaireResponse",', "is not valid JSON (line 1"),
    "JSON nested past the stack": ("[" * 100_000 + "]" * 100_000, "nests far deeper"),
    "items nested past the stack": (nested_items(400), "nests far deeper"),
    "a Patient": (
        {"resourceType": "Patient", "name": [{"text": "Avery"}]},
        "This is a FHIR Patient, not a QuestionnaireResponse.",
    ),
    "not FHIR at all": ({"hello": "world"}, "it has no resourceType"),
    "invalid FHIR": (
        csi4_resource(
            item=[{"linkId": "csi_1", "text": "Happiness", "answer": [{"valueInteger": "x"}]}]
        ),
        "This is not a valid FHIR R4 QuestionnaireResponse: Item csi_1 (“Happiness”): "
        "item.0.answer.0.valueInteger",
    ),
    "unknown version": (
        csi4_resource(questionnaire=f"{BASE}/Questionnaire/csi4|2"),
        "The response answers version 2 of the Couples Satisfaction Index (CSI-4), which this "
        "app does not know (it knows version 1).",
    ),
    "no version": (
        csi4_resource(questionnaire=f"{BASE}/Questionnaire/csi4"),
        "without a version",
    ),
    "someone else's questionnaire": (
        csi4_resource(questionnaire="http://loinc.org/q/12345|1"),
        "which is not one of this app's questionnaires",
    ),
    "an answer outside the options": (
        csi4_resource(
            meta=CHECK_IN_TAG,
            item=[
                {
                    "linkId": f"csi_{n}",
                    "answer": [{"valueCoding": {"code": "9" if n == 3 else "4"}}],
                }
                for n in range(1, 5)
            ],
        ),
        "Item csi_3 (“How rewarding is your relationship with your partner?”): “9” is not one "
        "of its answers (0 = Not at all, 1 = A little",
    ),
    "a missing required item": (
        csi4_resource(
            meta=CHECK_IN_TAG,
            item=[
                {"linkId": f"csi_{n}", "answer": [{"valueCoding": {"code": "4"}}]}
                for n in (1, 2, 3)
            ],
        ),
        "Item csi_4 (“In general, how satisfied are you with your relationship?”): required, "
        "but not answered.",
    ),
    "an item we do not have": (
        csi4_resource(
            meta=CHECK_IN_TAG,
            item=[
                *csi4_resource()["item"],
                {"linkId": "csi_5", "text": "Extra", "answer": [{"valueCoding": {"code": "1"}}]},
            ],
        ),
        "Item csi_5 (“Extra”): not a question of the Couples Satisfaction Index (CSI-4)",
    ),
    "a draft": (csi4_resource(status="in-progress"), "only a completed response can be imported"),
    "no context for a CSI-4": (
        csi4_resource(),
        "is answered in the intake and at check-ins, and the response does not say which",
    ),
    "the balance check-in as intake": (
        {
            **csi4_resource(questionnaire=f"{BASE}/Questionnaire/balance|1"),
            "item": [
                {"linkId": i.id, "answer": [{"valueCoding": {"code": "2"}}]}
                for i in load("balance").items
            ],
            "meta": {"tag": [{"code": "intake"}]},
        },
        "The Balance check-in is not part of the intake.",
    ),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_response_with_a_problem_is_refused_with_its_reason_and_nothing_is_stored(
    app, logged_in, therapist, case
):
    couple_id = add_couple(app, therapist.id)
    resource, message = REFUSALS[case]
    body = resource if isinstance(resource, str) else json.dumps(resource)
    before = snapshot(app)
    response = import_page(logged_in, couple_id, "A", body.encode())
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    shown = text_of(page)
    assert message in shown, shown[-4000:]
    assert "Nothing was imported." in shown
    # The page fetched for the CSRF token is audited, as every page is; nothing else changed.
    assert changes(before, snapshot(app), append_only=AUDIT) == {}
    assert ("update", "couple.fhir.import_response") not in audited(app, couple_id)
    # The Python API refuses it the same way.
    with app.app_context(), pytest.raises(api.FhirImportError) as refused:
        api.import_questionnaire_response(couple_id, "A", body)
    assert message in str(refused.value)


def test_a_response_about_another_couples_partner_is_refused(app, logged_in, therapist):
    ours = add_couple(app, therapist.id, ("Avery", "Blake"))
    theirs = add_couple(app, therapist.id, ("Casey", "Drew"))
    with app.app_context():
        for couple_id, reference in ((ours, "client-1"), (theirs, "client-2")):
            db.session.get(Couple, couple_id).partners[0].external_id = reference
        db.session.commit()
    patient = {"resourceType": "Patient", "id": "p", "identifier": [{"value": "client-2"}]}
    about_casey = csi4_resource(contained=[patient], subject={"reference": "#p"})
    before = snapshot(app)
    response = import_page(logged_in, ours, "A", json.dumps(about_casey), record_as="intake")
    assert response.status_code == 422
    assert "The response is about someone else (identifier client-2), not Avery." in text_of(
        response.get_data(as_text=True)
    )
    # Named by a bare identifier on the reference, to partner B (who has none), just the same.
    by_reference = csi4_resource(subject={"identifier": {"value": "client-2"}})
    with app.app_context(), pytest.raises(api.FhirImportError, match="about someone else"):
        api.import_questionnaire_response(ours, "B", by_reference, record_as="intake")
    assert changes(before, snapshot(app), append_only=AUDIT) == {}
    # Avery's own reference is welcome.
    patient["identifier"] = [{"value": "client-1"}]
    response = import_page(logged_in, ours, "A", json.dumps(about_casey), record_as="check-in")
    assert response.status_code == 302


# ------------------------------------------------------------------------------ access
def test_the_couple_pages_are_the_couples_therapists_only(app, client, make_therapist):
    owner, other = make_therapist("Owner"), make_therapist("Other")
    ours = add_couple(app, owner.id)
    neighbours = add_couple(app, owner.id, ("Casey", "Drew"))
    seed_history(app, ours, [Visit(csi={"A": 10})])
    seed_history(app, neighbours, [Visit(csi={"A": 11})])
    with app.app_context():
        ours_check_in, neighbours_check_in = (
            db.session.scalar(select(CheckIn.id).where(CheckIn.couple_id == couple_id))
            for couple_id in (ours, neighbours)
        )
    enter = f"/couples/{ours}/fhir"
    login(client, owner)
    enter_intake_via_web(client, ours, "A", complete=False)
    pages = [
        f"{enter}/",
        f"{enter}/import",
        f"{enter}/QuestionnaireResponse/intake-a-csi4.json",
        f"{enter}/QuestionnaireResponse/check-in-{ours_check_in}.json",
    ]
    for url in pages:
        assert client.get(url).status_code == 200, url
    # Another couple's check-in, under this couple's address: not found.
    assert (
        client.get(f"{enter}/QuestionnaireResponse/check-in-{neighbours_check_in}.json").status_code
        == 404
    )
    assert client.get(f"{enter}/QuestionnaireResponse/intake-b-csi4.json").status_code == 404
    assert client.get(f"{enter}/QuestionnaireResponse/intake-c-csi4.json").status_code == 404
    # Another therapist: none of it, not even the import.
    client.post_form("/logout")
    login(client, other)
    for url in pages:
        assert client.get(url).status_code == 404, url
    before = snapshot(app)
    response = import_page(client, ours, "A", json.dumps(csi4_resource()), record_as="check-in")
    assert response.status_code == 404
    assert changes(before, snapshot(app), append_only=AUDIT) == {}


def test_a_host_clinician_imports_and_another_gets_nothing(host, clinician, other_clinician):
    ada, ben = signed_in(host, clinician), signed_in(host, other_clinician)
    form = {
        "partner_a-display_name": "Jordan",
        "partner_b-display_name": "Riley",
        "relationship_stage": "engaged",
        "length_years": "3",
        "length_months": "6",
        "presenting_concerns": "",
    }
    made = ada.post_form(f"{PREFIX}/couples/new", form)
    couple_id = int(made.headers["Location"].rsplit("/", 1)[1])
    enter = f"{PREFIX}/couples/{couple_id}/fhir"
    resource = csi4_resource(meta={"tag": [{"code": "check-in"}]})
    response = ada.post_form(
        f"{enter}/import",
        {
            "partner": "B",
            "record_as": "",
            "upload": (io.BytesIO(json.dumps(resource).encode()), "r.json"),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    assert response.headers["Location"] == f"{enter}/"
    page = ada.get(f"{enter}/").get_data(as_text=True)
    with host.app_context():
        check_in_id = db.session.scalar(select(CheckIn.id).where(CheckIn.couple_id == couple_id))
    url = f"{enter}/QuestionnaireResponse/check-in-{check_in_id}.json"
    assert url in page
    out = fhir_get(ada, url)
    assert out["item"] == questions_as_groups(resource)
    assert out["contained"][0]["name"] == [{"text": "Riley"}]
    for path in ("/", "/import", f"/QuestionnaireResponse/check-in-{check_in_id}.json"):
        assert ben.get(f"{enter}{path}").status_code == 404, path


def questions_as_groups(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """A flat CSI-4 response's items as we export them: in their section, with their text."""
    instrument = load("csi4")
    return [
        {
            "linkId": "csi4",
            "text": instrument.sections[0].title,
            "item": [
                {
                    "linkId": item["linkId"],
                    "text": instrument.item(item["linkId"]).text,
                    "answer": [
                        {
                            "valueCoding": {
                                "code": "4",
                                "display": instrument.item(item["linkId"]).label_for(4),
                            }
                        }
                    ],
                }
                for item in resource["item"]
            ],
        }
    ]


def test_the_couple_page_links_to_the_fhir_page(app, logged_in, therapist):
    couple_id = add_couple(app, therapist.id)
    page = logged_in.get(f"/couples/{couple_id}").get_data(as_text=True)
    assert f'href="/couples/{couple_id}/fhir/"' in page
    listing = logged_in.get(f"/couples/{couple_id}/fhir/").get_data(as_text=True)
    assert "No answers yet" in listing and 'href="/fhir/Questionnaire/csi4-v1"' in listing
