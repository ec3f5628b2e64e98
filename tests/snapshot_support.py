"""Every row of every table, as stored: to prove that a request changed nothing."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from flask import Flask

from counselor_app.extensions import db
from counselor_app.models import Base

Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot(app: Flask) -> Snapshot:
    """All columns of all rows of every mapped table, ordered by primary key.

    Read through plain ``table()``/``column()`` constructs, which carry no column types: the
    values are what the database holds (ciphertext, JSON text), so a row rewritten with the
    same meaning (say, re-encrypted) still counts as changed.
    """
    rows: Snapshot = {}
    with app.app_context():
        for table in Base.metadata.sorted_tables:
            bare = sa.table(table.name, *(sa.column(c.name) for c in table.columns))
            order = [bare.c[c.name] for c in table.primary_key.columns]
            result = db.session.execute(sa.select(bare).order_by(*order))
            rows[table.name] = [tuple(row) for row in result]
        db.session.rollback()
    return rows


def changes(
    before: Snapshot, after: Snapshot, *, append_only: Collection[str] = ()
) -> dict[str, str]:
    """What changed, per table: ``{}`` when nothing did.

    Tables in ``append_only`` may gain rows at the end, but no row present before may change
    or go.
    """
    found = {}
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name, []), after.get(name, [])
        if name in append_only:
            new = new[: len(old)]
        if old != new:
            gone = [row[0] for row in old if row not in new]
            added = [row[0] for row in new if row not in old]
            found[name] = f"rows changed or removed (first column): {gone}; now {added}"
    return found


def grown(before: Snapshot, after: Snapshot, table: str) -> int:
    return len(after.get(table, [])) - len(before.get(table, []))
