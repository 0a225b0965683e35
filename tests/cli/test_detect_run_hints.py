"""`soc detect run` and `soc detect schedule` as an analyst reads them: an empty window is
explained, every rule that cannot run is named, each cycle logs one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cli_runner import soc

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
AUTH = FIXTURES / "parsers" / "auth.log"
BROKEN = FIXTURES / "detect" / "broken"


def test_an_empty_window_says_where_the_events_are(data_dir: Path, clock_at) -> None:
    clock_at("2027-03-01T00:00:00Z")  # the log's "Nov 21" lines are months old by then
    assert soc("ingest", "logs", str(AUTH), "--json").returncode == 0
    result = soc("detect", "run")
    assert result.returncode == 0, result.stderr
    assert "0 new alerts" in result.stdout
    hint = result.stderr
    assert "the store holds events from 2026-11-21T01:00:01" in hint
    flag = re.search(r"--since (\S+) --until (\S+)", hint)
    assert flag, hint
    rerun = soc("detect", "run", "--since", flag.group(1), "--until", flag.group(2), "--json")
    assert json.loads(rerun.stdout)["alerts_new"] >= 3
    quiet = soc("detect", "run", "--since", flag.group(1), "--until", flag.group(2))
    assert "store holds" not in quiet.stderr  # the window has events: no hint


def test_every_rule_that_cannot_run_is_named(data_dir: Path, tmp_path: Path) -> None:
    result = soc("detect", "run", "--no-pack", "--rules", str(BROKEN))
    assert result.returncode == 1
    broken = sorted(p.name for p in BROKEN.rglob("*.yml"))
    named = [line for line in result.stderr.splitlines() if line.startswith(("invalid", "not "))]
    for name in broken:
        assert any(name in line for line in named), (name, result.stderr)
    out = tmp_path / "problems.txt"
    to_file = soc("detect", "run", "--no-pack", "--rules", str(BROKEN), "--problems", str(out))
    assert f"each with its reason in {out}" in to_file.stderr
    assert len(out.read_text().splitlines()) == len(named)


def test_schedule_logs_one_line_per_cycle_and_a_last_line(data_dir: Path) -> None:
    assert soc("ingest", "logs", str(AUTH), "--json").returncode == 0
    result = soc("detect", "schedule", "--cycles", "2", "--every", "0s", "--lookback", "100000d")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2, result.stdout
    assert re.search(r"cycle 1: \d+ rules, [1-9]\d* new alerts .*s, lag \d+s", lines[0])
    assert "cycle 2: " in lines[1] and " 0 new alerts" in lines[1]
    assert "stopped (cycles done) after 2 cycles" in result.stderr


def test_doctor_shows_the_events_time_span(data_dir: Path) -> None:
    empty = json.loads(soc("doctor", "--json").stdout)
    assert empty["first_event"] is None
    assert soc("ingest", "logs", str(AUTH), "--json").returncode == 0
    info = json.loads(soc("doctor", "--json").stdout)
    assert info["first_event"].endswith("-11-21T01:00:01.000000Z")
    assert info["last_event"].endswith("-11-21T01:00:30.000000Z")
    text = soc("doctor").stdout
    assert "soc detect run --since " in text
