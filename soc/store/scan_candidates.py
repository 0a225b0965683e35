"""The candidate pass of the local store's grouped scan: which rows of a subset each rule
may match, found from its required literals (soc.store.sql_literals) in one read.

A rule's need is clauses of (column, text) pairs; the rule is a *candidate* for a row when
each clause has one of its texts in the column named with it, ASCII case ignored as LIKE
ignores it. ``CandidatePlan`` numbers the columns and (column, text) pairs of a group's
rules; its ``candidates`` runs each value of every row through the Aho-Corasick automaton
(pyahocorasick) of the texts needed in its column and gives each rule its candidate row
ids. Values and rows repeat from one event to the next, so what a value holds, and which
rules a row is a candidate for, are remembered (``LiteralFinder``, ``ROW_MEMO``), within a
few MB. soc.store.local_scan reads
the subset and evaluates each rule's full query on its candidates only.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from soc.store import like_any

if TYPE_CHECKING:  # the reader of literals is for conversion; scans take its output
    from soc.store.sql_literals import Need

try:  # a C automaton when installed; without it every query is evaluated on every row
    import ahocorasick
except ImportError:  # pragma: no cover - depends on the environment
    ahocorasick = None

#: Whether the candidate pass can run here (pyahocorasick is installed).
AUTOMATON = ahocorasick is not None

#: Most rows, and most column values, whose literals the candidate pass remembers, and the
#: longest text remembered (a longer value, or a row holding one, is searched every time):
#: the memories hold at most a few MB whatever the values (an event's raw record is 1-2 KB).
ROW_MEMO = 4_096
VALUE_MEMO = 16_384
MEMO_TEXT = 256

#: A rule's clauses, each as the set of its (column, text) pairs' numbers.
_Plan = list[frozenset[int]]

_NUMBER = itemgetter(1)


class CandidatePlan:
    """The literals of some rules (``indexes`` into ``needs``) laid out for one read: the
    columns to select (those the table has, in ``present``: lower-cased name -> name) and,
    per column, the texts its clauses need, each (column, text) pair numbered. A column the
    table lacks holds nothing, so a clause naming only such columns makes its rule match
    nothing: it has no candidates."""

    def __init__(
        self, indexes: Sequence[int], needs: Sequence[Need], present: Mapping[str, str]
    ) -> None:
        places: dict[str, int] = {}  # column -> its place among the selected ones
        #: Per place: each folded text needed in that column -> the pair's number.
        self.texts: list[dict[str, int]] = []
        pairs = 0
        #: Rules by a pair of their first clause, with their other clauses.
        self.first: dict[int, list[tuple[int, _Plan]]] = {}
        for i in indexes:
            plan: _Plan = []
            for clause in needs[i] or ():
                numbers: set[int] = set()
                for column, text in clause:
                    actual = present.get(column.lower())
                    if actual is None:
                        continue
                    place = places.get(actual)
                    if place is None:
                        place = places[actual] = len(places)
                        self.texts.append({})
                    folded = like_any.ascii_lower(text)
                    number = self.texts[place].get(folded)
                    if number is None:
                        number = self.texts[place][folded] = pairs
                        pairs += 1
                    numbers.add(number)
                plan.append(frozenset(numbers))
            if plan and all(plan):
                for number in plan[0]:
                    self.first.setdefault(number, []).append((i, plan[1:]))
        #: The columns to read, in their places' order.
        self.columns = list(places)

    @property
    def queries(self) -> bool:
        """Whether some rule can have candidates at all (else nothing need be read)."""
        return bool(self.first)

    def candidates(self, rows: Iterable[tuple[Any, ...]]) -> dict[int, array[int]]:
        """For each rule index, the row ids (each row: its id, then the values of
        ``columns``) that satisfy all its clauses, in the rows' order."""
        found: dict[int, array[int]] = {}
        rows = iter(rows)
        first_row = next(rows, None)
        if first_row is None:  # no event to look at: the automata are not worth building
            return found
        finder = LiteralFinder(self.texts)
        first = self.first
        # Rows repeat (the same service starting, the same command run again): the rules a
        # row's values make it a candidate of are remembered for the last ROW_MEMO rows
        # (those whose values are all texts of at most MEMO_TEXT characters, whole numbers
        # or NULL: 1 and 1.0 are equal keys but read as different texts).
        taken_by_values: dict[tuple[Any, ...], tuple[int, ...]] = {}
        for row in chain([first_row], rows):
            values = row[1:]
            taken = taken_by_values.get(values)
            if taken is None:
                seen = finder.seen(values)
                chosen: dict[int, None] = {}
                for number in seen:
                    for i, rest in first.get(number, ()):
                        if i not in chosen and all(not c.isdisjoint(seen) for c in rest):
                            chosen[i] = None
                taken = tuple(chosen)
                if finder.memorable:
                    if len(taken_by_values) >= ROW_MEMO:
                        taken_by_values.clear()
                    taken_by_values[values] = taken
            for i in taken:
                found.setdefault(i, array("q")).append(row[0])
        return found


class LiteralFinder:
    """Which of the texts its column needs each value of a row holds, ignoring ASCII case
    as LIKE does: one Aho-Corasick automaton per column, of that column's texts only (a
    text needed in one column, e.g. a digit, is not looked for in the others), and what
    it found in a value remembered (values repeat from row to row: the same image,
    parent, user, share), for at most VALUE_MEMO values of at most MEMO_TEXT
    characters."""

    def __init__(self, texts: Sequence[Mapping[str, int]]) -> None:
        """``texts``: per column place, each folded text and its pair's number."""
        self._automata = []
        for numbers in texts:
            automaton = ahocorasick.Automaton()
            for text, number in numbers.items():
                automaton.add_word(text, number)
            automaton.make_automaton()
            self._automata.append(automaton)
        self._found: dict[tuple[int, Any], frozenset[int]] = {}
        #: Whether the row last passed to ``seen`` may be remembered whole (see
        #: CandidatePlan.candidates).
        self.memorable = True

    def seen(self, values: Sequence[Any]) -> set[int]:
        """The numbers of the (column, text) pairs whose text is in the value of its
        column, ``values`` being in the places' order; a None value holds nothing."""
        seen: set[int] = set()
        found = self._found
        memorable = True
        for place, value in enumerate(values):
            if value is None:
                continue
            kind = type(value)
            if kind is not str or len(value) > MEMO_TEXT:
                # a number or bytes (1 == 1.0: not a key), or a long text: not remembered
                seen.update(self._numbers(place, _as_text(value)))
                if kind is not int:
                    memorable = False
                continue
            key = (place, value)
            numbers = found.get(key)
            if numbers is None:
                numbers = self._numbers(place, value)
                if len(found) >= VALUE_MEMO:
                    found.clear()
                found[key] = numbers
            seen |= numbers
        self.memorable = memorable
        return seen

    def _numbers(self, place: int, text: str) -> frozenset[int]:
        folded = like_any.ascii_lower(text)
        return frozenset(map(_NUMBER, self._automata[place].iter(folded)))


def _as_text(value: Any) -> str:
    """A column value as LIKE reads it (bytes as UTF-8 text)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
