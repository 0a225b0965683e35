"""How the local store keeps an event's document in its row, and reads it back.

A row holds the document as JSON (``_doc``) and each field in a column of its own
(soc.store.local_writes). The raw record, ``event.original``, is often the largest field
(1-3 KB for a Windows event) and keyword rules read it from its column; so a row keeps it
once, in that column, and its document holds ``null`` in its place, with the internal
column ORIGINAL_APART set to 1. Every read of a document selects DOCUMENT_SQL and passes
the three values to ``stored_document``, which puts the record back where it was. Rows
written before schema version 4, and documents whose record cannot be kept that way (not a
text, or its column taken by another spelling of the path), keep it in the document.
"""

from __future__ import annotations

from typing import Any

from soc import fast_json

#: The ECS field of the raw record, and the internal column marking a row whose document
#: left the record to that field's column.
ORIGINAL_FIELD = "event.original"
ORIGINAL_APART = "_original_in_column"


def document_sql(table: str = "") -> str:
    """The columns a read selects for a document, in the order stored_document takes them
    (qualified by ``table``, a name or alias, when given)."""
    prefix = f"{table}." if table else ""
    return f'{prefix}_doc, {prefix}{ORIGINAL_APART}, {prefix}"{ORIGINAL_FIELD}"'


#: document_sql() of the events table read alone.
DOCUMENT_SQL = document_sql()


def stored_document(doc_json: str, apart: int | None, original: Any) -> dict[str, Any]:
    """The document of a row from its DOCUMENT_SQL values: ``_doc`` parsed, with
    ``event.original`` taken from its column when the row kept it there."""
    doc = fast_json.loads(doc_json)
    if apart:
        doc["event"]["original"] = original
    return doc


def without_original(doc: dict[str, Any]) -> dict[str, Any] | None:
    """A copy of ``doc`` (shallow, but for ``event``) whose ``event.original`` is None, or
    None when the document has no text there to keep apart."""
    event = doc.get("event")
    if not isinstance(event, dict):
        return None
    original = event.get("original")
    if not isinstance(original, str):
        return None
    return {**doc, "event": {**event, "original": None}}
