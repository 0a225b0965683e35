"""The multi-pattern matcher behind soc_like_any gives SQLite LIKE's answers (ESCAPE '\\'),
and rewriting a rule's SQL never changes which rows it selects."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soc.store import like_any

VALUES = [
    None,
    "",
    "cmd.exe /c whoami",
    "CMD.EXE /C WHOAMI",
    "C:\\Windows\\System32\\cmd.exe",
    "100% done_now",
    "100x done-now",
    "a\\b",
    "ÉCOLE école",
    "\u212a",  # KELVIN SIGN: Python lowers it to "k", LIKE does not
    "k",
    "İstanbul",
    "run 😀 now",
    "🤷🏼‍♂️",
    "line1\nline2",
    "before\x00after",
    "x",
    "xy",
    "it's",
    4688,
    1.5,
]

PATTERNS = [
    "%whoami%",
    "%\\\\system32\\\\%",
    "cmd.exe%",
    "%.EXE",
    "%100\\% done\\_now%",
    "%a\\\\b%",
    "%école%",
    "%\u212a%",
    "%😀%",
    "%🤷🏼‍♂️%",
    "%line1_line2%",
    "%after%",
    "x",
    "_",
    "x_",
    "%4688%",
    "1.5",
    "%it's%",
    "c:%system32%.exe",
    "%\\",  # a lone trailing escape never matches
]


def _sql_quote(pattern: str) -> str:
    return "'" + pattern.replace("'", "''") + "'"


def _or_of_likes(patterns: list[str]) -> str:
    return " OR ".join(f"`v` LIKE {_sql_quote(p)} ESCAPE '\\'" for p in patterns)


@pytest.fixture(autouse=True, scope="module")
def _runs_of_eight_are_rewritten() -> Iterator[None]:
    """These tests check what the rewrite does to runs of 8 to 20 patterns; from how many
    patterns on the rewrite pays (like_any.MIN_PATTERNS) is a measured tuning."""
    saved = like_any.MIN_PATTERNS
    like_any.MIN_PATTERNS = 8
    like_any.rewrite.cache_clear()
    yield
    like_any.MIN_PATTERNS = saved
    like_any.rewrite.cache_clear()


@pytest.fixture
def db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    like_any.install(conn)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(v,) for v in VALUES])
    return conn


def _rows(conn: sqlite3.Connection, where: str) -> list[tuple[int, object]]:
    sql = f"SELECT id, ({where}) FROM t ORDER BY id"
    return conn.execute(sql).fetchall()


def test_each_pattern_answers_like_like(db: sqlite3.Connection) -> None:
    # Every pattern alone, padded with non-matching ones to reach the rewrite threshold.
    padding = [f"%zz-never-{i}%" for i in range(like_any.MIN_PATTERNS)]
    for pattern in PATTERNS:
        where = _or_of_likes([pattern, *padding])
        rewritten = like_any.rewrite(where)
        assert like_any.FUNCTION in rewritten
        assert _rows(db, rewritten) == _rows(db, where), pattern


def test_all_patterns_together(db: sqlite3.Connection) -> None:
    where = _or_of_likes(PATTERNS)
    assert _rows(db, like_any.rewrite(where)) == _rows(db, where)
    # NULL stays NULL, so NOT around the list keeps its meaning
    negated = f"NOT ({where})"
    assert _rows(db, like_any.rewrite(negated)) == _rows(db, negated)


def test_runs_bound_by_and_or_not_are_not_merged_across_precedence(
    db: sqlite3.Connection,
) -> None:
    likes = _or_of_likes(PATTERNS[:10])
    for where in (
        f"`v` IS NOT NULL AND {likes}",  # AND binds to the first LIKE only
        f"{likes} AND `v` IS NOT NULL",  # ... and to the last
        f"NOT {likes}",  # NOT binds to the first LIKE only
        f"(`v` = 'x' OR {likes}) AND length(`v`) > 1",
    ):
        rewritten = like_any.rewrite(where)
        assert like_any.FUNCTION in rewritten
        assert _rows(db, rewritten) == _rows(db, where), where


def test_lists_of_several_selections_merge_into_one_call(db: sqlite3.Connection) -> None:
    first, second = _or_of_likes(PATTERNS[:10]), _or_of_likes(PATTERNS[10:])
    where = f"`v` IS NOT NULL AND (({first}) OR ({second}))"
    rewritten = like_any.rewrite(where)
    assert rewritten.count(like_any.FUNCTION) == 1
    assert _rows(db, rewritten) == _rows(db, where)
    # NOT binds to the first list only: the lists stay apart
    negated = f"NOT ({first}) OR ({second})"
    rewritten = like_any.rewrite(negated)
    assert rewritten.count(like_any.FUNCTION) == 2
    assert _rows(db, rewritten) == _rows(db, negated)


def test_short_lists_and_quoted_text_are_left_alone() -> None:
    short = _or_of_likes(["%a%", "%b%"])
    assert like_any.rewrite(short) == short
    inside = "`v` = '" + _or_of_likes(PATTERNS).replace("'", "''") + "'"
    assert like_any.rewrite(inside) == inside


_ALPHABET = st.sampled_from(list("aAbB%_\\'xé😀\n"))


@settings(max_examples=150, deadline=None)
@given(
    patterns=st.lists(st.text(_ALPHABET, max_size=5), min_size=8, max_size=12),
    values=st.lists(st.text(_ALPHABET, max_size=8), min_size=1, max_size=6),
)
def test_random_patterns_and_values(patterns: list[str], values: list[str]) -> None:
    conn = sqlite3.connect(":memory:")
    like_any.install(conn)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(v,) for v in values])
    where = _or_of_likes(patterns)
    assert _rows(conn, like_any.rewrite(where)) == _rows(conn, where)
