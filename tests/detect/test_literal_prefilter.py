"""The literal prefilter of the local store's grouped scan (soc.store.sql_literals): what a
query needs, that it never leaves out an event SQLite would match, and that scanning with it
gives exactly the matches of evaluating every rule on every row."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rule_pack_events import pack_events

from collectors.ship import DeadLetterFile, Shipper
from collectors.sources.evtx import ingest_evtx
from soc.detect.compile import compile_all
from soc.detect.grouped import groups_of, prefilter_of
from soc.detect.loader import load_rules
from soc.resources import rules_dir
from soc.store.like_any import ascii_lower, rewrite
from soc.store.like_any import install as install_like_any
from soc.store.local import LocalStore
from soc.store.sql_literals import query_columns, required_literals

LIKE = "ESCAPE '\\'"


def texts(query: str) -> list[set[tuple[str, str]]] | None:
    need = required_literals(query)
    return None if need is None else [set(clause) for clause in need]


def test_like_needs_its_longest_fixed_run_and_or_needs_every_branch() -> None:
    query = (
        f"(`Image` LIKE '%\\\\cert_util.exe' {LIKE} OR `OriginalFileName`='CertUtil.exe') "
        f"AND `CommandLine` LIKE '%-urlcache%' {LIKE}"
    )
    # both clauses hold in a match; the rarer-looking (longest shortest literal) comes first
    assert texts(query) == [
        {("CommandLine", "-urlcache")},
        {("OriginalFileName", "CertUtil.exe"), ("Image", "util.exe")},
    ]


def test_a_comparison_read_whole_needs_what_it_needs_read_token_by_token() -> None:
    # The reader takes `column` LIKE '...' ESCAPE '\\' and `column`='...' as one token:
    # written in lower case, spaced out, unquoted or with another escape they are read
    # token by token, and each way gives the same need.
    whole = f"`a``b` LIKE '%x\\_it''s\\%%' {LIKE} AND `c`='Don''t' AND `d`=4688"
    # (the two rarest-looking clauses: the longest literals)
    assert texts(whole) == [{("a`b", "x_it's%")}, {("c", "Don't")}]
    spaced = "`a``b`  like  '%x\\_it''s\\%%'  escape  '\\' AND `c` = 'Don''t' AND `d` = 4688"
    assert texts(spaced) == texts(whole)
    assert texts("a LIKE '%xyz%' ESCAPE '\\'") == [{("a", "xyz")}]  # unquoted: lowered
    assert texts("`a` LIKE '%xyz%' ESCAPE '!'") is None  # another escape: unknown
    # a lone escape at the end of a pattern stands for nothing; the first longest run wins
    assert texts(f"`a` LIKE 'abc\\' {LIKE}") == [{("a", "abc")}]
    assert texts(f"`a` LIKE 'abc%xyz' {LIKE}") == [{("a", "abc")}]
    # the log-source conjunct is recognized read whole or not
    assert texts("`event.dataset`='x' AND `winlog.channel`='y' AND (`a`='long text')") == [
        {("a", "long text")}
    ]


def test_an_or_of_log_sources_keeps_the_conditions_of_each_rank() -> None:
    # A process creation rule is written once per log source (Sysmon's Image, Security's
    # NewProcessName): each operand needs a common image folder and a rare command line.
    # Joined rank by rank, the need keeps the command line; one clause taken from each
    # operand is what an event matching either holds.
    def branch(channel: str, image: str) -> str:
        return (
            f"((`event.dataset`='windows.eventlog' AND `winlog.channel`='{channel}') AND "
            rf"(`{image}` LIKE '%\\Windows\\%' {LIKE} AND "
            rf"(`CommandLine` LIKE '%\\..\\Windows\\%' {LIKE} OR "
            rf"`CommandLine` LIKE '%\\..\\..\\%' {LIKE})))"
        )

    query = f"{branch('Sysmon', 'Image')} OR {branch('Security', 'NewProcessName')}"
    assert texts(query) == [
        {("Image", "\\Windows\\"), ("NewProcessName", "\\Windows\\")},
        {("CommandLine", "\\..\\Windows\\"), ("CommandLine", "\\..\\..\\")},
    ]
    # an operand with fewer clauses gives its last one to every rank
    two = f"(`a` LIKE '%xyz%' {LIKE} AND `b` LIKE '%long text%' {LIKE}) OR `c`='qq'"
    assert texts(two) == [{("b", "long text"), ("c", "qq")}, {("a", "xyz"), ("c", "qq")}]


def test_negations_regex_flags_and_numbers() -> None:
    # what only negates needs nothing; an OR with one such branch needs nothing
    assert texts(f"NOT COALESCE((`a` LIKE '%x%' {LIKE}), 0)") is None
    assert texts(f"`a` LIKE '%xyz%' {LIKE} OR `b` IS NULL") is None
    # a regular expression: its top-level plain run; cut at wide-folding letters under (?i)
    assert texts(r"`a` REGEXP '\\Windows\\System32\\[a-z]{8}\.tmp$'") == [
        {("a", "\\Windows\\System32\\")}
    ]
    assert texts("`a` REGEXP '(?i)echo.*clipboard'") == [{("a", "pboard")}]  # cut at i
    assert texts("`a` REGEXP '(?m)^abc'") is None
    assert texts("`a` REGEXP 'ab|cd'") is None
    # an integer equality needs its digits; a LIKE of digits needs nothing
    assert texts("`winlog.event_id`=4742") == [{("winlog.event_id", "4742")}]
    assert texts(f"`a` LIKE '%4742%' {LIKE}") is None
    # the pipeline's log-source conjunct is left to the scan's prefilter
    query = (
        "(`event.dataset`='windows.eventlog' AND `winlog.channel`='Security' AND "
        "`winlog.event_id`=4688) AND `winlog.event_data.CommandLine` LIKE '%whoami%' " + LIKE
    )
    assert texts(query) == [{("winlog.event_data.CommandLine", "whoami")}]
    # anything this reader does not know needs nothing (the rule is evaluated everywhere)
    assert texts("no_such_function(`a`)") is None
    assert texts("`a` GLOB 'x*'") is None


# --- soundness: whenever SQLite matches, every clause is satisfied ---------------------------

COLUMNS = ("a", "b")
ALPHABET = "aAbB\\%_'é1 "
VALUES = st.one_of(st.none(), st.text(ALPHABET, max_size=8), st.integers(0, 20))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _leaf(column: str, kind: str, text: str, number: int) -> str:
    if kind == "like":
        return f"`{column}` LIKE {_quote(text)} {LIKE}"
    if kind == "eq":
        return f"`{column}`={_quote(text)}"
    if kind == "num":
        return f"`{column}`={number}"
    if kind == "re":
        return f"`{column}` REGEXP {_quote(text)}"
    return f"`{column}` IS NULL"


LEAVES = st.builds(
    _leaf,
    st.sampled_from(COLUMNS),
    st.sampled_from(["like", "like", "eq", "num", "re", "null"]),
    st.text("aAbB\\%_'é1 ", max_size=6),
    st.integers(0, 20),
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda x, y: f"({x}) AND ({y})", children, children),
        st.builds(lambda x, y: f"{x} OR {y}", children, children),
        st.builds(lambda x: f"NOT COALESCE(({x}), 0)", children),
    )


QUERIES = st.recursive(LEAVES, _combine, max_leaves=6)


def _regexp(pattern: str | None, value: object) -> int | None:
    import re

    if pattern is None or value is None:
        return None
    try:
        return 1 if re.search(pattern, str(value)) else 0
    except re.error:
        return 0


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(QUERIES, st.lists(st.tuples(VALUES, VALUES), min_size=1, max_size=6))
def test_no_event_sqlite_matches_is_left_out(query: str, rows: list[tuple]) -> None:
    conn = sqlite3.connect(":memory:")
    conn.create_function("REGEXP", 2, _regexp, deterministic=True)
    conn.execute("CREATE TABLE events (a, b)")
    conn.executemany("INSERT INTO events VALUES (?, ?)", rows)
    try:
        matched = conn.execute(f"SELECT a, b FROM events WHERE {query}").fetchall()
    except sqlite3.Error:
        return
    need = required_literals(query)
    if need is None:
        return
    for row in matched:
        values = dict(zip(COLUMNS, row, strict=True))
        for clause in need:
            assert any(
                values[column] is not None and ascii_lower(text) in ascii_lower(str(values[column]))
                for column, text in clause
            ), (query, row, clause)


# --- the scan: the same matches with and without the prefilter ------------------------------


def _matches(store: LocalStore, rules: list, with_literals: bool) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for group in groups_of(rules):
        scan = store.scan_rules(
            [r.query for r in group],
            prefilter=prefilter_of(group[0].variants),
            literals=[r.literals for r in group] if with_literals else None,
        )
        for hit, matched in scan:
            found.update((group[i].id, hit.id) for i in matched)
    return found


def test_the_pack_matches_the_same_events_with_the_prefilter(local_store: LocalStore) -> None:
    local_store.write_events(pack_events())
    compiled = compile_all(load_rules([rules_dir()]).rules, "sqlite", cache=None)
    singles = [c for c in compiled if c.runnable and not c.bases]
    assert sum(1 for c in singles if c.literals) > len(singles) / 2
    with_prefilter = _matches(local_store, singles, True)
    assert with_prefilter and with_prefilter == _matches(local_store, singles, False)


def test_repeated_events_are_candidates_as_the_first_was_whatever_the_memory_holds(
    local_store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The candidate pass remembers what it found in a value and in a row: events that
    repeat the pack's test events give the same matches, with the memories cleared at
    every row (the smallest) or never."""
    import soc.store.scan_candidates as scan_candidates

    events = pack_events()
    copies = [{**e, "_id": f"{e['_id']}-again"} for e in events]
    local_store.write_events(events + copies)
    compiled = compile_all(load_rules([rules_dir()]).rules, "sqlite", cache=None)
    singles = [c for c in compiled if c.runnable and not c.bases]
    expected = _matches(local_store, singles, False)
    assert {(rule, f"{event}-again") for rule, event in expected if "-again" not in event} <= (
        expected
    )
    assert _matches(local_store, singles, True) == expected
    monkeypatch.setattr(scan_candidates, "ROW_MEMO", 1)
    monkeypatch.setattr(scan_candidates, "VALUE_MEMO", 1)
    assert _matches(local_store, singles, True) == expected
    monkeypatch.setattr(scan_candidates, "MEMO_TEXT", 3)  # almost every text searched each time
    assert _matches(local_store, singles, True) == expected


@pytest.mark.conformance
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_sigmahq_windows_rules_match_the_same_corpus_events(
    corpus_dir: Path, tmp_path: Path
) -> None:
    # Every SigmaHQ Windows rule over every corpus EVTX file: the prefilter changes what is
    # read, never what matches (rule by rule, event by event).
    store = LocalStore(tmp_path / "evtx.db")
    shipper = Shipper(store, dead_letters=DeadLetterFile(tmp_path / "dead"), max_wait=None)
    for path in sorted((corpus_dir / "evtx").rglob("*.evtx")):
        ingest_evtx(path, shipper, source=str(path))
    shipper.close()
    loaded = load_rules([corpus_dir / "sigma" / "rules" / "windows"]).rules
    compiled = compile_all(loaded, "sqlite", cache=tmp_path / "cache")
    singles = [c for c in compiled if c.runnable and not c.bases]
    narrowed = sum(1 for c in singles if c.literals)
    assert narrowed > 0.9 * len(singles) > 2000
    with_prefilter = _matches(store, singles, True)
    assert len(with_prefilter) > 1000
    assert with_prefilter == _matches(store, singles, False)
    store.close()


def test_a_scan_sees_the_columns_another_writer_added_since_the_last_one(tmp_path: Path) -> None:
    """The scan keeps the table's columns between scans (there are hundreds) until the
    schema changes: a field first written by another process after a scan is looked for
    in the next one."""
    path = tmp_path / "soc.db"
    scanner, writer = LocalStore(path), LocalStore(path)

    def event(n: int, **fields: Any) -> dict:
        return {"_id": f"e{n}", "@timestamp": f"2026-11-20T10:00:0{n}Z", **fields}

    writer.write_events([event(1, process={"command_line": "whoami /all"})])
    queries = [f"`process.command_line` LIKE '%tool{i}%' {LIKE}" for i in range(8)]
    queries.append(f"`process.title` LIKE '%mimikatz%' {LIKE}")
    literals = [required_literals(q) for q in queries]

    def matched() -> list[tuple[str, list[int]]]:
        return [(hit.id, rules) for hit, rules in scanner.scan_rules(queries, literals=literals)]

    assert matched() == []
    writer.write_events([event(2, process={"title": "MIMIKATZ 2.2"})])
    assert matched() == [("e2", [8])]


def test_a_literal_counts_only_in_the_column_that_needs_it(tmp_path: Path) -> None:
    """A row is a candidate of a query only when each needed text is in the column named
    with it: the same text in another column of the row does not make it one."""
    import soc.store.scan_candidates as scan_candidates
    from soc.store.scan_candidates import LiteralFinder

    # column 0 needs "mimikatz" (pair 0) and "ab" (pair 1); column 1 "ab" (pair 2); column
    # 2 "4688" (pair 3)
    finder = LiteralFinder([{"mimikatz": 0, "ab": 1}, {"ab": 2}, {"4688": 3}])
    values = ["run MIMIKATZ.exe ab", "Đặng ab mimikatz", 4688]
    assert finder.seen(values) == {0, 1, 2, 3}
    # a text needed in one column is not looked for in another
    assert finder.seen(["cmd.exe 4688", "run mimikatz.exe", "ab"]) == set()
    assert finder.seen([None, None, "x4688"]) == {3}
    # a value seen before answers the same (it is remembered), in its own place only
    assert finder.seen(values) == {0, 1, 2, 3}
    assert finder.seen(["ab", "ab", None]) == {1, 2}
    # a text spanning two values is in neither
    assert finder.seen(["mimi", "katz"]) == set()
    # a long value (an event's raw record) is searched, not remembered, and neither is the
    # row holding it: memory stays small
    remembered = len(finder._found)
    long_value = "x" * scan_candidates.MEMO_TEXT + " mimikatz"
    assert finder.seen([long_value]) == {0}
    assert not finder.memorable
    assert len(finder._found) == remembered
    # 1 and 1.0 are equal keys but different texts: a row with a float is not remembered
    assert finder.seen([None, None, 4688.0]) == {3}
    assert not finder.memorable
    assert finder.seen([None, None, 4688]) == {3}
    assert finder.memorable

    store = LocalStore(tmp_path / "soc.db")
    store.write_events(
        [
            {
                "_id": "in-command-line",
                "@timestamp": "2026-11-20T10:00:01Z",
                "process": {"name": "cmd.exe", "command_line": "cmd /c mimikatz.exe"},
            },
            {
                "_id": "in-name",
                "@timestamp": "2026-11-20T10:00:02Z",
                "process": {"name": "MimiKatz.exe", "command_line": "x"},
            },
        ]
    )
    query = f"`process.name` LIKE '%mimikatz%' {LIKE}"
    cursor = store._conn.cursor()
    present = {"process.name": "process.name", "process.command_line": "process.command_line"}
    candidates = store._candidates(cursor, [0], [required_literals(query)], present, [], [])
    rowids = dict(store._conn.execute("SELECT _id, rowid FROM events").fetchall())
    assert list(candidates[0]) == [rowids["in-name"]]
    scan = store.scan_rules([query], literals=[required_literals(query)])
    assert [(hit.id, rules) for hit, rules in scan] == [("in-name", [0])]
    store.close()


def test_query_columns_names_every_column_a_query_reads() -> None:
    """Quoted names (backquotes, double quotes, doubled inside) and bare words, lower-cased;
    nothing from inside a text. Keywords come along: a superset is what is asked for."""
    query = (
        "`event.dataset`='windows.eventlog' AND (message LIKE '%`fake` \"x\" %' ESCAPE '\\' "
        "OR \"Odd\"\"Name\" REGEXP 'a|b' OR `we``ird` IS NULL OR Image = 'it''s') "
        "AND NOT coalesce((`winlog.event_id`=15), 0)"
    )
    names = query_columns(query)
    assert {"event.dataset", "message", 'odd"name', "we`ird", "image", "winlog.event_id"} <= names
    assert not {"fake", "x", "windows.eventlog", "a", "b", "it", "s"} & names
    # the store finds these very columns (a store of the local target reads no others)
    with sqlite3.connect(":memory:") as conn:
        conn.execute(
            'CREATE TABLE events ("event.dataset", message, "Odd""Name", "we`ird", IMAGE, '
            '"winlog.event_id", unrelated)'
        )
        conn.create_function("REGEXP", 2, lambda pattern, value: 0)
        read: set[str] = set()

        def authorizer(action: int, table: Any, column: Any, *_: Any) -> int:
            if action == sqlite3.SQLITE_READ and column:
                read.add(str(column).lower())
            return sqlite3.SQLITE_OK

        conn.set_authorizer(authorizer)
        conn.execute(f"SELECT 1 FROM events WHERE {query}").fetchall()
    assert read and read <= names and "unrelated" not in read


def _prepares_on_its_named_columns(query: str) -> bool:
    """Whether ``query`` (as scanned: like_any's rewrite too) compiles on a table whose
    columns are only those query_columns names: SQLite then finds every column it reads."""
    names = sorted({n.lower() for n in query_columns(query)})
    with sqlite3.connect(":memory:") as conn:
        columns = ", ".join('"' + n.replace('"', '""') + '"' for n in names)
        conn.execute(f"CREATE TABLE events ({columns or 'nothing'})")
        conn.create_function("REGEXP", 2, lambda pattern, value: 0)
        install_like_any(conn)
        try:
            conn.execute(f"SELECT 1 FROM events WHERE ({rewrite(query)}) LIMIT 0")
        except sqlite3.OperationalError:
            return False
    return True


def test_every_query_of_the_pack_reads_only_columns_it_names() -> None:
    compiled = compile_all(load_rules([rules_dir()]).rules, "sqlite", cache=None)
    queries = [q for c in compiled for q in (c.query, *(b.query for b in c.bases)) if q]
    assert len(queries) > 100
    assert [q for q in queries if not _prepares_on_its_named_columns(q)] == []


@pytest.mark.conformance
def test_every_sigmahq_windows_query_reads_only_columns_it_names(
    corpus_dir: Path, tmp_path: Path
) -> None:
    loaded = load_rules([corpus_dir / "sigma" / "rules" / "windows"]).rules
    compiled = compile_all(loaded, "sqlite", cache=tmp_path / "cache")
    queries = [c.query for c in compiled if c.query]
    assert len(queries) > 2000
    assert [q for q in queries if not _prepares_on_its_named_columns(q)] == []
