"""Index housekeeping of the Elasticsearch store: retention by whole indices, lifecycle
policies and the migration of a store written by an earlier layout.

Event indices are named ``<prefix>-events-YYYY.MM.DD``: the ingest day (this version) or the
event day (versions before template 4). Either way the date in the name is the day the index
stands for, so retention deletes an index once that day is older than the retention period:
whole indices, never documents one by one. Indices of the opt-in rollover layout
(``<prefix>-events-NNNNNN``, soc.store.es_rollover) carry no day: they go by the creation
date of the index that followed them.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from elasticsearch import ApiError, NotFoundError

from soc import clock
from soc.store.base import StoreError
from soc.store.es_rollover import ism_rollover, write_target

if TYPE_CHECKING:
    from soc.store.elastic import ElasticStore

_DAY = re.compile(r"-events-(\d{4})\.(\d{2})\.(\d{2})$")


def index_day(prefix: str, name: str) -> date | None:
    """The day in an event index name ``<prefix>-events-YYYY.MM.DD``, or None."""
    if not name.startswith(f"{prefix}-events-"):
        return None
    match = _DAY.search(name)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def ilm_policy(retention_days: int, rollover: dict[str, Any] | None = None) -> dict[str, Any]:
    """``PUT _ilm/policy/<prefix>-events`` body (Elasticsearch): delete an index
    ``retention_days`` after its creation (ingest-day indices: after its day); with
    ``rollover`` conditions the hot phase rolls the write alias over."""
    return {
        "policy": {
            "_meta": {"managed_by": "citysoc"},
            "phases": {
                "hot": {"min_age": "0ms", "actions": {"rollover": rollover} if rollover else {}},
                "delete": {"min_age": f"{retention_days}d", "actions": {"delete": {}}},
            },
        }
    }


def ism_policy(
    prefix: str, retention_days: int, rollover: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``PUT _plugins/_ism/policies/<prefix>-events`` body (OpenSearch): the same
    retention, attached to new event indices by its ``ism_template``; with ``rollover``
    conditions the hot state rolls the write alias over (ISM names: min_*)."""
    return {
        "policy": {
            "description": "citysoc: delete event indices after the retention period",
            "default_state": "hot",
            "states": [
                {
                    "name": "hot",
                    "actions": [{"rollover": ism_rollover(rollover)}] if rollover else [],
                    "transitions": [
                        {
                            "state_name": "delete",
                            "conditions": {"min_index_age": f"{retention_days}d"},
                        }
                    ],
                },
                {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
            ],
            "ism_template": [{"index_patterns": [f"{prefix}-events-*"], "priority": 100}],
        }
    }


def event_indices(store: ElasticStore) -> dict[str, date | None]:
    """Every ``<prefix>-events-*`` index on the server (alias or not) and its day."""
    try:
        answer = store._call(
            "listing event indices",
            lambda: store._client.indices.get(
                index=f"{store.prefix}-events-*", allow_no_indices=True
            ),
        ).body
    except NotFoundError:
        return {}
    except ApiError as exc:
        raise StoreError(
            f"Elasticsearch at {store.display_url}: listing event indices: {store._cause(exc)}"
        ) from None
    return {name: index_day(store.prefix, name) for name in sorted(answer)}


def prune(store: ElasticStore, older_than: timedelta, *, dry_run: bool = False) -> list[str]:
    """Delete the event indices whose whole day (UTC) ended more than ``older_than`` ago
    (product clock), with one DELETE per index, never today's; returns their names (all
    that would go when ``dry_run``)."""
    now = clock.now().astimezone(UTC)
    today = now.date()
    cutoff = now - older_than
    indices = event_indices(store)
    doomed = [
        name
        for name, day in indices.items()
        if day is not None
        and day != today
        and datetime.combine(day + timedelta(days=1), time.min, UTC) <= cutoff
    ]
    doomed += rolled_over_before(store, [n for n, day in indices.items() if day is None], cutoff)
    if not dry_run:
        for name in doomed:
            store._request(
                f"deleting {name}",
                lambda name=name: store._client.indices.delete(index=name),
            )
            store._known_indices.discard(name)
        store._event_index_cache = None
    return doomed


_NUMBER = re.compile(r"-events-(\d{6,})$")


def rolled_over_before(store: ElasticStore, names: list[str], cutoff: datetime) -> list[str]:
    """Rollover indices (``<prefix>-events-NNNNNN``, no day in the name) whose last write
    was before ``cutoff``: an index took writes until the next one in the sequence was
    created, so it goes once its successor's ``index.creation_date`` is older than the
    cutoff. The last index of the sequence (the write index) never goes. One GET _settings."""
    numbered = sorted((int(m[1]), n) for n in names if (m := _NUMBER.search(n)))
    if len(numbered) < 2:
        return []
    pattern = f"{store.prefix}-events-*"
    answer = store._request(
        "reading index creation dates",
        lambda: store._client.indices.get_settings(index=pattern, name="index.creation_date"),
    ).body
    created: dict[str, datetime] = {}
    for name, body in answer.items():
        stamp = (body.get("settings") or {}).get("index", {}).get("creation_date")
        if stamp is not None and str(stamp).isdigit():
            created[name] = datetime.fromtimestamp(int(stamp) / 1000, UTC)
    doomed = []
    for (_, name), (_, successor) in itertools.pairwise(numbered):
        ended = created.get(successor)
        if ended is not None and ended <= cutoff:
            doomed.append(name)
    return doomed


@dataclass
class Migration:
    """What `soc store migrate` did."""

    template_version: int
    indices: int = 0
    aliased: list[str] = field(default_factory=list)
    settings_updated: int = 0
    lifecycle: str = "none"
    old_layout: list[str] = field(default_factory=list)
    write_index: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "template_version": self.template_version,
            "event_indices": self.indices,
            "aliased": self.aliased,
            "settings_updated": self.settings_updated,
            "lifecycle": self.lifecycle,
            "event_day_indices": self.old_layout,
            "write_index": self.write_index,
        }


def install_lifecycle(store: ElasticStore) -> str:
    """Create the retention policy the layout asks for (ILM or ISM); returns what was done.
    Not tested against a server (osmem has neither): see docs/elasticsearch.md."""
    layout = store.layout
    name = f"{store.prefix}-events"
    if layout.lifecycle == "ilm":
        store._request(
            "installing the ILM policy",
            lambda: store._client.perform_request(
                "PUT",
                f"/_ilm/policy/{name}",
                body=ilm_policy(layout.retention_days, dict(layout.rollover) or None),
                headers={"content-type": "application/json", "accept": "application/json"},
            ),
        )
        return f"ilm policy {name}: delete after {layout.retention_days}d"
    if layout.lifecycle == "ism":
        store._request(
            "installing the ISM policy",
            lambda: store._client.perform_request(
                "PUT",
                f"/_plugins/_ism/policies/{name}",
                body=ism_policy(store.prefix, layout.retention_days, dict(layout.rollover) or None),
                headers={"content-type": "application/json", "accept": "application/json"},
            ),
        )
        return f"ism policy {name}: delete after {layout.retention_days}d"
    return "none"


def migrate(store: ElasticStore) -> Migration:
    """Bring a store written by an earlier version to this layout, in place: install the
    current template (new indices get the new mappings and settings), put every event index
    behind the read alias, apply the dynamic settings (replicas, refresh interval) to the
    existing event indices, and install the lifecycle policy if one is configured. Indices
    written by the event-day layout stay readable as they are and are listed; nothing is
    reindexed or deleted. Running it again changes nothing more."""
    store._template_ready = False
    store.ensure_template()
    from soc.store.es_template import TEMPLATE_VERSION

    report = Migration(template_version=TEMPLATE_VERSION)
    indices = event_indices(store)
    report.indices = len(indices)
    aliased = store._event_indices() if indices else set()
    actions = [
        {"add": {"index": name, "alias": store.events_alias}}
        for name in indices
        if name not in aliased
    ]
    if actions:
        store._request(
            "adding the read alias",
            lambda: store._client.indices.update_aliases(actions=actions),
        )
        report.aliased = [a["add"]["index"] for a in actions]
        store._event_index_cache = None
    if indices:
        store._request(
            "updating event index settings",
            lambda: store._client.indices.put_settings(
                index=f"{store.prefix}-events-*",
                settings={
                    "index": {
                        "number_of_replicas": store.layout.replicas,
                        "refresh_interval": store.layout.refresh_interval,
                    }
                },
            ),
        )
        report.settings_updated = len(indices)
    report.lifecycle = install_lifecycle(store)
    if store.layout.rollover:
        # the rollover layout starts here: a new write index; old indices keep the read alias
        index, target = write_target(store)
        report.write_index = index if target else None
    report.old_layout = [name for name in indices if _is_event_day_index(store, name)]
    return report


def _is_event_day_index(store: ElasticStore, name: str) -> bool:
    """True for an index written by the event-day layout: its mapping has event.original
    indexed (template 3 and before)."""
    try:
        answer = store._call(
            f"reading the mapping of {name}",
            lambda: store._client.indices.get_mapping(index=name),
        ).body
    except ApiError:
        return False
    props = next(iter(answer.values()), {}).get("mappings", {}).get("properties", {})
    original = props.get("event", {}).get("properties", {}).get("original", {})
    return bool(original) and original.get("index", True) is not False
