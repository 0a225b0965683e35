"""The audit trail: one record per change an analyst or a playbook made to an alert or a case
(who, when, what, before -> after), kept in the store's "audit" collection."""

from __future__ import annotations

import getpass
import os
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from soc import clock, ecs
from soc.store.base import Store


def analyst_name(configured: str | None = None) -> str:
    """The analyst recorded in the audit trail: the ``analyst`` setting, else the login name
    ($USER), else "unknown"."""
    if configured and configured.strip():
        return configured.strip()
    for var in ("USER", "LOGNAME", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record(
    store: Store,
    *,
    analyst: str,
    action: str,
    object_kind: str,
    object_id: str,
    before: Any = None,
    after: Any = None,
    detail: Mapping[str, Any] | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    """Write one audit record and return it. Ids start with the time, so listing by id lists
    by time too."""
    moment = at or ecs.format_timestamp(clock.now())
    entry = {
        "id": f"{moment}-{uuid.uuid4().hex[:12]}",
        "at": moment,
        "analyst": analyst,
        "action": action,
        "object_kind": object_kind,
        "object_id": object_id,
        "before": before,
        "after": after,
        "detail": dict(detail or {}),
    }
    store.put_record("audit", entry["id"], entry)
    return entry


def list_audit(
    store: Store,
    *,
    object_id: str | None = None,
    object_kind: str | None = None,
    analyst: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Audit records matching every filter given, oldest first (``limit`` keeps the newest);
    ``action`` ending in ``.`` or ``*`` matches a prefix (``case.`` = every case action)."""
    filters: dict[str, Any] = {}
    if object_id:
        filters["object_id"] = object_id
    if object_kind:
        filters["object_kind"] = object_kind
    if analyst:
        filters["analyst"] = analyst
    prefix = None
    if action:
        if action.endswith(("*", ".")):
            prefix = action.rstrip("*")
        else:
            filters["action"] = action
    rows = store.list_records("audit", filters=filters, order_by="at")
    low = ecs.format_timestamp(since) if since else None
    high = ecs.format_timestamp(until) if until else None
    selected = [
        r
        for r in rows
        if (prefix is None or str(r.get("action", "")).startswith(prefix))
        and (low is None or str(r.get("at", "")) >= low)
        and (high is None or str(r.get("at", "")) < high)
    ]
    if limit is not None and limit >= 0:
        selected = selected[-limit:] if limit else []
    return selected
