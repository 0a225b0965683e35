"""EVTX: record -> ECS mapping on hand-written records, the whole corpus evtx/ ingested with
record counts equal to the files' own chunk headers, and damaged files dead-lettered."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from collector_helpers import dead_letters, soc

from collectors.evtx_ecs import EvtxRecordError, record_to_ecs
from collectors.ship import DeadLetterFile, Shipper
from collectors.sources.evtx import ingest_evtx
from soc.store.local import LocalStore


def system(
    event_id, record_id=7, channel="Security", provider="Microsoft-Windows-Security-Auditing"
):
    return {
        "Provider": {
            "#attributes": {"Name": provider, "Guid": "{54849625-5478-4994-a5ba-3e3b0328c30d}"}
        },
        "EventID": event_id,
        "Version": "2",
        "Level": "0",
        "Task": "13312",
        "Opcode": "0",
        "Keywords": "0x8020000000000000",
        "TimeCreated": {"#attributes": {"SystemTime": "2021-04-21T14:56:43.2341469Z"}},
        "EventRecordID": record_id,
        "Execution": {"#attributes": {"ProcessID": 4, "ThreadID": 96}},
        "Channel": channel,
        "Computer": "srv01.city.lan",
        "Security": {"#attributes": {"UserID": "S-1-5-18"}},
    }


def test_security_process_creation_4688():
    record = {
        "Event": {
            "System": system(4688),
            "EventData": {
                "SubjectUserName": "alice",
                "SubjectDomainName": "CITY",
                "NewProcessId": "0x1a2b",
                "NewProcessName": "C:\\Windows\\System32\\cmd.exe",
                "TokenElevationType": "%%1936",
                "ProcessId": "0x3c4",
                "CommandLine": "cmd.exe /c whoami",
                "ParentProcessName": "C:\\Windows\\explorer.exe",
                "MandatoryLabel": None,
            },
        }
    }
    doc = record_to_ecs(record, original="{raw}", department="it")
    assert doc["@timestamp"] == "2021-04-21T14:56:43.234146Z"
    assert doc["winlog"]["event_id"] == 4688 and doc["event"]["code"] == "4688"
    assert doc["winlog"]["record_id"] == 7 and doc["winlog"]["channel"] == "Security"
    assert doc["winlog"]["provider_name"] == "Microsoft-Windows-Security-Auditing"
    assert doc["winlog"]["provider_guid"] == "{54849625-5478-4994-a5ba-3e3b0328c30d}"
    assert doc["winlog"]["computer_name"] == "srv01.city.lan" == doc["host"]["name"]
    assert doc["winlog"]["process"] == {"pid": 4, "thread": {"id": 96}}
    assert doc["winlog"]["user"]["identifier"] == "S-1-5-18"
    assert doc["winlog"]["event_data"]["CommandLine"] == "cmd.exe /c whoami"
    assert "MandatoryLabel" not in doc["winlog"]["event_data"]
    assert doc["process"]["pid"] == 0x1A2B and doc["process"]["parent"]["pid"] == 0x3C4
    assert doc["process"]["executable"] == "C:\\Windows\\System32\\cmd.exe"
    assert doc["process"]["name"] == "cmd.exe"
    assert doc["process"]["command_line"] == "cmd.exe /c whoami"
    assert doc["process"]["parent"]["executable"] == "C:\\Windows\\explorer.exe"
    assert doc["user"] == {"name": "alice", "domain": "CITY"}
    assert doc["event"]["category"] == ["process"] and doc["event"]["type"] == ["start"]
    assert doc["event"]["module"] == "windows" and doc["event"]["dataset"] == "windows.eventlog"
    assert doc["event"]["original"] == "{raw}" and doc["labels"]["department"] == "it"


def test_logon_4624_source_address_and_target_user():
    record = {
        "Event": {
            "System": system({"#attributes": {"Qualifiers": ""}, "#text": 4624}),
            "EventData": {
                "SubjectUserName": "SRV01$",
                "TargetUserName": "bob",
                "TargetDomainName": "CITY",
                "LogonType": 3,
                "IpAddress": "::ffff:10.1.2.3",
                "IpPort": "49152",
            },
        }
    }
    doc = record_to_ecs(record)
    assert doc["winlog"]["event_id"] == 4624
    assert doc["winlog"]["event_data"]["LogonType"] == "3"
    assert doc["user"]["name"] == "bob" and doc["source"] == {"ip": "10.1.2.3", "port": 49152}
    assert doc["event"]["category"] == ["authentication"] and doc["event"]["outcome"] == "success"
    assert "original" not in doc["event"]


def test_sysmon_process_create_and_user_data_and_unnamed_data():
    sysmon = {
        "Event": {
            "System": system(
                1,
                channel="Microsoft-Windows-Sysmon/Operational",
                provider="Microsoft-Windows-Sysmon",
            ),
            "EventData": {
                "Image": "C:\\Tools\\mimikatz.exe",
                "CommandLine": "mimikatz.exe privilege::debug",
                "ProcessId": 5150,
                "ParentImage": "C:\\Windows\\System32\\cmd.exe",
                "ParentCommandLine": "cmd.exe",
                "ParentProcessId": 4000,
                "User": "CITY\\carol",
            },
        }
    }
    doc = record_to_ecs(sysmon)
    assert doc["process"]["pid"] == 5150 and doc["process"]["name"] == "mimikatz.exe"
    assert doc["process"]["parent"]["command_line"] == "cmd.exe"
    assert doc["user"] == {"name": "carol", "domain": "CITY"}
    cleared = {
        "Event": {
            "System": system(1102, channel="Security", provider="Microsoft-Windows-Eventlog"),
            "UserData": {
                "LogFileCleared": {"#attributes": {"xmlns": "x"}, "SubjectUserName": "eve"}
            },
        }
    }
    assert record_to_ecs(cleared)["winlog"]["event_data"] == {"SubjectUserName": "eve"}
    unnamed = {
        "Event": {
            "System": system(7036, channel="System", provider="Service Control Manager"),
            "EventData": {"Data": {"#text": ["Windows Update", "running"]}},
        }
    }
    data = record_to_ecs(unnamed)["winlog"]["event_data"]
    assert data == {"param1": "Windows Update", "param2": "running"}


def test_record_without_time_is_refused():
    bad = {"Event": {"System": {**system(4624), "TimeCreated": {}}}}
    with pytest.raises(EvtxRecordError):
        record_to_ecs(bad)


def chunk_header_count(path: Path) -> int:
    """Records declared by the chunk headers (first/last record number), read here
    independently of the collector."""
    data = path.read_bytes()
    total = 0
    for offset in range(4096, len(data) - 511, 65536):
        if data[offset : offset + 8] == b"ElfChnk\x00":
            first, last = struct.unpack_from("<QQ", data, offset + 8)
            total += last - first + 1
    return total


@pytest.mark.conformance
@pytest.mark.timeout(1200)  # every EVTX file of the corpus
def test_corpus_evtx_every_file_ingests_with_its_record_count(corpus_dir, tmp_path):
    files = sorted((corpus_dir / "evtx").rglob("*.evtx"))
    assert len(files) > 200
    store = LocalStore(tmp_path / "soc.db")
    shipper = Shipper(store, dead_letters=DeadLetterFile(tmp_path / "dl"))
    try:
        for path in files:
            ingest_evtx(path, shipper, source=str(path))
        shipper.close()
        total = 0
        for path in files:
            s = shipper.stats.sources[str(path)]
            expected = chunk_header_count(path)
            assert s.stored + s.duplicates == expected, path.name
            assert s.dead_lettered == 0, path.name
            total += expected
        assert store.count() == shipper.stats.stored
        assert shipper.stats.stored + shipper.stats.duplicates == total
        # Duplicates are the same record found in two files: same machine, log, number, time.
        sample = store.search('"winlog.event_id" = 4688', size=5).hits
        assert sample and all(h.source["process"]["executable"] for h in sample)
    finally:
        store.close()


def damaged_copies(corpus_dir: Path, tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    files = sorted((corpus_dir / "evtx").rglob("*.evtx"), key=lambda p: p.stat().st_size)
    big = files[-1]
    data = big.read_bytes()
    folder = tmp_path / "evtx"
    folder.mkdir()
    truncated = folder / "truncated.evtx"
    truncated.write_bytes(data[: len(data) // 2])
    garbled = bytearray(data)
    start = 4096 + 65536 + 1000
    garbled[start : start + 2000] = b"A" * 2000
    (folder / "garbled.evtx").write_bytes(bytes(garbled))
    (folder / "junk.evtx").write_bytes(b"ElfFile\x00" + bytes(range(256)) * 20)
    good = folder / "good.evtx"
    good.write_bytes(files[0].read_bytes())
    return big, truncated, folder / "garbled.evtx", good


@pytest.mark.conformance
def test_damaged_evtx_keeps_what_can_be_read_and_dead_letters_the_rest(corpus_dir, tmp_path):
    _, truncated, garbled, good = damaged_copies(corpus_dir, tmp_path)
    data = tmp_path / "data"
    proc = soc("ingest", "logs", "--json", str(tmp_path / "evtx"), data_dir=data)
    assert proc.returncode == 1, proc.stderr.decode()
    result = json.loads(proc.stdout)
    sources = result["sources"]
    assert sources[str(good)]["stored"] == chunk_header_count(good)
    assert sources[str(good)]["format"] == "evtx"
    assert 0 < sources[str(truncated)]["stored"] < chunk_header_count(truncated) * 2
    assert sources[str(garbled)]["stored"] > 0
    reasons = [d["reason"] for d in dead_letters(data)]
    assert any(r.startswith("truncated EVTX file") for r in reasons)
    assert any(r.startswith("EVTX data skipped") and "record IDs" in r for r in reasons)
    assert any(r.startswith("not a readable EVTX file") for r in reasons)


@pytest.mark.conformance
def test_cli_ingest_evtx_directory(corpus_dir, tmp_path):
    folder = next(p for p in sorted((corpus_dir / "evtx").rglob("*")) if p.is_dir())
    files = sorted(folder.rglob("*.evtx"))
    proc = soc("ingest", "evtx", "--json", str(folder), data_dir=tmp_path / "data")
    assert proc.returncode == 0, proc.stderr.decode()
    result = json.loads(proc.stdout)
    expected = sum(chunk_header_count(p) for p in files)
    assert result["read"] == expected == result["stored"] + result["duplicates"]
    assert set(result["sources"]) == {str(p) for p in files}
    proc = soc("ingest", "evtx", str(tmp_path / "missing"), data_dir=tmp_path / "data")
    assert proc.returncode == 2 and "missing" in proc.stderr.decode()
