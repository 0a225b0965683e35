"""Decisions without eval: a tiny condition language over the facts a playbook gathered.

A condition is a mapping, one of:
- ``{fact: PATH, OP: VALUE}`` with OP one of eq, ne, gt, gte, lt, lte, in, not_in, contains,
  exists (true/false); PATH is looked up like a template path (``failed.count``,
  ``answers.known_source``, ``alert.rule.level``); a bare name is a fact;
- ``{all: [COND, ...]}``, ``{any: [COND, ...]}``, ``{not: COND}``.
VALUE is a literal from the playbook, never a template and never evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from soc.triage.template import NAMESPACES, lookup

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists")
COMBINATORS = ("all", "any", "not")
_ABSENT = object()


def validate_condition(cond: Any, where: str = "when") -> list[tuple[str, str]]:
    """Problems with a condition as (field path, message) pairs; empty when it is valid."""
    if not isinstance(cond, Mapping):
        return [(where, f"expected a condition mapping, found {type(cond).__name__}")]
    keys = set(map(str, cond))
    combinators = keys & set(COMBINATORS)
    if combinators:
        if len(keys) != 1:
            return [(where, f"'{sorted(combinators)[0]}' must be the only key of its condition")]
        key = next(iter(keys))
        inner = cond[key]
        if key == "not":
            return validate_condition(inner, f"{where}.not")
        if not isinstance(inner, list) or not inner:
            return [(f"{where}.{key}", "expected a non-empty list of conditions")]
        problems: list[tuple[str, str]] = []
        for i, item in enumerate(inner):
            problems.extend(validate_condition(item, f"{where}.{key}[{i}]"))
        return problems
    if "fact" not in keys:
        return [
            (where, "expected 'fact' with an operator, or one of all/any/not"),
        ]
    if not isinstance(cond["fact"], str) or not cond["fact"].strip():
        return [(f"{where}.fact", "expected a fact name")]
    ops = keys - {"fact"}
    unknown = [k for k in ops if k not in OPERATORS]
    if unknown:
        return [
            (
                f"{where}.{unknown[0]}",
                f"unknown operator '{unknown[0]}' (expected {', '.join(OPERATORS)})",
            )
        ]
    if len(ops) != 1:
        return [(where, "expected exactly one operator beside 'fact'")]
    op = next(iter(ops))
    value = cond[op]
    if op in ("in", "not_in") and not isinstance(value, list):
        return [(f"{where}.{op}", "expected a list")]
    if op == "exists" and not isinstance(value, bool):
        return [(f"{where}.{op}", "expected true or false")]
    if op in ("gt", "gte", "lt", "lte") and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        return [(f"{where}.{op}", "expected a number")]
    return []


def fact_value(facts: Mapping[str, Any], context: Mapping[str, Any], path: str) -> Any:
    """The value a condition's ``fact`` names: namespaced paths from the context, bare names
    from the facts; absent values are the internal marker _ABSENT."""
    head = path.split(".", 1)[0].split("[", 1)[0]
    source = context if head in NAMESPACES else facts
    return lookup(source, path, _ABSENT)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    if isinstance(value, list | tuple | set):
        return float(len(value))
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(a, str) and a.lower() == str(b).lower())
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None and not isinstance(a, list | tuple):
        return na == nb
    return bool(a == b)


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def evaluate(cond: Mapping[str, Any], facts: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """Whether a (validated) condition holds. An absent fact makes every operator false except
    ``exists: false`` and ``ne``/``not_in``; a list compared with gt/gte/lt/lte counts as its
    length."""
    if "all" in cond:
        return all(evaluate(c, facts, context) for c in cond["all"])
    if "any" in cond:
        return any(evaluate(c, facts, context) for c in cond["any"])
    if "not" in cond:
        return not evaluate(cond["not"], facts, context)
    value = fact_value(facts, context, str(cond["fact"]))
    op = next(k for k in cond if k != "fact")
    expected = cond[op]
    absent = value is _ABSENT or value is None
    if op == "exists":
        present = not absent and value != [] and value != ""
        return present is bool(expected)
    if absent:
        return op in ("ne", "not_in")
    if op == "eq":
        return _same(value, expected)
    if op == "ne":
        return not _same(value, expected)
    if op in ("in", "not_in"):
        found = any(_same(value, e) for e in expected)
        return found if op == "in" else not found
    if op == "contains":
        if isinstance(value, str):
            return str(expected).casefold() in value.casefold()
        if isinstance(value, list | tuple | set):
            return any(_same(v, expected) for v in value)
        if isinstance(value, Mapping):
            return expected in value
        return False
    number = _number(value)
    if number is None:
        return False
    return _COMPARE[op](number, float(expected))
