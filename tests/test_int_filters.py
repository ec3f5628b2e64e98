"""Every number read from a query string is bounded: a filter no key can match is refused with
a 400 that says why, never a 500 (PostgreSQL refuses to compare a 64-bit number with a 32-bit
key), and a page number is read as the nearest page there can be."""

from __future__ import annotations

from conftest import login

# Numbers no id can be, and text that is no number (Arabic-Indic digits included: int()
# reads them, a key column never holds them). Page numbers are read as the nearest page.
UNREADABLE = (
    "9223372036854775808",
    "2147483648",
    "9" * 4400,  # more digits than int() reads
    "-1",
    "0",
    "seven",
    "1e3",
    "%2B7",
    "١٢",
)


def test_every_integer_in_a_query_string_is_bounded(app, client, make_therapist):
    login(client, make_therapist(admin=True))
    # The address of the issue: a 500 on PostgreSQL before.
    response = client.get("/admin/audit?couple=9223372036854775808")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="couple-error"' in page and "a whole number from 1 to 2147483647" in page
    assert "<tbody>" not in page  # nothing listed: everything would be more than was asked
    for name in ("couple", "therapist"):
        for value in UNREADABLE:
            for url in (f"/admin/audit?{name}={value}", f"/admin/audit.csv?{name}={value}"):
                assert client.get(url).status_code == 400, url
    for url in ("/admin/audit?since=22/11/2026", "/admin/audit.csv?since=22/11/2026"):
        response = client.get(url)
        assert response.status_code == 400
        assert "Write the date as 2026-11-22." in response.get_data(as_text=True)
    for value in (*UNREADABLE, "2147483647", "99999999999999999999999"):
        for url in (f"/admin/audit?page={value}", f"/?page={value}"):
            assert client.get(url).status_code == 200, url
    # The largest id there can be is a filter like any other.
    readable = "/admin/audit?couple=2147483647&therapist=2147483647&since=2026-01-01"
    assert client.get(readable).status_code == 200
    assert client.get(readable.replace("/audit?", "/audit.csv?")).status_code == 200
