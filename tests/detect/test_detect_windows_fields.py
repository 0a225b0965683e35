"""Two SigmaHQ Windows idioms on both stores: the unnamed ``<EventData><Data>`` values are
the ``Data`` field, and ``field: null`` means absent or empty."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from collectors.evtx_ecs import record_to_ecs
from soc.detect.compile import compile_all
from soc.detect.loader import load_text
from soc.detect.rule_cache import target_for
from soc.detect.runner import run_compiled
from soc.store.base import Store

pytest_plugins = ["es_fixtures"]

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def classic_powershell(record_id: int, host_application: str) -> dict[str, Any]:
    """A Windows PowerShell (classic) 400 record as the EVTX parser renders it: three
    unnamed Data values, the last one the engine's key=value text."""
    details = (
        f"\tNewEngineState=Available\r\n\tHostName=ConsoleHost\r\n\tHostVersion=2.0\r\n"
        f"\tEngineVersion=2.0\r\n\tHostApplication={host_application}\r\n"
    )
    record = {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "PowerShell"}},
                "EventID": 400,
                "EventRecordID": record_id,
                "Channel": "Windows PowerShell",
                "Computer": "ws-07.city.lan",
                "TimeCreated": {"#attributes": {"SystemTime": f"2026-11-20T08:00:0{record_id}Z"}},
            },
            "EventData": {"Data": {"#text": ["Available", "None", details]}},
        }
    }
    doc = record_to_ecs(record)
    doc["_id"] = f"ps-{record_id}"
    return doc


DOWNGRADE = """
title: PowerShell downgrade to version 2
id: 2f2b1a11-0000-4000-8000-000000000001
logsource: {product: windows, service: powershell-classic}
detection:
  selection:
    Data|contains|all: ['HostName=ConsoleHost', 'EngineVersion=2.']
  filter_agent:
    Data|contains: 'HostApplication=C:\\Agent\\agent.exe'
  condition: selection and not filter_agent
level: medium
"""


def run(store: Store, rule_text: str, events: list[dict[str, Any]]) -> set[str]:
    """The event ids of the alerts one rule raises over ``events`` on ``store``."""
    assert not store.write_events(events).failures
    store.refresh()
    ruleset = load_text(rule_text)
    assert not ruleset.errors
    summary = run_compiled(
        store, compile_all(ruleset.rules, target_for(store.kind)), None, None, now=NOW
    )
    assert not summary.failed, summary.failed
    return {eid for alert in store.list_records("alerts") for eid in alert["event_ids"]}


def test_unnamed_event_data_is_the_data_field_in_selections_and_filters(any_store: Store) -> None:
    events = [
        classic_powershell(1, "powershell.exe -Version 2 -c whoami"),
        classic_powershell(2, "C:\\Agent\\agent.exe -update"),
    ]
    assert "param3" in events[0]["winlog"]["event_data"]
    # The filter applies: the agent's own start is left out, the attacker's is raised.
    assert run(any_store, DOWNGRADE, events) == {"ps-1"}


def test_a_single_unnamed_data_value_is_the_data_field_too(any_store: Store) -> None:
    event = classic_powershell(3, "powershell.exe -Version 2")
    details = event["winlog"]["event_data"]["param3"]
    event["winlog"]["event_data"] = {"Data": details}
    assert run(any_store, DOWNGRADE, [event]) == {"ps-3"}


START_MODULE_NULL = """
title: Sysmon driver load without start module
id: 2f2b1a11-0000-4000-8000-000000000002
logsource: {product: windows, service: sysmon}
detection:
  selection:
    EventID: 6
    StartModule: null
  condition: selection
level: low
"""


def sysmon_6(event_id: str, data: dict[str, str]) -> dict[str, Any]:
    """A Sysmon event 6 as an ECS document (as Winlogbeat-style shippers store it)."""
    return {
        "_id": event_id,
        "@timestamp": "2026-11-20T08:00:00Z",
        "event": {"dataset": "windows.eventlog", "code": "6"},
        "winlog": {
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "event_id": 6,
            "event_data": {"ImageLoaded": "C:\\Windows\\x.sys", **data},
        },
    }


def test_null_matches_an_empty_value_as_well_as_an_absent_field(any_store: Store) -> None:
    events = [
        sysmon_6("empty", {"StartModule": ""}),
        sysmon_6("absent", {}),
        sysmon_6("set", {"StartModule": "C:\\Windows\\loader.dll"}),
    ]
    assert run(any_store, START_MODULE_NULL, events) == {"empty", "absent"}
