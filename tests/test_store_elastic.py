"""The Elasticsearch store against a real osmem-server process (fixtures es_server/es_url from
tests/es_fixtures.py, registered in tests/conftest.py) and, for failures a healthy server
cannot show, tiny real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from soc import ecs
from soc.config import load_settings
from soc.detect.logsources import keyword_fields
from soc.store.base import QueryError, StoreError, StoreUnavailable
from soc.store.elastic import ElasticStore
from soc.store.es_node import CLIENT_MAJOR, ServerIdentity, plain_mimetype

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def event(i: int, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": ecs.event_id("test-elastic", i),
        "@timestamp": ecs.format_timestamp(T0 + timedelta(seconds=i)),
        "event": {"dataset": "system.auth", "action": "ssh_login", "outcome": "failure"},
        "source": {"ip": f"198.51.100.{i % 7 + 1}", "port": 50000 + i},
        "user": {"name": "root"},
        "host": {"name": "mail-02"},
        "message": f"Failed password for root from 198.51.100.{i % 7 + 1}",
    }
    for path, value in fields.items():
        ecs.set_field(doc, path.replace("__", "."), value)
    return doc


def http_json(url: str) -> Any:
    """GET a URL of the test server in plain JSON (what a person would do with curl)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def store(es_url: str) -> Iterator[ElasticStore]:
    s = ElasticStore(es_url)
    yield s
    s.close()


# --- mapping, indices, alias ---------------------------------------------------------------


def test_template_types_ip_date_numbers_keywords_and_unindexed_original(
    store: ElasticStore, es_url: str
) -> None:
    result = store.write_events([event(1, event__original="<38>raw line")])
    assert result.stored == 1
    mappings = http_json(f"{es_url}/soc-events/_mapping")
    (index_mapping,) = mappings.values()
    props = index_mapping["mappings"]["properties"]
    assert props["source"]["properties"]["ip"]["type"] == "ip"
    assert props["source"]["properties"]["port"]["type"] == "long"
    assert props["@timestamp"]["type"] == "date_nanos"
    user_name = props["user"]["properties"]["name"]
    assert user_name["type"] == "keyword" and user_name["normalizer"]
    assert props["message"]["fields"]["text"]["type"] == "text"
    # event.original is kept (shown to analysts) but not indexed, as ECS advises
    original = props["event"]["properties"]["original"]
    assert original["index"] is False and original["doc_values"] is False
    templates = http_json(f"{es_url}/_index_template/soc-events")["index_templates"]
    assert templates[0]["index_template"]["index_patterns"] == ["soc-events-*"]
    store.refresh()
    (hit,) = store.search().hits
    assert hit.source["event"]["original"] == "<38>raw line"


def test_indices_follow_the_ingest_day_not_the_event_days(
    store: ElasticStore, es_url: str, clock_at: Callable[[str], datetime]
) -> None:
    clock_at("2026-12-01T23:00:00Z")
    # five years of EVTX-like timestamps land in one index: the day they were written
    old = [event(i, **{"@timestamp": f"{2017 + i}-03-0{i + 1}T10:00:00Z"}) for i in range(5)]
    assert store.write_events(old).stored == 5
    assert sorted(http_json(f"{es_url}/_alias/soc-events")) == ["soc-events-2026.12.01"]
    store.refresh()
    at = ecs.parse_timestamp("2019-03-03T10:00:00Z")
    assert store.count(start=at, end=at + timedelta(microseconds=1)) == 1
    # the next day's writes go to the next index; an event shipped again is still a duplicate
    clock_at("2026-12-02T01:00:00Z")
    again = store.write_events([old[0], event(9)])
    assert (again.stored, again.duplicates) == (1, 1)
    assert sorted(http_json(f"{es_url}/_alias/soc-events")) == [
        "soc-events-2026.12.01",
        "soc-events-2026.12.02",
    ]
    store.refresh()
    assert store.count() == 6


def test_index_prefix_separates_stores_on_one_server(
    es_url: str, clock_at: Callable[[str], datetime]
) -> None:
    clock_at("2026-11-20T12:00:00Z")
    city = ElasticStore(es_url, index_prefix="city")
    lab = ElasticStore(es_url, index_prefix="lab")
    try:
        city.write_events([event(i) for i in range(3)])
        lab.write_events([event(i) for i in range(5)])
        city.refresh()
        assert (city.count(), lab.count()) == (3, 5)
        assert "city-events-2026.11.20" in http_json(f"{es_url}/_alias/city-events")
    finally:
        city.close()
        lab.close()


# --- writing ------------------------------------------------------------------------------


def test_rewrite_with_the_same_ids_counts_duplicates(store: ElasticStore) -> None:
    events = [event(i) for i in range(20)]
    assert store.write_events(events).stored == 20
    again = store.write_events([*events[:10], event(20)])
    store.refresh()
    assert (again.stored, again.duplicates, again.failed) == (1, 10, 0)
    assert store.count() == 21


def test_a_malformed_ip_fails_that_event_only(store: ElasticStore) -> None:
    good = [event(i) for i in range(4)]
    bad = event(10, source__ip="not-an-address")
    result = store.write_events([good[0], good[1], bad, good[2], good[3]])
    store.refresh()
    assert result.stored == 4
    assert [f.id for f in result.failures] == [bad["_id"]]
    assert "source.ip" in result.failures[0].reason
    assert "\n" not in result.failures[0].reason
    assert result.failures[0].event is bad
    assert store.count() == 4


def test_events_without_id_or_timestamp_are_refused_before_sending(store: ElasticStore) -> None:
    no_id = event(1)
    del no_id["_id"]
    no_time = event(2)
    del no_time["@timestamp"]
    result = store.write_events([no_id, no_time, event(3)])
    assert result.stored == 1
    assert [f.reason for f in result.failures] == [
        "event has no _id",
        "event has no @timestamp",
    ]


def test_documents_come_back_as_written(store: ElasticStore) -> None:
    original = event(5, labels__department="giao-thong")
    plain = event(6)
    store.write_events([original, plain])
    store.refresh()
    got = store.get_event(plain["_id"])
    assert got == {k: v for k, v in plain.items() if k != "_id"}
    page = store.search(filters={"labels.department": "giao-thong"})
    assert [h.id for h in page.hits] == [original["_id"]]
    assert page.hits[0].source["labels"] == {"department": "giao-thong"}


# --- searching ----------------------------------------------------------------------------


def test_matching_ignores_case_in_lucene_terms_wildcards_and_filters(
    store: ElasticStore,
) -> None:
    store.write_events(
        [event(1, user__name="Administrator"), event(2, user__name="guest"), event(3)]
    )
    store.refresh()
    assert store.count("user.name:administrator") == 1
    assert store.count("user.name:ADMIN*") == 1
    assert store.count('user.name:"ADMINISTRATOR" OR user.name:Guest') == 2
    assert store.count(filters={"user.name": "aDmInIsTrAtOr"}) == 1
    assert store.count(filters={"user.name": ["GUEST", "ROOT"]}) == 2
    assert store.count("source.ip:198.51.100.0\\/24") == 3
    assert store.count("message:*FAILED*") == 3


def test_sigma_keywords_find_the_parsed_message(store: ElasticStore) -> None:
    # event.original is not indexed here, so the Lucene target of the Sigma compiler
    # matches keywords against the message (soc.detect.logsources.keyword_fields)
    assert keyword_fields("lucene") == ["message"]
    raw = "Nov 20 17:00:01 mail-02 sshd[811]: Accepted password for ROOT from 198.51.100.9"
    line = "Accepted password for ROOT from 198.51.100.9"
    store.write_events([event(1, event__original=raw, message=line), event(2)])
    store.refresh()
    assert store.count("message:*accepted\\ password\\ for\\ root*") == 1


def test_pagination_beyond_ten_thousand_hits_newest_first(store: ElasticStore) -> None:
    total = 10_060
    events = [event(i, user__name="svc" if i % 2 else "root") for i in range(total)]
    result = store.write_events(events)
    assert (result.stored, result.failed) == (total, 0)
    store.refresh()
    assert store.count() == total
    seen: list[str] = []
    after = None
    while True:
        page = store.search(ascending=False, size=2_500, after=after)
        seen.extend(h.id for h in page.hits)
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == [e["_id"] for e in reversed(events)]
    svc = store.search(filters={"user.name": "svc"}, size=10_000)
    assert (len(svc.hits), svc.next_after) == (total // 2, None)


def test_microsecond_timestamps_keep_their_order_and_range_bounds(store: ElasticStore) -> None:
    base = "2026-11-20T10:00:00.000"
    events = [event(i, **{"@timestamp": f"{base}{i:03d}Z"}) for i in (900, 5, 400)]
    store.write_events(events)
    store.refresh()
    order = [h.source["@timestamp"][-5:] for h in store.search().hits]
    assert order == ["0005Z", "0400Z", "0900Z"]
    start = ecs.parse_timestamp(f"{base}006Z")
    end = ecs.parse_timestamp(f"{base}900Z")
    assert store.count(start=start, end=end) == 1


def test_a_rejected_query_raises_query_error_with_the_server_reason(
    store: ElasticStore,
) -> None:
    store.write_events([event(1)])
    store.refresh()
    with pytest.raises(QueryError, match=re.escape("user.name:(((")) as caught:
        store.search("user.name:(((")
    assert "\n" not in str(caught.value)
    with pytest.raises(QueryError):
        store.count("source.ip:[1 TO")


def test_searches_before_any_event_exist_find_nothing(store: ElasticStore) -> None:
    assert store.count() == 0
    assert store.search().hits == []
    assert store.terms(["user.name"]) == []
    assert store.date_histogram(60) == []
    assert store.get_event("nothing") is None
    assert store.list_records("alerts") == []
    assert store.get_record("cases", "c1") is None


def test_terms_are_exact_counts_over_many_groups(
    store: ElasticStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # more groups than one composite page holds, so paging must be right
    monkeypatch.setattr("soc.store.es_search.COMPOSITE_PAGE", 400)
    events = [event(i, host__name=f"host-{i % 1500:04d}") for i in range(3_001)]
    store.write_events(events)
    store.refresh()
    top = store.terms(["host.name"], size=3)
    assert [(b.key, b.count) for b in top] == [
        (("host-0000",), 3),
        (("host-0001",), 2),
        (("host-0002",), 2),
    ]
    assert len(store.terms(["host.name"], size=5_000)) == 1500


def test_date_histogram_aligns_odd_intervals_to_the_epoch(store: ElasticStore) -> None:
    moments = ["2026-11-20T10:00:06.5Z", "2026-11-20T10:00:07Z", "2026-11-20T10:00:20.999Z"]
    store.write_events([event(i, **{"@timestamp": m}) for i, m in enumerate(moments)])
    store.refresh()
    # 7-second buckets start at multiples of 7 s since 1970-01-01T00:00:00Z, which puts
    # their edges at ...:02, :09, :16 around 10:00 that day (10:00:00 is 5 s past one)
    rows = store.date_histogram(7)
    assert all(int(start.timestamp()) % 7 == 0 for start, _ in rows)
    assert [(s.strftime("%H:%M:%S"), n) for s, n in rows] == [("10:00:02", 2), ("10:00:16", 1)]


# --- records ------------------------------------------------------------------------------


def test_records_of_any_shape_with_top_level_merge_and_ordering(store: ElasticStore) -> None:
    case = {"id": "c1", "status": "open", "owner": {"name": "lan", "team": "soc"}, "score": 7}
    assert store.put_record("cases", "c1", case)
    merged = store.update_record("cases", "c1", {"owner": {"name": "minh"}, "score": 12.5})
    assert merged["owner"] == {"name": "minh"}  # replaced whole, not deep-merged
    assert store.get_record("cases", "c1") == merged
    store.put_record("cases", "c2", {"id": "c2", "status": "Open", "score": 3})
    store.put_record("cases", "c3", {"id": "c3", "status": "open"})
    # record filters are exact, case included
    assert [r["id"] for r in store.list_records("cases", filters={"status": "open"})] == [
        "c1",
        "c3",
    ]
    by_score = store.list_records("cases", order_by="score")
    assert [r["id"] for r in by_score] == ["c3", "c2", "c1"]  # missing first, numeric order
    by_score_desc = store.list_records("cases", order_by="score", descending=True, limit=2)
    assert [r["id"] for r in by_score_desc] == ["c1", "c2"]
    assert "soc_record_id" not in store.get_record("cases", "c2")


def test_many_records_are_listed_past_one_page(store: ElasticStore) -> None:
    for i in range(30):
        store.upsert_record("audit", f"e{i:03d}", {"n": i})
    assert len(store.list_records("audit")) == 30
    assert [r["n"] for r in store.list_records("audit", order_by="n", limit=3)] == [0, 1, 2]


# --- info and the CLI ---------------------------------------------------------------------


def test_info_names_the_server_and_counts(store: ElasticStore, es_url: str) -> None:
    store.write_events([event(i) for i in range(3)])
    store.refresh()
    info = store.info()
    assert info["store"] == "elasticsearch"
    assert info["url"] == es_url
    assert info["distribution"] == "opensearch"
    assert info["version"]
    assert info["reachable"] is True
    assert (info["events"], info["alerts"]) == (3, 0)


def _soc(env_overrides: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env.update(env_overrides)
    soc = Path(sys.executable).with_name("soc")
    command = [str(soc)] if soc.exists() else [sys.executable, "-m", "soc.cli.main"]
    return subprocess.run(
        [*command, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_soc_doctor_json_reports_the_elasticsearch_store(es_url: str, tmp_path: Path) -> None:
    store = ElasticStore(es_url)
    store.write_events([event(i) for i in range(2)])
    store.refresh()
    store.close()
    run = _soc(
        {"SOC_ELASTICSEARCH_URL": es_url, "SOC_DATA_DIR": str(tmp_path)},
        "doctor",
        "--json",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)
    assert info["store"] == "elasticsearch"
    assert info["reachable"] is True
    assert info["events"] == 2
    assert info["event_indices"] == 1
    assert info["layout"]["shards"] == 1 and info["layout"]["retention_days"] == 90


def test_soc_doctor_with_an_unreachable_url_exits_2_with_one_line(tmp_path: Path) -> None:
    url = f"http://elastic:hunter2@127.0.0.1:{_closed_port()}"
    run = _soc(
        {"SOC_ELASTICSEARCH_URL": url, "SOC_DATA_DIR": str(tmp_path)}, "doctor", cwd=tmp_path
    )
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "127.0.0.1" in lines[0] and "hunter2" not in lines[0]
    assert "Traceback" not in run.stderr


def test_from_settings_reads_the_elasticsearch_settings(
    es_url: str,
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    clock_at: Callable[[str], datetime],
) -> None:
    clock_at("2026-11-20T12:00:00Z")
    monkeypatch.setenv("SOC_ELASTICSEARCH_URL", es_url)
    monkeypatch.setenv("SOC_ELASTICSEARCH_INDEX_PREFIX", "hcmc")
    monkeypatch.setenv("SOC_ELASTICSEARCH_TIMEOUT", "5")
    monkeypatch.setenv("SOC_ELASTICSEARCH_SHARDS", "3")
    monkeypatch.setenv("SOC_ELASTICSEARCH_REPLICAS", "0")
    monkeypatch.setenv("SOC_ELASTICSEARCH_REFRESH_INTERVAL", "30s")
    monkeypatch.setenv("SOC_ELASTICSEARCH_TOTAL_FIELDS_LIMIT", "700")
    store = ElasticStore.from_settings(load_settings())
    try:
        store.write_events([event(1)])
        assert "hcmc-events-2026.11.20" in http_json(f"{es_url}/_alias/hcmc-events")
        index = http_json(f"{es_url}/hcmc-events-2026.11.20/_settings")
        settings = index["hcmc-events-2026.11.20"]["settings"]["index"]
        assert (settings["number_of_shards"], settings["number_of_replicas"]) == ("3", "0")
        assert settings["refresh_interval"] == "30s"
        assert settings["mapping"]["total_fields"]["limit"] == "700"
    finally:
        store.close()


# --- failures a healthy server cannot show -------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_url_is_one_line_naming_it(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(StoreUnavailable) as caught:
        ElasticStore(url, timeout=3)
    message = str(caught.value)
    assert url in message and "cannot connect" in message
    assert "\n" not in message


@pytest.mark.parametrize("url", ["localhost:9200", "ftp://es.local:21", "http://es.local:99999"])
def test_a_malformed_url_is_one_line_naming_it(url: str) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        ElasticStore(url)
    assert str(caught.value).startswith(f"Elasticsearch at {url}: ")
    assert "\n" not in str(caught.value)


def test_an_https_url_on_a_plain_http_port_is_a_tls_failure(es_url: str) -> None:
    url = es_url.replace("http://", "https://")
    with pytest.raises(StoreUnavailable) as caught:
        ElasticStore(url, timeout=5)
    message = str(caught.value)
    assert url in message and "TLS" in message
    assert "\n" not in message


ROOT_BODY = {
    "name": "stub",
    "cluster_name": "stub-cluster",
    "version": {"number": f"{CLIENT_MAJOR}.1.0", "build_flavor": "default"},
    "tagline": "You Know, for Search",
}


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class StubServer:
    """A real HTTP server on 127.0.0.1 whose answers a test scripts: respond(method, path)
    returns (status, json body)."""

    respond: Callable[[str, str], tuple[int, Any]]
    tls: ssl.SSLContext | None = None
    product_header: bool = True  # Elasticsearch sends X-Elastic-Product, OpenSearch does not
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                stub.seen.append(
                    Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                )
                status, body = stub.respond(self.command, self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if stub.product_header:
                    self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_HEAD = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self.httpd.socket = self.tls.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stub_factory() -> Iterator[Callable[..., StubServer]]:
    servers: list[StubServer] = []

    def make(respond: Callable[[str, str], tuple[int, Any]], **kw: Any) -> StubServer:
        server = StubServer(respond, **kw)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def test_wrong_credentials_are_one_line_with_the_password_masked(
    stub_factory: Callable[..., StubServer],
) -> None:
    refusal = {
        "error": {"type": "security_exception", "reason": "unable to authenticate user [soc]"},
        "status": 401,
    }
    stub = stub_factory(lambda method, path: (401, refusal))
    url = stub.url.replace("http://", "http://soc:wrong-pass@")
    with pytest.raises(StoreUnavailable) as caught:
        ElasticStore(url)
    message = str(caught.value)
    assert "401" in message and "unable to authenticate user" in message
    assert "soc:****@127.0.0.1" in message and "wrong-pass" not in message
    assert all(seen.headers["authorization"].startswith("Basic ") for seen in stub.seen)


def test_a_forbidden_api_key_is_one_line(stub_factory: Callable[..., StubServer]) -> None:
    refusal = {"error": {"type": "security_exception", "reason": "action denied"}, "status": 403}
    stub = stub_factory(lambda method, path: (403, refusal))
    # the base64 form and the "id:key" form send the same header
    for api_key in ("c29jOnNlY3JldA==", "soc:secret"):
        with pytest.raises(StoreUnavailable, match=r"403.*action denied"):
            ElasticStore(stub.url, api_key=api_key)
        assert stub.seen[-1].headers["authorization"] == "ApiKey c29jOnNlY3JldA=="


def test_a_secured_opensearch_is_probed_with_the_credentials(
    stub_factory: Callable[..., StubServer],
) -> None:
    def respond(method: str, path: str) -> tuple[int, Any]:
        if path == "/":
            return 200, _root("opensearch", "2.19.1")
        return 200, {"count": 3}

    stub = stub_factory(respond, product_header=False)
    store = ElasticStore(stub.url, username="soc", password="s3cret")
    assert store.count() == 3
    assert [s.path for s in stub.seen][:2] == ["/", "/"]  # the probe, then the client's GET /
    assert all(s.headers["authorization"].startswith("Basic ") for s in stub.seen)
    assert {s.headers["accept"] for s in stub.seen} == {"application/json"}


def test_elasticsearch_of_the_client_major_gets_vendor_json_others_plain() -> None:
    vendor = f"application/vnd.elasticsearch+x-ndjson; compatible-with={CLIENT_MAJOR}"
    assert plain_mimetype(vendor) == "application/x-ndjson"
    assert not ServerIdentity("elasticsearch", f"{CLIENT_MAJOR}.0.1", "c").needs_plain_json
    assert ServerIdentity("elasticsearch", f"{CLIENT_MAJOR - 1}.17.0", "c").needs_plain_json
    assert ServerIdentity("opensearch", "2.19.0", "c").needs_plain_json


def test_server_overload_is_retried_then_reported(
    stub_factory: Callable[..., StubServer],
) -> None:
    counts = {"n": 0}

    def respond(method: str, path: str) -> tuple[int, Any]:
        if path == "/":
            return 200, ROOT_BODY
        counts["n"] += 1
        if path.startswith("/soc-events/_count") and counts["n"] <= 2:
            return 429, {"error": {"type": "es_rejected_execution_exception", "reason": "busy"}}
        if path.startswith("/soc-events/_count"):
            return 200, {"count": 42}
        return 503, {"error": {"type": "unavailable", "reason": "no master"}, "status": 503}

    stub = stub_factory(respond)
    store = ElasticStore(stub.url, retry_base_seconds=0.01)
    assert store.count() == 42
    assert counts["n"] == 3
    vendor = [s for s in stub.seen if "compatible-with" in s.headers.get("accept", "")]
    assert vendor, "an Elasticsearch server of the client's major gets the vendor media type"
    with pytest.raises(StoreError, match=r"after 4 attempts.*503.*no master"):
        store.refresh()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed; cannot make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_with_a_ca_file_and_without_it(
    tmp_path: Path, stub_factory: Callable[..., StubServer]
) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    stub = stub_factory(lambda method, path: (200, ROOT_BODY), tls=context)
    trusted = ElasticStore(stub.url, ca_file=str(cert))
    assert trusted.identity.cluster_name == "stub-cluster"
    trusted.close()
    with pytest.raises(StoreUnavailable, match=r"TLS failure.*(certificate|CERTIFICATE)"):
        ElasticStore(stub.url)
    with pytest.raises(StoreUnavailable, match=r"CA file .*missing.pem is not a readable file"):
        ElasticStore(stub.url, ca_file=str(tmp_path / "missing.pem"))
    unverified = ElasticStore(stub.url, verify_certs=False)
    assert unverified.identity.version.startswith(str(CLIENT_MAJOR))
    unverified.close()


def test_servers_without_composable_templates_get_a_legacy_template(
    stub_factory: Callable[..., StubServer],
) -> None:
    created = {"items": [{"create": {"_id": event(1)["_id"], "status": 201}}], "errors": False}

    def respond(method: str, path: str) -> tuple[int, Any]:
        if path == "/":
            return 200, ROOT_BODY
        if path.startswith("/_index_template"):
            return 400, {"error": "no handler found for uri [/_index_template/soc-events]"}
        if path.startswith("/_template/soc-events"):
            return 200, {"acknowledged": True}
        if path.startswith("/_bulk"):
            return 200, created
        return 404, {"error": {"type": "not_found", "reason": path}}

    stub = stub_factory(respond)
    store = ElasticStore(stub.url)
    assert store.write_events([event(1)]).stored == 1
    installs = [s.path for s in stub.seen if s.method == "PUT" and "template" in s.path]
    assert installs == ["/_template/soc-events"]


def test_an_older_template_version_is_replaced(store: ElasticStore, es_url: str) -> None:
    old = {"index_patterns": ["soc-events-*"], "version": 0, "template": {}}
    request = urllib.request.Request(
        f"{es_url}/_index_template/soc-events",
        data=json.dumps(old).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()
    store.write_events([event(1)])
    (template,) = http_json(f"{es_url}/_index_template/soc-events")["index_templates"]
    assert template["index_template"]["version"] >= 1
    mapping = http_json(f"{es_url}/soc-events/_mapping")
    (index_mapping,) = mapping.values()
    assert index_mapping["mappings"]["properties"]["source"]["properties"]["ip"]["type"] == "ip"


def _root(distribution: str, number: str) -> dict[str, Any]:
    return {**ROOT_BODY, "version": {"number": number, "distribution": distribution}}


@pytest.mark.parametrize(
    ("distribution", "number", "product_header"),
    [("elasticsearch", "8.15.3", True), ("opensearch", "2.19.1", False)],
)
def test_other_servers_get_plain_json_and_opensearch_passes_the_product_check(
    stub_factory: Callable[..., StubServer], distribution: str, number: str, product_header: bool
) -> None:
    def respond(method: str, path: str) -> tuple[int, Any]:
        if path == "/":
            return 200, _root(distribution, number)
        return 200, {"count": 5}

    stub = stub_factory(respond, product_header=product_header)
    store = ElasticStore(stub.url)
    assert (store.identity.distribution, store.identity.version) == (distribution, number)
    assert store.count() == 5
    accepts = {s.headers.get("accept") for s in stub.seen}
    assert accepts == {"application/json"}
    bodies = {s.headers.get("content-type") for s in stub.seen if s.method == "POST"}
    assert bodies == {"application/json"}


def test_events_refused_with_429_are_sent_again(
    stub_factory: Callable[..., StubServer],
) -> None:
    first, second = event(1), event(2)
    answers = [
        [
            {"create": {"_id": first["_id"], "status": 201}},
            {"create": {"_id": second["_id"], "status": 429, "error": {"reason": "busy"}}},
        ],
        [{"create": {"_id": second["_id"], "status": 409}}],
    ]

    def respond(method: str, path: str) -> tuple[int, Any]:
        if path == "/":
            return 200, ROOT_BODY
        if path.startswith("/_index_template"):
            return 200, {"index_templates": [{"index_template": {"version": 10**6}}]}
        if path.startswith("/_bulk"):
            return 200, {"errors": True, "items": answers.pop(0)}
        return 404, {"error": {"type": "not_found", "reason": path}}

    stub = stub_factory(respond)
    store = ElasticStore(stub.url, retry_base_seconds=0.01)
    result = store.write_events([first, second])
    assert (result.stored, result.duplicates, result.failed) == (1, 1, 0)
    assert len([s for s in stub.seen if s.path.startswith("/_bulk")]) == 2


def test_a_server_that_does_not_answer_in_time_is_one_line(
    stub_factory: Callable[..., StubServer],
) -> None:
    def respond(method: str, path: str) -> tuple[int, Any]:
        time.sleep(1.5)
        return 200, ROOT_BODY

    stub = stub_factory(respond)
    with pytest.raises(StoreUnavailable, match=r"no answer within the timeout") as caught:
        ElasticStore(stub.url, timeout=0.3)
    assert str(caught.value).startswith(f"Elasticsearch at {stub.url}: ")


def test_an_answer_that_is_not_a_cluster_is_one_line(
    stub_factory: Callable[..., StubServer],
) -> None:
    stub = stub_factory(lambda method, path: (200, {"hello": "world"}))
    with pytest.raises(StoreUnavailable, match=r"not a cluster"):
        ElasticStore(stub.url)
