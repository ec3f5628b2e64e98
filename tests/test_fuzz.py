"""Property tests: a thousand generated posts to each of the main forms.

For every post: never a server error, never a stack trace in the page, and a post the app
refuses (a 4xx, or the page shown again with field errors) leaves every row in the database as
it was. The posts mix valid values, built from the forms' real field names and choices, with
adversarial ones: any Unicode text (NULs and control characters included; lone surrogates cannot
travel in UTF-8, so they are left out), texts of up to ~10,000 characters, numbers out of range,
wrong values for radio and select fields, missing, repeated and unknown fields, tampered version
fields and tampered ids in the URL.

The database file is put back as the test set it up before each example, so every example starts
from the same rows: examples are independent, and a failing one replays exactly while
Hypothesis shrinks it. SQLite only: the properties are about input handling, not the backend,
and six thousand posts on both backends would not fit the suite's time budget.
"""

from __future__ import annotations

import operator
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.strategies import SearchStrategy
from sqlalchemy import MetaData, event, select
from sqlalchemy.engine import make_url
from werkzeug.datastructures import MultiDict

from appointment_support import Visit, seed_history
from conftest import PASSWORD, Client
from counselor_app.auth import services as auth_services
from counselor_app.extensions import db
from counselor_app.forms.base import strip_whitespace
from counselor_app.forms.plans import HOMEWORK_ROWS
from counselor_app.instruments import Item
from counselor_app.intake.services import steps
from counselor_app.library.services import strategies_for
from counselor_app.models import (
    Appointment,
    Couple,
    Flag,
    FlagStatus,
    LoginFailure,
    RelationshipStage,
    Response,
    SessionPlan,
    Therapist,
)
from counselor_app.models.base import utcnow
from counselor_app.plans.services import AGENDA_PARTS
from intake_support import CSI_DISTRESSED, seed_intake
from plan_support import new_plan
from vignettes import VIGNETTES

pytestmark = pytest.mark.sqlite_only

EXAMPLES = 1000  # per form: the issue asks for at least a thousand inputs each
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same inputs on every run, here and in CI
    database=None,  # nothing kept between runs, nothing written to the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TRACE_MARKERS = ("Traceback", 'File "')
CSRF = "<the session's CSRF token>"  # replaced by the real token when the post is sent
MONEY = next(v for v in VIGNETTES if v.name == "money_fights")


@pytest.fixture(autouse=True, scope="module")
def hypothesis_home(request: pytest.FixtureRequest) -> Iterator[None]:
    """Hypothesis caches Unicode tables in ./.hypothesis: keep them in pytest's own cache."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        set_hypothesis_home_dir(cache.mkdir("hypothesis"))
    else:  # -p no:cacheprovider
        set_hypothesis_home_dir(request.getfixturevalue("tmp_path_factory").mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)


# ---------------------------------------------------------------------------------- values
CHARS = st.characters(exclude_categories=("Cs",))
TEXT = st.text(CHARS, max_size=40)
# Long texts are a short random chunk repeated: cheap to generate, up to about 10,000 characters.
LONG_TEXT = st.builds(operator.mul, st.text(CHARS, min_size=1, max_size=3), st.integers(1, 3400))
NASTY = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\x00" * 64,
        " \t\r\n\x0b\x0c ",
        "\x7f\x1b[2J\x08",
        "\u202e\u2066evil\u2069",
        "\ufeff\u200b\u00a0",
        "\U0010ffff\ufffe\uffff",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ٣ ½ Ⅻ",
        "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǫ̗",
        "<script>alert(1)</script>",
        "{{ 7 * 7 }}{% raw %}",
        "' OR 1=1; DROP TABLE counselor_couple; --",
        "%00%0d%0a",
        "%s%s%n",
        "../../../etc/passwd",
        "null",
        "None",
        "[]",
        '{"a": 1}',
    ]
)
NUMBERS = st.one_of(
    st.integers(-1000, 1000),
    st.integers(-(2**70), 2**70),
    st.sampled_from([-1, 2**31 - 1, 2**31, 2**63, -(2**63) - 1, 10**20]),
).map(str)
ODD_NUMBERS = st.sampled_from(
    [
        "1.5",
        "1e3",
        "0x1F",
        "+7",
        " 7 ",
        "007",
        "1_0",
        "٣",
        "１",
        "½",
        "NaN",
        "inf",
        "-0",
        "9" * 4400,
    ]
)
JUNK = st.one_of(TEXT, NASTY, NUMBERS, ODD_NUMBERS, LONG_TEXT)
VERSION_JUNK = st.one_of(
    st.sampled_from(
        ["abc", "-1", "99999999999999999999", "", " ", "1.0", "0x1", "2147483648", "1e2", "\x00"]
    ),
    NUMBERS,
    TEXT,
)
GENERIC_EXTRA_KEYS = [
    "id",
    "therapist_id",
    "couple_id",
    "is_admin",
    "status",
    "version2",
    "csrf_token2",
    "submit",
    "__proto__",
    "",
    " ",
    "\x00",
    "a" * 300,
]
TAMPERED_IDS = ["999999", "0", "-1", "2147483648", "99999999999999999999", "abc", "1.0"]


def too_long(limit: int) -> SearchStrategy[str]:
    """A text one character over a length limit, or a little more."""
    return st.builds(operator.mul, st.sampled_from(["x", "é", "\x00y", "😀"]), st.just(limit + 1))


def some_of(values: list[str], max_size: int | None = None) -> SearchStrategy[list[str]]:
    return (
        st.lists(st.sampled_from(values), unique=True, max_size=max_size) if values else st.just([])
    )


def mostly(value: Any, others: list[Any]) -> SearchStrategy[Any]:
    """``value`` nine times in ten, else one of ``others`` (shrinks towards ``value``)."""
    return st.integers(0, 9).flatmap(lambda n: st.just(value) if n < 9 else st.sampled_from(others))


def url_ids(own: int, other: int) -> SearchStrategy[str]:
    """Mostly the record the page is about; sometimes another account's, or no record at all."""
    return mostly(str(own), [str(other), *TAMPERED_IDS])


# ----------------------------------------------------------------------------------- posts
@dataclass
class FormSpec:
    """The fields a page posts: valid values, near misses per field, and lookalike extra keys."""

    valid: dict[str, SearchStrategy[Any]]  # a str, or a list of str for multi-valued fields
    wrong: dict[str, SearchStrategy[str]] = field(default_factory=dict)
    extra_keys: list[str] = field(default_factory=list)


# The CSRF token is one field among a few in a small form: it gets a mutation of its own, so
# that most posts reach the form's own validation.
MUTATIONS = ("drop", "junk", "wrong", "wrong", "blank", "repeat", "extra", "extra", "csrf")
CSRF_TAMPERING = st.one_of(
    st.just([]), st.just([""]), st.just(["x", CSRF]), JUNK.map(lambda v: [v])
)


@st.composite
def posts(draw: st.DrawFn, spec: FormSpec) -> MultiDict[str, str]:
    """A valid post of the form, then up to four mutations (none, once shrunk)."""
    fields: dict[str, list[str]] = {"csrf_token": [CSRF]}
    for name, strategy in spec.valid.items():
        value = draw(strategy)
        fields[name] = list(value) if isinstance(value, list) else [value]
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(MUTATIONS))
        names = sorted(fields.keys() - {"csrf_token"})
        if kind == "csrf":
            fields["csrf_token"] = draw(CSRF_TAMPERING)
            continue
        if kind == "extra" or not names:
            key = draw(st.one_of(st.sampled_from(spec.extra_keys + GENERIC_EXTRA_KEYS), TEXT))
            fields.setdefault(key, []).append(draw(JUNK))
            continue
        name = draw(st.sampled_from(names))
        if kind == "drop":
            del fields[name]
        elif kind == "junk":
            fields[name] = [draw(JUNK)]
        elif kind == "wrong":
            fields[name] = [draw(spec.wrong.get(name, JUNK))]
        elif kind == "blank":
            fields[name] = [""]
        else:  # the same key twice: the value again, or something else
            fields[name].append(draw(st.one_of(st.sampled_from([*fields[name], ""]), JUNK)))
    return MultiDict([(name, value) for name, values in fields.items() for value in values])


def with_token(post: MultiDict[str, str], token: str) -> MultiDict[str, str]:
    return MultiDict([(k, token if v == CSRF else v) for k, v in post.items(multi=True)])


# --------------------------------------------------------------------------------- checking
Rows = dict[str, list[tuple[Any, ...]]]


class Database:
    """The test's SQLite file as the test set it up: put back before every example, and read."""

    def __init__(self, app: Flask, folder: Path, ignore: tuple[str, ...] = ()) -> None:
        with app.app_context():
            self.engine = db.engine
        # Thousands of commits to a throwaway file: skip the fsync of each one.
        event.listen(self.engine, "connect", skip_fsync)
        self.path = Path(make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database or "")
        metadata = MetaData()
        metadata.reflect(self.engine)
        self.tables = [t for t in metadata.sorted_tables if t.name not in ignore]
        self.engine.dispose()
        self.kept = folder / "as-set-up.sqlite3"
        shutil.copyfile(self.path, self.kept)
        self.baseline = self.rows()

    def rows(self) -> Rows:
        with self.engine.connect() as connection:
            return {
                table.name: sorted(map(tuple, connection.execute(select(table))), key=repr)
                for table in self.tables
            }

    def restore(self) -> None:
        self.engine.dispose()  # no connection may keep pages of the file being replaced
        shutil.copyfile(self.kept, self.path)


def skip_fsync(connection: Any, record: Any) -> None:
    connection.execute("PRAGMA synchronous=OFF")


def differences(before: Rows, after: Rows) -> dict[str, dict[str, list[Any]]]:
    """Per table, the rows that went and the rows that came (truncated for the report)."""
    changed = {}
    for name in before:
        gone = [row for row in before[name] if row not in after[name]]
        came = [row for row in after[name] if row not in before[name]]
        if gone or came:
            changed[name] = {
                "gone": [repr(row)[:300] for row in gone[:3]],
                "came": [repr(row)[:300] for row in came[:3]],
            }
    return changed


@dataclass
class Fuzz:
    """Sends the generated posts, checks each answer, and counts what it saw."""

    database: Database
    allowed: frozenset[int]
    runs: int = 0
    accepted: int = 0
    rejected: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    pages: dict[str, int] = field(default_factory=dict)  # posts per endpoint, where several

    def post(
        self,
        client: Client,
        url: str,
        post: MultiDict[str, str],
        token: str,
        *,
        page: str = "",
        restore: bool = True,
    ) -> Any:
        if restore:
            self.database.restore()
        self.runs += 1
        if page:
            self.pages[page] = self.pages.get(page, 0) + 1
        # TESTING propagates exceptions: a server error fails the example with its traceback.
        response = client.post(url, data=with_token(post, token))
        self.check(response)
        return response

    def check(self, response: Any) -> None:
        status = response.status_code
        self.statuses[status] = self.statuses.get(status, 0) + 1
        body = response.get_data(as_text=True)
        assert status in self.allowed, (status, body[:2000])
        for marker in TRACE_MARKERS:
            assert marker not in body, body[:5000]
        if refused(response, body):
            self.rejected += 1
            after = self.database.rows()
            assert after == self.database.baseline, (
                status,
                differences(self.database.baseline, after),
            )
        else:
            self.accepted += 1

    def report(self, name: str) -> None:
        print(  # shown with -s or -rP: the figures the issue asks for
            f"\n{name}: {self.runs} posts, {self.accepted} accepted, {self.rejected} refused, "
            f"statuses {dict(sorted(self.statuses.items()))}"
            + (f", posts per page {self.pages}" if self.pages else "")
        )
        assert self.runs >= EXAMPLES
        # Both kinds must be common, or the fuzzer has stopped exercising one of the two paths.
        assert self.accepted >= EXAMPLES // 20, self.statuses
        assert self.rejected >= EXAMPLES // 5, self.statuses


def refused(response: Any, body: str) -> bool:
    """A 4xx, a JSON answer that did not save, or a page shown again with field errors."""
    if response.status_code >= 400:
        return True
    if response.status_code in (301, 302, 303, 307, 308):
        return False
    if response.is_json:
        return not response.get_json().get("saved")
    return 'class="field-error"' in body or 'class="form-errors"' in body


# ----------------------------------------------------------------------------- the forms
def answer_values(item: Item) -> SearchStrategy[str]:
    """What the page lets a therapist send for one intake question (blank clears it)."""
    if item.kind == "hours":
        low, high = item.min_value or 0, item.max_value if item.max_value is not None else 168
        return st.one_of(st.just(""), st.integers(low, high).map(str))
    if item.kind == "text":
        return st.one_of(st.just(""), TEXT, st.text(CHARS, max_size=400))
    return st.sampled_from(["", *(str(option.value) for option in item.options)])


def wrong_answers(item: Item, every_option: list[str]) -> SearchStrategy[str]:
    if item.kind == "hours":
        low, high = item.min_value or 0, item.max_value if item.max_value is not None else 168
        return st.one_of(st.sampled_from([str(low - 1), str(high + 1)]), NUMBERS, ODD_NUMBERS)
    if item.kind == "text":
        return st.one_of(too_long(4000), LONG_TEXT, NASTY)
    near = [f" {o.value} " for o in item.options] + [str(o.value).upper() for o in item.options]
    return st.one_of(st.sampled_from(every_option + near), NUMBERS, ODD_NUMBERS, TEXT)


def test_fuzz_intake_section(app, logged_in, therapist, make_therapist, make_couple, tmp_path):
    couple_id = make_couple(therapist)
    other_couple = make_couple(make_therapist())
    # Partner A's intake is complete (a save records changes); B has not started (a save
    # creates the draft).
    seed_intake(app, couple_id, "A", csi=CSI_DISTRESSED)
    with app.app_context():
        couple = db.session.get(Couple, couple_id)
        partner_a = next(p for p in couple.partners if p.label == "A")
        rows = db.session.scalars(select(Response).where(Response.partner_id == partner_a.id))
        versions = {("a", row.instrument_id): row.version for row in rows}
    every_step = steps()
    every_item = [item for step in every_step for item in step.section.items]
    every_option = sorted({str(o.value) for item in every_item for o in item.options})
    token = logged_in.csrf_token()
    fuzz = Fuzz(Database(app, tmp_path), frozenset({302, 400, 404, 409, 422}))

    @FUZZ
    @given(st.data())
    def run(data: st.DataObject) -> None:
        step = data.draw(st.sampled_from(every_step), label="step")
        label = data.draw(st.sampled_from(["a", "b"]), label="label")
        label = data.draw(mostly(label, ["c", "A", "ab", "%00"]), label="label in the URL")
        slug = data.draw(mostly(step.slug, ["nope", "CSI4", f"{step.slug}x"]), label="slug")
        target = data.draw(url_ids(couple_id, other_couple), label="couple id")
        items = step.section.items
        spec = FormSpec(
            valid={
                **{item.id: answer_values(item) for item in items},
                "version": st.just(str(versions.get((label, step.instrument.id), 0))),
                "action": st.sampled_from(["next", "prev", "save"]),
            },
            wrong={
                **{item.id: wrong_answers(item, every_option) for item in items},
                "version": VERSION_JUNK,
            },
            # Questions from other pages, and a lookalike of a real one, are tampering: 400.
            extra_keys=[item.id for item in every_item[::7]] + [f"{items[0].id}_x"],
        )
        post = data.draw(posts(spec), label="post")
        fuzz.post(logged_in, f"/couples/{target}/intake/{label}/{slug}", post, token)

    run()
    fuzz.report("intake section")


# ----------------------------------------------------------------------------- couples
STAGES = [stage.value for stage in RelationshipStage]
NAMES = st.text(
    st.characters(categories=("L", "M", "Zs", "Pd"), exclude_characters="\x00"),
    min_size=1,
    max_size=80,
)
EMAILS = st.one_of(st.just(""), st.sampled_from(["sam@example.org", "Alex.Kim+x@example.co.uk"]))


def couple_spec() -> FormSpec:
    valid: dict[str, SearchStrategy[Any]] = {}
    wrong: dict[str, SearchStrategy[str]] = {}
    for partner in ("partner_a", "partner_b"):
        valid |= {
            f"{partner}-display_name": NAMES,
            f"{partner}-pronouns": st.sampled_from(["", "she/her", "he/him", "they/them"]),
            f"{partner}-email": EMAILS,
        }
        wrong |= {
            f"{partner}-display_name": st.one_of(too_long(80), st.sampled_from([" ", "\x00"])),
            f"{partner}-pronouns": too_long(40),
            f"{partner}-email": st.one_of(
                st.emails(),
                st.sampled_from(["@", "a@", "@b.c", "a@b", "a b@c.d", "a@b.c\x00", "é@é.é"]),
                st.builds("{}@example.org".format, too_long(250)),
            ),
        }
    valid |= {
        "relationship_stage": st.sampled_from(STAGES),
        "length_years": st.one_of(st.just(""), st.integers(0, 80).map(str)),
        "length_months": st.one_of(st.just(""), st.integers(0, 11).map(str)),
        "presenting_concerns": st.one_of(st.just(""), TEXT, LONG_TEXT.map(lambda t: t[:5000])),
    }
    wrong |= {
        "relationship_stage": st.one_of(
            st.sampled_from([s.upper() for s in STAGES] + [f"{STAGES[0]} ", "0", "1", "None"]),
            TEXT,
        ),
        "length_years": st.one_of(st.sampled_from(["-1", "81"]), NUMBERS, ODD_NUMBERS),
        "length_months": st.one_of(st.sampled_from(["-1", "12"]), NUMBERS, ODD_NUMBERS),
        "presenting_concerns": too_long(5000),
    }
    extra = ["partner_c-display_name", "partner_a-id", "partner_a-couple_id", "partner_a-label"]
    return FormSpec(valid, wrong, extra)


def test_fuzz_new_couple(app, logged_in, tmp_path):
    token = logged_in.csrf_token()
    fuzz = Fuzz(Database(app, tmp_path), frozenset({302, 400, 422}))
    spec = couple_spec()

    @FUZZ
    @given(post=posts(spec))
    def run(post: MultiDict[str, str]) -> None:
        fuzz.post(logged_in, "/couples/new", post, token)

    run()
    fuzz.report("new couple")


def test_fuzz_couple_edit(app, logged_in, therapist, make_therapist, make_couple, tmp_path):
    couple_id = make_couple(therapist)
    other_couple = make_couple(make_therapist())
    with app.app_context():
        version = db.session.get(Couple, couple_id).version
    token = logged_in.csrf_token()
    fuzz = Fuzz(Database(app, tmp_path), frozenset({302, 400, 404, 409, 422}))
    spec = couple_spec()
    spec.valid["version"] = st.just(str(version))
    spec.wrong["version"] = st.one_of(st.just(str(version + 1)), VERSION_JUNK)

    @FUZZ
    @given(target=url_ids(couple_id, other_couple), post=posts(spec))
    def run(target: str, post: MultiDict[str, str]) -> None:
        fuzz.post(logged_in, f"/couples/{target}/edit", post, token)

    run()
    fuzz.report("couple edit")


# ------------------------------------------------------------------------- session plans
def assessed_couple(app: Flask, therapist: Therapist, make_couple: Any) -> int:
    """A couple with both intakes in and two flags raised: one confirmed, one not."""
    couple_id = make_couple(therapist)
    # Money fights, and A wanting more time together while B wants more space.
    needs_a = {"need_more_together": 5, "need_more_space": 1, "need_space_rejection": 5}
    needs_b = {"need_more_together": 1, "need_more_space": 5, "need_closeness_crowded": 5}
    seed_intake(app, couple_id, "A", intake={**dict(MONEY.a), **needs_a})
    seed_intake(app, couple_id, "B", intake={**dict(MONEY.b), **needs_b}, csi=CSI_DISTRESSED)
    with app.app_context():
        query = select(Flag).where(Flag.couple_id == couple_id).order_by(Flag.id)
        flags = db.session.scalars(query).all()
        assert len(flags) >= 2, [f.challenge_key for f in flags]
        flags[0].status = FlagStatus.CONFIRMED
        db.session.commit()
    return couple_id


def plan_spec(flag_ids: list[str], other_flag_ids: list[str], keys: list[str]) -> FormSpec:
    valid: dict[str, SearchStrategy[Any]] = {
        "session_date": st.dates().map(date.isoformat),
        "focus_flags": some_of(flag_ids),
        "goals": st.one_of(st.just(""), TEXT, LONG_TEXT.map(lambda t: t[:4000])),
        "strategies": some_of(keys, max_size=4),
        "private_notes": st.one_of(st.just(""), TEXT, LONG_TEXT.map(lambda t: t[:8000])),
    }
    wrong: dict[str, SearchStrategy[str]] = {
        "session_date": st.sampled_from(
            ["2026-02-30", "31/12/2026", "0000-01-01", "10000-01-01", "2026-13-01", "today"]
        ),
        "focus_flags": st.sampled_from([*other_flag_ids, "abc", "-1", "99999999999999999999"]),
        "strategies": st.sampled_from(["no_such_strategy", *(k.upper() for k in keys[:3])]),
        "goals": too_long(4000),
        "private_notes": too_long(8000),
    }
    parts = [key for key, _, _ in AGENDA_PARTS]
    for index, part in enumerate(parts):
        valid |= {
            f"agenda-{index}-part": st.just(part),
            f"agenda-{index}-minutes": st.integers(0, 180).map(str),
            f"agenda-{index}-notes": st.one_of(st.just(""), TEXT),
        }
        wrong |= {
            f"agenda-{index}-part": st.sampled_from([p for p in parts if p != part] + [""]),
            f"agenda-{index}-minutes": st.one_of(st.sampled_from(["-1", "181"]), NUMBERS),
            f"agenda-{index}-notes": too_long(300),
        }
    for index in range(HOMEWORK_ROWS):
        valid |= {
            f"homework-{index}-strategy_key": st.sampled_from(["", *keys]),
            f"homework-{index}-text": st.one_of(st.just(""), TEXT, st.text(CHARS, max_size=300)),
        }
        wrong |= {
            f"homework-{index}-strategy_key": st.sampled_from(["nope", " ", "0"]),
            f"homework-{index}-text": too_long(1000),
        }
    extra = [
        "agenda-5-part",
        "agenda-5-minutes",
        "agenda--1-part",
        "homework-5-text",
        "homework-7-text",
        "homework-8-text",
        "homework-99999999999999999999-text",
        "homework-x-text",
        "focus_flags-0",
        "couple_id",
        "plan_id",
    ]
    return FormSpec(valid, wrong, extra)


def test_fuzz_session_plan(app, logged_in, therapist, make_therapist, make_couple, tmp_path):
    couple_id = assessed_couple(app, therapist, make_couple)
    plan_id = new_plan(logged_in, couple_id)
    other_couple = make_couple(make_therapist())
    with app.app_context():
        version = db.session.get(SessionPlan, plan_id).version
        flags = db.session.scalars(select(Flag).where(Flag.couple_id == couple_id)).all()
        confirmed = [str(f.id) for f in flags if f.status == FlagStatus.CONFIRMED]
        unconfirmed = [str(f.id) for f in flags if f.status != FlagStatus.CONFIRMED]
        keys = sorted(strategies_for(db.session.get(Therapist, therapist.id)))
    token = logged_in.csrf_token()
    fuzz = Fuzz(Database(app, tmp_path), frozenset({302, 400, 404, 409, 422}))
    spec = plan_spec(confirmed, unconfirmed, keys)
    edit_spec = FormSpec(
        {**spec.valid, "version": st.just(str(version))},
        {**spec.wrong, "version": st.one_of(st.just(str(version + 1)), VERSION_JUNK)},
        spec.extra_keys,
    )

    @FUZZ
    @given(st.data())
    def run(data: st.DataObject) -> None:
        target = data.draw(url_ids(couple_id, other_couple), label="couple id")
        page = data.draw(st.sampled_from(["new", "edit"]), label="page")
        if page == "new":
            url, post = f"/couples/{target}/plans/new", data.draw(posts(spec), label="post")
        else:
            plan = data.draw(url_ids(plan_id, plan_id + 1), label="plan id")
            url = f"/couples/{target}/plans/{plan}/edit"
            post = data.draw(posts(edit_spec), label="post")
        fuzz.post(logged_in, url, post, token, page=page)

    run()
    fuzz.report("session plan")


# ------------------------------------------------------------------------- session notes
NOTE_TEXT = st.one_of(st.just(""), TEXT, st.text(CHARS, max_size=300), LONG_TEXT)


def test_fuzz_session_note(app, logged_in, therapist, make_therapist, make_couple, tmp_path):
    couple_id = make_couple(therapist)
    other_couple = make_couple(make_therapist())
    blank, draft, signed = seed_history(app, couple_id, [Visit(), Visit(), Visit()])
    [elsewhere] = seed_history(app, other_couple, [Visit()])
    token = logged_in.csrf_token()
    base = f"/couples/{couple_id}/appointments"
    for appointment_id, action in ((draft, "save"), (signed, "sign")):
        response = logged_in.post(
            f"{base}/{appointment_id}/note",
            data={
                "csrf_token": token,
                "note-dap_data": "Talked about the week.",
                "note-version": "0",
                "action": action,
            },
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with app.app_context():
        versions = {
            a: (db.session.get(Appointment, a).note.version if a != blank else 0)
            for a in (blank, draft, signed)
        }
    fuzz = Fuzz(Database(app, tmp_path), frozenset({200, 302, 400, 404, 409, 422}))

    @FUZZ
    @given(st.data())
    def run(data: st.DataObject) -> None:
        appointment = data.draw(st.sampled_from([blank, draft, signed]), label="appointment")
        target = data.draw(url_ids(appointment, elsewhere), label="appointment id")
        couple = data.draw(url_ids(couple_id, other_couple), label="couple id")
        endpoint = data.draw(st.sampled_from(["note", "note/autosave"]), label="endpoint")
        spec = FormSpec(
            valid={
                "note-dap_data": NOTE_TEXT,
                "note-dap_assessment": NOTE_TEXT,
                "note-dap_plan": NOTE_TEXT,
                "note-version": st.just(str(versions[appointment])),
                "action": st.sampled_from(["save", "save", "sign"]),
            },
            wrong={
                "note-dap_data": too_long(20000),
                "note-dap_assessment": too_long(20000),
                "note-dap_plan": too_long(20000),
                "note-version": st.one_of(st.just(str(versions[appointment] + 1)), VERSION_JUNK),
                "action": st.sampled_from(["SIGN", "sign ", "delete", ""]),
            },
            extra_keys=[
                "dap_data",
                "version",
                "note-status",
                "note-signed_by_id",
                "note-signed_at",
                "addendum-text",
                "private-text",
            ],
        )
        post = data.draw(posts(spec), label="post")
        url = f"/couples/{couple}/appointments/{target}/{endpoint}"
        fuzz.post(logged_in, url, post, token, page=endpoint)

    run()
    fuzz.report("session note")


# ---------------------------------------------------------------------------------- login
def test_fuzz_login(app, client, therapist, make_therapist, tmp_path):
    # A thousand sign-ins: affordable because the suite hashes passwords cheaply
    # (conftest.FAST_PASSWORD_HASH), unknown emails included.
    deactivated = make_therapist(active=False)
    # Sign-in records every attempt (login_failure counts them for the account's throttle,
    # rate_limit for the address's, audit_event keeps the trail of failures): those tables
    # change on a refused sign-in by design.
    ignored = ("counselor_login_failure", "counselor_rate_limit", "counselor_audit_event")
    fuzz = Fuzz(
        Database(app, tmp_path, ignore=ignored),
        frozenset({302, 400, 401, 429}),
    )
    email = therapist.email
    spec = FormSpec(
        valid={
            "email": st.sampled_from([email, f"  {email.upper()} ", deactivated.email]),
            "password": st.just(PASSWORD),
        },
        wrong={
            "email": st.one_of(
                st.emails(),
                st.sampled_from(
                    ["nobody@example.org", f"{email}\x00", f"\x00{email}", "@", "a@b", "<>@x"]
                ),
                st.builds("{}@example.org".format, LONG_TEXT),
                NASTY,
            ),
            "password": st.one_of(
                st.sampled_from([f" {PASSWORD}", PASSWORD.upper(), f"{PASSWORD}\x00"]),
                too_long(128),
                TEXT,
            ),
        },
        extra_keys=["remember", "next", "is_admin"],
    )
    state = {"client": client, "token": client.csrf_token()}

    @FUZZ
    @given(
        post=posts(spec),
        failures=st.sampled_from([0, 0, 0, 9, 10, 30]),
        next_page=st.one_of(st.none(), st.sampled_from(["/couples/1", "//evil.example"]), TEXT),
    )
    def run(post: MultiDict[str, str], failures: int, next_page: str | None) -> None:
        fuzz.database.restore()
        if failures and (account := post.get("email")) is not None:
            # Earlier failures for the posted address: 9 leaves one try, 10 or more lock it.
            with app.app_context():
                key = auth_services._account_key(strip_whitespace(account))
                db.session.add_all(
                    LoginFailure(account=key, failed_at=utcnow()) for _ in range(failures)
                )
                db.session.commit()
        url = "/login" + (f"?{urlencode({'next': next_page})}" if next_page is not None else "")
        response = fuzz.post(state["client"], url, post, state["token"], restore=False)
        if response.status_code == 302:  # signed in: the next example needs a new browser
            state["client"] = app.test_client()
            state["token"] = state["client"].csrf_token()

    run()
    fuzz.report("login")
