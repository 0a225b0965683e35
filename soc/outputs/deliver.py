"""Deliver alerts to the configured outputs, each alert once per output, across restarts.

What was delivered is kept in the store ("state" records ``output:<name>:<alert id>``), so a
restarted scheduler, a cron `soc detect run` or `soc outputs send` never sends an alert
twice. A failure is recorded with its reason and retried on the next delivery round (up to
``max_attempts``), never raised into detection: detection stores its alerts first, delivery
reads them afterwards, in its own thread when scheduled. Before sending, a deliverer claims
each alert (a "sending" state created or replaced only if unchanged, atomic on both stores),
so a scheduler and a cron `soc outputs send` at the same moment never both send one. (A
crash between a server's answer and the state write leaves the claim, which is retried after
``CLAIM_LEASE``: the one moment an alert may go out a second time.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from soc import clock, ecs
from soc.outputs.config import OutputConfig
from soc.outputs.senders import SENDERS, SendError
from soc.store.base import Conflict, Store, StoreError

Sender = Callable[[Mapping[str, Any], Mapping[str, Any]], None]


def state_id(output: str, alert_id: str) -> str:
    """The id of the state record of one alert's delivery to one output."""
    return f"output:{output}:{alert_id}"


@dataclass
class DeliveryReport:
    """One delivery round: per output, how many alerts went out, failed (with reasons) or
    were given up after too many attempts."""

    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, list[str]] = field(default_factory=dict)
    gave_up: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not any(self.failed.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"sent": self.sent, "failed": self.failed, "gave_up": self.gave_up}

    def lines(self) -> list[str]:
        """One line per output that did something, for a log or a person."""
        out = []
        for name in sorted(set(self.sent) | set(self.failed)):
            errors = self.failed.get(name, [])
            text = f"output {name}: {self.sent.get(name, 0)} sent"
            if errors:
                text += f", {len(errors)} failed (will retry): {errors[0]}"
            if self.gave_up.get(name):
                text += f", {self.gave_up[name]} given up"
            out.append(text)
        return out


def _previous(store: Store, output: str) -> dict[str, dict[str, Any]]:
    rows = store.list_records("state", filters={"kind": "delivery", "output": output})
    return {str(r.get("alert_id")): r for r in rows}


#: A claim ("sending") older than this is taken to be from a deliverer that died mid-send.
CLAIM_LEASE = timedelta(minutes=10)


def _claim(
    store: Store, output: OutputConfig, wanted: Mapping[str, Mapping[str, Any]], now: datetime
) -> dict[str, dict[str, Any]]:
    """Claim the alerts of ``wanted`` (alert id -> alert) this deliverer may send now, so
    that two deliverers at once (a scheduler and a cron `soc outputs send`) never both send
    one: returns alert id -> the claim record (attempts so far). States are read in one
    request (real-time on Elasticsearch, no refresh needed), new claims created in one."""
    ids = {state_id(output.name, alert_id): alert_id for alert_id in wanted}
    seen = store.get_records("state", list(ids))
    at = ecs.format_timestamp(now)
    stale = ecs.format_timestamp(now - CLAIM_LEASE)

    def claim(alert_id: str, attempts: int) -> dict[str, Any]:
        return {
            "kind": "delivery",
            "output": output.name,
            "alert_id": alert_id,
            "attempts": attempts,
            "status": "sending",
            "at": at,
        }

    fresh = {sid: claim(alert_id, 0) for sid, alert_id in ids.items() if sid not in seen}
    created = store.create_records("state", fresh) if fresh else set()
    claimed = {ids[sid]: fresh[sid] for sid in created}
    for sid, before in seen.items():
        status = before.get("status")
        if status in ("sent", "gave_up") or (
            status == "sending" and str(before.get("at", "")) >= stale
        ):
            continue  # done, or being sent by another deliverer right now
        current = store.get_record_versioned("state", sid)
        if current is None or current[0] != before:
            continue  # changed since it was read: someone else is on it
        record = claim(ids[sid], int(before.get("attempts", 0)))
        try:
            store.put_record_if("state", sid, record, current[1])
        except Conflict:
            continue
        claimed[ids[sid]] = record
    return claimed


def deliver_pending(
    store: Store,
    outputs: Sequence[OutputConfig],
    *,
    now: datetime | None = None,
    senders: Mapping[str, Sender] | None = None,
) -> DeliveryReport:
    """Send every alert each output wants (created within its ``max_age_hours``) that it
    has not delivered yet, each at most once even with several deliverers at work (claimed
    first, see _claim); record each success and failure in the store."""
    senders = senders or SENDERS
    now = now or clock.now()
    report = DeliveryReport()
    if not outputs:
        return report
    alerts = store.list_records("alerts", order_by="created")
    wrote = False
    for output in outputs:
        oldest = ecs.format_timestamp(now - timedelta(hours=output.max_age_hours))
        report.sent[output.name] = 0
        wanted = {
            str(a.get("id", "")): a
            for a in alerts
            if str(a.get("created", "")) >= oldest and output.wants(a)
        }
        claimed = _claim(store, output, wanted, now) if wanted else {}
        wrote = wrote or bool(claimed)
        for alert_id, alert in wanted.items():  # in the order the alerts were created
            if alert_id not in claimed:
                continue
            attempts = int(claimed[alert_id].get("attempts", 0)) + 1
            record = {
                "kind": "delivery",
                "output": output.name,
                "alert_id": alert_id,
                "attempts": attempts,
                "at": ecs.format_timestamp(clock.now()),
            }
            try:
                senders[output.name](alert, output.options)
            except SendError as exc:
                given_up = attempts >= output.max_attempts
                record.update(status="gave_up" if given_up else "failed", error=str(exc))
                report.failed.setdefault(output.name, []).append(f"{alert_id[:12]}: {exc}")
                if given_up:
                    report.gave_up[output.name] = report.gave_up.get(output.name, 0) + 1
            else:
                record["status"] = "sent"
                report.sent[output.name] += 1
            store.upsert_record("state", state_id(output.name, alert_id), record)
    if wrote:  # so that `soc outputs status` in another process sees this round at once
        store.refresh()
    return report


def delivery_status(store: Store, outputs: Sequence[OutputConfig]) -> dict[str, dict[str, Any]]:
    """Per output: how many alerts were sent, are failing (with the last reason), were
    given up or are claimed by a deliverer right now ("sending")."""
    out: dict[str, dict[str, Any]] = {}
    for output in outputs:
        rows = _previous(store, output.name).values()
        counts = {"sent": 0, "failed": 0, "gave_up": 0, "sending": 0}
        last_error = None
        for row in rows:
            status = str(row.get("status"))
            counts[status] = counts.get(status, 0) + 1
            if status != "sent" and row.get("error"):
                last_error = row["error"]
        out[output.name] = {**counts, "last_error": last_error}
    return out


class OutputWorker:
    """Delivery in its own thread, so a slow or dead output never holds up detection:
    ``kick()`` after each detection cycle, ``close()`` (one last round) when stopping."""

    def __init__(
        self,
        store: Store,
        outputs: Sequence[OutputConfig],
        on_report: Callable[[DeliveryReport], None] | None = None,
    ) -> None:
        self.store = store
        self.outputs = list(outputs)
        self.on_report = on_report
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="soc-outputs", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        """Ask for a delivery round as soon as the current one (if any) is done."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            self._round()

    def _round(self) -> None:
        try:
            report = deliver_pending(self.store, self.outputs)
        except StoreError as exc:
            report = DeliveryReport(failed={"store": [str(exc)]})
        if self.on_report is not None:
            self.on_report(report)

    def close(self, timeout: float = 30.0) -> None:
        """Run one last round (waiting at most ``timeout`` seconds) and stop the thread."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)


__all__ = [
    "DeliveryReport",
    "OutputWorker",
    "deliver_pending",
    "delivery_status",
    "state_id",
]
