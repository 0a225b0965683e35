"""Deliver alerts to the configured outputs, each alert once per output, across restarts.

What was delivered is kept in the store ("state" records ``output:<name>:<alert id>``), so a
restarted scheduler, a cron `soc detect run` or `soc outputs send` never sends an alert
twice. A failure is recorded with its reason and retried on the next delivery round (up to
``max_attempts``), never raised into detection: detection stores its alerts first, delivery
reads them afterwards, in its own thread when scheduled. (A crash between a server's answer
and the state write is the one moment an alert may go out a second time.)
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
from soc.store.base import Store, StoreError

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


def deliver_pending(
    store: Store,
    outputs: Sequence[OutputConfig],
    *,
    now: datetime | None = None,
    senders: Mapping[str, Sender] | None = None,
) -> DeliveryReport:
    """Send every alert each output wants (created within its ``max_age_hours``) that it
    has not delivered yet; record each success and failure in the store."""
    senders = senders or SENDERS
    now = now or clock.now()
    report = DeliveryReport()
    if not outputs:
        return report
    alerts = store.list_records("alerts", order_by="created")
    for output in outputs:
        oldest = ecs.format_timestamp(now - timedelta(hours=output.max_age_hours))
        seen = _previous(store, output.name)
        report.sent[output.name] = 0
        for alert in alerts:
            alert_id = str(alert.get("id", ""))
            before = seen.get(alert_id)
            if before is not None and before.get("status") in ("sent", "gave_up"):
                continue
            if str(alert.get("created", "")) < oldest or not output.wants(alert):
                continue
            attempts = int(before.get("attempts", 0)) + 1 if before else 1
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
    return report


def delivery_status(store: Store, outputs: Sequence[OutputConfig]) -> dict[str, dict[str, Any]]:
    """Per output: how many alerts were sent, are failing (with the last reason) or were
    given up."""
    out: dict[str, dict[str, Any]] = {}
    for output in outputs:
        rows = _previous(store, output.name).values()
        counts = {"sent": 0, "failed": 0, "gave_up": 0}
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
