"""CSV export of a report's figures and tables, one row per table row.

Columns: section, kind (summary|kpi|header|row|note|fact), then the cells. Every cell that a
spreadsheet would read as a formula (= + - @ tab CR at the start) is prefixed with a quote.
"""

from __future__ import annotations

import csv
import io

from soc.report.document import Document, Facts, Figure, Kpis, Paragraphs, Table
from soc.report.safe import clean, neutralize_formula


def render_csv(doc: Document) -> str:
    """The document's numbers and tables as CSV text (UTF-8 with BOM for spreadsheets)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def row(*cells: object) -> None:
        writer.writerow([neutralize_formula(clean(c)) for c in cells])

    row("report", "title", doc.title, *doc.subtitle)
    for section in doc.sections:
        for block in section.blocks:
            if isinstance(block, Table):
                row(section.title, "header", *block.headers)
                for cells in block.rows:
                    row(section.title, "row", *(str(c) for c in cells))
                if block.note:
                    row(section.title, "note", block.note)
            elif isinstance(block, Kpis):
                for k in block.items:
                    row(section.title, "kpi", k.label, k.value, k.note or "")
            elif isinstance(block, Paragraphs):
                for s in block.sentences:
                    row(section.title, "summary", s)
            elif isinstance(block, Facts):
                for label, value in block.items:
                    row(section.title, "fact", label, str(value))
            elif isinstance(block, Figure):
                continue
    return "\ufeff" + buffer.getvalue()
