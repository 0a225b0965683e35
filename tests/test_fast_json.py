"""soc.fast_json gives the standard library's JSON, faster: the same text for the values events
hold, the same values back, the same errors."""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from soc import fast_json


def _standard(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


#: What an event document holds: text (any Unicode), whole numbers of any size, booleans,
#: nulls, lists and objects of them.
_EVENT_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_EVENT_VALUES)
def test_event_values_are_written_as_the_standard_library_writes_them(value: Any) -> None:
    assert fast_json.dumps(value) == _standard(value)
    assert fast_json.loads(fast_json.dumps(value)) == value


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_come_back_as_the_same_number(value: float) -> None:
    assert fast_json.loads(fast_json.dumps({"x": value})) == json.loads(_standard({"x": value}))


@pytest.mark.parametrize(
    "value",
    [
        {"big": 2**70, "small": -(2**70)},  # beyond 64 bits
        {1: "a key that is not a string"},
        "a lone surrogate \ud800 in text",
        {"tiếng Việt": "Sở Thông tin và Truyền thông", "emoji": "\U0001f512"},
        (1, "tuple"),
    ],
    ids=["big-integers", "integer-keys", "lone-surrogate", "non-ascii", "tuple"],
)
def test_what_orjson_does_not_take_is_written_by_the_standard_library(value: Any) -> None:
    assert fast_json.dumps(value) == _standard(value)


@pytest.mark.parametrize("value", [datetime(2026, 12, 2, tzinfo=UTC), {1, 2}, object()])
def test_objects_the_standard_library_refuses_are_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        _standard(value)
    with pytest.raises(TypeError):
        fast_json.dumps(value)


@given(_EVENT_VALUES)
def test_records_with_any_values_are_written_as_the_standard_library_writes_them(
    value: Any,
) -> None:
    assert fast_json.dumps_any(value) == json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), default=str
    )


def test_what_json_cannot_hold_in_a_record_is_written_as_its_text() -> None:
    """A stored record (an alert, a case) may hold dates, paths or other objects: they are
    written as str() writes them, as the standard library's ``default=str`` did, also
    beside what orjson does not take."""
    when = datetime(2026, 12, 2, 8, 30, tzinfo=UTC)
    record = {"at": when, "file": Path("rules/x.yml"), "ids": {3}, "titles": ["Đăng nhập"]}
    expected = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
    assert fast_json.dumps_any(record) == expected
    assert json.loads(fast_json.dumps_any(record))["at"] == "2026-12-02 08:30:00+00:00"
    huge = {**record, "n": 2**70}  # beyond 64 bits: the standard library writes it all
    assert fast_json.dumps_any(huge) == json.dumps(
        huge, ensure_ascii=False, separators=(",", ":"), default=str
    )


@pytest.mark.parametrize(
    "number", [2**63, -(2**63) - 1, 2**64, -(2**70), 10**30, 2**64 - 1, -(2**63)]
)
def test_integers_of_any_size_come_back_exactly(number: int) -> None:
    """orjson reads an integer beyond 64 bits as a float: loads sees the digit run and
    leaves such a text to the standard library (a JSON log's 20-digit transaction id
    stays that id)."""
    text = fast_json.dumps({"txn": {"id": number}, "ids": [number, 1]})
    assert fast_json.loads(text) == {"txn": {"id": number}, "ids": [number, 1]}
    assert fast_json.loads(text.encode()) == json.loads(text)
    assert fast_json.may_hold_big_integer(text)


_BOUNDED_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_BOUNDED_VALUES)
def test_a_bounded_text_reads_back_exactly_without_the_check(value: Any) -> None:
    text = fast_json.dumps_bounded(value)
    if text is None:  # a lone surrogate orjson does not write
        return
    assert text == fast_json.dumps(value)
    assert fast_json.loads_bounded(text) == value == fast_json.loads(text)


def test_what_orjson_cannot_write_has_no_bounded_text() -> None:
    assert fast_json.dumps_bounded({"n": 2**64}) is None
    assert fast_json.dumps_bounded({1: "key not a string"}) is None
    assert fast_json.dumps_bounded({"n": 2**64 - 1}) == '{"n":18446744073709551615}'
    assert not fast_json.may_hold_big_integer('{"EventID":4624,"when":"2026-12-02"}')


def test_nan_and_infinities_become_null_that_sqlite_reads_as_json() -> None:
    text = fast_json.dumps({"rate": math.nan, "high": math.inf, "low": -math.inf})
    assert json.loads(text) == {"rate": None, "high": None, "low": None}
    assert sqlite3.connect(":memory:").execute("SELECT json_valid(?)", (text,)).fetchone() == (1,)


def test_text_is_read_as_the_standard_library_reads_it() -> None:
    assert math.isnan(fast_json.loads('{"x": NaN}')["x"])
    assert fast_json.loads(str(2**70)) == 2**70
    assert fast_json.loads(b'{"a": [1, 2.5, "\xc3\xa9"]}') == {"a": [1, 2.5, "é"]}
    with pytest.raises(json.JSONDecodeError) as caught:
        fast_json.loads('{"unfinished": ')
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads('{"unfinished": ')
    assert str(caught.value) == str(expected.value)


@pytest.mark.conformance
def test_every_corpus_evtx_document_is_written_as_before(corpus_dir: Path) -> None:
    """The records and ECS documents of the corpus EVTX: parsed to the same values and
    written to the same text as with the standard library."""
    from evtx import PyEvtxParser

    from collectors.evtx_ecs import record_to_ecs

    documents = 0
    for path in sorted((corpus_dir / "evtx").rglob("*.evtx")):
        try:
            records = [r["data"] for r in PyEvtxParser(str(path)).records_json()]
        except (OSError, RuntimeError):
            continue
        for data in records:
            record = fast_json.loads(data)
            assert record == json.loads(data)
            doc = record_to_ecs(record, original=data)
            assert fast_json.dumps(doc) == _standard(doc)
            documents += 1
    assert documents > 5_000
