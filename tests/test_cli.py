"""The command-line account tools: what `make run` and an installer use."""

from __future__ import annotations

from sqlalchemy import select

from counselor_app.extensions import db
from counselor_app.models import Therapist


def test_therapist_create_prints_a_generated_password_that_works(app):
    result = app.test_cli_runner().invoke(
        args=[
            "counselor",
            "therapist",
            "create",
            "--email",
            "New@Example.org",
            "--name",
            "New One",
            "--admin",
        ]
    )
    assert result.exit_code == 0, result.output
    password = result.output.split("Password (shown once): ")[1].strip()
    with app.app_context():
        therapist = db.session.scalar(select(Therapist))
        assert therapist.email == "new@example.org"
        assert therapist.is_admin
        assert therapist.check_password(password)


def test_therapist_create_reads_a_password_from_stdin(app):
    result = app.test_cli_runner().invoke(
        args=[
            "counselor",
            "therapist",
            "create",
            "--email",
            "a@example.org",
            "--name",
            "A",
            "--password-stdin",
        ],
        input="a long enough passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "Password" not in result.output
    with app.app_context():
        assert db.session.scalar(select(Therapist)).check_password("a long enough passphrase")


def test_therapist_create_refuses_short_password_and_duplicates(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "counselor",
            "therapist",
            "create",
            "--email",
            "a@example.org",
            "--name",
            "A",
            "--password-stdin",
        ],
        input="short\n",
    )
    assert result.exit_code != 0
    assert "at least 12 characters" in result.output
    ok = runner.invoke(
        args=["counselor", "therapist", "create", "--email", "a@example.org", "--name", "A"]
    )
    assert ok.exit_code == 0
    again = runner.invoke(
        args=["counselor", "therapist", "create", "--email", "A@example.org", "--name", "B"]
    )
    assert again.exit_code != 0
    assert "already exists" in again.output


def test_setup_makes_the_first_account_once(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["counselor", "setup"])
    assert first.exit_code == 0, first.output
    assert "email:    owner@example.org" in first.output
    password = first.output.split("password: ")[1].strip()
    second = runner.invoke(args=["counselor", "setup"])
    assert "already exist" in second.output
    assert "password:" not in second.output
    client = app.test_client()
    response = client.post_form("/login", {"email": "owner@example.org", "password": password})
    assert response.status_code == 302
