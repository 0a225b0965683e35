"""soc.ecs.flatten: every leaf of a document by its dotted path, whatever the document's keys,
however many documents came before (it remembers the dotted names it made, within bounds)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soc import ecs


def _plain_flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The definition: objects are descended, everything else is a leaf, in document order."""
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, Mapping):
            flat.update(_plain_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


_LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_DOCS = st.recursive(
    st.dictionaries(st.text(max_size=6), _LEAVES, max_size=5),
    lambda inner: st.dictionaries(
        st.text(max_size=6), _LEAVES | inner | st.lists(_LEAVES, max_size=3), max_size=5
    ),
    max_leaves=25,
)


@settings(max_examples=300)
@given(st.lists(_DOCS, min_size=1, max_size=4), st.sampled_from(["", "x.", "winlog."]))
def test_flatten_is_the_plain_definition(docs: list[dict[str, Any]], prefix: str) -> None:
    for doc in docs:  # several documents: the later ones meet the names the first made
        flat = ecs.flatten(doc, prefix)
        assert list(flat.items()) == list(_plain_flatten(doc, prefix).items())


def test_nested_ecs_event() -> None:
    event = {
        "@timestamp": "2026-11-30T10:00:00.000000Z",
        "event": {"code": "4625", "original": "<Event/>"},
        "winlog": {"event_data": {"TargetUserName": "admin", "LogonType": 3}},
        "tags": ["a", "b"],
        "empty": {},
    }
    assert ecs.flatten(event) == {
        "@timestamp": "2026-11-30T10:00:00.000000Z",
        "event.code": "4625",
        "event.original": "<Event/>",
        "winlog.event_data.TargetUserName": "admin",
        "winlog.event_data.LogonType": 3,
        "tags": ["a", "b"],
    }


def test_other_mappings_are_descended_too() -> None:
    doc = {"host": MappingProxyType({"name": "web-01", "os": {"type": "linux"}})}
    assert ecs.flatten(doc) == {"host.name": "web-01", "host.os.type": "linux"}


def test_keys_that_are_data_stay_right_past_the_memo_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # JSON logs whose keys are ids or addresses: more names under one object, and more
    # objects, than are remembered.
    monkeypatch.setattr(ecs, "MAX_REMEMBERED_NAMES", 16)
    monkeypatch.setattr(ecs, "_NAMES", {})
    for batch in range(5):
        doc = {
            "counts": {f"10.0.{batch}.{n}": n for n in range(40)},
            **{f"user{batch}_{n}": {"id": n} for n in range(40)},
        }
        assert ecs.flatten(doc) == _plain_flatten(doc)
        assert len(ecs._NAMES) <= 16
        assert all(len(names) <= 16 for names in ecs._NAMES.values())
