"""pySigma's SQLite backend as citysoc converts with it, minus one waste.

For every string value it converts, the backend builds the value's regular expression (and
``re.compile``s it, to check it) to fill a ``{regex}`` placeholder, yet none of its string
templates (``=``, ``LIKE``, ``GLOB``) has one: about a sixth of the time spent converting
the SigmaHQ Windows rules. CitySqliteBackend converts string values with that step
answered by a constant; the text it produces is the same (tests/detect compare the whole
SigmaHQ set). Should a template ever name ``{regex}``, nothing is skipped.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from sigma.backends.sqlite import sqliteBackend
from sigma.types import SigmaRegularExpression, SigmaString

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


class CitySqliteBackend(sqliteBackend):
    """sqliteBackend that does not build regular expressions its templates do not use."""

    _skip = not _templates_use_regex(sqliteBackend)

    def convert_condition_field_eq_val_str(self, cond: Any, state: Any) -> Any:
        """As the library's, without the unused regular expression."""
        token = _SKIP_REGEX.set(self._skip)
        try:
            return super().convert_condition_field_eq_val_str(cond, state)
        finally:
            _SKIP_REGEX.reset(token)

    def convert_condition_field_eq_val_str_case_sensitive(self, cond: Any, state: Any) -> Any:
        """As the library's, without the unused regular expression."""
        token = _SKIP_REGEX.set(self._skip)
        try:
            return super().convert_condition_field_eq_val_str_case_sensitive(cond, state)
        finally:
            _SKIP_REGEX.reset(token)


__all__ = ["CitySqliteBackend"]
