"""Rule documents as JSON for the load cache, exactly as YAML gave them.

``yaml.safe_load`` builds dicts, lists, text, numbers, booleans, None, dates and date-times
(Sigma's ``date:`` and ``modified:``). ``encode`` writes a document as JSON-ready data with
its dates tagged, and lists where they are; ``revive`` turns the parsed JSON back into an
equal document with the same types, visiting only those places (a cache entry is parsed by
orjson, which has no object hook, and a walk of every object would cost as much as the
parse). A document holding anything else (binary data, sets, a mapping key that is not
text) is not encodable and ``encode`` returns None: its file is then read from YAML every
time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

_DATE = "$citysoc-date"
_DATETIME = "$citysoc-datetime"

#: Where a value sits in a document: the keys and list indexes leading to it.
Place = list[str | int]


@dataclass
class Encoded:
    """A document as JSON-ready data, and the places of its tagged dates."""

    data: Any
    dates: list[Place] = field(default_factory=list)


class _NotEncodable(Exception):
    pass


class MisplacedDate(ValueError):
    """``revive`` was given a place that holds no tagged date (an entry not made by
    ``encode``): the caller reads the document again from its source."""


def encode(document: Any) -> Encoded | None:
    """JSON-ready data that ``revive`` turns back into ``document``, or None."""
    encoded = Encoded(None)
    try:
        encoded.data = _encode(document, [], encoded.dates)
    except (_NotEncodable, RecursionError):
        return None
    return encoded


def _encode(value: Any, place: Place, dates: list[Place]) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        dates.append(list(place))
        return {_DATETIME: value.isoformat()}
    if isinstance(value, date):
        dates.append(list(place))
        return {_DATE: value.isoformat()}
    if isinstance(value, list):
        return [_encode(v, [*place, i], dates) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value) or _DATE in value or _DATETIME in value:
            raise _NotEncodable
        return {k: _encode(v, [*place, k], dates) for k, v in value.items()}
    raise _NotEncodable


def revive(data: Any, dates: list[Place]) -> Any:
    """The document of parsed JSON ``data`` (changed in place) whose tagged dates are at
    ``dates`` (Encoded.dates). Raises MisplacedDate when a place holds no tagged date."""
    for place in dates:
        if not place:
            return _date_of(data)
        parent = data
        try:
            for step in place[:-1]:
                parent = parent[step]
            parent[place[-1]] = _date_of(parent[place[-1]])
        except (KeyError, IndexError, TypeError):
            raise MisplacedDate(f"no date at {place!r}") from None
    return data


def _date_of(tagged: Any) -> date:
    if isinstance(tagged, dict) and len(tagged) == 1:
        try:
            if _DATE in tagged:
                return date.fromisoformat(tagged[_DATE])
            if _DATETIME in tagged:
                return datetime.fromisoformat(tagged[_DATETIME])
        except (TypeError, ValueError):
            pass
    raise MisplacedDate(f"not a tagged date: {tagged!r}")
