"""Make values that came from logs safe to show in a terminal.

Log data is attacker-controlled. Before anything from an event or an alert reaches the
console, control characters are replaced by visible escapes, so an ANSI colour (ESC ``[31m``),
an OSC 52 clipboard write (ESC ``]52;c;...`` BEL) or a bidirectional override cannot act on the
analyst's terminal. Rich markup is neutralised separately by printing ``rich.text.Text``
objects (never markup strings); this module only deals with characters.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich is imported when a cell is made: `--json` output never needs it
    from rich.text import Text

# C0 controls (except none: even newline and tab are escaped in one-line values), DEL, C1
# controls, and the Unicode format characters that reorder or hide text.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_UNSAFE_MULTILINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064"
    "\u2066-\u2069\ufeff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def visible(value: Any, *, multiline: bool = False) -> str:
    """``value`` as text with every control or invisible formatting character replaced by a
    visible escape (ESC -> ``\\x1b``, BEL -> ``\\x07``, U+202E -> ``\\u202e``).

    Newlines are escaped too unless ``multiline`` is set. The result contains no character
    that a terminal interprets.
    """
    text = value if isinstance(value, str) else _plain(value)
    pattern = _UNSAFE_MULTILINE if multiline else _UNSAFE
    return pattern.sub(_escape, text)


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_plain(v)}" for k, v in value.items())
    return str(value)


def safe_cell(value: Any, style: str = "") -> Text:
    """A rich Text of ``value`` for a table cell or a line: control characters made visible
    and rich markup shown as typed (a Text is never parsed for markup)."""
    from rich.text import Text

    return Text(visible(value), style=style)
