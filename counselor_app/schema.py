"""Our database schema's Alembic history, run from inside an app context.

Standalone or mounted in a host app, ``upgrade()`` brings our tables (every one named
``counselor_*``) to the newest revision on the database the app uses. The history keeps its
place in a version table of its own, ``counselor_alembic_version``, so it never shares
``alembic_version`` with a host's history. On the command line the same functions are
``flask counselor db ...``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask.cli import AppGroup
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    delete,
    inspect,
    select,
)

from counselor_app.extensions import db
from counselor_app.models import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
TABLE_PREFIX = "counselor_"
VERSION_TABLE = f"{TABLE_PREFIX}alembic_version"
# Where our revision was kept before it had a table of its own, shared with any host history.
SHARED_VERSION_TABLE = "alembic_version"
# Tables every database of ours had, under their names from before revision 0008.
LEGACY_TABLES = ("therapist", "couple", "partner")


def _config() -> Config:
    """Alembic's configuration for our history: our migrations folder and our alembic.ini."""
    alembic_config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    # Config values are interpolated: a "%" in the install path must be doubled.
    alembic_config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return alembic_config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def upgrade(revision: str = "head") -> None:
    """Bring our tables to ``revision``.

    A database with none of our tables yet is built at the newest revision in one step, from
    the models, and stamped (Alembic's recipe for a database built from scratch): replaying
    the history would first create the tables under the names they had before revision 0008
    prefixed them, and a host's database may have a table of that name (`appointment`).
    tests/test_migrations.py checks that both ways give the very same schema.
    """
    if revision == "head" and current() is None and not _our_tables():
        with db.engine.begin() as connection:
            Base.metadata.create_all(connection)
        command.stamp(_config(), "head")
        return
    replay(revision)


def replay(revision: str = "head") -> None:
    """Run the history itself, revision by revision, up to ``revision``."""
    command.upgrade(_config(), revision)


def _our_tables() -> list[str]:
    return [name for name in inspect(db.engine).get_table_names() if name.startswith(TABLE_PREFIX)]


def downgrade(revision: str) -> None:
    command.downgrade(_config(), revision)


def current() -> str | None:
    """The revision the app's database is at; None before our first upgrade."""
    return revision_at(db.engine)


def revision_at(engine: Engine) -> str | None:
    """The revision the database ``engine`` reaches is at (a backup's scratch copy, say)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision() or shared_table_revision(connection, _scripts())


def heads() -> list[str]:
    return list(_scripts().get_heads())


def history() -> list[str]:
    """Every revision of ours, oldest first: the ones this code can upgrade from."""
    return [script.revision for script in reversed(list(_scripts().walk_revisions()))]


def new_revision(message: str, *, autogenerate: bool = True) -> None:
    """Write the next numbered revision; autogenerate compares the models with the database
    and writes nothing when they agree."""
    [head] = _scripts().get_heads()
    command.revision(
        _config(), message=message, autogenerate=autogenerate, rev_id=f"{int(head) + 1:04d}"
    )


def _shared_table() -> Table:
    return Table(SHARED_VERSION_TABLE, MetaData(), Column("version_num", String(32)))


def shared_table_revision(connection: Connection, history: ScriptDirectory) -> str | None:
    """Our revision as a database made before we had a version table of our own records it:
    the row of ``alembic_version`` that names one of our revisions. Any other row is a host's."""
    inspector = inspect(connection)
    tables = inspector.get_table_names()
    if VERSION_TABLE in tables or SHARED_VERSION_TABLE not in tables:
        return None
    # A host's history may number its revisions as ours are numbered ("0001"): the row is ours
    # only if our tables, under the names they had then, are there too.
    if not set(LEGACY_TABLES) <= set(tables) or "relationship_stage" not in {
        column["name"] for column in inspector.get_columns("couple")
    }:
        return None
    ours = {script.revision for script in history.walk_revisions()}
    recorded = connection.scalars(select(_shared_table().c.version_num)).all()
    return next((number for number in recorded if number in ours), None)


def move_to_own_version_table(connection: Connection, history: ScriptDirectory) -> None:
    """Move our revision out of the shared ``alembic_version`` into our own version table,
    dropping ``alembic_version`` if nothing else (no host revision) is left in it."""
    revision = shared_table_revision(connection, history)
    if revision is None:
        return
    MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).stamp(
        history, revision
    )
    shared = _shared_table()
    connection.execute(delete(shared).where(shared.c.version_num == revision))
    if connection.scalar(select(shared.c.version_num).limit(1)) is None:
        shared.drop(connection)


def _is_ours(obj: Any, name: str | None, type_: str) -> bool:
    """Whether a table, or a column, index or constraint of one, belongs to our schema."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return bool(table and table.startswith(TABLE_PREFIX))


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's ``include_object`` hook for a host app's own migrations: leaves our tables out.

    Mounted on the host's database, our ``counselor_*`` tables (and our version table,
    ``counselor_alembic_version``) sit beside the host's, but they belong to our history, not
    the host's. Without this hook the host's ``flask db migrate`` would find them in the
    database and not in the host's models, and write a migration that drops them. Give it to
    Flask-Migrate, which passes it on to Alembic::

        from counselor_app.schema import include_object

        Migrate(app, db, include_object=include_object)

    or, in a plain Alembic ``env.py``, ``context.configure(..., include_object=include_object)``.
    Everything else (the host's own tables and their indexes and constraints) is kept.
    """
    return not _is_ours(obj, name, type_)


def only_ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Our own env.py's filter: autogenerate compares our tables only, never a host's."""
    return _is_ours(obj, name, type_)


db_cli = AppGroup("db", help="Our tables' migrations, kept apart from any host app's.")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
@click.option(
    "--force",
    is_flag=True,
    help="Take over a maintenance flag left raised by an upgrade that failed or was stopped.",
)
@click.option(
    "--no-backup",
    is_flag=True,
    help="Skip the automatic backup before revisions that rewrite stored data.",
)
def upgrade_command(revision: str, force: bool, no_backup: bool) -> None:
    """Upgrade our tables to REVISION (the newest by default), safely while the app runs.

    Backs the database up to <instance>/backups/ first when a revision ahead rewrites stored
    data; raises the maintenance flag (every worker answers 503) and waits for the workers to
    see it; migrates; lowers the flag. Restart the app afterwards.
    """
    from counselor_app import operations

    try:
        operations.safe_upgrade(revision, force=force, make_backup=not no_backup, echo=click.echo)
    except operations.UpgradeError as error:
        raise click.ClickException(str(error)) from error


@db_cli.command("maintenance")
@click.argument("switch", type=click.Choice(["on", "off", "status"]), default="status")
def maintenance_command(switch: str) -> None:
    """Raise or lower the maintenance flag by hand (while it is up, every page answers 503)."""
    from counselor_app import operations

    if not operations.flag_table_exists():
        raise click.ClickException("No maintenance flag here: run `flask counselor db upgrade`.")
    if switch == "on":
        try:
            operations.raise_flag("by hand")
        except operations.UpgradeError as error:
            raise click.ClickException(str(error)) from error
    elif switch == "off":
        operations.lower_flag()
    row = operations.raised_flag()
    click.echo(
        f"Maintenance flag raised by {row['raised_by']} ({row['reason']})."
        if row
        else "Maintenance flag down: pages are served."
    )


@db_cli.command("downgrade")
@click.argument("revision")
def downgrade_command(revision: str) -> None:
    """Downgrade our tables to REVISION ("base" removes them)."""
    downgrade(revision)


@db_cli.command("current")
def current_command() -> None:
    """Show the revision our tables are at."""
    click.echo(current() or "none: our tables have not been created")


@db_cli.command("history")
def history_command() -> None:
    """List our revisions, newest first, marking the one applied."""
    applied = current()
    for script in _scripts().walk_revisions():
        mark = "  (current)" if script.revision == applied else ""
        click.echo(f"{script.revision}  {script.doc}{mark}")


@db_cli.command("revision")
@click.option("-m", "--message", required=True, help="What the revision changes.")
@click.option(
    "--empty", is_flag=True, help="Write an empty revision instead of comparing the models."
)
def revision_command(message: str, empty: bool) -> None:
    """Write the next revision from the difference between the models and the database."""
    new_revision(message, autogenerate=not empty)
