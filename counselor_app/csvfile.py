"""CSV files for spreadsheet apps: UTF-8 with a byte-order mark, and no cell that runs as a
formula.

Excel reads a CSV without a BOM in the machine's legacy code page, so "Zoë" comes out as
"ZoÃ«"; the BOM makes it read UTF-8. A cell starting with =, +, - or @ (or a tab or carriage
return, which some apps skip before looking) is taken for a formula: a partner's name typed as
"=HYPERLINK(...)" would become a link that sends data away when clicked. Such a cell gets a
leading single quote, which spreadsheets read as "this is text" (OWASP's CSV injection advice).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from flask import Response, stream_with_context

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MIMETYPE = "text/csv"

Cell = str | int | None


def safe_cell(value: Cell) -> str | int:
    """The value as a spreadsheet should show it: text that could start a formula is quoted.

    Numbers are left as numbers (our own ids and minutes, never typed by anyone); every text,
    whoever wrote it, is checked."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def lines(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Iterator[str]:
    """The file as text, a line at a time (so a long one streams): BOM, header, rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells: Sequence[Cell]) -> str:
        writer.writerow([safe_cell(cell) for cell in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield BOM + line(header)
    for row in rows:
        yield line(row)


def text(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    return "".join(lines(header, rows))


def response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """A download of the rows, streamed: ``rows`` may read the database as it goes (the request
    and its session stay open until the last row is sent)."""
    body = stream_with_context(lines(header, rows))
    download = Response(body, mimetype=MIMETYPE)
    download.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return download
