"""`soc events search`: a Sigma detection or a native query, on both stores, in time order."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from cli_runner import soc

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
AUTH = FIXTURES / "parsers" / "auth.log"


@pytest.fixture(params=["local", "elasticsearch"])
def store_args(request: pytest.FixtureRequest, data_dir: Path) -> list[str]:
    """Global options selecting a fresh store holding the auth fixture's 30 events."""
    args = [] if request.param == "local" else ["--es-url", request.getfixturevalue("es_url")]
    assert soc(*args, "ingest", "logs", str(AUTH), "--json").returncode == 0
    return args


def test_sigma_snippet_finds_events_in_time_order(store_args: list[str]) -> None:
    result = soc(*store_args, "events", "search", "event.outcome: failure", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["total"] == out["shown"] > 0
    times = [e["@timestamp"] for e in out["events"]]
    assert times == sorted(times)
    newest = json.loads(
        soc(*store_args, "events", "search", "event.outcome: failure", "--newest", "--json").stdout
    )
    assert [e["@timestamp"] for e in newest["events"]] == sorted(times, reverse=True)


def test_full_detection_with_modifiers_fields_and_limit(store_args: list[str]) -> None:
    detection = "{sel: {user.name|startswith: al}, condition: sel}"
    result = soc(
        *store_args,
        "events", "search", detection, "-F", "user.name", "-F", "source.ip", "--limit", "1",
        "--csv",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 1 and rows[0]["user.name"].lower().startswith("al")
    assert list(rows[0]) == ["@timestamp", "user.name", "source.ip", "_id"]
    table = soc(*store_args, "events", "search", detection, "--limit", "1", "--utc")
    assert table.returncode == 0 and "showing 1 of " in table.stdout


def test_sigma_rule_file(store_args: list[str], tmp_path: Path) -> None:
    rule = tmp_path / "rule.yml"
    rule.write_text(
        "title: t\nlogsource: {product: linux, service: sshd}\n"
        "detection:\n  sel: {source.ip: 10.0.0.5}\n  condition: sel\n",
        encoding="utf-8",
    )
    out = json.loads(soc(*store_args, "events", "search", "--file", str(rule), "--json").stdout)
    assert out["total"] >= 1
    assert all(e["source.ip"] == "10.0.0.5" for e in out["events"])


def test_bad_detection_is_one_line(data_dir: Path) -> None:
    result = soc("events", "search", "sel: [")
    assert result.returncode == 2 and result.stderr.startswith("soc: error: detection: not YAML")
    both = soc("events", "search", "a: b", "--query", "1=1")
    assert both.returncode == 2 and "give one of" in both.stderr


def test_native_query_on_the_local_store(data_dir: Path) -> None:
    assert soc("ingest", "logs", str(AUTH), "--json").returncode == 0
    out = json.loads(soc("events", "search", "--query", "1=1", "--limit", "5", "--json").stdout)
    assert out["total"] == 30 and out["shown"] == 5
