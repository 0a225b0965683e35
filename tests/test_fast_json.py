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
