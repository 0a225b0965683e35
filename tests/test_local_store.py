"""What only the embedded store promises: its file, its schema and its failures."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from soc import ecs
from soc.store.base import Conflict, StoreUnavailable
from soc.store.local import PAGE_SIZE, SCHEMA_VERSION, LocalStore


def _event(i: int, **fields: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "_id": ecs.event_id("local-test", i),
        "@timestamp": "2026-11-20T10:00:00.000000Z",
    }
    for path, value in fields.items():
        ecs.set_field(doc, path, value)
    return doc


def test_new_fields_become_columns_that_sql_from_sigma_can_use(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "soc.db")
    store.write_events([_event(1, **{"winlog.event_data.CommandLine": "whoami /all"})])
    store.write_events([_event(2, **{"winlog.event_data.TargetUserName": "Guest"})])
    assert store.count("`winlog.event_data.CommandLine` LIKE '%WHOAMI%'") == 1
    assert store.count("`winlog.event_data.TargetUserName` = 'guest'") == 1
    columns = {
        r[1] for r in sqlite3.connect(tmp_path / "soc.db").execute("PRAGMA table_info(events)")
    }
    assert {"winlog.event_data.CommandLine", "winlog.event_data.TargetUserName"} <= columns


def test_one_element_lists_match_as_their_value(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "soc.db")
    store.write_events([_event(1, **{"event.category": ["authentication"]})])
    assert store.count("`event.category` = 'authentication'") == 1
    assert store.get_event(ecs.event_id("local-test", 1))["event"]["category"] == ["authentication"]


def test_numbers_compare_as_numbers_and_as_text(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "soc.db")
    store.write_events(
        [_event(1, **{"winlog.event_id": 4688}), _event(2, **{"winlog.event_id": 1})]
    )
    assert store.count("`winlog.event_id` = 4688") == 1
    assert store.count("`winlog.event_id` = '4688'") == 1
    assert store.count("`winlog.event_id` > 100") == 1


def test_fields_differing_only_in_case_share_a_column(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "soc.db")
    result = store.write_events(
        [
            _event(1, **{"winlog.event_data.Image": "a.exe"}),
            _event(2, **{"winlog.event_data.image": "b.exe"}),
        ]
    )
    assert result.stored == 2
    assert store.count("`winlog.event_data.Image` IN ('a.exe', 'b.exe')") == 2
    # in a later batch too, after the first spelling is known to have its column
    later = store.write_events(
        [
            _event(3, **{"winlog.event_data.Image": "c.exe"}),
            _event(4, **{"winlog.event_data.IMAGE": "d.exe"}),
        ]
    )
    assert later.stored == 2
    assert store.count("`winlog.event_data.image` IN ('c.exe', 'd.exe')") == 2
    columns = _schema(tmp_path / "soc.db")[1]
    assert [c for c in columns if c.lower() == "winlog.event_data.image"] == [
        "winlog.event_data.Image"
    ]


def test_reopening_keeps_data_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "soc.db"
    store = LocalStore(path)
    store.write_events([_event(1, **{"user.name": "lan"})])
    store.close()
    again = LocalStore(path)
    assert again.count(filters={"user.name": "lan"}) == 1
    assert again.info()["schema_version"] == SCHEMA_VERSION


def test_a_new_store_has_large_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    """Large pages keep a Windows event's row (document and columns) on one page; a store
    made with SQLite's default pages is read and written as it is, never rebuilt."""
    new = tmp_path / "new.db"
    LocalStore(new).write_events([_event(1, **{"event.original": "x" * 6000})])
    assert sqlite3.connect(new).execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE > 4096
    assert LocalStore(new).count(filters={"_id": ecs.event_id("local-test", 1)}) == 1

    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("PRAGMA user_version = 0")
    conn.execute("VACUUM")
    conn.close()
    store = LocalStore(old)
    store.write_events([_event(i, **{"user.name": f"u{i}"}) for i in range(3)])
    store.close()
    assert sqlite3.connect(old).execute("PRAGMA page_size").fetchone()[0] == 4096
    assert LocalStore(old).count(filters={"user.name": "u2"}) == 1


def test_a_scratch_store_does_not_wait_for_the_disk(tmp_path: Path) -> None:
    """A store opened as scratch (a hunt's, deleted after it) is written without waiting for
    the disk (SQLite's synchronous OFF); a store is durable by default (NORMAL, with WAL:
    safe at each checkpoint). Both store and find the same events."""
    scratch = LocalStore(tmp_path / "scratch.db", durable=False)
    kept = LocalStore(tmp_path / "kept.db")
    assert scratch._conn.execute("PRAGMA synchronous").fetchone()[0] == 0
    assert kept._conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    for store in (scratch, kept):
        assert store.write_events([_event(1, **{"user.name": "lan"})]).stored == 1
        assert store.count(filters={"user.name": "lan"}) == 1


def test_a_store_without_its_pivot_indexes_answers_searches_the_same(tmp_path: Path) -> None:
    """A hunt's scratch store drops the indexes only searches by action, address, user and
    host use: searches, counts and term counts by those fields answer as before, and
    the indexes detection reads (time, dataset, channel, event id) stay."""
    from soc.store.local_schema import PIVOT_INDEXES

    indexed = LocalStore(tmp_path / "indexed.db")
    bare = LocalStore(tmp_path / "bare.db", durable=False)
    bare.drop_pivot_indexes()
    events = [
        _event(
            n,
            **{
                "user.name": ["lan", "Minh", "LAN"][n % 3],
                "host.name": f"web-{n % 2}",
                "source.ip": f"10.0.0.{n % 4}",
                "event.action": ["logon", "logoff"][n % 2],
            },
        )
        for n in range(1, 9)
    ]
    for store in (indexed, bare):
        store.write_events(events)
    names = {
        row[0] for row in bare._conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
    }
    assert not names & set(PIVOT_INDEXES)
    assert {"events_ts", "events_f0", "events_w0", "events_w1"} <= names
    for filters in (
        {"user.name": "lan"},
        {"host.name": "web-1"},
        {"source.ip": "10.0.0.2"},
        {"event.action": "logoff", "user.name": "minh"},
    ):
        assert bare.count(filters=filters) == indexed.count(filters=filters) > 0
        found = [hit.id for hit in bare.search(filters=filters).hits]
        assert found == [hit.id for hit in indexed.search(filters=filters).hits]
    for fields in (["user.name"], ["host.name", "source.ip"]):
        assert bare.terms(fields) == indexed.terms(fields)
    query = "`user.name` = 'lan' AND `event.action` = 'logon'"
    assert bare.count(query) == indexed.count(query)


def test_an_integer_beyond_64_bits_comes_back_from_the_store_exactly(tmp_path: Path) -> None:
    """A JSON log may carry a 20-digit number (a transaction id): it is stored (SQLite's
    integers stop at 64 bits), the stored document gives it back as that integer, not as a
    float near it, and a filter on it finds the event."""
    store = LocalStore(tmp_path / "soc.db")
    event = _event(1, **{"transaction.id": 2**64 + 7, "labels.n": -(2**63) - 3})
    store.write_events([event])
    doc = store.get_event(str(event["_id"]))
    assert doc is not None
    assert doc["transaction"]["id"] == 2**64 + 7 and doc["labels"]["n"] == -(2**63) - 3
    hits = store.search(filters={"_id": str(event["_id"])}).hits
    assert [hit.source["transaction"]["id"] for hit in hits] == [2**64 + 7]
    assert store.count(filters={"transaction.id": 2**64 + 7}) == 1


def test_a_file_that_is_not_sqlite_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "soc.db"
    path.write_bytes(b"this is not a database\n" * 100)
    with pytest.raises(StoreUnavailable) as caught:
        LocalStore(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    assert path.read_bytes().startswith(b"this is not a database")


def test_a_foreign_sqlite_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "soc.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.execute("INSERT INTO invoices VALUES (7)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreUnavailable, match="not a citysoc store"):
        LocalStore(path)
    assert sqlite3.connect(path).execute("SELECT id FROM invoices").fetchall() == [(7,)]


def test_a_store_from_a_newer_citysoc_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "soc.db"
    LocalStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreUnavailable, match="newer"):
        LocalStore(path)


def test_an_unusable_data_directory_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreUnavailable, match="cannot create data directory"):
        LocalStore(blocker / "sub" / "soc.db")


def test_a_bad_query_names_the_store_and_the_problem(tmp_path: Path) -> None:
    from soc.store.base import QueryError

    store = LocalStore(tmp_path / "soc.db")
    with pytest.raises(QueryError, match="local store rejected the query"):
        store.count("`user.name` = = 'x'")


@pytest.mark.parametrize("fields", [5, 40], ids=["few-new-fields", "many-new-fields"])
def test_fields_beyond_the_column_limit_stay_in_the_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fields: int
) -> None:
    from soc.store import local, local_writes
    from soc.store.base import QueryError

    store = LocalStore(tmp_path / "soc.db")
    base = store.info()["field_columns"]
    # the writes enforce the limit; the query error names it
    monkeypatch.setattr(local_writes, "MAX_FIELD_COLUMNS", base + 2)
    monkeypatch.setattr(local, "MAX_FIELD_COLUMNS", base + 2)
    wide = {f"json.k{i}": f"v{i}" for i in range(fields)}
    result = store.write_events([_event(1, **wide)])
    assert result.stored == 1
    assert store.info()["field_columns"] == base + 2
    assert store.get_event(ecs.event_id("local-test", 1))["json"][f"k{fields - 1}"] == (
        f"v{fields - 1}"
    )
    assert store.count("`json.k0` = 'v0'") == 1
    with pytest.raises(QueryError, match="column limit"):
        store.count(f"`json.k{fields - 1}` = 'v{fields - 1}'")


def test_a_store_for_known_queries_gives_columns_only_to_their_fields(tmp_path: Path) -> None:
    """column_fields: the queries that will read the store name these fields (any case);
    the others are in the documents alone, even where another connection made their
    column. The indexed fields keep theirs."""
    path = tmp_path / "soc.db"
    full = LocalStore(path)
    full.write_events([_event(1, **{"process.name": "a.exe", "process.pid": 7})])
    lean = LocalStore(path, column_fields=["PROCESS.NAME", "user.domain"])
    lean.write_events(
        [
            _event(2, **{"process.name": "b.exe", "process.pid": 8, "user.name": "bob"}),
            _event(3, **{"user.domain": "CITY", "file.path": "C:\\x", "host.name": "web"}),
        ]
    )
    columns = set(_schema(path)[1])
    assert {"process.name", "process.pid", "user.domain", "user.name", "host.name"} <= columns
    assert "file.path" not in columns  # no event of a full write had it
    # the chosen fields and the indexed ones are queried as ever
    assert lean.count("`process.name` = 'B.EXE'") == 1
    assert full.count("`user.domain` = 'city'") == 1
    assert full.count("`user.name` = 'bob'") == full.count("`host.name` = 'web'") == 1
    # the others are left to the documents, which hold every field
    assert full.count("`process.pid` = 8") == 0
    assert full.count("`process.pid` = 7") == 1
    second, third = (full.get_event(ecs.event_id("local-test", i)) for i in (2, 3))
    assert second is not None and second["process"] == {"name": "b.exe", "pid": 8}
    assert third is not None and third["file"] == {"path": "C:\\x"}
    # a connection without column_fields gives every field its column again
    full.write_events([_event(4, **{"process.pid": 9, "file.path": "D:\\y"})])
    assert full.count("`process.pid` = 9") == full.count("`file.path` = 'd:\\y'") == 1
    lean.close()
    full.close()


def _schema(path: Path) -> tuple[int, dict[str, str], set[str]]:
    """The file's schema version (bumped by every schema change), its events columns with
    their declared types, and the names of the events table's indexes."""
    conn = sqlite3.connect(path)
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    columns = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(events)")}
    indexes = {r[1] for r in conn.execute("PRAGMA index_list(events)")}
    conn.close()
    return version, columns, indexes


def test_many_new_fields_get_their_columns_in_one_schema_change(tmp_path: Path) -> None:
    """A new store's first Windows events bring hundreds of fields: their columns are made
    in one schema change, not one per field, with the types and indexes the one-by-one way
    gives, in an empty store and in one that holds events; a connection opened before
    still reads and writes, and the file stays sound."""
    path = tmp_path / "soc.db"
    store, other, stale = LocalStore(path), LocalStore(path), LocalStore(path)
    version, _, indexes = _schema(path)
    fields: dict[str, object] = {f"winlog.event_data.Field{i}": f"v{i}" for i in range(600)}
    fields |= {"winlog.event_data.Count": 7, "winlog.event_id": 4688, "user.name": "alice"}
    assert store.write_events([_event(1, **fields)]).stored == 1

    changed, columns, now_indexed = _schema(path)
    assert changed - version < 5
    assert now_indexed == indexes
    assert columns["winlog.event_data.Field599"] == "TEXT"
    assert columns["winlog.event_data.Count"] == "NUMERIC"
    assert store.count("`winlog.event_data.Field599` = 'V599'") == 1  # COLLATE NOCASE
    assert store.count(filters={"winlog.event_id": 4688, "user.name": "alice"}) == 1

    second = {"winlog.event_data.Field3": "x", "winlog.event_data.Extra": "y"}
    assert other.write_events([_event(2, **second)]).stored == 1
    assert other.count(filters={"winlog.event_data.Field3": "x"}) == 1
    assert store.count("`winlog.event_data.Extra` = 'y'") == 1
    # a connection that has not written since the 600 columns came brings many fields of
    # which some exist: only the others are added
    overlap = {f"winlog.event_data.Field{i}": f"o{i}" for i in range(590, 620)}
    assert stale.write_events([_event(4, **overlap)]).stored == 1
    assert stale.count("`winlog.event_data.Field619` = 'o619'") == 1
    assert store.count("`winlog.event_data.Field595` = 'o595'") == 1

    later = {f"process.env.V{i}": f"w{i}" for i in range(40)}
    before_later = _schema(path)[0]
    assert store.write_events([_event(3, **later)]).stored == 1
    assert _schema(path)[0] - before_later < 5
    assert store.count() == 4
    assert store.count("`process.env.V39` = 'w39'") == 1
    assert other.count("`process.env.V0` = 'w0'") == 1
    assert store.get_event(ecs.event_id("local-test", 1))["winlog"]["event_data"]["Field5"] == "v5"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_new_columns_are_added_one_by_one_where_sqlite_refuses_schema_edits(
    tmp_path: Path,
) -> None:
    """A SQLite that does not let a connection set its schema version (an authorizer here,
    or a build in defensive mode) still gets every column, through ALTER TABLE: the edit
    of the schema table made before the refusal is undone."""
    path = tmp_path / "soc.db"
    store = LocalStore(path)

    def no_schema_edits(action: int, name: str | None, value: str | None, *_: object) -> int:
        setting = action == sqlite3.SQLITE_PRAGMA and name == "schema_version" and value
        return sqlite3.SQLITE_DENY if setting else sqlite3.SQLITE_OK

    store._conn.set_authorizer(no_schema_edits)
    version = _schema(path)[0]
    fields = {f"json.k{i}": f"v{i}" for i in range(30)}
    assert store.write_events([_event(1, **fields)]).stored == 1
    assert _schema(path)[0] - version >= 30
    assert store.count("`json.k29` = 'v29'") == 1
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def _open_and_write(path: str, worker: int) -> int:
    store = LocalStore(path)
    result = store.write_events([_event(worker * 100 + i, **{"user.name": "x"}) for i in range(50)])
    store.close()
    return result.stored


def test_processes_opening_a_new_store_at_once_share_it(tmp_path: Path) -> None:
    import multiprocessing

    path = str(tmp_path / "soc.db")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        stored = pool.starmap(_open_and_write, [(path, w) for w in range(4)])
    assert stored == [50, 50, 50, 50]
    assert LocalStore(path).count() == 200


def test_a_field_added_by_another_process_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "soc.db"
    first, second = LocalStore(path), LocalStore(path)
    first.write_events([_event(1, **{"process.title": "a"})])
    second.write_events([_event(2, **{"process.title": "b"})])
    assert first.count("`process.title` IN ('a', 'b')") == 2


def test_regexp_in_queries_uses_python_search(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "soc.db")
    store.write_events([_event(1, **{"url.path": "/x/../../etc/passwd"})])
    assert store.count("`url.path` REGEXP '(\\.\\./){2}etc'") == 1
    assert store.count("`url.path` REGEXP '^etc'") == 0


def test_a_version_1_store_is_migrated_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "soc.db"
    LocalStore(path).write_events([_event(1, **{"winlog.event_id": 4625})])
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX events_w0")
    conn.execute("DROP INDEX events_w1")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = LocalStore(path)
    assert store.info()["schema_version"] == SCHEMA_VERSION
    assert store.count("`winlog.event_id` = 4625") == 1
    indexes = {r[1] for r in sqlite3.connect(path).execute("PRAGMA index_list(events)")}
    assert {"events_w0", "events_w1"} <= indexes


def _older_store(path: Path, version: int, event_columns: str = "") -> sqlite3.Connection:
    """A store file as an older citysoc left it: its records and events tables (the events
    table with ``event_columns`` after the internal ones) and its schema version; the
    caller adds rows and commits."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1129533251")
    conn.execute(
        "CREATE TABLE records (kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL, "
        "PRIMARY KEY (kind, id))"
    )
    conn.execute(
        "CREATE TABLE events (_id TEXT PRIMARY KEY, _ts INTEGER NOT NULL, _doc TEXT NOT NULL"
        f"{', ' + event_columns if event_columns else ''})"
    )
    conn.execute(f"PRAGMA user_version = {version}")
    return conn


def test_a_version_2_store_gains_record_versions_and_keeps_its_records(tmp_path: Path) -> None:
    path = tmp_path / "soc.db"
    conn = _older_store(path, 2)
    conn.execute("""INSERT INTO records VALUES ('alerts', 'a1', '{"rule_id": "r"}')""")
    conn.commit()
    conn.close()
    store = LocalStore(path)
    assert store.info()["schema_version"] == SCHEMA_VERSION
    got = store.get_record_versioned("alerts", "a1")
    assert got is not None and got[0] == {"rule_id": "r"}
    store.put_record_if("alerts", "a1", {"rule_id": "r", "status": "closed"}, got[1])
    assert store.list_records("alerts", filters={"rule_id": "r"})[0]["status"] == "closed"


def test_alert_lookups_by_rule_and_suppression_key_use_an_index(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "soc.db")
    plan = store._conn.execute(
        "EXPLAIN QUERY PLAN SELECT doc FROM records WHERE kind = 'alerts' AND "
        """json_extract(doc, '$."rule_id"') = 'r' AND json_extract(doc, '$."suppress_key"') = 'k'"""
    ).fetchall()
    assert "records_alert_rule" in str(plan)


def test_put_record_if_decides_between_processes(tmp_path: Path) -> None:
    path = tmp_path / "soc.db"
    one, two = LocalStore(path), LocalStore(path)
    version = one.put_record_if("state", "lease", {"owner": "one"}, None)
    seen = two.get_record_versioned("state", "lease")
    assert seen is not None and seen[1] == version
    one.put_record_if("state", "lease", {"owner": "one", "renewed": True}, version)
    with pytest.raises(Conflict):
        two.put_record_if("state", "lease", {"owner": "two"}, seen[1])
    assert two.get_record("state", "lease") == {"owner": "one", "renewed": True}


def test_groups_of_events_in_one_transaction_count_as_written_one_by_one(
    tmp_path: Path,
) -> None:
    """write_event_groups: a result per list, duplicates across the lists counted in the
    later one, columns a later list brings added, a bad event failing alone; and another
    process that added a column in other case meanwhile is followed, not doubled."""
    store = LocalStore(tmp_path / "soc.db")
    other = LocalStore(tmp_path / "soc.db")
    other.write_events([_event(99, **{"winlog.event_data.servicename": "x"})])
    first = [_event(1, **{"user.name": "a"}), _event(2, **{"user.name": "b"})]
    second = [
        _event(2, **{"user.name": "b"}),
        _event(3, **{"winlog.event_data.ServiceName": "PSEXESVC"}),
        {"_id": "no-time"},
    ]
    results = store.write_event_groups([first, [], second])
    assert [(r.stored, r.duplicates, r.failed) for r in results] == [
        (2, 0, 0),
        (0, 0, 0),
        (1, 1, 1),
    ]
    assert store.count("`winlog.event_data.ServiceName` = 'psexesvc'") == 1
    columns = [
        r[1]
        for r in sqlite3.connect(tmp_path / "soc.db").execute("PRAGMA table_info(events)")
        if r[1].lower() == "winlog.event_data.servicename"
    ]
    assert columns == ["winlog.event_data.servicename"]
    assert store.count() == 4


def _original_event(i: int, original: object, **fields: object) -> dict[str, object]:
    doc = _event(i, **{"event.kind": "event", "event.original": original, **fields})
    doc["event"]["code"] = "4688"  # a field after the record: the order must come back too
    return doc


def _documents_as_read(store: LocalStore) -> dict[str, dict[str, object]]:
    """Every stored document by id, as each way the store reads one gives it: search,
    get_event, and a rule scan both on every row and through the candidate pass (one
    literal per query); every event must have event.code 4688."""
    hits = store.search(size=100).hits
    by_get = [store.get_event(hit.id) for hit in hits]
    queries = [f"`event.code` LIKE '%4688{i}%' OR `event.code` = '4688'" for i in range(8)]
    literals = [(frozenset({("event.code", "4688")}),)] * len(queries)
    wide = {hit.id: hit.source for hit, _ in store.scan_rules(queries[:1])}
    narrowed = {hit.id: hit.source for hit, _ in store.scan_rules(queries, literals=literals)}
    assert [wide[h.id] for h in hits] == [narrowed[h.id] for h in hits] == by_get
    return {hit.id: hit.source for hit in hits}


def _as_stored(*docs: dict[str, object]) -> dict[str, dict[str, object]]:
    return {str(d["_id"]): {k: v for k, v in d.items() if k != "_id"} for d in docs}


def test_a_raw_record_is_stored_once_and_read_back_in_its_place(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "soc.db")
    record = '{"Event": {"System": {"EventID": 4688}, "EventData": {"Image": "C:\\\\a.exe"}}}'
    written = _original_event(1, record)
    store.write_events([written])
    row = store._conn.execute(
        """SELECT _doc, _original_in_column, "event.original" FROM events"""
    ).fetchone()
    assert record not in row[0] and row[1:] == (1, record)
    read = _documents_as_read(store)
    assert read == _as_stored(written)
    (doc,) = read.values()
    assert list(doc["event"]) == ["kind", "original", "code"]  # back where it was
    # keyword rules search the record in its column
    assert store.count("`event.original` LIKE '%a.exe%'") == 1


def test_a_record_that_cannot_live_in_its_column_stays_in_the_document(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "soc.db")
    not_text = _original_event(1, {"line": "not a text"})
    # another spelling of the path comes first and takes the event.original column
    other_spelling = {
        "_id": ecs.event_id("local-test", 2),
        "@timestamp": "2026-11-20T10:00:00.000000Z",
        "Event": {"Original": "other"},
        "event": {"original": "the record", "code": "4688"},
    }
    plain = _event(3, **{"event.kind": "event", "event.code": "4688"})
    store.write_events([not_text, other_spelling, plain])
    apart = store._conn.execute("SELECT _original_in_column FROM events").fetchall()
    assert apart == [(None,), (None,), (None,)]
    assert _documents_as_read(store) == _as_stored(not_text, other_spelling, plain)


def test_a_version_3_store_keeps_reading_its_documents_whole(tmp_path: Path) -> None:
    path = tmp_path / "soc.db"
    conn = _older_store(path, 3, '"@timestamp" TEXT, "event.original" TEXT COLLATE NOCASE')
    old = '{"@timestamp": "2026-11-20T10:00:00.000000Z", "event": {"original": "old line"}}'
    conn.execute("INSERT INTO events VALUES ('e1', 0, ?, '2026-11-20', 'old line')", (old,))
    conn.commit()
    conn.close()
    store = LocalStore(path)
    assert store.info()["schema_version"] == SCHEMA_VERSION
    assert store.get_event("e1") == {
        "@timestamp": "2026-11-20T10:00:00.000000Z",
        "event": {"original": "old line"},
    }
    store.write_events([_original_event(2, "new line")])
    assert [hit.source["event"]["original"] for hit in store.search().hits] == [
        "old line",
        "new line",
    ]
