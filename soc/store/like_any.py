"""Long OR-lists of LIKE patterns on one column, matched by one call of a SQL function.

pySigma's SQLite backend turns a Sigma value list (``CommandLine|contains: [...]``) into
``col LIKE '%a%' ESCAPE '\\' OR col LIKE '%b%' ESCAPE '\\' OR ...``. SQLite evaluates each
LIKE in turn, so a rule with 1,000 values (emoji, hashes, tool names) costs 1,000 pattern
scans of the column on every row. ``rewrite`` replaces such a run (at least MIN_PATTERNS
terms, same column, joined by OR at one level) with ``soc_like_any(CAST(col AS TEXT), 'key')``,
whose matcher checks all the patterns at once: an Aho-Corasick automaton for the ``%lit%``
patterns, ``startswith``/``endswith`` tuples, a set for exact values and one regular
expression for the rest.

The answers are those of SQLite's LIKE with ``ESCAPE '\\'`` (default settings):

- case folding of ASCII letters only (``É`` does not match ``é``; ``K`` (Kelvin) not ``k``);
- ``%`` any run of characters (newlines too), ``_`` exactly one character, ``\\x`` the
  character ``x`` itself;
- the value is read as text (``CAST`` is the conversion LIKE applies) and ends at a NUL
  character, as SQLite's C string does;
- NULL when the value is NULL (so ``NOT``/``OR`` around it behave as before).

The pattern sets live in this process (``register`` keyed by a digest of the patterns; a
matcher is built when first called); every
connection of the local store has the function (``install``).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

try:  # a C automaton when installed (pyahocorasick); a regex alternation otherwise
    import ahocorasick
except ImportError:  # pragma: no cover - depends on the environment
    ahocorasick = None

#: Name of the SQL function.
FUNCTION = "soc_like_any"

#: Shortest run of LIKE terms worth one function call: below it SQLite's own LIKEs cost less
#: than calling into Python (about 1.5 µs a call, the value converted and folded), on short
#: values and on long ones alike. With 8, scanning the SigmaHQ Windows groups over the
#: corpus took 0.60 s of CPU; with 24, 0.51-0.52 s (docs/detection.md).
MIN_PATTERNS = 24

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_TERM = r"(?P<col>`(?:[^`]|``)+`) LIKE '(?:[^']|'')*' ESCAPE '\\'"
_NEXT = r" OR (?P=col) LIKE '(?:[^']|'')*' ESCAPE '\\'"
#: A run of LIKE terms, or a whole quoted literal/identifier (so the scan never starts inside
#: one).
_SCAN = re.compile(
    rf"(?P<run>{_TERM}(?:{_NEXT})+)|`(?:[^`]|``)*`|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\""
)
_ONE = re.compile(r"`(?:[^`]|``)+` LIKE '((?:[^']|'')*)' ESCAPE '\\'")


def ascii_lower(text: str) -> str:
    """``text`` with only the ASCII letters lowered (SQLite LIKE's case folding)."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def _parse(pattern: str) -> list[str | None] | None:
    """A LIKE pattern (escape ``\\``) as literal characters and wildcards (None for ``%``,
    the empty string for ``_``); None for a pattern ending in a lone escape, which SQLite
    never matches."""
    items: list[str | None] = []
    escaped = False
    for char in pattern:
        if escaped:
            items.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            items.append(None)
        elif char == "_":
            items.append("")
        else:
            items.append(char)
    return None if escaped else items


@dataclass
class LikeAnyMatcher:
    """Whether a text matches any of a set of LIKE patterns (ESCAPE ``\\``)."""

    contains: Callable[[str], bool] | None
    prefixes: tuple[str, ...]
    suffixes: tuple[str, ...]
    exact: frozenset[str]
    other: re.Pattern[str] | None
    anything: bool

    @classmethod
    def of(cls, patterns: Sequence[str]) -> LikeAnyMatcher:
        """The matcher of ``patterns`` (LIKE pattern texts, not SQL-quoted)."""
        contains: set[str] = set()
        prefixes: list[str] = []
        suffixes: list[str] = []
        exact: set[str] = set()
        other: list[str] = []
        anything = False
        for pattern in patterns:
            if not any(c in pattern for c in "\\_") and "%" not in pattern[1:-1]:
                # the common forms, without parsing: 'x', '%x', 'x%', '%x%'
                head, tail = pattern.startswith("%"), len(pattern) > 1 and pattern.endswith("%")
                literal = ascii_lower(pattern[int(head) : len(pattern) - int(tail)])
                if not literal and (head or tail):
                    anything = True
                elif head and tail:
                    contains.add(literal)
                elif head:
                    suffixes.append(literal)
                elif tail:
                    prefixes.append(literal)
                else:
                    exact.add(literal)
                continue
            items = _parse(pattern)
            if items is None:
                continue
            inner = [i for i in items if i is not None]
            literal = ascii_lower("".join(i for i in inner if i))
            plain = "" not in inner  # no "_"
            wild_at = [k for k, i in enumerate(items) if i is None]
            if plain and not wild_at:
                exact.add(literal)
            elif plain and not literal:
                anything = True  # only "%": any text
            elif plain and wild_at == [0, len(items) - 1]:
                contains.add(literal)
            elif plain and wild_at == [len(items) - 1]:
                prefixes.append(literal)
            elif plain and wild_at == [0]:
                suffixes.append(literal)
            else:
                other.append(_regex(items))
        regex = re.compile("|".join(f"(?:{o})" for o in other), re.DOTALL) if other else None
        return cls(
            _contains(contains),
            tuple(prefixes),
            tuple(suffixes),
            frozenset(exact),
            regex,
            anything,
        )

    def __call__(self, value: str) -> bool:
        """Whether ``value`` (already ASCII-lowered, cut at NUL) matches some pattern."""
        if self.anything or value in self.exact:
            return True
        if self.contains is not None and self.contains(value):
            return True
        if self.prefixes and value.startswith(self.prefixes):
            return True
        if self.suffixes and value.endswith(self.suffixes):
            return True
        return self.other is not None and self.other.fullmatch(value) is not None


def _regex(items: list[str | None]) -> str:
    parts: list[str] = []
    for item in items:
        if item is None:
            parts.append(".*")
        elif item == "":
            parts.append(".")
        else:
            parts.append(re.escape(ascii_lower(item)))
    return "".join(parts)


def _contains(literals: set[str]) -> Callable[[str], bool] | None:
    """A test of whether a text contains any of ``literals``."""
    if not literals:
        return None
    if ahocorasick is None:
        alternation = re.compile("|".join(re.escape(s) for s in sorted(literals)))
        return lambda value: alternation.search(value) is not None
    automaton = ahocorasick.Automaton()
    for literal in literals:
        automaton.add_word(literal, 0)
    automaton.make_automaton()

    def search(value: str) -> bool:
        for _ in automaton.iter(value):
            return True
        return False

    return search


#: The patterns of each key, and the matchers built so far (on first use).
_PATTERNS: dict[str, tuple[str, ...]] = {}
_MATCHERS: dict[str, LikeAnyMatcher] = {}


def register(patterns: Sequence[str]) -> str:
    """The key of ``patterns`` in this process; their matcher is built on first use."""
    key = hashlib.blake2b("\x00".join(patterns).encode(), digest_size=16).hexdigest()
    _PATTERNS.setdefault(key, tuple(patterns))
    return key


def _matcher(key: str) -> LikeAnyMatcher:
    matcher = _MATCHERS.get(key)
    if matcher is None:
        matcher = _MATCHERS[key] = LikeAnyMatcher.of(_PATTERNS[key])
    return matcher


def like_any(value: str | None, key: str) -> int | None:
    """The SQL function: 1 when ``value`` matches one of the patterns registered as ``key``,
    0 when not, NULL when ``value`` is NULL."""
    if value is None:
        return None
    pair = _last[0]
    if value != pair[0]:  # a row's value is tested by many rules in a row: fold it once
        cut = value.find("\x00")
        pair = (value, ascii_lower(value if cut < 0 else value[:cut]))
        _last[0] = pair  # one reference swapped at once: safe if threads share the function
    return 1 if _matcher(key)(pair[1]) else 0


#: The last value tested and its folded form.
_last: list[tuple[str, str]] = [("", "")]


def install(conn: sqlite3.Connection) -> None:
    """Make the function available on ``conn``."""
    conn.create_function(FUNCTION, 2, like_any, deterministic=True)


def _bounded(sql: str, start: int, end: int) -> tuple[bool, bool]:
    """Whether the run at ``[start, end)`` is a whole operand of OR on its left and right
    (so merging its terms does not change what AND/NOT bind to)."""
    before = start
    while before > 0 and sql[before - 1] == " ":
        before -= 1
    after = end
    while after < len(sql) and sql[after] == " ":
        after += 1
    left = before == 0 or sql[before - 1] == "(" or sql.startswith(" OR ", max(start - 4, 0), start)
    right = after == len(sql) or sql[after] == ")" or sql.startswith(" OR ", end)
    return left, right


@lru_cache(maxsize=16384)
def rewrite(sql: str) -> str:
    """``sql`` with every run of at least MIN_PATTERNS ``col LIKE '…' ESCAPE '\\'`` terms on
    one column, joined by OR, replaced by one call of the function; then calls on the same
    column that are OR-ed side by side (``(f(c, k1)) OR (f(c, k2))``, as value lists of
    several selections come out) merged into one. The answers are the same. (Remembered:
    the pattern sets it registers live as long as the process.)"""
    if sql.count(" LIKE ") < MIN_PATTERNS:
        return sql  # most rules: nothing to merge, and no scan of their text
    return _merge_calls(_merge_likes(sql))


def _merge_likes(sql: str) -> str:
    out: list[str] = []
    done = 0
    for match in _SCAN.finditer(sql):
        if match.group("run") is None:
            continue
        start, end = match.span()
        terms = [
            (m.start() + start, m.end() + start, m.group(1)) for m in _ONE.finditer(match.group())
        ]
        left, right = _bounded(sql, start, end)
        if not left:
            terms = terms[1:]
        if not right:
            terms = terms[:-1]
        if len(terms) < MIN_PATTERNS:
            continue
        patterns = [t[2].replace("''", "'") for t in terms]
        column = match.group("col")
        out.append(sql[done : terms[0][0]])
        out.append(f"{FUNCTION}(CAST({column} AS TEXT), '{register(patterns)}')")
        done = terms[-1][1]
    out.append(sql[done:])
    return "".join(out)


_CALL = rf"\({FUNCTION}\(CAST\((?P<col>`(?:[^`]|``)+`) AS TEXT\), '(?P<key>[0-9a-f]+)'\)\)"
_CALLS = re.compile(
    rf"(?P<run>{_CALL}(?: OR \({FUNCTION}\(CAST\((?P=col) AS TEXT\), '[0-9a-f]+'\)\))+)"
    r"|`(?:[^`]|``)*`|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\""
)
_KEY = re.compile(rf"{FUNCTION}\(CAST\(`(?:[^`]|``)+` AS TEXT\), '([0-9a-f]+)'\)")


def _merge_calls(sql: str) -> str:
    out: list[str] = []
    done = 0
    for match in _CALLS.finditer(sql):
        if match.group("run") is None:
            continue
        start, end = match.span()
        if _bounded(sql, start, end) != (True, True):
            continue  # each call is parenthesized: only a whole run of OR operands is merged
        patterns = [p for key in _KEY.findall(match.group()) for p in _PATTERNS[key]]
        out.append(sql[done:start])
        out.append(f"{FUNCTION}(CAST({match.group('col')} AS TEXT), '{register(patterns)}')")
        done = end
    out.append(sql[done:])
    return "".join(out)
