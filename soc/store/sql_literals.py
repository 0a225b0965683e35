"""Required literals of a compiled SQL rule: column text that must be present in an event
for the rule to have any chance of matching it.

pySigma's SQLite backend writes a rule as AND/OR/NOT of comparisons on columns: ``LIKE`` with
``%``/``_`` wildcards, ``=``, ``REGEXP``, ``IS NULL``. For many rules every way to match
needs some fixed text in some column: ``Image LIKE '%\\certutil.exe'`` needs
``\\certutil.exe`` in ``Image``. ``required_literals`` reads the query and returns clauses of
(column, text) pairs such that an event matching the query holds, for every clause, one of
its texts in its column, compared as SQLite's LIKE compares (ASCII letters folded, the value
read as text); or None when nothing is known (a rule that only negates, or tests numbers).

The grouped scan (``LocalStore.scan_rules``) uses them to evaluate a rule only on the events
whose columns satisfy its clauses: a prefilter, never a match by itself. It must
therefore never leave out an event the query would match. The rules kept here:

- A need is a list of clauses, all of which hold (a clause: pairs one of which holds).
  AND needs the clauses of all its operands (the MAX_CLAUSES rarest-looking are kept: not
  on a provider name, longest shortest literal); OR needs, rank by rank, the union of one
  clause of each operand (their best clauses joined, then their second best...), and
  nothing when one operand needs nothing; NOT needs nothing.
- A LIKE pattern needs its longest fixed run between wildcards; ``=`` with a text needs
  the text, ``=`` with a non-negative integer its digits; a regular expression needs its
  longest run of plain characters outside any group, class, repetition or alternative
  (none when it sets flags). Conditions on the
  log-source columns (``event.dataset``, ``winlog.channel``) are left out: every event of
  a rule's group has them.
- A text or pattern made only of digits and number signs needs nothing: SQLite writes a
  stored number (or a boolean, stored as 1/0) as text in its own way.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

try:  # the pattern parser of the re module (CPython's, as re itself uses it)
    from re import _constants as re_constants  # type: ignore[attr-defined]
    from re import _parser as re_parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python before 3.11
    import sre_constants as re_constants  # type: ignore[no-redef]
    import sre_parse as re_parser  # type: ignore[no-redef]

#: Columns every event of a rule's group shares: a literal on them narrows nothing. (An
#: event id narrows a channel's events; the scan drops clauses its prefilter already fixes.)
LOGSOURCE_COLUMNS = frozenset({"event.dataset", "winlog.channel"})
#: Columns whose values are few and shared by many events of a channel (a provider name):
#: a literal on them is used only when no other operand of an AND has one.
WEAK_COLUMNS = frozenset({"winlog.provider_name"})

# (possessive runs: the regex engine takes a run of plain characters at once)
_IDENT = r"`(?:[^`]++|``)++`"
_TEXT = r"'[^']*+(?:''[^']*+)*+'"
_NUMBER = r"-?\d+(?:\.\d+)?"
#: The query's tokens. The two comparisons the backend writes most (a quoted column LIKE a
#: pattern with the escape ``\``, a quoted column = a text or number) are one token each:
#: reading them whole is most of what makes the reader fast enough.
_TOKEN = re.compile(
    rf"\s+"
    rf"|(?P<like>(?P<like_column>{_IDENT})\s+(?i:LIKE)\s+(?P<like_pattern>{_TEXT})"
    rf"\s+(?i:ESCAPE)\s+'\\')"
    rf"|(?P<equals>(?P<eq_column>{_IDENT})\s*=\s*(?:(?P<eq_text>{_TEXT})|(?P<eq_number>{_NUMBER})))"
    rf"|(?P<ident>{_IDENT})|(?P<text>{_TEXT})|(?P<number>{_NUMBER})"
    rf"|(?P<word>[A-Za-z_][A-Za-z_0-9.]*)|(?P<op><=|>=|!=|<>|[=<>(),])|(?P<unknown>.)",
    re.DOTALL,
)
#: A LIKE pattern's fixed runs: escaped characters and characters other than wildcards.
_FIXED_RUN = re.compile(r"(?:\\.|[^%_\\])+", re.DOTALL)
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
_NUMERIC = re.compile(r"[0-9.+\-eE]*")

#: A clause: (column, text) pairs, one of which a matching event holds.
Clause = frozenset[tuple[str, str]]
#: The clauses a matching event satisfies, all of them (best first); None when none is known.
Need = tuple[Clause, ...] | None
#: Most clauses kept for one query (the best ones).
MAX_CLAUSES = 2


class _Unknown(Exception):
    """The query holds a construct this reader does not know: it needs nothing known."""


#: A token: its kind and text; a whole comparison ("like", "equals") holds instead the
#: column's name and what it is compared with (a LIKE pattern; a text, or None and a number).
_Token = tuple[str, Any]


def _tokens(query: str) -> list[_Token]:
    out: list[_Token] = []
    for found in _TOKEN.finditer(query):
        kind = found.lastgroup
        if kind is None:  # white space
            continue
        if kind == "like":
            column, pattern = found.group("like_column", "like_pattern")
            out.append((kind, (_column(column), _text(("text", pattern)))))
        elif kind == "equals":
            column, text, number = found.group("eq_column", "eq_text", "eq_number")
            compared = _text(("text", text)) if text is not None else None
            out.append((kind, (_column(column), compared, number)))
        elif kind == "unknown":
            raise _Unknown(query[found.start() : found.start() + 20])
        else:
            value = found.group()
            out.append((kind, value.upper() if kind == "word" else value))
    return out


def _column(ident: str) -> str:
    """The name of a backquoted column."""
    return ident[1:-1].replace("``", "`")


class _Reader:
    """A recursive-descent reader of the backend's SQL subset, computing what a query needs."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> _Token:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> _Token:
        token = self.peek()
        if token[0] == "end" or (value is not None and token[1] != value):
            raise _Unknown(f"expected {value!r} at {token[1]!r}")
        self.at += 1
        return token

    def expression(self) -> Need:
        needs = [self.conjunction()]
        while self.peek() == ("word", "OR"):
            self.take()
            needs.append(self.conjunction())
        if len(needs) == 1:
            return needs[0]
        if any(not n for n in needs):
            return None
        # A match satisfies one operand, hence every clause of it: a clause taken from each
        # operand and joined holds. The operands' clauses are joined rank by rank (the best
        # of each, then the second best of each...; an operand with fewer gives its last),
        # which pairs the same condition in each log source of a rule written for several
        # (a process creation rule's Sysmon and Security events).
        ranks = max(len(n) for n in needs if n)
        joined = {
            frozenset().union(*[n[min(rank, len(n) - 1)] for n in needs if n])
            for rank in range(ranks)
        }
        return tuple(sorted(joined, key=_quality, reverse=True))

    def conjunction(self) -> Need:
        logsource = self.names_dataset()
        needs = [(self.peek()[1] == "(", self.factor())]
        while self.peek() == ("word", "AND"):
            self.take()
            logsource = logsource or self.names_dataset()
            needs.append((self.peek()[1] == "(", self.factor()))
        if len(needs) == 1 and not logsource:
            # One factor (most are: each operand of an OR): its need is already its best
            # clauses, best first.
            return needs[0][1]
        if logsource:
            # The log-source condition our pipelines add (dataset AND channel AND event
            # id), alone or beside the rule's own condition in parentheses: the scan's
            # prefilter holds it, and its event ids would only crowd out the rule's own
            # literals; what the parenthesized condition needs is kept.
            needs = [(grouped, need) for grouped, need in needs if grouped]
        clauses = {clause for _, need in needs if need for clause in need}
        best = sorted(clauses, key=_quality, reverse=True)[:MAX_CLAUSES]
        return tuple(best) or None

    def names_dataset(self) -> bool:
        """Whether the next factor is a comparison on ``event.dataset``."""
        kind, value = self.peek()
        if kind in ("like", "equals"):
            return value[0] == "event.dataset"
        return kind == "ident" and value[1:-1] == "event.dataset"

    def factor(self) -> Need:
        kind, value = self.peek()
        if value == "(":
            self.take()
            need = self.expression()
            self.take(")")
            return need
        if (kind, value) == ("word", "NOT"):
            self.take()
            self.factor()
            return None
        if (kind, value) == ("word", "COALESCE"):
            self.take()
            self.take("(")
            need = self.expression()
            self.take(",")
            fallback = self.take()
            self.take(")")
            return need if fallback == ("number", "0") else None
        if kind == "like":
            self.at += 1
            column, pattern = value
            return None if column in LOGSOURCE_COLUMNS else _need(column, _longest_run(pattern))
        if kind == "equals":
            self.at += 1
            return _equals_need(*value)
        if kind in ("ident", "word"):
            return self.comparison()
        raise _Unknown(value)

    def comparison(self) -> Need:
        kind, column = self.take()
        name = _column(column) if kind == "ident" else column.lower()
        _, operator = self.take()
        if operator == "LIKE":
            pattern = _text(self.take())
            self.take("ESCAPE")
            escape = _text(self.take())
            if escape != "\\":
                return None
            return None if name in LOGSOURCE_COLUMNS else _need(name, _longest_run(pattern))
        if operator == "=":
            kind, value = self.take()
            if kind == "text":
                return _equals_need(name, _text((kind, value)), None)
            return _equals_need(name, None, value if kind == "number" else None)
        if operator == "REGEXP":
            pattern = _text(self.take())
            return None if name in LOGSOURCE_COLUMNS else _need(name, _regex_run(pattern))
        if operator == "IS":
            if self.peek() == ("word", "NOT"):
                self.take()
            self.take("NULL")
            return None
        if operator in ("<", ">", "<=", ">=", "!=", "<>"):
            self.take()
            return None
        raise _Unknown(operator)


def _equals_need(column: str, text: str | None, number: str | None) -> Need:
    """What ``column = text`` (or ``= number``) needs."""
    if column in LOGSOURCE_COLUMNS:
        return None
    if number is not None and number.isdigit():
        # The stored value equals this integer: as text (an INTEGER, a REAL n.0, a TEXT
        # column's converted value) it holds its digits.
        return (frozenset({(column, str(int(number)))}),)
    if text is None:
        return None
    return _need(column, text)


def _text(token: _Token) -> str:
    kind, value = token
    if kind != "text":
        raise _Unknown(value)
    return value[1:-1].replace("''", "'")


def _longest_run(pattern: str) -> str:
    """The longest fixed run of a LIKE pattern whose escape character is ``\\`` (the
    first of the longest; a lone ``\\`` at the end stands for nothing)."""
    runs = [_ESCAPED.sub(r"\1", run) for run in _FIXED_RUN.findall(pattern)]
    return max(runs, key=len, default="")


def _regex_run(pattern: str) -> str:
    """The longest run of plain characters that every match of ``pattern`` (Python ``re``,
    searched in the value) contains, read from the parsed pattern's top level; "" when
    there is none. Under ``(?i)`` a run is also cut at the letters whose case folding
    reaches beyond ASCII (``ſ`` matches ``s``, the Kelvin sign ``k``, ``İ`` ``i``) and at
    non-ASCII characters, so that folding ASCII letters is enough; other flags give ""."""
    try:
        parsed = re_parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return ""
    flags = parsed.state.flags & ~(re.UNICODE | re.DEBUG)
    if flags not in (0, re.IGNORECASE):
        return ""
    runs: list[str] = []
    current: list[str] = []
    for op, argument in parsed.data:
        char = chr(argument) if op is re_constants.LITERAL else None
        if char is not None and not (flags and (not char.isascii() or char in _FOLDS_WIDE)):
            current.append(char)
        else:
            runs.append("".join(current))
            current = []
    runs.append("".join(current))
    return max(runs, key=len)


#: ASCII letters that Python's case-insensitive matching pairs with non-ASCII ones.
_FOLDS_WIDE = frozenset("iIsSkK")


def _need(column: str, literal: str) -> Need:
    if not literal or _NUMERIC.fullmatch(literal):
        return None
    return (frozenset({(column, literal)}),)


def _quality(clause: Clause) -> tuple[bool, int, int, list[tuple[str, str]]]:
    """Rarer-looking first: no weak column, the longest shortest literal, the fewest (then
    the texts themselves, so that the order never depends on set iteration)."""
    weak = any(column.lower() in WEAK_COLUMNS for column, _ in clause)
    return (not weak, min(len(text) for _, text in clause), -len(clause), sorted(clause))


@lru_cache(maxsize=8192)
def required_literals(query: str) -> Need:
    """The clauses an event satisfies when ``query`` matches it, best first (each clause:
    (column, text) pairs, one of which the event's column holds, ASCII case ignored), or
    None when none is known. Never raises."""
    try:
        reader = _Reader(_tokens(query))
        need = reader.expression()
        if reader.peek()[0] != "end":
            return None
        return need
    except (_Unknown, RecursionError):
        return None


#: A query's texts and names: a quoted text (skipped), a quoted name (backquotes or double
#: quotes, doubled inside), or a bare word.
_NAMES = re.compile(
    r"'[^']*+(?:''[^']*+)*+'|`((?:[^`]|``)++)`|\"((?:[^\"]|\"\")++)\"|([A-Za-z_@][\w.@$]*+)"
)


def query_columns(query: str) -> set[str]:
    """Every name ``query`` might read as a column, lower-cased (SQLite's column names ignore
    ASCII case): each quoted name, and each bare word outside a text, SQL keywords and
    function names included. A superset: what matters is that no column it reads is left
    out (soc.detect.rule_snapshot keeps them so that a hunt's scratch store can leave the
    other fields to the documents)."""
    names: set[str] = set()
    for found in _NAMES.finditer(query):
        backquoted, quoted, bare = found.groups()
        if backquoted is not None:
            names.add(backquoted.replace("``", "`").lower())
        elif quoted is not None:
            names.add(quoted.replace('""', '"').lower())
        elif bare is not None:
            names.add(bare.lower())
    return names
