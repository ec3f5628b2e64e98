"""What WeasyPrint's structure tree leaves out, added before the PDF is written: /Scope on /TH.

WeasyPrint tags ``th`` as /TH and points each data cell at its headers, but it writes no
/Scope, so a screen reader cannot tell the header of a row from the header of a column. The
HTML says which (``scope="row"`` or ``scope="col"``), so the finisher below copies that onto
each header cell's structure element before the trailer is written: the cross-reference table,
the file identifier and the PDF/A metadata are all made after it, so they stay valid.

It relies on one WeasyPrint detail (in the pinned 68 and later): the box of a table cell keeps
the structure element made for it as ``box.mark``. tests/test_pdf_tags.py fails if that ever
stops working.
"""

from __future__ import annotations

from weasyprint import Document

# PDF 1.7, table 349 (standard attributes for table elements). Without a scope attribute,
# WeasyPrint treats a th as the header of its column (tags.py), and so does this.
SCOPES = {"row": "/Row", "rowgroup": "/Row", "col": "/Column", "colgroup": "/Column"}
DEFAULT_SCOPE = "/Column"


def add_header_scopes(document: Document, pdf: object) -> None:
    """A ``write_pdf`` finisher: each tagged header cell gets the scope its ``th`` declares."""
    for page in document.pages:
        for box in page._page_box.descendants():
            element = getattr(box, "mark", None)
            if element is not None and element.get("S") == "/TH":
                scope = box.element.get("scope", "").strip().lower()
                element["A"]["Scope"] = SCOPES.get(scope, DEFAULT_SCOPE)
