"""The declarative base every model shares."""

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Enum, MetaData, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, registry
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from counselor_app.encryption import watch_unreadable

# Named constraints let Alembic alter and drop them on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: DateTime(timezone=True)},
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if "__tablename__" in cls.__dict__:
            cls.__table_args__ = never_reuse_ids(cls.__dict__.get("__table_args__", ()))
        super().__init_subclass__(**kwargs)


def never_reuse_ids(table_args: tuple[Any, ...] | dict[str, Any]) -> tuple[Any, ...]:
    """A model's ``__table_args__`` with ``sqlite_autoincrement``.

    Without AUTOINCREMENT, SQLite gives a new row the highest id in the table plus one: after an
    erase, the next couple (and its plans, documents, flags...) would take the erased records'
    ids, and the audit trail's old rows would name them. With it, an id is never given twice.
    PostgreSQL's sequences never go back. Migration 0017 rebuilds existing SQLite tables so.
    """
    if isinstance(table_args, dict):
        return ({**table_args, "sqlite_autoincrement": True},)
    *constraints, last = table_args or ({},)
    if isinstance(last, dict):
        return (*constraints, {**last, "sqlite_autoincrement": True})
    return (*table_args, {"sqlite_autoincrement": True})


# An encrypted value that fails its check is logged where it was found, and never overwritten.
watch_unreadable(Base)


def utcnow() -> datetime:
    """Timestamps are stored in UTC and converted for display only."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def portable_enum(enum_class: type[enum.Enum], name: str) -> Enum:
    """Store an enum's lower-case values as VARCHAR + CHECK, the same on SQLite and PostgreSQL."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [member.value for member in members],
    )


class StaleEdit(Exception):
    """The record changed since the page was loaded: saving would overwrite someone's work."""


def check_version(record: object | None, expected_version: int) -> None:
    """Refuse an edit made from a page that showed an older version of ``record``.

    ``None`` stands for a record not created yet, which a page shows as version 0.
    """
    current = 0 if record is None else getattr(record, "version")  # noqa: B009
    if current != expected_version:
        raise StaleEdit


def flush_versioned(session: Session) -> None:
    """Flush, turning a lost race into StaleEdit: another request updated the row in between
    (version mismatch), or created the same one-per-parent row first (unique constraint)."""
    try:
        session.flush()
    except (StaleDataError, IntegrityError) as error:
        raise StaleEdit from error


def advance_part_version(
    session: Session, record: Any, counter: str, expected_version: int | None
) -> None:
    """Move on one of ``record``'s part counters: the version of one part of it that a form
    edits apart from the rest (an appointment's check-ins, its homework review), so saving one
    part never makes another part's page stale, as one shared version would.

    One conditional UPDATE: a request that moved the counter first, committed or not (the row
    stays locked until it is), makes this one StaleEdit. ``expected_version`` None moves it
    unconditionally (a change made elsewhere that open pages must see as newer). The statement
    is not the ORM's own UPDATE, so the record's own version (version_id_col) stays as it was.
    """
    model = type(record)
    column = getattr(model, counter)
    statement = update(model).where(model.id == record.id)
    if expected_version is None:
        statement = statement.values({counter: column + 1})
    else:
        statement = statement.where(column == expected_version).values(
            {counter: expected_version + 1}
        )
    result = session.execute(statement.execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise StaleEdit
    if expected_version is None:
        session.expire(record, [counter])
    else:
        set_committed_value(record, counter, expected_version + 1)
