"""Accounts: password policy, authentication and creation of therapists."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import generate_password_hash
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from counselor_app.extensions import db
from counselor_app.models import FormDraft, LoginFailure, Practice, Therapist
from counselor_app.models.base import as_utc, utcnow

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
ZXCVBN_MAX_LENGTH = 72
MIN_STRENGTH = 3  # zxcvbn's 0–4 scale: 3 is "safely unguessable" against online attacks


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message is for the user."""


@cache
def _unknown_user_hash(method: str) -> str:
    """Checked when the email is unknown, so a wrong email costs as long as a wrong password
    and response times do not reveal which addresses have accounts. Made on first use only,
    because scrypt is deliberately slow."""
    return generate_password_hash(secrets.token_hex(16), method=method)


def normalise_email(email: str) -> str:
    return email.strip().lower()


@cache
def _common_passwords() -> frozenset[str]:
    """The 30,000 most used passwords, as shipped with zxcvbn."""
    return frozenset(FREQUENCY_LISTS["passwords"])


# Words anyone guessing a password at a counselling practice tries first, with a year or a few
# digits added: the app's and the trade's own words, and the usual stand-ins for a password.
COMMON_WORDS = frozenset(
    {
        "admin",
        "clinic",
        "counseling",
        "counselling",
        "counselor",
        "counsellor",
        "couple",
        "couples",
        "letmein",
        "login",
        "marriage",
        "password",
        "practice",
        "secret",
        "therapist",
        "therapy",
        "welcome",
    }
)
# Name and email parts shorter than this are not words of their own ("al", "jo", "uk").
MIN_PERSONAL_WORD = 3
# Letters written as digits or symbols inside a word ("C0unselor", "P@ssword").
LEET = str.maketrans("013457@$", "oleastas")
LEET_INSIDE_A_WORD = re.compile(r"(?<=[^\W\d_])[013457@$]+(?=[^\W\d_])")
LETTERS = re.compile(r"[^\W\d_]+")
PREDICTABLE_MESSAGE = (
    "Choose a harder password: this one is a name, a part of an email address or a common "
    "word with numbers or symbols added, which are guessed first. A few unrelated words work "
    "well."
)


def _plain_letters(text: str) -> str:
    """Lower case without accents: "Théo" is guessed as "theo"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def personal_words(personal: tuple[str, ...]) -> set[str]:
    """The words of the account's name, email address (both its parts) and practice name."""
    return {
        word
        for text in personal
        for word in LETTERS.findall(_plain_letters(text))
        if len(word) >= MIN_PERSONAL_WORD
    }


def is_words_and_numbers(password: str, words: frozenset[str] | set[str]) -> bool:
    """Whether the password's letters are only ``words`` run together, whatever digits, years,
    spaces or symbols surround them: "Theo Five 2026!" for Theo Five, "Counselor2026!".

    zxcvbn rates these well enough to pass, as a name and a year look like two rare words.
    """
    unleet = LEET_INSIDE_A_WORD.sub(lambda run: run.group().translate(LEET), password)
    letters = "".join(LETTERS.findall(_plain_letters(unleet)))
    if not letters:
        return False
    # ends[i]: the first i letters are words of the list run together.
    ends = [True] + [False] * len(letters)
    for end in range(1, len(letters) + 1):
        ends[end] = any(ends[start] and letters[start:end] in words for start in range(end))
    return ends[-1]


def password_problem(password: str, *, personal: tuple[str, ...] = ()) -> str | None:
    """Why a password is not acceptable, or None when it is.

    Length first; then a shipped list of common passwords; then a name, an email part or a
    common word with only digits and symbols added (``personal``: the account's name, email
    and practice name); then zxcvbn's estimate, which also catches repeats, keyboard runs and
    those same words within a longer password.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    if password.lower() in _common_passwords():
        return "This is one of the most common passwords. Choose another."
    words = personal_words(personal)
    if is_words_and_numbers(password, words | COMMON_WORDS):
        return PREDICTABLE_MESSAGE
    # zxcvbn refuses more than 72 characters; the first 72 decide any real password anyway.
    user_inputs = [*personal, *sorted(words), *sorted(COMMON_WORDS)]
    estimate = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=user_inputs)
    if estimate["score"] < MIN_STRENGTH:
        warning = estimate["feedback"]["warning"] or "It would be easy to guess."
        return f"Choose a harder password: {warning} A few unrelated words work well."
    return None


def account_inputs(name: str, email: str) -> tuple[str, ...]:
    """What a guesser knows of an account: its name, its email address and its practice's name."""
    practice_name = db.session.scalar(select(Practice.name).order_by(Practice.id).limit(1))
    return (name, email, practice_name or "")


def generate_password() -> str:
    """A 20-character random password for a new account, shown once to whoever created it."""
    return secrets.token_urlsafe(15)


def find_by_email(email: str) -> Therapist | None:
    return db.session.scalar(
        select(Therapist).where(func.lower(Therapist.email) == normalise_email(email))
    )


def authenticate(email: str, password: str) -> Therapist | None:
    """The therapist these credentials belong to (active or not), or None."""
    therapist = find_by_email(email)
    if therapist is None:
        method = current_app.config["COUNSELOR_PASSWORD_HASH"]
        Therapist(password_hash=_unknown_user_hash(method)).check_password(password)
        return None
    return therapist if therapist.check_password(password) else None


def create_therapist(name: str, email: str, password: str, *, is_admin: bool = False) -> Therapist:
    """Add a therapist; flushes so the caller can commit (or roll back) with other work."""
    if problem := password_problem(password, personal=account_inputs(name, email)):
        raise AccountError(problem)
    if find_by_email(email) is not None:
        raise AccountError("A therapist with this email address already exists.")
    therapist = Therapist(name=name.strip(), email=normalise_email(email), is_admin=is_admin)
    therapist.set_password(password)
    db.session.add(therapist)
    db.session.flush()
    return therapist


def change_password(therapist: Therapist, current: str, new: str) -> None:
    if not therapist.check_password(current):
        raise AccountError("The current password is not correct.")
    if problem := password_problem(new, personal=account_inputs(therapist.name, therapist.email)):
        raise AccountError(problem)
    therapist.set_password(new)
    # Other signed-in copies of this account (another device, a stolen cookie) are signed out.
    therapist.rotate_login_token()


def load_by_login_token(token: str) -> Therapist | None:
    therapist = db.session.scalar(select(Therapist).where(Therapist.login_token == token))
    return therapist if therapist is not None and therapist.active else None


def count_therapists() -> int:
    return db.session.scalar(select(func.count()).select_from(Therapist)) or 0


# ------------------------------------------------------------------------------ throttling
MAX_FAILURES = 10
FAILURE_WINDOW = timedelta(minutes=15)


def _account_key(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()


def _recent_failures(email: str, now: datetime) -> list[datetime]:
    query = select(LoginFailure.failed_at).where(
        LoginFailure.account == _account_key(email),
        LoginFailure.failed_at > now - FAILURE_WINDOW,
    )
    return [as_utc(moment) for moment in db.session.scalars(query)]


def begin_attempt(email: str) -> LoginFailure:
    """Count the attempt as a failure before the password is checked, and commit it.

    Counting first means simultaneous guesses all see each other: checking, then recording
    after the (slow) password check would let a burst of parallel requests through.
    """
    attempt = LoginFailure(account=_account_key(email))
    db.session.add(attempt)
    db.session.commit()
    return attempt


def locked_for(email: str, attempt: LoginFailure, now: datetime | None = None) -> timedelta | None:
    """How long this account must wait, counting ``attempt``; None when it may try."""
    now = now or utcnow()
    failures = sorted(_recent_failures(email, now))
    if len(failures) <= MAX_FAILURES:
        return None
    # A refused attempt is not held against the account: only real guesses count.
    db.session.delete(attempt)
    db.session.commit()
    earlier = failures[:-1] if len(failures) > MAX_FAILURES else failures
    # Free again once the oldest of the last MAX_FAILURES leaves the window.
    return earlier[-MAX_FAILURES] + FAILURE_WINDOW - now


def clear_failures(email: str, now: datetime | None = None) -> None:
    """A successful sign-in wipes the account's record, and old rows go while we are here."""
    now = now or utcnow()
    db.session.execute(
        delete(LoginFailure).where(
            (LoginFailure.account == _account_key(email))
            | (LoginFailure.failed_at < now - FAILURE_WINDOW)
        )
    )


# --- The signed-in session's clock ------------------------------------------------------------


@dataclass(frozen=True)
class SessionClock:
    """Seconds a signed-in session has left: before the idle limit (activity moves it) and
    before the absolute limit (nothing moves it)."""

    idle_left: float
    absolute_left: float
    idle_window: float

    @property
    def remaining(self) -> int:
        return max(0, int(min(self.idle_left, self.absolute_left)))

    @property
    def final(self) -> bool:
        """Staying active can no longer give a full idle window: the end is in sight."""
        return self.absolute_left < self.idle_window


def session_clock(
    *, signed_in_at: float, seen_at: float, now: float, idle: timedelta, absolute: timedelta
) -> SessionClock:
    return SessionClock(
        idle_left=seen_at + idle.total_seconds() - now,
        absolute_left=signed_in_at + absolute.total_seconds() - now,
        idle_window=idle.total_seconds(),
    )


# --- Form drafts kept over an expired session ------------------------------------------------

# A draft nobody came back for is not kept for ever.
DRAFT_LIFETIME = timedelta(days=7)
# Larger posts are not kept: no form of ours comes near this, so it can only be abuse.
DRAFT_MAX_BYTES = 256 * 1024


def keep_form_draft(therapist_id: int, path: str, fields: list[tuple[str, str]]) -> None:
    """Keep what was sent to ``path`` (the page the form is on), replacing an older draft."""
    _drop_old_drafts(therapist_id)
    db.session.execute(
        delete(FormDraft).where(FormDraft.therapist_id == therapist_id, FormDraft.path == path)
    )
    try:
        with db.session.begin_nested():
            db.session.add(FormDraft(therapist_id=therapist_id, path=path, fields=fields))
    except IntegrityError:
        pass  # a second post from the same page (autosave and Save) kept its draft first


def take_form_draft(therapist_id: int, path: str) -> list[tuple[str, str]] | None:
    """The draft kept for ``path``, removed as it is handed back (it is shown once)."""
    draft = db.session.scalar(
        select(FormDraft).where(FormDraft.therapist_id == therapist_id, FormDraft.path == path)
    )
    if draft is None:
        return None
    db.session.delete(draft)
    if as_utc(draft.saved_at) < utcnow() - DRAFT_LIFETIME:
        return None
    return [(name, value) for name, value in draft.fields]


def form_draft_paths(therapist_id: int) -> list[str]:
    query = select(FormDraft.path).where(
        FormDraft.therapist_id == therapist_id, FormDraft.saved_at >= utcnow() - DRAFT_LIFETIME
    )
    return list(db.session.scalars(query.order_by(FormDraft.id)))


def _drop_old_drafts(therapist_id: int) -> None:
    db.session.execute(
        delete(FormDraft).where(
            FormDraft.therapist_id == therapist_id, FormDraft.saved_at < utcnow() - DRAFT_LIFETIME
        )
    )


# --- Therapists of a host app's sign-in ------------------------------------------------------


def provision(
    *, external_id: str, name: str, email: str, is_admin: bool, adopt_by_email: bool = False
) -> Therapist | None:
    """The therapist for a host clinician, made the first time we meet them and kept in step
    with the host's name, email and admin role; None when the account has been deactivated.

    ``adopt_by_email``: a standalone account with the clinician's email, not yet tied to a
    host account, becomes theirs with its couples (a practice moving into its host). Off
    unless the host vouches for its users' addresses: otherwise whoever first sets an address
    in the host would take that therapist's records. Flushes only.
    """
    therapist = db.session.scalar(select(Therapist).where(Therapist.external_id == external_id))
    if therapist is None:
        therapist = _first_meeting(external_id, name, email, is_admin, adopt_by_email)
    else:
        _keep_in_step(therapist, name=name.strip(), email=normalise_email(email), is_admin=is_admin)
    return therapist if therapist.active else None


def _first_meeting(
    external_id: str, name: str, email: str, is_admin: bool, adopt_by_email: bool
) -> Therapist:
    therapist = find_by_email(email)
    if adopt_by_email and therapist is not None and therapist.external_id is None:
        therapist.external_id = external_id
        _keep_in_step(therapist, name=name.strip(), email=therapist.email, is_admin=is_admin)
        return therapist
    therapist = Therapist(
        external_id=external_id,
        name=name.strip(),
        email=normalise_email(email) if therapist is None else _unique_email(external_id),
        is_admin=is_admin,
        # The host signs its clinicians in: no password of ours can open this account.
        password_hash=UNUSABLE_PASSWORD,
    )
    try:
        with db.session.begin_nested():
            db.session.add(therapist)
    except IntegrityError:
        # A second request of the same clinician's first visit made the account first.
        return db.session.scalars(
            select(Therapist).where(Therapist.external_id == external_id)
        ).one()
    return therapist


def _keep_in_step(therapist: Therapist, *, name: str, email: str, is_admin: bool) -> None:
    if therapist.name != name:
        therapist.name = name
    if therapist.email != email and find_by_email(email) is None:
        therapist.email = email
    if therapist.is_admin != is_admin:
        therapist.is_admin = is_admin


def _unique_email(external_id: str) -> str:
    """An address for a host clinician whose email another of our accounts already uses."""
    return f"{hashlib.sha256(external_id.encode()).hexdigest()[:24]}@host.invalid"


# Not a hash werkzeug can match, so check_password is always False for it.
UNUSABLE_PASSWORD = "!host-sign-in"  # noqa: S105  # nosec B105
