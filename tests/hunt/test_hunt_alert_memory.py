"""A run keeps a bounded number of its alerts whole: the ids and tallies of all of them, the
records of the first KEPT_ALERTS. What a hunt reports (counts, levels, top rules and
entities, its timeline) does not depend on how many were kept."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
AUTH = FIXTURES / "parsers" / "auth.log"


def _record(i: int, level: str, rule: str, host: str) -> dict[str, Any]:
    return {
        "id": f"alert-{i}",
        "rule_id": rule,
        "rule_title": f"title of {rule}",
        "level": level,
        "entities": {"host.name": [host], "user.name": [f"user{i % 2}"]},
        "first_seen": f"2026-11-20T10:00:0{i}.000000Z",
    }


def test_a_summary_keeps_the_first_alerts_whole_and_counts_every_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from soc.detect import emit

    monkeypatch.setattr(emit, "KEPT_ALERTS", 2)
    summary = emit.DetectionSummary(since=None, until=None)
    records = [
        _record(i, level, rule, host)
        for i, (level, rule, host) in enumerate(
            [
                ("high", "r1", "web01"),
                ("low", "r2", "web01"),
                ("high", "r1", "db01"),
                ("critical", "r3", "web01"),
                ("high", "r1", "web01"),
            ]
        )
    ]
    for record in records:
        summary.add_alert(record)
    assert summary.alerts == records[:2]
    assert not summary.all_alerts_kept
    assert summary.alerts_new == 5
    assert summary.alert_ids == [r["id"] for r in records]
    assert summary.to_dict()["alert_ids"] == [r["id"] for r in records]
    assert summary.tally.levels == Counter(r["level"] for r in records)
    assert {rid: rule["alerts"] for rid, rule in summary.tally.rules.items()} == {
        "r1": 3,
        "r2": 1,
        "r3": 1,
    }
    assert summary.tally.rules["r3"] == {"title": "title of r3", "level": "critical", "alerts": 1}
    assert summary.tally.entities["host.name"] == Counter(web01=4, db01=1)
    assert summary.tally.entities["user.name"] == Counter(user0=3, user1=2)


def _hunt(tmp_path: Path, name: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[Any]]:
    """A hunt of the auth.log fixture in one process: its JSON report (without what differs
    from run to run), every alert as the report gives them, and the timeline rows."""
    from collectors.sources.logs import IngestOptions
    from soc.hunt import timeline
    from soc.hunt.inputs import classify
    from soc.hunt.run import hunt
    from soc.store.local import LocalStore

    store = LocalStore(tmp_path / f"{name}.db")
    try:
        inputs = classify([AUTH], tmp_path / f"{name}-scratch")
        report = hunt(store, inputs, options=IngestOptions(), dead_dir=tmp_path / f"{name}-dead")
        out = report.to_dict()
        for varying in ("seconds", "store", "detection", "files"):
            out.pop(varying)
        alerts = report.all_alerts(store)
        rows = timeline.build(store, alerts)
    finally:
        store.close()
    for alert in alerts:
        alert.pop("created")  # the time of the hunt
    return out, alerts, rows


def test_a_hunt_reports_the_same_whether_its_alerts_were_kept_or_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keeping one alert whole instead of all of them changes nothing the analyst sees: the
    counts, levels, top rules, hosts, users and sources, every alert (read back from the
    store by id) and the timeline built from them."""
    from soc.detect import emit

    kept = _hunt(tmp_path, "all-kept")
    assert kept[0]["alerts"] >= 3 and len(kept[1]) == kept[0]["alerts"]
    monkeypatch.setattr(emit, "KEPT_ALERTS", 1)
    read_back = _hunt(tmp_path, "one-kept")
    assert read_back[0] == kept[0]
    assert sorted(read_back[1], key=lambda a: a["id"]) == sorted(kept[1], key=lambda a: a["id"])
    assert [a["first_seen"] for a in read_back[1]] == sorted(a["first_seen"] for a in kept[1])
    assert read_back[2] == kept[2] and kept[2]
