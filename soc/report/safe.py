"""Making attacker-controlled values inert in every output format.

Values in reports come from logs (user names, URLs, host names, analyst notes quoting them):
they are data, never markup, links, code or formulas.

- HTML: :class:`Markup` marks trusted fragments built by :func:`element`; everything else is
  escaped on the way in (text and attribute values). Tag and attribute names come from our
  code only and are checked; no element may carry an event handler, a link or a non-``data:``
  image source.
- Markdown: :func:`md_text` escapes every character that could start markup or a link and
  defuses leading formula characters.
- CSV / spreadsheets: :func:`neutralize_formula` prefixes a cell that a spreadsheet would
  read as a formula with a single quote.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

#: Characters that make a spreadsheet read a cell as a formula (or start a DDE payload).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_VOID = frozenset({"meta", "img", "br", "hr", "col"})
_FORBIDDEN_ATTRS = frozenset({"href", "action", "formaction", "srcset", "xlink:href", "ping"})
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|!~])")
#: "(" only matters after "]" (a link or image target); elsewhere it is shown unescaped.
_MD_LINK_TARGET = re.compile(r"(?<=\])\(")
#: Control characters, line/paragraph separators and bidirectional overrides (which could
#: make a value read backwards, e.g. "gpj.exe" shown as "exe.jpg").
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class Markup(str):
    """A fragment of HTML our code built; the only kind of string inserted unescaped."""

    __slots__ = ()


def clean(value: Any) -> str:
    """The value as one line of text: control characters and bidirectional overrides
    dropped, line breaks as spaces."""
    text = "" if value is None else str(value)
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return _CONTROL.sub("", text)


def neutralize_formula(value: Any) -> str:
    """The value as text, prefixed with ``'`` when a spreadsheet would run it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def esc(value: Any) -> Markup:
    """HTML-escaped text (quotes too), as a Markup fragment."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(clean(value), quote=True))


def join(parts: Iterable[Any]) -> Markup:
    """Concatenate fragments, escaping any that are not Markup."""
    return Markup("".join(esc(p) for p in parts))


def element(tag: str, *children: Any, **attrs: Any) -> Markup:
    """An HTML element with escaped attribute values and children.

    Attribute names are Python keywords with ``_`` for ``-`` and a trailing ``_`` dropped
    (``class_``, ``http_equiv``). None or False attributes are omitted. A child that is a
    list or tuple is flattened.
    """
    if not _NAME.match(tag):
        raise ValueError(f"bad tag name {tag!r}")
    rendered: list[str] = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        name = key.rstrip("_").replace("_", "-")
        if not _NAME.match(name) or name.startswith("on") or name in _FORBIDDEN_ATTRS:
            raise ValueError(f"attribute {name!r} is not allowed in reports")
        text = clean(value)
        if name == "src" and not text.startswith("data:image/"):
            raise ValueError("images in reports must be data:image URIs")
        if value is True:
            rendered.append(f" {name}")
        else:
            rendered.append(f' {name}="{html.escape(text, quote=True)}"')
    opening = f"<{tag}{''.join(rendered)}>"
    if tag in _VOID:
        return Markup(opening)
    inner = join(_flatten(children))
    return Markup(f"{opening}{inner}</{tag}>")


def _flatten(children: Iterable[Any]) -> Iterable[Any]:
    for child in children:
        if isinstance(child, list | tuple):
            yield from _flatten(child)
        elif child is not None:
            yield child


def md_text(value: Any) -> str:
    """Text safe inside Markdown (paragraphs and table cells): markup, link and HTML
    characters backslash-escaped, a leading formula or list character escaped too."""
    text = clean(value)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _MD_LINK_TARGET.sub(r"\\(", text)
    if text.startswith((*FORMULA_START, ".")):
        text = "\\" + text
    return text
