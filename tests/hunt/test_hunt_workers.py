"""`soc hunt` on several worker processes: the same report, the same store and the same dead
letters as in one process (SOC_WORKERS=1), whatever order the workers finish in."""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cli_runner import soc

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PARSERS = FIXTURES / "parsers"
AUTH_LOG = PARSERS / "auth.log"


def _bundle(tmp_path: Path) -> Path:
    """Every parser fixture, a gzip'd copy and a plain copy of auth.log (the same events
    twice: duplicates), and two files that give dead letters."""
    bundle = tmp_path / "bundle"
    shutil.copytree(PARSERS, bundle)
    shutil.copy(PARSERS / "auth.log", bundle / "auth-copy.log")
    with gzip.open(bundle / "auth.2.gz", "wb") as gz:
        gz.write((PARSERS / "auth.log").read_bytes())
    (bundle / "broken.jsonl").write_text(
        '{"@timestamp": "2026-11-20T08:00:00Z", "message": "fine"}\n{not json\n[1, 2]\n',
        encoding="utf-8",
    )
    (bundle / "truncated.evtx").write_bytes(b"ElfFile\x00" + bytes(100))
    return bundle


def _hunt(bundle: Path, keep: Path, workers: int, *extra: str) -> dict[str, Any]:
    result = soc(
        "hunt", str(bundle), "--keep", str(keep), "--json", *extra,
        # frozen: lines without a year or a time take theirs from the clock
        env={"SOC_WORKERS": str(workers), "SOC_CLOCK": "2026-11-25T12:00:00+07:00"},
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    report.pop("seconds")
    report.pop("store")
    report["detection"].pop("seconds")
    for outcome in report["detection"].get("outcomes", []):
        outcome.pop("seconds", None)
    return report


def _dead_letters(keep: Path) -> list[dict[str, Any]]:
    letters = []
    for day in sorted((keep / "deadletter").glob("*.ndjson")):
        for line in day.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            record.pop("time")
            letters.append(record)
    return letters


def _events(keep: Path) -> list[tuple[str, str]]:
    """Every stored event: id and document, without the time it reached the store and the
    file it was read from (an event in several files is stored once, from whichever file
    was read first)."""
    with sqlite3.connect(keep / "soc.db") as conn:
        rows = conn.execute("SELECT _id, _doc FROM events ORDER BY _id").fetchall()
    events = []
    for event_id, doc in rows:
        parsed = json.loads(doc)
        parsed.get("event", {}).pop("ingested", None)
        parsed.get("log", {}).pop("file", None)
        events.append((event_id, json.dumps(parsed, sort_keys=True)))
    return events


def test_workers_give_the_same_hunt_as_one_process(data_dir: Path, tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    alone, shared = tmp_path / "alone", tmp_path / "shared"
    one = _hunt(bundle, alone, 1)
    three = _hunt(bundle, shared, 3)
    assert three == one
    assert one["events"] > 100 and one["alerts"] > 0
    files = {Path(f["file"]).name: f for f in one["files"]}
    assert files["auth-copy.log"]["events"] == files["auth.log"]["events"] == 30
    assert files["broken.jsonl"]["not_parsed"] == 2
    assert _dead_letters(shared) == _dead_letters(alone)
    assert len(_dead_letters(alone)) >= 3
    assert _events(shared) == _events(alone)
    # the kept store is whole in its file: nothing left in a write-ahead log
    wal = shared / "soc.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


@pytest.mark.conformance
def test_workers_give_the_same_hunt_over_evtx_and_sigmahq_rules(
    data_dir: Path, corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EVTX files and SigmaHQ rules converted cold on the workers (an empty rule cache each
    time): the same alerts as one process converting them itself."""
    evtx = sorted(corpus_dir.joinpath("evtx").rglob("*.evtx"))[:40]
    bundle = tmp_path / "evtx"
    bundle.mkdir()
    for index, path in enumerate(evtx):
        shutil.copy(path, bundle / f"{index:02d}-{path.name}")
    rules = corpus_dir / "sigma" / "rules" / "windows" / "process_creation"
    reports = []
    for workers in (1, 2):
        monkeypatch.setenv("SOC_CACHE_DIR", str(tmp_path / f"cache-{workers}"))
        reports.append(_hunt(bundle, tmp_path / f"keep-{workers}", workers, "--rules", str(rules)))
    assert reports[1] == reports[0]
    assert reports[0]["alerts"] > 0
    assert reports[0]["detection"]["rules_run"] > 1000


def test_workers_convert_the_rules_with_the_rule_cache_off(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the rule cache the workers convert the documents this process loaded
    (convert_many) instead of filling the caches: the same hunt still."""
    monkeypatch.setenv("SOC_RULE_CACHE", "off")
    bundle = _bundle(tmp_path)
    one = _hunt(bundle, tmp_path / "alone", 1)
    two = _hunt(bundle, tmp_path / "shared", 2)
    assert two == one and one["alerts"] > 0


def test_rule_files_new_to_the_cache_are_loaded_on_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from soc.detect.rule_files import files_to_load, iter_rule_files
    from soc.hunt.workers import HuntWorkers
    from soc.resources import rules_dir

    cache = tmp_path / "cache"
    monkeypatch.setenv("SOC_CACHE_DIR", str(cache))  # before the fork: the workers' too
    pack = list(iter_rule_files([rules_dir()]))
    assert files_to_load([rules_dir()], cache) == pack  # an empty cache holds none
    assert files_to_load([rules_dir()], None) == pack
    with HuntWorkers(2) as pool:
        if not pool.active:
            pytest.skip("no fork on this system")
        warming = pool.start_warming([rules_dir()], "sqlite")  # handed over, not waited for
        assert warming.files == len(pack)
        assert warming.wait() == len(pack)
        assert files_to_load([rules_dir()], cache) == []
        assert pool.warm_rules([rules_dir()], "sqlite") == 0  # nothing left to do


def test_a_bad_worker_setting_is_one_line(data_dir: Path) -> None:
    for setting in ("many", "0", "1000"):
        result = soc("hunt", str(PARSERS / "auth.log"), env={"SOC_WORKERS": setting})
        assert result.returncode == 2
        assert result.stderr.strip() == (
            f"soc: error: SOC_WORKERS='{setting}': give a whole number of worker processes "
            "from 1 (none) to 64"
        )
        assert "Traceback" not in result.stderr


def test_a_lost_worker_is_an_error_not_a_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed or crashed mid-task (here it exits at once) stops the work with
    WorkerLost, which `soc hunt` prints as one line, instead of waiting for it forever."""
    import os

    from soc.detect import compile as compile_module
    from soc.hunt import workers

    def die(items: object, target: object) -> None:
        os._exit(3)

    # before the fork, so in the workers too (they import the compiler for their task)
    monkeypatch.setattr(compile_module, "convert_documents", die)
    with workers.HuntWorkers(2) as pool:
        if not pool.active:
            pytest.skip("no fork on this system")
        with pytest.raises(workers.WorkerLost, match="SOC_WORKERS=1"):
            pool.convert([({"title": "x"}, "x.yml")] * 40, "sqlite")


def test_group_scans_come_in_order_with_bounded_work_in_hand() -> None:
    """Results come back in the order asked. At most ``ahead`` tasks are handed out and
    unfinished at once; while a long task holds the head, the workers go on with the next
    ones, until the results waiting for their turn hold more than ``held_rows``."""
    from concurrent.futures import ThreadPoolExecutor

    from soc.hunt.workers import _ordered_window

    head_may_finish = threading.Event()
    lock = threading.Lock()
    unfinished = 0
    most_unfinished = 0
    finished_while_head_ran: list[int] = []

    def task(n: int) -> list[int]:
        nonlocal unfinished
        if n == 0:  # the long one: it waits until the others have gone on
            assert head_may_finish.wait(timeout=30)
        else:
            with lock:
                if not head_may_finish.is_set():
                    finished_while_head_ran.append(n)
        with lock:
            unfinished -= 1
        return [n] * 4  # four rows per result

    class CountingPool:
        def __init__(self) -> None:
            self.threads = ThreadPoolExecutor(4)

        def submit(self, function, n):  # type: ignore[no-untyped-def]
            nonlocal unfinished, most_unfinished
            with lock:
                unfinished += 1
                most_unfinished = max(most_unfinished, unfinished)
            return self.threads.submit(function, n)

    def release_when_stalled() -> None:
        # more tasks than ``ahead`` finish while the head runs (the workers go on)
        while len(finished_while_head_ran) < 3:
            time.sleep(0.01)
        time.sleep(0.2)  # time for any task the window would (wrongly) still hand out
        head_may_finish.set()

    releaser = threading.Thread(target=release_when_stalled)
    releaser.start()
    pool = CountingPool()
    window = _ordered_window(pool, task, list(range(30)), ahead=3, held_rows=10, rows=len)  # type: ignore[arg-type]
    results = list(window)
    releaser.join()
    pool.threads.shutdown()
    assert results == [[n] * 4 for n in range(30)]
    assert most_unfinished <= 3
    # once three results (12 rows) wait, nothing more is handed out: at most the two
    # tasks already in hand besides the head finish after them
    done = sorted(finished_while_head_ran)
    assert 3 <= len(done) <= 5 and done == list(range(1, len(done) + 1))


def _ignores_sigint(pid: int) -> bool:
    """True once process ``pid`` has set SIGINT to be ignored (/proc's SigIgn mask)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (2 - 1)))
    return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("finish_on_stop", [True, False])
def test_workers_of_a_long_running_command_leave_ctrl_c_to_it(finish_on_stop: bool) -> None:
    """`soc detect schedule` finishes its cycle on Ctrl-C, which reaches every process of
    the terminal's group: its workers (finish_on_stop) ignore SIGINT and keep working; other
    workers stop at once, as before."""
    import os
    import signal
    import time

    from soc.hunt import workers

    # As a command started from a terminal has it: a test runner started in the background
    # of a shell script ignores SIGINT, and its forked workers would inherit that.
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with workers.HuntWorkers(2, finish_on_stop=finish_on_stop) as pool:
            if not pool.active:
                pytest.skip("no fork on this system")
            processes = pool._pool._processes  # type: ignore[union-attr]
            assert len(processes) == 2
            deadline = time.monotonic() + 30
            while finish_on_stop and not all(_ignores_sigint(p) for p in processes):
                assert time.monotonic() < deadline, "the workers never set SIGINT aside"
                time.sleep(0.01)
            assert finish_on_stop or not any(_ignores_sigint(p) for p in processes)
            for pid in processes:
                os.kill(pid, signal.SIGINT)
            rule = {
                "title": "x",
                "logsource": {"product": "linux"},
                "detection": {"selection": {"message": "x"}, "condition": "selection"},
            }
            documents = [(rule, "x.yml")] * 40
            if finish_on_stop:
                assert len(pool.convert(documents, "sqlite")) == 40
                assert all(process.is_alive() for process in processes.values())
            else:
                # KeyboardInterrupt ends each. A worker that was still sending back the
                # result of the pool's start-up task when the signal came catches it there
                # (concurrent.futures sends the exception back instead) and lives on: as a
                # second Ctrl-C would, signal again until every worker has ended.
                deadline = time.monotonic() + 30
                while any(process.is_alive() for process in processes.values()):
                    assert time.monotonic() < deadline, "a worker outlived SIGINT"
                    for pid, process in processes.items():
                        process.join(timeout=0.5)
                        if process.is_alive():
                            with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                                os.kill(pid, signal.SIGINT)
                with pytest.raises(workers.WorkerLost):
                    pool.convert(documents, "sqlite")
    finally:
        signal.signal(signal.SIGINT, outer)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_no_worker_outlives_its_command() -> None:
    """A command killed outright (SIGKILL, the OOM killer) leaves no worker behind, even one
    that ignores stop signals (a scheduler's run until stopped)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import time\n"
        "from soc.hunt.workers import HuntWorkers\n"
        "pool = HuntWorkers(2, finish_on_stop=True)\n"
        "print(' '.join(str(p) for p in pool._pool._processes), flush=True)\n"
        "time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2

    def running(pid: int) -> bool:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False
        return "\nState:\tZ" not in status  # a zombie has stopped: nothing reaped it yet

    assert all(running(p) for p in pids)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p in pids if running(p)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == []


def test_slices_held_back_are_read_when_handed_out_or_waited_for(tmp_path: Path) -> None:
    """read_files(first=...) hands the workers only the first slices; the others go when
    hand_out_rest is called (the hunt gives the rule conversions in between) or, at the
    latest, by wait: every file is read either way, with the same outcomes."""
    from collectors.sources.logs import IngestOptions
    from soc.hunt.inputs import classify
    from soc.hunt.reading import HuntProgress
    from soc.hunt.workers import HuntWorkers
    from soc.store.local import LocalStore

    bundle = _bundle(tmp_path)
    inputs = classify(sorted(p for p in bundle.rglob("*") if p.is_file()), tmp_path / "scratch")
    results = []
    with HuntWorkers(2) as pool:
        if not pool.active:
            pytest.skip("no fork on this system")
        for first, hand_out in ((None, False), (0, False), (1, True)):
            name = f"first-{first}-{hand_out}"
            LocalStore(tmp_path / f"{name}.db").close()  # made here, as a hunt does
            reading = pool.read_files(
                tmp_path / f"{name}.db",
                inputs,
                options=IngestOptions(),
                dead_dir=tmp_path / name / "dead",
                parts_dir=tmp_path / name / "parts",
                department=None,
                progress=HuntProgress(),
                first=first,
            )
            assert (reading.held is not None and len(reading.held[1]) > 0) == (first is not None)
            if hand_out:
                reading.hand_out_rest()
                assert reading.held is None
            files, events = reading.wait()
            results.append(([(f.display, f.events, f.dead_lettered) for f in files], events))
    assert results[0][1] > 100
    assert results[1] == results[0] and results[2] == results[0]


def test_workers_open_the_store_as_durable_as_the_hunt_does(tmp_path: Path) -> None:
    """A slice read for a scratch store goes through a worker connection that does not wait
    for the disk either; one for a kept store through a durable one."""
    from collectors.sources.logs import IngestOptions
    from soc.hunt import workers
    from soc.hunt.inputs import classify

    inputs = classify([AUTH_LOG], tmp_path / "scratch")
    for name, durable in (("scratch.db", False), ("kept.db", True)):
        path = str(tmp_path / name)
        task = workers._ReadTask(
            0, inputs, path, IngestOptions(), str(tmp_path / name / "dead"), None, durable
        )
        try:
            _, _, events = workers._read_slice(task)
            store = workers._STORES[(path, None)]
            assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == (1 if durable else 0)
            assert events == 30 and store.count() == 30
        finally:
            found = workers._STORES.pop((path, None), None)
            if found is not None:
                found.close()


def _alerts_of(report: Any) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((str(a["rule_id"]), tuple(sorted(a["event_ids"]))) for a in report.alerts)


def test_a_scratch_store_gives_columns_only_to_the_fields_the_rules_read(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hunt whose rule set has a snapshot, on a scratch store, has its workers give
    columns only to the fields the rules read; the alerts are those of a hunt that kept
    every field in a column (one process, and workers writing a store that is kept)."""
    from collectors.sources.logs import IngestOptions
    from soc.detect import rule_snapshot
    from soc.detect.rule_files import rule_paths
    from soc.hunt.inputs import classify
    from soc.hunt.run import hunt
    from soc.hunt.workers import HuntWorkers
    from soc.store.local import LocalStore

    monkeypatch.setenv("SOC_CACHE_DIR", str(tmp_path / "rule-cache"))
    monkeypatch.setenv("SOC_CLOCK", "2026-11-25T12:00:00+07:00")
    monkeypatch.setattr(rule_snapshot, "RACY_SECONDS", 0)  # a fresh checkout is trusted too
    bundle = _bundle(tmp_path)
    inputs = classify(sorted(p for p in bundle.rglob("*") if p.is_file()), tmp_path / "scratch")

    def run(name: str, workers: int, scratch: bool) -> tuple[Any, LocalStore]:
        store = LocalStore(tmp_path / f"{name}.db", durable=not scratch)
        with HuntWorkers(workers) as pool:
            if workers > 1 and not pool.active:
                pytest.skip("no fork on this system")
            report = hunt(
                store,
                inputs,
                options=IngestOptions(),
                dead_dir=tmp_path / name / "dead",
                workers=pool,
                scratch=scratch,
            )
        return report, store

    alone, _ = run("alone", 1, False)  # converts the pack, and saves its snapshot
    snapshot = rule_snapshot.find(rule_paths([], include_pack=True), "sqlite")
    assert snapshot is not None and snapshot.columns
    kept, _ = run("kept", 2, False)
    lean, store = run("lean", 2, True)
    assert _alerts_of(lean) == _alerts_of(kept) == _alerts_of(alone)
    assert len(_alerts_of(alone)) > 0 and lean.events == alone.events > 100
    # every event's document is whole; "event.ingested", which no rule reads, has no
    # column, where the kept store has it for every event
    assert "ingested" not in snapshot.columns and "event.ingested" not in snapshot.columns
    with sqlite3.connect(tmp_path / "lean.db") as conn:
        names = {r[1] for r in conn.execute("PRAGMA table_info(events)")}
        total = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        with_column = (
            conn.execute(
                'SELECT count(*) FROM events WHERE "event.ingested" IS NOT NULL'
            ).fetchone()[0]
            if "event.ingested" in names
            else 0
        )
        docs = [json.loads(d) for (d,) in conn.execute("SELECT _doc FROM events")]
    with sqlite3.connect(tmp_path / "kept.db") as conn:
        kept_total = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        kept_ingested = conn.execute(
            'SELECT count(*) FROM events WHERE "event.ingested" IS NOT NULL'
        ).fetchone()[0]
    assert total == kept_total == kept_ingested > 50
    assert "event.ingested" not in names and with_column == 0
    assert all(doc["event"].get("ingested") for doc in docs)
    store.close()
