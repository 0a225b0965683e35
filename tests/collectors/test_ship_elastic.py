"""Shipping into the Elasticsearch store (a real osmem-server): ids are stable, a re-send is
all duplicates, and an unreachable server is a one-line error (exit 2)."""

from __future__ import annotations

import json
import socket

from collector_helpers import FIXTURES, auth_lines, soc

from collectors.ship import DeadLetterFile, Shipper
from collectors.sources.logs import IngestOptions, LogIngestor
from soc.store.elastic import ElasticStore


def test_ingest_into_elasticsearch_twice_stores_once(es_url, tmp_path):
    log = tmp_path / "auth.log"
    log.write_text(auth_lines(0, 300))
    for attempt in range(2):
        store = ElasticStore(es_url)
        shipper = Shipper(store, dead_letters=DeadLetterFile(tmp_path / "dl"), batch_events=100)
        LogIngestor(shipper, IngestOptions()).ingest(str(log))
        shipper.close()
        store.refresh()
        assert store.count() == 300
        stats = shipper.stats
        assert (stats.stored, stats.duplicates) == ((300, 0) if attempt == 0 else (0, 300))
        store.close()


def test_cli_json_into_elasticsearch(es_url, tmp_path):
    proc = soc(
        "--es-url",
        es_url,
        "ingest",
        "logs",
        "--json",
        str(FIXTURES / "auth_sample.log"),
        data_dir=tmp_path / "data",
    )
    result = json.loads(proc.stdout)
    assert proc.returncode == 1 and (result["stored"], result["dead_lettered"]) == (6, 1)


def test_unreachable_elasticsearch_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = soc(
        "--es-url",
        f"http://127.0.0.1:{port}",
        "ingest",
        "logs",
        str(FIXTURES / "auth_sample.log"),
        data_dir=tmp_path / "data",
    )
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err


def test_documents_the_server_refuses_become_dead_letters(es_url, tmp_path):
    store = ElasticStore(es_url)
    shipper = Shipper(store, dead_letters=DeadLetterFile(tmp_path / "dl"))
    stamp = "2026-11-21T01:00:00.000000Z"
    shipper.send(
        {
            "_id": "bad",
            "@timestamp": stamp,
            "source": {"ip": "not-an-ip"},
            "event": {"original": "raw"},
        },
        source="s",
    )
    shipper.send({"_id": "good", "@timestamp": stamp, "source": {"ip": "10.0.0.1"}}, source="s")
    shipper.close()
    store.close()
    assert (shipper.stats.stored, shipper.stats.dead_lettered) == (1, 1)
    (letter,) = [json.loads(line) for p in (tmp_path / "dl").glob("*.ndjson") for line in p.open()]
    assert letter["id"] == "bad" and letter["original"] == "raw"
    assert "source.ip" in letter["reason"]


def test_a_password_in_a_scheme_less_es_url_is_never_echoed(tmp_path):
    proc = soc(
        "--es-url",
        "elastic:s3cret-pw@127.0.0.1:1",
        "ingest",
        "logs",
        str(FIXTURES / "auth_sample.log"),
        data_dir=tmp_path / "data",
    )
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 2 and "s3cret-pw" not in out and "elastic:****@" in out
