"""Opt-in rollover layout of the Elasticsearch store (setting ``elasticsearch.rollover``).

When the setting names rollover conditions and the server has ``_rollover``, events are
written through the write alias ``<prefix>-events-write``, which points at one index
``<prefix>-events-NNNNNN`` (``is_write_index: true``); every event index keeps the read alias
``<prefix>-events``. The store asks ``POST <prefix>-events-write/_rollover`` with the
configured conditions at most once per ``check_every`` (product clock), or, with a lifecycle
policy (ILM/ISM), leaves rolling over to the server and only re-reads the write alias.

A server without ``_rollover`` (its dry-run answer is "no handler", 404/405/501 without an
index error) gets the ingest-day indices of the default layout, with one warning.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from elasticsearch import ApiError, NotFoundError

from soc import clock
from soc.store.base import StoreError
from soc.timespec import parse_duration

if TYPE_CHECKING:
    from soc.store.elastic import ElasticStore

#: rollover conditions the setting accepts (Elasticsearch names; ISM gets min_* twins)
CONDITIONS = ("max_age", "max_docs", "max_size", "max_primary_shard_size", "max_primary_shard_docs")
_ISM_NAMES = {
    "max_age": "min_index_age",
    "max_docs": "min_doc_count",
    "max_size": "min_size",
    "max_primary_shard_size": "min_primary_shard_size",
}
_SIZE = re.compile(r"^\d+(b|kb|mb|gb|tb|pb)$")
_JSON = {"content-type": "application/json", "accept": "application/json"}
#: how often the store asks for a rollover unless ``check_every`` says otherwise
CHECK_EVERY = timedelta(minutes=5)
FIRST_INDEX_NUMBER = 1


def parse_rollover(value: Any) -> tuple[tuple[tuple[str, Any], ...], int]:
    """(conditions, check seconds) from the setting: a mapping, or ``k=v,k=v`` text; empty
    conditions when unset. ValueError names the setting and the bad key or value."""
    if value in (None, "", {}):
        return (), int(CHECK_EVERY.total_seconds())
    if isinstance(value, str):
        pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise ValueError(f"elasticsearch.rollover: expected key=value pairs: {value!r}")
        value = {k.strip(): v.strip() for k, v in pairs}
    if not isinstance(value, dict):
        raise ValueError(f"elasticsearch.rollover: expected a mapping of conditions: {value!r}")
    check = int(CHECK_EVERY.total_seconds())
    conditions: dict[str, Any] = {}
    for key, raw in value.items():
        text = str(raw).strip().lower()
        if key == "check_every":
            try:
                check = max(1, int(parse_duration(text).total_seconds()))
            except ValueError as exc:
                raise ValueError(f"elasticsearch.rollover: check_every: {exc}") from None
        elif key not in CONDITIONS:
            raise ValueError(
                f"elasticsearch.rollover: unknown condition {key!r} "
                f"(expected {', '.join(CONDITIONS)} or check_every)"
            )
        elif key.endswith("_docs"):
            if not text.isdigit() or int(text) < 1:
                raise ValueError(f"elasticsearch.rollover: {key}: not a positive count: {raw!r}")
            conditions[key] = int(text)
        elif key == "max_age":
            try:
                parse_duration(text)
            except ValueError as exc:
                raise ValueError(f"elasticsearch.rollover: max_age: {exc}") from None
            conditions[key] = text
        else:
            if not _SIZE.match(text):
                raise ValueError(f"elasticsearch.rollover: {key}: not a size like 50gb: {raw!r}")
            conditions[key] = text
    if not conditions:
        raise ValueError("elasticsearch.rollover: no rollover condition given")
    return tuple(sorted(conditions.items())), check


def ism_rollover(conditions: dict[str, Any]) -> dict[str, Any]:
    """The ISM ``rollover`` action for the conditions (OpenSearch names them min_*)."""
    return {_ISM_NAMES[k]: v for k, v in conditions.items() if k in _ISM_NAMES}


def write_alias(store: ElasticStore) -> str:
    """``<prefix>-events-write``."""
    return f"{store.prefix}-events-write"


def first_index(store: ElasticStore) -> str:
    """``<prefix>-events-000001``, the write index a new rollover layout starts with."""
    return f"{store.prefix}-events-{FIRST_INDEX_NUMBER:06d}"


def _post(store: ElasticStore, path: str, body: dict[str, Any]) -> Any:
    return store._client.perform_request("POST", path, body=body, headers=_JSON)


def _unsupported(exc: ApiError) -> bool:
    """True when the refusal says the server has no such endpoint: "no handler found"
    (Elasticsearch, OpenSearch, osmem for unknown paths), 405/501, or a 404 that is not a
    typed server error (a missing target is ``index_not_found_exception`` or a 400)."""
    text = str(exc.body)
    if "no handler found" in text or exc.meta.status in {405, 501}:
        return True
    return exc.meta.status == 404 and "_exception" not in text


def _current_write_index(store: ElasticStore) -> str | None:
    """The index the write alias points at (the one with is_write_index), or None."""
    alias = write_alias(store)
    try:
        answer = store._call(
            "reading the write alias", lambda: store._client.indices.get_alias(name=alias)
        ).body
    except NotFoundError:
        return None
    except ApiError as exc:
        raise StoreError(
            f"Elasticsearch at {store.display_url}: reading the write alias: {store._cause(exc)}"
        ) from None
    names = sorted(answer)
    for name in names:
        if (answer[name].get("aliases", {}).get(alias) or {}).get("is_write_index"):
            return name
    return names[-1] if names else None


def bootstrap(store: ElasticStore) -> str:
    """Make sure the write alias exists (create ``<prefix>-events-000001`` with the write
    alias, ``is_write_index: true``, and the read alias otherwise); returns its index."""
    current = _current_write_index(store)
    if current is not None:
        return current
    name = first_index(store)
    store.ensure_template()
    try:
        store._call(
            f"creating the write index {name}",
            lambda: store._client.indices.create(
                index=name,
                aliases={write_alias(store): {"is_write_index": True}, store.events_alias: {}},
            ),
        )
    except ApiError as exc:
        # another process bootstrapped it first: follow the alias it made
        current = _current_write_index(store) if "already_exists" in str(exc.body) else None
        if current is None:
            raise StoreError(
                f"Elasticsearch at {store.display_url}: creating the write index {name}: "
                f"{store._cause(exc)}"
            ) from None
        return current
    return name


def supported(store: ElasticStore) -> bool:
    """Whether the server has ``_rollover``: Elasticsearch 7+ or OpenSearch by its version,
    then by its answer to a dry run (``POST <write alias>/_rollover?dry_run=true``)."""
    identity = store.identity
    leading = re.match(r"\d+", identity.version or "")
    major = int(leading[0]) if leading else 0
    if identity.distribution == "elasticsearch" and major and major < 7:
        return False
    path = f"/{write_alias(store)}/_rollover?dry_run=true"
    body = {"conditions": dict(store.layout.rollover)}
    try:
        store._call("checking rollover support", lambda: _post(store, path, body))
    except ApiError as exc:
        return not _unsupported(exc)
    return True


def write_target(store: ElasticStore) -> tuple[str, str | None]:
    """(concrete index to write, bulk target): the ingest-day index and None without
    rollover; the current write index and the write alias with it. Decides support once
    (with one warning when the server has no rollover), and asks for a rollover (or
    re-reads the write alias under a lifecycle policy) at most once per check period."""
    with store._rollover_lock:
        return _write_target(store)


def ingest_index(prefix: str) -> str:
    """The event index written today (UTC day of the product clock): the write target
    without rollover."""
    return f"{prefix}-events-{clock.now().astimezone(UTC):%Y.%m.%d}"


def _write_target(store: ElasticStore) -> tuple[str, str | None]:
    layout = store.layout
    if not layout.rollover or store._rollover_state is False:
        return ingest_index(store.prefix), None
    now = clock.now()
    if store._rollover_state is None:
        if not supported(store):
            store._rollover_state = False
            warning = (
                f"Elasticsearch at {store.display_url}: the server has no _rollover; "
                "elasticsearch.rollover ignored, events go to ingest-day indices"
            )
            store.warnings.append(warning)
            print(warning, file=sys.stderr)
            return ingest_index(store.prefix), None
        store._rollover_state = True
        store._write_index = bootstrap(store)
        store._rollover_checked = now
    elif now - store._rollover_checked >= timedelta(seconds=layout.rollover_check_seconds):
        store._rollover_checked = now
        if layout.lifecycle == "none":
            roll(store)
        else:
            store._write_index = _current_write_index(store) or store._write_index
    index = store._write_index or first_index(store)
    store._known_indices.add(index)
    return index, write_alias(store)


def roll(store: ElasticStore) -> dict[str, Any]:
    """``POST <prefix>-events-write/_rollover`` with the configured conditions; follows the
    write alias to the new index when the server rolled over. Returns the answer."""
    path = f"/{write_alias(store)}/_rollover"
    body = {"conditions": dict(store.layout.rollover)}
    answer = store._request("rolling over the write index", lambda: _post(store, path, body))
    data = dict(answer.body) if isinstance(answer.body, dict) else {}
    if data.get("rolled_over") and data.get("new_index"):
        store._write_index = str(data["new_index"])
        store._known_indices.add(store._write_index)
        store._event_index_cache = None
    return data
