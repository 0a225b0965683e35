"""`soc ingest logs` end to end (real CLI process, real local store): files, directories,
globs, .gz, truncated .gz, stdin and bad input, with counts and exit codes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from collector_helpers import FIXTURES, auth_line, auth_lines, dead_letters, soc

from soc.store.local import LocalStore


def run_json(*args: str, data_dir: Path, stdin: bytes | None = None) -> tuple[int, dict]:
    proc = soc("ingest", "logs", "--json", *args, data_dir=data_dir, stdin=stdin)
    assert proc.stdout, proc.stderr.decode()
    return proc.returncode, json.loads(proc.stdout)


def counts(result: dict) -> tuple[int, int, int, int, int]:
    return tuple(result[k] for k in ("read", "parsed", "stored", "duplicates", "dead_lettered"))


def stored_count(data_dir: Path) -> int:
    store = LocalStore(data_dir / "soc.db")
    try:
        return store.count()
    finally:
        store.close()


def test_file_is_stored_once_and_unparseable_lines_dead_lettered(tmp_path):
    data = tmp_path / "data"
    sample = FIXTURES / "auth_sample.log"
    code, result = run_json(str(sample), data_dir=data)
    assert code == 1  # one line has no syslog header
    assert counts(result) == (7, 6, 6, 0, 1)
    assert result["sources"][str(sample)]["format"] == "auth"
    assert set(result) >= {"read", "parsed", "stored", "duplicates", "dead_lettered", "seconds"}
    (letter,) = dead_letters(data)
    assert letter["original"] == "this line has no syslog header"
    assert letter["reason"] and letter["source"] == str(sample)
    assert letter["position"] == sample.read_bytes().index(b"this line")
    code, again = run_json(str(sample), data_dir=data)
    assert counts(again) == (7, 6, 0, 6, 1)
    assert stored_count(data) == 6


def test_events_carry_offset_ids_and_file_fields(tmp_path):
    data = tmp_path / "data"
    log = tmp_path / "auth.log"
    log.write_text(auth_lines(0, 3))
    code, _ = run_json(str(log), "--department", "finance", data_dir=data)
    assert code == 0
    store = LocalStore(data / "soc.db")
    try:
        from collectors.sources.files import fingerprint, identity_of, line_event_id

        identity = identity_of(fingerprint(log.read_bytes()))
        second = len(auth_line(0)) + 1
        doc = store.get_event(line_event_id(identity, second, auth_line(1).encode()))
        assert doc is not None
        assert doc["log"]["file"]["offset"] == second
        assert doc["log"]["file"]["path"] == str(log.resolve())
        assert doc["labels"]["department"] == "finance"
        assert doc["event"]["original"] == auth_line(1)
    finally:
        store.close()


def test_gzip_gives_the_same_ids_as_the_plain_file(tmp_path):
    data = tmp_path / "data"
    content = auth_lines(0, 500)
    (tmp_path / "plain").mkdir()
    plain = tmp_path / "plain" / "auth.log"
    plain.write_text(content)
    rotated = tmp_path / "auth.log.2.gz"
    rotated.write_bytes(gzip.compress(content.encode()))
    code, result = run_json(str(rotated), data_dir=data)
    assert code == 0 and counts(result) == (500, 500, 500, 0, 0)
    code, result = run_json(str(plain), data_dir=data)
    assert code == 0 and counts(result) == (500, 500, 0, 500, 0)


def test_truncated_gzip_keeps_what_was_read_and_dead_letters_the_rest(tmp_path):
    data = tmp_path / "data"
    content = auth_lines(0, 20_000).encode()
    packed = gzip.compress(content)
    broken = tmp_path / "auth.log.3.gz"
    broken.write_bytes(packed[: len(packed) // 2])
    code, result = run_json(str(broken), data_dir=data)
    assert code == 1
    read, _parsed, stored, _dups, dead = counts(result)
    assert 0 < stored < 20_000 and dead == 1 and read == stored + dead
    (letter,) = dead_letters(data)
    assert "truncated gzip" in letter["reason"]
    # Every stored line is a whole line of the original, in order from the start.
    assert stored_count(data) == stored
    assert content.count(b"\n", 0, letter["position"]) == stored


def test_stdin_gets_the_same_ids_as_the_file(tmp_path):
    data = tmp_path / "data"
    content = auth_lines(0, 50)
    code, result = run_json("-", data_dir=data, stdin=content.encode())
    assert code == 0 and counts(result) == (50, 50, 50, 0, 0)
    assert result["sources"]["stdin"]["format"] == "auth"
    log = tmp_path / "auth.log"
    log.write_text(content)
    code, result = run_json(str(log), data_dir=data)
    assert counts(result) == (50, 50, 0, 50, 0)


def test_gzip_on_stdin(tmp_path):
    data = tmp_path / "data"
    code, result = run_json("-", data_dir=data, stdin=gzip.compress(auth_lines(0, 40).encode()))
    assert code == 0 and counts(result) == (40, 40, 40, 0, 0)


def test_bad_input_is_counted_dead_lettered_and_the_run_continues(tmp_path):
    data = tmp_path / "data"
    logs = tmp_path / "logs"
    (logs / "nested").mkdir(parents=True)
    (logs / "garbage.bin").write_bytes(bytes(range(256)) * 64)
    big = logs / "nested" / "auth.log"
    with open(big, "wb") as handle:
        handle.write(auth_lines(0, 10).encode())
        handle.write(b"Nov 21 08:00:00 web1 sshd[1]: " + b"A" * (10 << 20) + b"\n")
        handle.write(
            b"Nov 21 08:00:01 web1 sshd[2]: Failed password for \xff\xfe from 10.9.9.9 "
            b"port 22 ssh2\n"
        )
        handle.write(b"\x00\x01\x02\x03 binary junk \x9c\n")
        handle.write(auth_lines(10, 10).encode())
    code, result = run_json(str(logs), data_dir=data)
    assert code == 1
    assert result["sources"][str(big)]["stored"] >= 20
    read, _parsed, stored, dups, dead = counts(result)
    assert read == stored + dups + dead
    letters = dead_letters(data)
    reasons = {d["reason"] for d in letters}
    assert "unknown format" in reasons
    assert "line longer than 1048576 bytes" in reasons
    long = next(d for d in letters if d["reason"].startswith("line longer"))
    assert long["original"].startswith("Nov 21 08:00:00 web1 sshd[1]: AAAA")
    assert long["original_bytes"] > 10 << 20 and long["original_truncated"]
    # The invalid UTF-8 line was decoded with replacement characters, not lost.
    store = LocalStore(data / "soc.db")
    try:
        assert (
            store.count(filters={"source.ip": "10.9.9.9"})
            + sum("10.9.9.9" in d["original"] for d in letters)
            == 1
        )
    finally:
        store.close()


def test_empty_file_is_no_record_and_no_dead_letter(tmp_path):
    data = tmp_path / "data"
    (tmp_path / "empty.log").write_text("")
    (tmp_path / "blank.log").write_text("\n\n  \n")
    code, result = run_json(str(tmp_path / "empty.log"), str(tmp_path / "blank.log"), data_dir=data)
    assert code == 0 and counts(result) == (0, 0, 0, 0, 0)


def test_missing_path_is_a_usage_error_and_nothing_is_ingested(tmp_path):
    data = tmp_path / "data"
    good = tmp_path / "auth.log"
    good.write_text(auth_lines(0, 5))
    proc = soc("ingest", "logs", str(good), str(tmp_path / "nope.log"), data_dir=data)
    assert proc.returncode == 2
    err = proc.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "nope.log" in err[0] and "Traceback" not in proc.stderr.decode()
    assert not (data / "soc.db").exists() or stored_count(data) == 0


def test_globs_and_summary_table(tmp_path):
    data = tmp_path / "data"
    for n in range(3):
        (tmp_path / f"auth{n}.log").write_text(auth_lines(n * 100, 10, user=f"u{n}"))
    proc = soc("ingest", "logs", str(tmp_path / "auth*.log"), data_dir=data)
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode()
    for heading in ("read", "parsed", "stored", "duplicates", "dead-lettered", "events/s"):
        assert heading in out
    assert stored_count(data) == 30


def test_format_override_and_unknown_format_name(tmp_path):
    data = tmp_path / "data"
    log = tmp_path / "messages"
    log.write_text(auth_lines(0, 5))
    code, result = run_json("--format", "syslog", str(log), data_dir=data)
    assert code == 0 and result["sources"][str(log)]["format"] == "syslog"
    proc = soc("ingest", "logs", "--format", "klingon", str(log), data_dir=data)
    assert proc.returncode == 2 and "klingon" in proc.stderr.decode()


def test_dead_letters_that_cannot_be_written_are_one_error_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "deadletter").write_text("a file where the folder should be")
    proc = soc("ingest", "logs", str(FIXTURES / "auth_sample.log"), data_dir=data)
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2 and len(err.splitlines()) == 1
    assert "cannot write dead letters" in err and "Traceback" not in err
