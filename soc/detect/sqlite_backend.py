"""pySigma's SQLite backend as citysoc converts with it, minus two wastes.

- For every string value it converts, the backend builds the value's regular expression
  (and ``re.compile``s it, to check it) to fill a ``{regex}`` placeholder, yet none of its
  string templates (``=``, ``LIKE``, ``GLOB``) has one: about a sixth of the time spent
  converting the SigmaHQ Windows rules. CitySqliteBackend converts string values with that
  step answered by a constant. Should a template ever name ``{regex}``, nothing is skipped.
- To choose between its ``LIKE`` forms (prefix, suffix, infix, pattern, ``=``), the backend
  cuts the value's wildcards off with SigmaString slicing, which walks and rebuilds the
  value several times. Most values are plain text with a ``*`` at one end or both:
  CitySqliteBackend reads their parts once and makes the same choice (``_plain_shape``).
  Any other value (a ``?``, a placeholder, a wildcard inside) takes the library's way.

The text it produces is the same (tests/detect compare it with the library's on the city
pack and SigmaHQ's rules).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from sigma.backends.sqlite import sqliteBackend
from sigma.types import SigmaRegularExpression, SigmaString, SpecialChars

#: True while CitySqliteBackend converts a string value whose regex no template uses.
_SKIP_REGEX: ContextVar[bool] = ContextVar("citysoc_skip_regex", default=False)

#: What to_regex answers while skipped (formatted into no template, so never seen).
_UNUSED = SigmaRegularExpression("unused")

_STRING_TEMPLATES = (
    "eq_expression",
    "startswith_expression",
    "endswith_expression",
    "contains_expression",
    "wildcard_match_expression",
    "case_sensitive_match_expression",
    "case_sensitive_startswith_expression",
    "case_sensitive_endswith_expression",
    "case_sensitive_contains_expression",
)


def _templates_use_regex(backend: type) -> bool:
    return any("{regex}" in str(getattr(backend, name, "") or "") for name in _STRING_TEMPLATES)


_library_to_regex = SigmaString.to_regex


def _to_regex(self: SigmaString, custom_escaped: str = "") -> SigmaRegularExpression:
    if _SKIP_REGEX.get():
        return _UNUSED
    return _library_to_regex(self, custom_escaped)


SigmaString.to_regex = _to_regex  # type: ignore[method-assign]


_MULTI = SpecialChars.WILDCARD_MULTI


def _plain_shape(parts: list[Any]) -> tuple[bool, bool, list[str]] | None:
    """(``*`` first, ``*`` last, the text parts between) for a value made of text with at
    most a ``*`` at each end and some text; None for any other value."""
    if not parts:
        return None
    lead = parts[0] is _MULTI
    trail = parts[-1] is _MULTI and len(parts) > 1
    middle = parts[1 if lead else 0 : len(parts) - 1 if trail else len(parts)]
    if not middle:
        return None
    for part in middle:
        if type(part) is not str:
            return None
    return lead, trail, middle


def _fast_choice_applies(backend: type) -> bool:
    """Whether _plain_shape's choice is the library's for this backend: its LIKE forms
    exist and none of them takes wildcards inside the value."""
    names = ("startswith", "endswith", "contains", "wildcard_match")
    return all(getattr(backend, f"{n}_expression", None) is not None for n in names) and not any(
        getattr(backend, f"{n}_expression_allow_special", False) for n in names[:3]
    )


class CitySqliteBackend(sqliteBackend):
    """sqliteBackend that does not build regular expressions its templates do not use, and
    converts plain values with a leading or trailing ``*`` without slicing them."""

    _skip = not _templates_use_regex(sqliteBackend)
    _fast = _skip and _fast_choice_applies(sqliteBackend)

    def convert_condition_field_eq_val_str(self, cond: Any, state: Any) -> Any:
        """As the library's, without the unused regular expression, and with plain values
        read once (see the module)."""
        shape = _plain_shape(cond.value.s) if self._fast else None
        if shape is not None:
            return self._convert_plain(cond, state, *shape)
        token = _SKIP_REGEX.set(self._skip)
        try:
            return super().convert_condition_field_eq_val_str(cond, state)
        finally:
            _SKIP_REGEX.reset(token)

    def _convert_plain(
        self, cond: Any, state: Any, lead: bool, trail: bool, middle: list[str]
    ) -> str:
        """The library's choice and text for a value of _plain_shape."""
        if lead or trail:
            if trail and not lead:
                expr = self.startswith_expression
            elif lead and not trail:
                expr = self.endswith_expression
            else:
                expr = self.contains_expression
            value = SigmaString()
            value.s = list(middle)  # what the library's slice of the value holds
            quoted = False
        else:
            value = cond.value
            text = "".join(middle)
            marks = (self.wildcard_multi, self.wildcard_single, self.escape_char)
            quoted = not any(mark in text for mark in marks)
            expr = self.eq_expression if quoted else self.wildcard_match_expression
        converted = expr.format(
            field=self.escape_and_quote_field(cond.field),
            value=self.convert_value_str(value, state, not quoted),
            regex="",  # no template names it (_skip)
            backend=self,
        )
        if quoted and self.collate_nocase:
            converted = self.collation_expression.format(expr=converted)
        return converted

    def convert_condition_field_eq_val_str_case_sensitive(self, cond: Any, state: Any) -> Any:
        """As the library's, without the unused regular expression."""
        token = _SKIP_REGEX.set(self._skip)
        try:
            return super().convert_condition_field_eq_val_str_case_sensitive(cond, state)
        finally:
            _SKIP_REGEX.reset(token)


__all__ = ["CitySqliteBackend"]
