"""`soc hunt`: a bundle of files of any kind, nothing configured, detection over the data's
own span, a summary, a timeline."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from cli_runner import soc

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
AUTH = FIXTURES / "parsers" / "auth.log"


def test_hunt_finds_old_evidence_without_any_window(data_dir: Path, tmp_path: Path) -> None:
    """Old logs are judged over their own span: `soc ingest && soc detect run` found nothing
    in the last 24 h, hunt finds the alerts; the configured data directory stays untouched."""
    out = tmp_path / "timeline.csv"
    result = soc("hunt", str(AUTH), "--timeline", str(out), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["events"] == 30
    assert report["first_event"].endswith("-11-21T01:00:01.000000Z")
    assert report["alerts"] >= 3
    assert set(report["levels"]) <= {"critical", "high", "medium", "low", "informational"}
    assert sum(report["levels"].values()) == report["alerts"]
    assert report["files"][0]["format"] == "auth"
    assert report["top_hosts"][0][0] == "web01"
    assert list(data_dir.iterdir()) == []  # a scratch store: nothing kept
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows and {"message", "datetime", "timestamp_desc", "rule", "level", "host"} <= set(
        rows[0]
    )
    assert [r["datetime"] for r in rows] == sorted(r["datetime"] for r in rows)
    assert all(r["message"] and r["rule"] for r in rows)
    assert int(rows[0]["timestamp"]) > 0


def test_hunt_summary_for_people(data_dir: Path) -> None:
    result = soc("hunt", str(AUTH), "--lang", "en", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "Hunt: 1 file, 30 events from " in text
    assert "Top rules" in text and "Files (1)" in text
    assert " rules run in " in text
    assert "+07:00" in text  # the configured zone (default Asia/Ho_Chi_Minh)
    assert ".000000" not in text
    utc = soc("hunt", str(AUTH), "--utc").stdout
    assert "01:00:01Z" in utc  # 08:00:01 at +07:00


def test_hunt_keep_store(data_dir: Path, tmp_path: Path) -> None:
    keep = tmp_path / "case-42"
    result = soc("hunt", str(AUTH), "--keep", str(keep), "--json")
    assert result.returncode == 0, result.stderr
    listed = soc("--data-dir", str(keep), "alerts", "list", "--json")
    assert len(json.loads(listed.stdout)) == json.loads(result.stdout)["alerts"]


def test_only_a_kept_hunt_store_waits_for_the_disk_and_keeps_the_pivot_indexes(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scratch store of a hunt is deleted with it, so it is opened not durable (no
    waiting for the disk) and without the indexes only later searches would use; one kept
    with --keep is durable and fully indexed, as any store."""
    import sqlite3

    from typer.testing import CliRunner

    from soc.cli.main import app
    from soc.store import local
    from soc.store.local_schema import PIVOT_INDEXES

    opened: list[bool] = []
    indexes: list[set[str]] = []

    class Recording(local.LocalStore):
        def __init__(self, path: Path | str, *, durable: bool = True) -> None:
            opened.append(durable)
            super().__init__(path, durable=durable)

        def close(self) -> None:
            try:
                rows = self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
                indexes.append({row[0] for row in rows})
            except sqlite3.ProgrammingError:  # closed already
                pass
            super().close()

    monkeypatch.setattr(local, "LocalStore", Recording)
    runner = CliRunner()
    env = {"SOC_WORKERS": "1"}
    scratch = runner.invoke(app, ["hunt", str(AUTH), "--json"], env=env)
    assert scratch.exit_code == 0, scratch.output
    assert opened == [False]
    detection = {"events_ts", "events_f0", "events_w0", "events_w1"}
    assert detection <= indexes[0] and not indexes[0] & set(PIVOT_INDEXES)
    kept = runner.invoke(app, ["hunt", str(AUTH), "--keep", str(tmp_path / "k"), "--json"], env=env)
    assert kept.exit_code == 0, kept.output
    assert opened == [False, True]
    assert detection | set(PIVOT_INDEXES) <= indexes[1]
    assert json.loads(kept.stdout)["alerts"] == json.loads(scratch.stdout)["alerts"] > 0


def test_hunt_kinds_by_content_archives_and_what_was_not_parsed(
    data_dir: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    with zipfile.ZipFile(bundle / "logs.bin", "w") as archive:  # a zip by content only
        archive.write(AUTH, "var/log/auth.log")
    with gzip.open(bundle / "auth.1.gz", "wb") as gz:
        gz.write(AUTH.read_bytes())
    (bundle / "empty.evtx").write_bytes(b"")
    (bundle / "blob.dat").write_bytes(bytes(range(256)) * 8)
    result = soc("hunt", str(bundle), "--json")
    assert result.returncode == 1, result.stderr  # something was not parsed
    report = json.loads(result.stdout)
    files = {f["file"]: f for f in report["files"]}
    assert files["bundle/logs.bin!var/log/auth.log"]["format"] == "auth"
    assert files["bundle/logs.bin!var/log/auth.log"]["events"] == 30
    assert files["bundle/auth.1.gz"]["events"] == 30
    assert report["events"] == 60  # the same lines twice (gz copy): deterministic ids
    not_parsed = {row["file"]: row for row in report["not_parsed"]}
    assert "empty file" in not_parsed["bundle/empty.evtx"]["reasons"]
    assert "unknown format" in not_parsed["bundle/blob.dat"]["reasons"]
    text = soc("hunt", str(bundle), "--lang", "en").stderr
    assert "not parsed: bundle/empty.evtx: empty file" in text
    assert "không đọc được: bundle/empty.evtx: empty file" in soc("hunt", str(bundle)).stderr


def test_hunt_missing_path_is_one_line(data_dir: Path, tmp_path: Path) -> None:
    result = soc("hunt", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert result.stderr.strip().endswith("nope: no such file or directory")
    bad = soc("hunt", str(AUTH), "--timeline", str(tmp_path / "t.xlsx"))
    assert bad.returncode == 2 and ".csv or .jsonl" in bad.stderr


@pytest.mark.conformance
def test_hunt_mixed_corpus_bundle(data_dir: Path, corpus_dir: Path, tmp_path: Path) -> None:
    """auth.log, an EVTX folder and a pcap, nothing configured: summary and timeline."""
    evtx = next(corpus_dir.joinpath("evtx").rglob("T1558*"))
    pcap = next(corpus_dir.joinpath("pcap").rglob("socks-with-ssl.pcap"))
    renamed = tmp_path / "exported.txt"  # EVTX under a misleading name
    shutil.copy(next(evtx.rglob("*.evtx")), renamed)
    out = tmp_path / "timeline.jsonl"
    result = soc(
        "hunt",
        str(corpus_dir / "logs" / "auth.log"),
        str(evtx),
        str(pcap),
        str(renamed),
        "--timeline",
        str(out),
        "--json",
    )
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    kinds = {f["file"]: f["format"] for f in report["files"]}
    assert kinds[str(corpus_dir / "logs" / "auth.log")] == "auth"
    assert kinds[str(pcap)] == "pcap"
    assert kinds[str(renamed)] == "evtx"
    assert report["alerts"] > 50
    assert report["first_event"] < report["last_event"]
    assert any("Kerberos" in r["title"] for r in report["top_rules"])
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == report["timeline"]["rows"] > 0
    assert [r["datetime"] for r in lines] == sorted(r["datetime"] for r in lines)
    assert not any(r["message"].startswith("{") for r in lines)  # EVTX rows are readable


def test_hunt_into_the_configured_elasticsearch_store(data_dir: Path, es_url: str) -> None:
    result = soc("--es-url", es_url, "hunt", str(AUTH), "--into-store", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["events"] == 30 and report["alerts"] >= 3
    listed = soc("--es-url", es_url, "alerts", "list", "--json")
    assert len(json.loads(listed.stdout)) == report["alerts"]


@pytest.mark.conformance
def test_hunt_the_whole_evtx_corpus(data_dir: Path, corpus_dir: Path, tmp_path: Path) -> None:
    """`soc hunt ../shared/corpus/evtx`: every EVTX read, the notes beside them reported as
    not parsed, alerts summed up, a CSV timeline written."""
    out = tmp_path / "evtx.csv"
    result = soc("hunt", str(corpus_dir / "evtx"), "--timeline", str(out), "--json")
    assert result.returncode == 1, result.stderr  # README.md / LICENSE.md are not logs
    report = json.loads(result.stdout)
    evtx = [f for f in report["files"] if f["format"] == "evtx"]
    assert len(evtx) == len(list((corpus_dir / "evtx").rglob("*.evtx")))
    assert report["events"] > 9000
    assert {"critical", "high"} <= set(report["levels"])
    assert all(row["file"].endswith(".md") for row in report["not_parsed"])
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == report["timeline"]["rows"] > 100


def test_hunt_names_rules_that_cannot_run(data_dir: Path) -> None:
    broken = FIXTURES / "detect" / "broken"
    result = soc("hunt", str(AUTH), "--rules", str(broken))
    assert result.returncode == 1
    for name in sorted(p.name for p in broken.rglob("*.yml")):
        assert name in result.stderr, result.stderr


def test_hunt_summary_in_vietnamese_by_default_and_by_setting(
    data_dir: Path, tmp_path: Path
) -> None:
    """The summary speaks the `language` setting (default vi); --lang overrides it; the
    --json keys stay the same in every language."""
    vi = soc("hunt", str(AUTH), env={"COLUMNS": "100"})
    assert vi.returncode == 0, vi.stderr
    assert "Săn tìm: 1 tệp, 30 sự kiện từ " in vi.stdout
    assert "Các quy tắc phát hiện nhiều nhất" in vi.stdout and "Các tệp (1)" in vi.stdout
    assert "đã chạy " in vi.stdout and " quy tắc trong " in vi.stdout
    assert "Hunt:" not in vi.stdout and "Top rules" not in vi.stdout
    (tmp_path / "soc.yaml").write_text("language: en\n", encoding="utf-8")
    en = soc("hunt", str(AUTH), env={"COLUMNS": "100"})
    assert "Hunt: 1 file, 30 events from " in en.stdout and "Top rules" in en.stdout
    back = soc("hunt", str(AUTH), "--lang", "vi", env={"COLUMNS": "100"})
    assert "Săn tìm: 1 tệp" in back.stdout
    keys = {lang: set(json.loads(soc("hunt", str(AUTH), "--lang", lang, "--json").stdout))
            for lang in ("vi", "en")}  # fmt: skip
    assert keys["vi"] == keys["en"] and {"levels", "top_rules", "files"} <= keys["vi"]
    bad = soc("hunt", str(AUTH), "--lang", "fr")
    assert bad.returncode == 2 and "unknown language 'fr'" in bad.stderr
