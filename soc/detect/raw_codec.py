"""Rule documents as JSON for the load cache, exactly as YAML gave them.

``yaml.safe_load`` builds dicts, lists, text, numbers, booleans, None, dates and date-times
(Sigma's ``date:`` and ``modified:``). ``encode`` writes a document as JSON-ready data with
dates tagged, ``decode`` gives back an equal document with the same types; a document holding
anything else (binary data, sets, a mapping key that is not text) is not encodable and
``encode`` returns None: its file is then read from YAML every time.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

_DATE = "$citysoc-date"
_DATETIME = "$citysoc-datetime"


class _NotEncodable(Exception):
    pass


def encode(document: Any) -> Any | None:
    """JSON-ready data that ``decode`` turns back into ``document``, or None."""
    try:
        return _encode(document)
    except (_NotEncodable, RecursionError):
        return None


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, date):
        return {_DATE: value.isoformat()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value) or _DATE in value or _DATETIME in value:
            raise _NotEncodable
        return {k: _encode(v) for k, v in value.items()}
    raise _NotEncodable


def decode(data: Any) -> Any:
    """The document ``encode`` wrote as ``data``."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict):
        if len(data) == 1:
            if _DATE in data:
                return date.fromisoformat(data[_DATE])
            if _DATETIME in data:
                return datetime.fromisoformat(data[_DATETIME])
        return {k: decode(v) for k, v in data.items()}
    return data
