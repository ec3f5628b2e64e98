"""Command-line commands, all under ``flask counselor``: setup, therapist, backup, restore...

Every expected failure (the database unreachable or without our tables, keys that do not
open the data, bad input) ends the command with one line on stderr and exit status 1, never a
traceback: see OperatorGroup. Every command that changes accounts, keys or the whole database
is in the audit trail, as the operator's (audit.record_operator).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import click
from cryptography.fernet import Fernet
from flask import Flask, current_app
from flask.cli import AppGroup, ScriptInfo, with_appcontext
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from counselor_app import backup, config, demo, encryption, operations, schema
from counselor_app.admin import services as accounts
from counselor_app.audit import keys as audit_keys
from counselor_app.audit import services as audit
from counselor_app.auth import services
from counselor_app.extensions import db
from counselor_app.fhir import services as fhir
from counselor_app.models import Base, Couple, Therapist
from counselor_app.schema import TABLE_PREFIX

therapist_cli = AppGroup("therapist", help="Manage therapist accounts.")

FIRST_ACCOUNT_EMAIL = "owner@example.org"


@therapist_cli.command("create")
@click.option("--email", required=True, help="Sign-in email address.")
@click.option("--name", required=True, help="Full name, as shown on documents.")
@click.option("--admin", is_flag=True, help="Make the account a practice administrator.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of generating one.",
)
def create_command(email: str, name: str, admin: bool, password_stdin: bool) -> None:
    """Create a therapist account; without --password-stdin a password is generated and printed."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else services.generate_password()
    try:
        therapist = services.create_therapist(name, email, password, is_admin=admin)
    except services.AccountError as error:
        raise click.ClickException(str(error)) from error
    audit.record_operator(
        "create", "therapist create", object_type="therapist", object_id=therapist.id
    )
    db.session.commit()
    click.echo(f"Created therapist {services.normalise_email(email)}.")
    if not password_stdin:
        click.echo(f"Password (shown once): {password}")


def _therapist(email: str) -> Therapist:
    therapist = services.find_by_email(email)
    if therapist is None:
        raise click.ClickException(f"No therapist has the email address {email.strip()}.")
    return therapist


@therapist_cli.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
def set_password_command(email: str, password_stdin: bool) -> None:
    """Set the password of the account EMAIL (one forgotten, an administrator's too).

    Asked twice, unseen, unless --password-stdin. The password policy applies; the account's
    other sessions end and any sign-in lockout is lifted.
    """
    therapist = _therapist(email)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt(
            "New password", hide_input=True, confirmation_prompt="Repeat the new password"
        )
    try:
        accounts.set_password(therapist, password)
    except services.AccountError as error:
        raise click.ClickException(str(error)) from error
    audit.record_operator(
        "update", "therapist set-password", object_type="therapist", object_id=therapist.id
    )
    db.session.commit()
    click.echo(f"Password set for {therapist.email}; its other sessions are signed out.")


@therapist_cli.command("edit")
@click.argument("email")
@click.option("--name", help="New full name.")
@click.option("--email", "new_email", help="New sign-in email address.")
@click.option("--admin/--no-admin", default=None, help="Make or stop being an administrator.")
@click.option("--active/--inactive", default=None, help="Reactivate or deactivate the account.")
def edit_command(
    email: str, name: str | None, new_email: str | None, admin: bool | None, active: bool | None
) -> None:
    """Change the account EMAIL: name, email, administrator role, active or not.

    The last active administrator cannot lose the role or be deactivated.
    """
    therapist = _therapist(email)
    changes = accounts.AccountChanges(name=name, email=new_email, is_admin=admin, active=active)
    if changes == accounts.AccountChanges():
        raise click.ClickException("Nothing to change: give --name, --email, --admin or --active.")
    try:
        accounts.edit_therapist(therapist, changes)
    except services.AccountError as error:
        raise click.ClickException(str(error)) from error
    audit.record_operator(
        "update", "therapist edit", object_type="therapist", object_id=therapist.id
    )
    db.session.commit()
    role = "administrator" if therapist.is_admin else "therapist"
    status = "active" if therapist.active else "inactive"
    click.echo(f"Updated {therapist.email}: {therapist.name}, {role}, {status}.")


def ensure_first_therapist() -> tuple[str, str] | None:
    """Create the first (admin) account when the database has none; return its credentials."""
    if services.count_therapists():
        return None
    email = os.environ.get("FIRST_THERAPIST_EMAIL", FIRST_ACCOUNT_EMAIL)
    password = services.generate_password()
    therapist = services.create_therapist("Practice owner", email, password, is_admin=True)
    audit.record_operator("create", "setup", object_type="therapist", object_id=therapist.id)
    db.session.commit()
    return email, password


@click.command("setup")
@with_appcontext
def setup_command() -> None:
    """Apply the migrations and make the first account if there is none (never prompts)."""
    click.echo(
        f"Instance folder: {current_app.instance_path}; database: "
        f"{config.display_url(db.engine.url)}"
    )
    # The safe path of `db upgrade`: a backup before revisions that rewrite data, and the
    # maintenance flag while workers of the old release may still be serving.
    try:
        operations.safe_upgrade(echo=click.echo)
    except operations.UpgradeError as error:
        raise click.ClickException(str(error)) from error
    audit.record_operator("setup", "setup")
    created = ensure_first_therapist()
    db.session.commit()
    # Mounted, the host's configuration names the database: nothing of ours to record.
    if not backup.shares_host_database() and (
        marker := config.record_production_database(current_app)
    ):
        click.echo(f"Recorded the database in {marker}: runs without DATABASE_URL are refused.")
    if created:
        email, password = created
        click.echo("First therapist account created. It is shown once; keep it safe:")
        click.echo(f"  email:    {email}")
        click.echo(f"  password: {password}")
    else:
        click.echo("Database is up to date; therapist accounts already exist.")


audit_cli = AppGroup("audit", help="Check the audit trail, anchor it, rotate its key.")


@audit_cli.command("verify")
@click.option(
    "--anchor",
    "anchor_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="An anchor made earlier by `audit anchor`: also fail if a chain lost its newest rows.",
)
def audit_verify_command(anchor_file: Path | None) -> None:
    """Check every chain of the audit trail: an edited or deleted row, or (with --anchor) rows
    deleted from a chain's end, make this fail (exit status 1)."""
    anchor = _read_anchor(anchor_file) if anchor_file else None
    result = audit.verify(anchor)
    if result.ok:
        anchored = f"; {result.anchored} chain ends match the anchor" if anchor else ""
        click.echo(
            f"Audit trail intact: {result.checked} events checked in {result.chains} "
            f"chains{anchored}."
        )
        return
    for problem in result.breaks:
        click.echo(f"Broken: {problem}.", err=True)
    raise click.ClickException(
        f"Audit trail broken in {len(result.breaks)} chain(s) ({result.checked} events intact)."
    )


def _read_anchor(path: Path) -> dict:
    try:
        return audit.read_anchor(path.read_text(encoding="utf-8"))
    except audit.AnchorError as error:
        raise click.ClickException(f"{path}: {error}") from error


@audit_cli.command("anchor")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the anchor to this file instead of standard output.",
)
def audit_anchor_command(output: Path | None) -> None:
    """Print every chain's newest event (id and hash) as JSON, to keep where the database
    cannot rewrite it (an external log, another machine); `audit verify --anchor` later shows
    any newest rows deleted since."""
    text = json.dumps(audit.anchor(), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Anchor written to {output}.", err=True)


@audit_cli.command("rotate-key")
def audit_rotate_key_command() -> None:
    """Sign new audit rows with a new key; the old keys stay in the file, after it, to verify
    the rows they signed. Running workers read the new file at their next audited request:
    meanwhile the maintenance flag is up (they answer 503), so none signs a row under the old
    key after the chains were sealed under the new one."""
    if audit_keys.configured_in_settings(current_app):
        raise click.ClickException(
            "The audit keys come from the COUNSELOR_AUDIT_KEYS setting: put a new key (64 hex "
            "digits) first in it, keep the old ones after it, and restart (see the README)."
        )
    try:
        operations.raise_flag("audit key rotation")
    except operations.UpgradeError as error:
        raise click.ClickException(str(error)) from error
    try:
        wait = operations.upgrade_wait()
        click.echo(f"Maintenance flag raised: every worker answers 503. Waiting {wait:g} s.")
        time.sleep(wait)
        path = audit_keys.keys_path(current_app)
        encryption.write_keys(path, [audit_keys.new_key(), *path.read_text().split()])
        audit_keys.use_key_file(current_app)
        sealed = audit.seal_chains()
        db.session.commit()
    finally:
        operations.lower_flag()
    click.echo(
        f"New audit key {audit_keys.in_use().current[0]} written first in {path}; {sealed} "
        "chains go on under it. Keep the file with the data keys, apart from the backups."
    )


keys_cli = AppGroup("data-keys", help="Manage the keys that encrypt clinical text at rest.")


@keys_cli.command("rotate")
@click.option(
    "--retire-old",
    is_flag=True,
    help="Also remove the old keys: backups made under them can no longer be read.",
)
def rotate_keys_command(retire_old: bool) -> None:
    """Re-encrypt every stored value under a new key.

    The old keys stay in the file, after the new one, to read backups made before; the
    database itself then holds nothing they open. Run it with the app stopped (running
    workers hold the old keys), then start the app.
    """
    if current_app.config.get("COUNSELOR_DATA_KEYS"):
        raise click.ClickException(
            "The keys come from the COUNSELOR_DATA_KEYS setting: put a new key first in it, run "
            "`flask counselor data-keys reencrypt`, then remove the old key (see the README)."
        )
    path = encryption.keys_path(current_app)
    old_keys = encryption.read_or_create_keys(path)
    new_key = Fernet.generate_key().decode()
    # The new key goes first before anything is re-encrypted, so a crash part way through
    # leaves everything readable.
    encryption.write_keys(path, [new_key, *old_keys])
    encryption.use_keys(current_app, [new_key, *old_keys])
    count = reencrypt()
    if retire_old:
        encryption.write_keys(path, [new_key])
        encryption.use_keys(current_app, [new_key])
    audit.record_operator("keys_rotate", "data-keys rotate")
    db.session.commit()
    click.echo(f"Re-encrypted {count} values under a new key.")
    click.echo(
        "The old keys are removed: earlier backups can no longer be read."
        if retire_old
        else "The old keys are kept after it, only to read earlier backups."
    )


@keys_cli.command("reencrypt")
def reencrypt_command() -> None:
    """Re-encrypt every stored value under the first configured key."""
    count = reencrypt()
    audit.record_operator("keys_reencrypt", "data-keys reencrypt")
    db.session.commit()
    click.echo(f"Re-encrypted {count} values under the first key.")


def reencrypt() -> int:
    with db.engine.begin() as connection:
        return encryption.reencrypt_all(connection, Base.metadata)


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(path: Path) -> None:
    """Write a consistent copy of the database to PATH while the app keeps running (mounted
    on a host's database: a copy of our tables only)."""
    try:
        backup.backup(path)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Backup written to {path}.")
    click.echo(
        "The data keys are not in it: keep instance/data_keys safe separately (and "
        "instance/audit_keys with it)."
    )


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def restore_command(path: Path, yes: bool) -> None:
    """Replace the database's contents with the backup at PATH (stop the app first)."""
    if backup.shares_host_database():
        click.echo(
            "This app shares its database with the host application: only the couples-therapy "
            f"tables ({TABLE_PREFIX}*) are replaced; the host's own tables are not touched."
        )
        question = "Replace every couples-therapy table with the backup?"
    else:
        question = "Replace everything in the database with the backup?"
    if not yes:
        click.confirm(question, abort=True)
    try:
        backup.restore(path)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Database restored from {path}.")
    if schema.current() in schema.heads():
        _record_restore()
    else:
        # An older backup's trail has the shape of its own release: the models cannot write
        # to it until the upgrade brings it forward.
        click.echo(
            "The backup is from an earlier release: run `flask counselor db upgrade` "
            "before starting the app."
        )


def _record_restore() -> None:
    """Into the restored database, after the restore: the restored trail goes on from it."""
    audit.record_operator("restore", "restore")
    db.session.commit()


@click.command("demo-data")
@click.option("--large", is_flag=True, help="The benchmark practice: 50 therapists, 5,000 couples.")
@click.option("--therapists", type=click.IntRange(1, 1000), help="How many therapists.")
@click.option("--couples", type=click.IntRange(1, 1_000_000), help="How many couples in all.")
@click.option(
    "--appointments", type=click.IntRange(0, 10_000_000), help="How many appointments in all."
)
@click.option("--seed", default=2026, show_default=True, help="Same seed, same practice.")
@click.option("--password-stdin", is_flag=True, help="One password, read from standard input.")
@click.option("--add", is_flag=True, help="Add to a database that already has couples.")
@with_appcontext
def demo_data_command(
    large: bool,
    therapists: int | None,
    couples: int | None,
    appointments: int | None,
    seed: int,
    password_stdin: bool,
    add: bool,
) -> None:
    """Fill the database with a fictitious practice, clearly marked as such."""
    if not add and db.session.scalar(select(func.count()).select_from(Couple)):
        raise click.ClickException(
            "This database already has couples: demo data goes into an empty one (or use --add)."
        )
    size = demo.LARGE if large else demo.DEMO
    overrides = {"therapists": therapists, "couples": couples, "appointments": appointments}
    size = dataclasses.replace(size, **{k: v for k, v in overrides.items() if v is not None})
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    built = demo.build(size, seed=seed, password=password)
    click.echo(
        f"Added a fictitious practice: {len(built.therapists)} therapists, {built.couples} "
        f"couples, {built.appointments} appointments."
    )
    if not password_stdin:
        click.echo("Demo accounts (passwords shown once):")
        for email, secret in built.therapists:
            click.echo(f"  {email}  {secret}")


fhir_cli = AppGroup("fhir", help="FHIR R4 resources made from the instruments.")


@fhir_cli.command("questionnaires")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
def fhir_questionnaires_command(outdir: Path) -> None:
    """Write every instrument version as a FHIR Questionnaire, one JSON file each, to OUTDIR."""
    outdir.mkdir(parents=True, exist_ok=True)
    instruments = fhir.every_instrument()
    for instrument in instruments:
        path = outdir / f"Questionnaire-{fhir.resource_id(instrument)}.json"
        path.write_text(fhir.to_json(fhir.questionnaire(instrument)) + "\n", encoding="utf-8")
        click.echo(f"{path}  {instrument.title}, version {instrument.version}")
    click.echo(f"Wrote {len(instruments)} Questionnaires to {outdir}.")


class OperatorGroup(AppGroup):
    """Our commands' group: an expected failure in any of them (the database unreachable or
    not migrated, keys that do not open the data, a file that cannot be written) ends with one
    line on stderr and exit status 1 (click's "Error: ..."), never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        # The app context outlives the command, so that a failure can still be explained.
        with ctx.ensure_object(ScriptInfo).load_app().app_context():
            return self._invoke_explained(ctx)

    def _invoke_explained(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SQLAlchemyError as error:
            raise click.ClickException(database_problem(error)) from error
        except encryption.UnreadableRecord as error:
            raise click.ClickException(
                "A stored value could not be decrypted: the data keys in use do not open it (or "
                "it was altered). Put back the data keys that were in use; nothing was changed."
            ) from error
        except backup.BackupError as error:
            raise click.ClickException(str(error)) from error
        except OSError as error:
            raise click.ClickException(
                f"{error.strerror or type(error).__name__}: {error.filename or ''}".rstrip(": ")
            ) from error


NOT_MIGRATED = (
    "The database has no tables yet: run `flask counselor setup` (or `db upgrade`) first."
)


def database_problem(error: SQLAlchemyError) -> str:
    """One line for a database error, from what the database is found to be in (never the
    statement or its values, which may be clinical)."""
    db.session.remove()
    url = config.display_url(db.engine.url)
    try:
        with db.engine.connect() as connection:
            tables = inspect(connection).get_table_names()
        revision = schema.current()
    except DBAPIError as probe:
        reason = str(probe.orig or probe).strip().splitlines()
        return f"Cannot connect to the database {url}: {reason[0] if reason else 'no reason given'}"
    if not any(name.startswith(TABLE_PREFIX) for name in tables):
        return f"{NOT_MIGRATED} (database: {url})"
    if revision not in schema.heads():
        return (
            "The database's tables are at an older version: run `flask counselor db upgrade` first."
        )
    name = type(getattr(error, "orig", None) or error).__name__
    return f"The database refused the command ({name}); nothing was changed."


# Every command of ours sits under one group: `flask counselor ...`, mounted or not.
counselor_cli = OperatorGroup("counselor", help="The couples-therapy package's commands.")
for _command in (
    therapist_cli,
    setup_command,
    audit_cli,
    keys_cli,
    backup_command,
    restore_command,
    demo_data_command,
    fhir_cli,
    schema.db_cli,
):
    counselor_cli.add_command(_command)


def register(app: Flask) -> None:
    app.cli.add_command(counselor_cli)
