"""JSON text for the hot paths (every event read and stored): orjson where it gives what the
standard library gives, the standard library everywhere else.

- ``dumps(value)`` is ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``: the
  same text for strings, integers, lists and dicts (checked on every document of the corpus
  EVTX). Two differences, both still the same JSON values: a float is written in its shortest
  form (``0.00001`` where the standard library writes ``1e-05``), and NaN and the infinities,
  which are not JSON (SQLite's JSON functions reject the ``NaN`` the standard library
  writes), become ``null``. What orjson does not take (an integer beyond 64 bits, a key that
  is not a string, a lone surrogate, any other object) is handed to the standard library,
  which gives its usual text or its usual error. Dates, dataclasses and the like raise
  TypeError as with the standard library.
- ``loads(text)`` is ``json.loads(text)``: text orjson refuses (``NaN``, any error) is parsed
  again by the standard library, so that errors and their messages are the standard
  library's. orjson reads an integer beyond 64 bits as a float, so a text that may hold one
  (a run of 19 digits or more, checked in 2-3 µs a KB) is read by the standard library.
- ``loads_bounded(text)`` skips that check, for texts whose integers are known to fit in 64
  bits: the EVTX parser's records (its values are at most 64-bit), and texts written by
  ``dumps_bounded`` (orjson only: None for a value holding an integer beyond 64 bits).

On the corpus EVTX, orjson takes 14.5 µs to parse a record where the standard library takes
22.5 µs, and 5 µs to write an event's document where it takes 29 µs (docs/detection.md).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

#: Objects orjson would write itself but the standard library refuses: left to it (TypeError).
_PASS_THROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``, non-ASCII characters kept as they are (see above).
    Raises TypeError or ValueError where ``json.dumps`` does."""
    try:
        return orjson.dumps(value, option=_PASS_THROUGH).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dumps_any(value: Any) -> str:
    """Compact JSON text of any ``value``: what JSON cannot hold (a date, a path, any other
    object) is written as its ``str()``, as ``json.dumps(value, ensure_ascii=False,
    default=str)`` writes it; the same JSON values as that gives (see dumps for floats and
    NaN). For stored records (alerts, cases), where the standard library took 20 µs an
    alert."""
    try:
        return orjson.dumps(value, default=str, option=_PASS_THROUGH).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def dumps_bounded(value: Any) -> str | None:
    """orjson's compact JSON text of ``value`` (as dumps writes it), or None when orjson
    cannot write it: an integer beyond 64 bits, a key that is not a string, a lone
    surrogate, any other object. loads_bounded reads such a text back exactly."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return None


#: Digits kept (as "0"), every other byte made ".": a run of 19 "0"s is then a run of 19
#: digits, the shortest that can spell an integer beyond 64 bits (below -2**63).
_DIGIT_RUNS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x2E for b in range(256))
_LONG_RUN = b"0" * 19


def may_hold_big_integer(text: str | bytes) -> bool:
    """Whether ``text`` has a run of 19 digits or more, which an integer beyond 64 bits
    needs (a digit run inside a string counts too: the answer may be yes for none)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return _LONG_RUN in data.translate(_DIGIT_RUNS)


def loads(text: str | bytes) -> Any:
    """The value of JSON text, as ``json.loads`` gives it, integers of any size included;
    raises json.JSONDecodeError (a ValueError) with the standard library's message for text
    that is not JSON."""
    if may_hold_big_integer(text):
        return json.loads(text)
    return loads_bounded(text)


def loads_bounded(text: str | bytes) -> Any:
    """As loads, for a text whose integers all fit in 64 bits (an EVTX parser's record, a
    dumps_bounded text): one beyond would come back as a float."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # also a ValueError; the standard library has the last word
        return json.loads(text)
