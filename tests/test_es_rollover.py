"""The opt-in rollover layout of the Elasticsearch store (``elasticsearch.rollover``).

osmem-server has no ``_rollover``: against it the store falls back to ingest-day indices with
one warning. The requests of the rollover layout are checked through a recorder: a proxy on
127.0.0.1 in front of osmem that records every request and answers ``_rollover`` itself (a
real rollover done on osmem with ordinary index and alias requests)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from soc import ecs
from soc.config import Settings
from soc.store.elastic import ElasticStore
from soc.store.es_layout import ilm_policy, ism_policy, prune
from soc.store.es_rollover import parse_rollover
from soc.store.es_template import IndexLayout, composable_template

CONDITIONS = {"max_age": "1d", "max_docs": 1000, "max_primary_shard_size": "50gb"}


def http(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class RolloverRecorder:
    """Forwards requests to osmem and records them as (method, path, body); answers
    ``POST <alias>/_rollover`` itself as Elasticsearch does: a 400 "rollover target [...]
    does not exist" while the alias is missing, a dry run with ``rolled_over: false``, a
    real one by making the next index the alias's write index when ``roll`` is set."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[tuple[str, str, Any]] = []
        self.roll = False
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, payload: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else None
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace") if raw else None  # a bulk's NDJSON
                with recorder.lock:
                    recorder.requests.append((self.command, self.path, body))
                rolled = re.match(r"^/([^/?]+)/_rollover(\?.*)?$", self.path)
                if self.command == "POST" and rolled:
                    status, answer = recorder.rollover(rolled[1], "dry_run=true" in self.path, body)
                    self.reply(status, json.dumps(answer).encode(), "application/json")
                    return
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in {"content-type", "accept", "authorization"}
                }
                request = urllib.request.Request(
                    recorder.upstream + self.path, data=raw, method=self.command, headers=headers
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        status, payload = answer.status, answer.read()
                        kind = answer.headers.get("Content-Type", "application/json")
                except urllib.error.HTTPError as exc:
                    status, payload = exc.code, exc.read()
                    kind = exc.headers.get("Content-Type", "application/json")
                self.reply(status, payload, kind)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def rollover(self, alias: str, dry_run: bool, body: Any) -> tuple[int, dict[str, Any]]:
        status, answer = http(f"{self.upstream}/_alias/{alias}")
        if status != 200 or not answer:
            # what Elasticsearch answers for a rollover target that does not exist
            reason = f"rollover target [{alias}] does not exist"
            error = {"type": "illegal_argument_exception", "reason": reason}
            return 400, {"error": {**error, "root_cause": [error]}, "status": 400}
        old = sorted(answer)[-1]
        number = re.search(r"(\d{6})$", old)
        assert number is not None
        new = f"{old[: number.start()]}{int(number[1]) + 1:06d}"
        conditions = (body or {}).get("conditions", {})
        result = {
            "acknowledged": not dry_run and self.roll,
            "old_index": old,
            "new_index": new,
            "dry_run": dry_run,
            "rolled_over": False,
            "conditions": {f"[{k}: {v}]": self.roll for k, v in conditions.items()},
        }
        if dry_run or not self.roll:
            return 200, result
        # as Elasticsearch does: the old index stays in the alias, no longer the write index
        http(
            f"{self.upstream}/_aliases",
            "POST",
            {"actions": [{"add": {"index": old, "alias": alias, "is_write_index": False}}]},
        )
        http(f"{self.upstream}/{new}", "PUT", {"aliases": {alias: {"is_write_index": True}}})
        self.roll = False
        return 200, {**result, "rolled_over": True}

    def paths(self, pattern: str) -> list[tuple[str, str, Any]]:
        """The recorded requests whose "METHOD path" matches ``pattern``."""
        return [r for r in self.requests if re.search(pattern, f"{r[0]} {r[1]}")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder(es_url: str) -> Iterator[RolloverRecorder]:
    r = RolloverRecorder(es_url)
    yield r
    r.close()


def rollover_layout(**extra: Any) -> IndexLayout:
    conditions, check = parse_rollover({**CONDITIONS, **extra})
    return IndexLayout(rollover=conditions, rollover_check_seconds=check)


def event(i: int) -> dict[str, Any]:
    return {
        "_id": ecs.event_id("test-es-rollover", i),
        "@timestamp": f"2026-12-01T09:{i % 60:02d}:00Z",
        "event": {"dataset": "system.auth", "outcome": "failure"},
        "user": {"name": "root"},
        "message": "Failed password for root",
    }


def test_rollover_setting_is_validated_with_the_setting_named() -> None:
    conditions, check = parse_rollover({**CONDITIONS, "check_every": "10m"})
    assert dict(conditions) == CONDITIONS and check == 600
    assert parse_rollover("max_age=7d,max_docs=5")[0] == (("max_age", "7d"), ("max_docs", 5))
    assert parse_rollover(None)[0] == ()
    for bad, said in [
        ({"max_foo": "1"}, "unknown condition 'max_foo'"),
        ({"max_docs": "many"}, "max_docs: not a positive count"),
        ({"max_primary_shard_size": "big"}, "not a size like 50gb"),
        ({"max_age": "soon"}, "max_age: not a duration"),
        ({"check_every": "5m"}, "no rollover condition"),
        ("max_age", "key=value"),
        ([1], "expected a mapping"),
    ]:
        with pytest.raises(ValueError, match=re.escape(said)) as caught:
            parse_rollover(bad)
        assert str(caught.value).startswith("elasticsearch.rollover: ")
    layout = IndexLayout.from_settings(Settings(values={"elasticsearch.rollover": CONDITIONS}))
    assert dict(layout.rollover) == CONDITIONS and layout.rollover_check_seconds == 300
    assert IndexLayout.from_settings(Settings(values={})).rollover == ()


def test_a_bad_rollover_setting_is_one_line_naming_it(es_url: str, tmp_path: Path) -> None:
    (tmp_path / "soc.yaml").write_text(
        "elasticsearch:\n  rollover:\n    max_primary_shard_size: huge\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env.update({"SOC_ELASTICSEARCH_URL": es_url, "SOC_DATA_DIR": str(tmp_path)})
    exe = Path(sys.executable).with_name("soc")
    run = subprocess.run(
        [str(exe), "doctor"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode != 0
    assert "elasticsearch.rollover: max_primary_shard_size" in run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_without_rollover_on_the_server_events_go_to_ingest_day_indices_warned_once(
    es_url: str, clock_at: Callable[[str], datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    clock_at("2026-12-01T10:00:00Z")
    store = ElasticStore(es_url, layout=rollover_layout())
    try:
        assert store.write_events([event(1)]).stored == 1
        clock_at("2026-12-02T10:00:00Z")
        assert store.write_events([event(2)]).stored == 1
        assert store.write_events([event(1)]).duplicates == 1
        store.refresh()
        assert store.count() == 2
        assert len(store.warnings) == 1 and "no _rollover" in store.warnings[0]
        assert capsys.readouterr().err.count("no _rollover") == 1
        # asked once (a dry run), never again; no write alias, no numbered index made
        assert len(store.request_log.matching(r"_rollover")) == 1
        assert sorted(http(f"{es_url}/_alias/soc-events")[1]) == [
            "soc-events-2026.12.01",
            "soc-events-2026.12.02",
        ]
        assert http(f"{es_url}/_alias/soc-events-write")[0] == 404
    finally:
        store.close()


def test_the_store_sends_the_documented_rollover_requests_in_order(
    recorder: RolloverRecorder, es_url: str, clock_at: Callable[[str], datetime]
) -> None:
    start = clock_at("2026-12-01T10:00:00Z")
    store = ElasticStore(recorder.url, layout=rollover_layout())
    try:
        assert store.write_events([event(1), event(2)]).stored == 2
        steps = recorder.paths(r"_rollover|_alias/soc-events-write|PUT /soc-events-0|_bulk")
        assert [(m if p != "/_bulk" else "bulk", p) for m, p, _ in steps] == [
            ("POST", "/soc-events-write/_rollover?dry_run=true"),
            ("GET", "/_alias/soc-events-write"),
            ("PUT", "/soc-events-000001"),
            ("bulk", "/_bulk"),
        ]
        assert steps[0][2] == {"conditions": CONDITIONS}
        assert steps[2][2] == {
            "aliases": {"soc-events-write": {"is_write_index": True}, "soc-events": {}}
        }
        assert steps[3][2].count('{"create":{"_index":"soc-events-write"') == 2
        assert http(f"{es_url}/soc-events-000001/_alias")[1]["soc-events-000001"]["aliases"] == {
            "soc-events": {},
            "soc-events-write": {"is_write_index": True},
        }
        # within the check period: no rollover request
        recorder.requests.clear()
        clock_at((start + timedelta(minutes=2)).isoformat())
        store.write_events([event(3)])
        assert not recorder.paths(r"_rollover")
        # after it: one rollover with the configured conditions; the server rolls over
        recorder.roll = True
        clock_at((start + timedelta(minutes=6)).isoformat())
        assert store.write_events([event(4)]).stored == 1
        rolls = recorder.paths(r"_rollover")
        assert rolls == [("POST", "/soc-events-write/_rollover", {"conditions": CONDITIONS})]
        store.refresh()
        # the event after the rollover is in the new index, which carries the read alias
        _, where = http(
            f"{es_url}/soc-events/_search",
            "POST",
            {"query": {"ids": {"values": [event(4)["_id"], event(1)["_id"]]}}, "size": 10},
        )
        assert {h["_id"]: h["_index"] for h in where["hits"]["hits"]} == {
            event(1)["_id"]: "soc-events-000001",
            event(4)["_id"]: "soc-events-000002",
        }
        # an event stored before the rollover is a duplicate, found across the indices
        again = store.write_events([event(1), event(5)])
        assert (again.stored, again.duplicates) == (1, 1)
        store.refresh()
        assert store.count() == 5
    finally:
        store.close()


def test_prune_takes_rollover_indices_by_the_creation_of_their_successor(
    recorder: RolloverRecorder, es_url: str, clock_at: Callable[[str], datetime]
) -> None:
    start = clock_at("2026-12-01T10:00:00Z")
    store = ElasticStore(recorder.url, layout=rollover_layout())
    try:
        store.write_events([event(1)])
        recorder.roll = True
        clock_at((start + timedelta(hours=1)).isoformat())
        store.write_events([event(2)])
        assert sorted(http(f"{es_url}/_alias/soc-events")[1]) == [
            "soc-events-000001",
            "soc-events-000002",
        ]
        # creation dates are the server's: a cutoff long before them keeps both indices,
        # one long after takes the rolled-over index and never the write index
        clock_at("2000-01-01T00:00:00Z")
        assert prune(store, timedelta(days=90), dry_run=True) == []
        clock_at("2100-01-01T00:00:00Z")
        assert prune(store, timedelta(days=90), dry_run=True) == ["soc-events-000001"]
        assert prune(store, timedelta(days=90)) == ["soc-events-000001"]
        assert sorted(http(f"{es_url}/_alias/soc-events")[1]) == ["soc-events-000002"]
    finally:
        store.close()


def test_migrate_moves_an_ingest_day_store_to_the_rollover_layout(
    recorder: RolloverRecorder, es_url: str, tmp_path: Path, clock_at: Callable[[str], datetime]
) -> None:
    clock_at("2026-12-01T10:00:00Z")
    plain = ElasticStore(es_url)
    plain.write_events([event(1)])
    plain.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env.update(
        {
            "SOC_ELASTICSEARCH_URL": recorder.url,
            "SOC_DATA_DIR": str(tmp_path),
            "SOC_ELASTICSEARCH_ROLLOVER": "max_primary_shard_size=50gb,max_age=1d",
            "SOC_CLOCK": os.environ["SOC_CLOCK"],
        }
    )
    exe = Path(sys.executable).with_name("soc")
    run = subprocess.run(
        [str(exe), "store", "migrate", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["write_index"] == "soc-events-000001"
    assert sorted(http(f"{es_url}/_alias/soc-events")[1]) == [
        "soc-events-000001",
        "soc-events-2026.12.01",
    ]
    assert list(http(f"{es_url}/_alias/soc-events-write")[1]) == ["soc-events-000001"]
    assert [p for _, p, _ in recorder.paths(r"_rollover")] == [
        "/soc-events-write/_rollover?dry_run=true"
    ]
    # a store with the setting now writes through the write alias; the old day is still read
    store = ElasticStore(recorder.url, layout=rollover_layout())
    try:
        assert store.write_events([event(1), event(2)]).duplicates == 1
        store.refresh()
        assert store.count() == 2
        assert http(f"{es_url}/soc-events-000001/_count")[1]["count"] == 1
    finally:
        store.close()


def test_lifecycle_policies_roll_over_and_the_template_names_the_write_alias() -> None:
    layout = IndexLayout(lifecycle="ilm", rollover=parse_rollover(CONDITIONS)[0])
    assert ilm_policy(30, CONDITIONS)["policy"]["phases"]["hot"]["actions"] == {
        "rollover": CONDITIONS
    }
    hot = ism_policy("soc", 30, CONDITIONS)["policy"]["states"][0]
    assert hot["actions"] == [
        {
            "rollover": {
                "min_index_age": "1d",
                "min_doc_count": 1000,
                "min_primary_shard_size": "50gb",
            }
        }
    ]
    settings = composable_template("soc", layout)["template"]["settings"]["index"]
    assert settings["lifecycle"] == {"name": "soc-events", "rollover_alias": "soc-events-write"}
    ism = IndexLayout(lifecycle="ism", rollover=layout.rollover)
    body = composable_template("soc", ism)["template"]["settings"]
    assert body["plugins"]["index_state_management"]["rollover_alias"] == "soc-events-write"
    assert ilm_policy(30)["policy"]["phases"]["hot"]["actions"] == {}


def test_under_a_lifecycle_policy_the_store_leaves_rolling_over_to_the_server(
    recorder: RolloverRecorder, es_url: str, clock_at: Callable[[str], datetime]
) -> None:
    start = clock_at("2026-12-01T10:00:00Z")
    conditions, _ = parse_rollover(CONDITIONS)
    store = ElasticStore(recorder.url, layout=IndexLayout(lifecycle="ism", rollover=conditions))
    try:
        store.write_events([event(1)])
        # the server (its ISM policy) rolls over; the store follows the write alias
        recorder.roll = True
        recorder.rollover("soc-events-write", False, {"conditions": CONDITIONS})
        recorder.requests.clear()
        clock_at((start + timedelta(minutes=10)).isoformat())
        assert store.write_events([event(2)]).stored == 1
        assert not recorder.paths(r"_rollover")
        assert recorder.paths(r"GET /_alias/soc-events-write")
        again = store.write_events([event(1)])
        assert (again.stored, again.duplicates) == (0, 1)
        assert http(f"{es_url}/soc-events-000002/_count")[1]["count"] == 1
    finally:
        store.close()


def test_a_second_store_follows_the_write_alias_the_first_made(
    recorder: RolloverRecorder, es_url: str, clock_at: Callable[[str], datetime]
) -> None:
    clock_at("2026-12-01T10:00:00Z")
    first = ElasticStore(recorder.url, layout=rollover_layout())
    second = ElasticStore(recorder.url, layout=rollover_layout())
    try:
        first.write_events([event(1)])
        recorder.requests.clear()
        assert second.write_events([event(1), event(2)]).duplicates == 1
        assert not recorder.paths(r"PUT /soc-events-0")
        assert sorted(http(f"{es_url}/_alias/soc-events")[1]) == ["soc-events-000001"]
        assert http(f"{es_url}/soc-events-000001/_count")[1]["count"] == 2
    finally:
        first.close()
        second.close()
