"""Message catalogues and number/date formatting for the languages citysoc speaks (vi, en).

This is the one place for strings a person reads in reports (and in any other output that
wants translating). Each language has a module ``soc.i18n.<lang>`` with ``MESSAGES``, a dict
of message key to a ``str.format`` template with named fields. A key may have plural forms
``<key>#one`` / ``<key>#other``, chosen by the ``count`` value.

Values passed to :func:`t` are formatted for the language before substitution: ints and
floats as numbers ("1.234" in Vietnamese, "1,234" in English), dates and datetimes as the
language writes them. Strings are inserted as they are; escaping for a markup language is
the renderer's job, never the catalogue's.
"""

from __future__ import annotations

import importlib
import string
from datetime import date, datetime, tzinfo
from functools import cache
from typing import Any

#: Languages with a catalogue, the first being the default.
LANGUAGES: tuple[str, ...] = ("vi", "en")
DEFAULT_LANGUAGE = "vi"

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class UnknownLanguage(ValueError):
    """A language code with no catalogue."""


def normalize_lang(lang: str | None) -> str:
    """The catalogue code for ``lang`` ("vi", "VI", "vi_VN", "en-GB"...); default when None.

    Raises UnknownLanguage naming the code and the languages available.
    """
    if not lang:
        return DEFAULT_LANGUAGE
    code = lang.strip().lower().replace("-", "_").split("_", 1)[0]
    if code not in LANGUAGES:
        raise UnknownLanguage(f"unknown language {lang!r}; expected one of {', '.join(LANGUAGES)}")
    return code


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The messages of one language (key -> template)."""
    code = normalize_lang(lang)
    module = importlib.import_module(f"soc.i18n.{code}")
    return dict(module.MESSAGES)


def register(lang: str, messages: dict[str, str]) -> None:
    """Add or override messages of a language at run time (for other modules' keys)."""
    catalogue(lang).update(messages)


def has(key: str, lang: str) -> bool:
    """Whether the language has a message (or plural forms) for ``key``."""
    messages = catalogue(lang)
    return key in messages or f"{key}#other" in messages


def t(key: str, lang: str, **values: Any) -> str:
    """The message ``key`` in ``lang`` with ``values`` formatted for that language.

    Plural forms are picked by ``count`` when the key has them. A key missing from the
    language falls back to English, then to the key itself, so a report never fails on a
    missing translation (the catalogue test catches those).
    """
    code = normalize_lang(lang)
    template = _template(key, code, values.get("count"))
    if template is None and code != "en":
        template = _template(key, "en", values.get("count"))
    if template is None:
        return key
    formatted = {name: format_value(value, code) for name, value in values.items()}
    return template.format(**formatted)


def _template(key: str, lang: str, count: Any) -> str | None:
    messages = catalogue(lang)
    if isinstance(count, int) and f"{key}#other" in messages:
        if count == 1 and f"{key}#one" in messages:
            return messages[f"{key}#one"]
        return messages[f"{key}#other"]
    return messages.get(key)


def placeholders(template: str) -> set[str]:
    """The named fields a template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def format_value(value: Any, lang: str) -> str:
    """Any value as the language writes it (numbers, percentages, durations, dates,
    datetimes; others as str)."""
    special = _format_special(value, lang)
    if special is not None:
        return special
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return format_number(value, lang)
    if isinstance(value, float):
        return format_number(value, lang, decimals=1)
    if isinstance(value, datetime):
        return format_datetime(value, lang)
    if isinstance(value, date):
        return format_date(value, lang)
    return "" if value is None else str(value)


def format_number(value: float | int, lang: str, decimals: int = 0) -> str:
    """A number with the language's separators: vi "1.234,5", en "1,234.5"."""
    text = f"{value:,.{decimals}f}"
    if normalize_lang(lang) == "vi":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def format_percent(ratio: float, lang: str, decimals: int = 1) -> str:
    """A ratio (0..1) as a percentage: vi "12,5%", en "12.5%"."""
    return format_number(ratio * 100, lang, decimals) + "%"


def format_date(value: date | datetime, lang: str, tz: tzinfo | None = None) -> str:
    """A date: vi "21/11/2026", en "21 Nov 2026" (datetimes converted to ``tz`` first)."""
    if isinstance(value, datetime) and tz is not None:
        value = value.astimezone(tz)
    if normalize_lang(lang) == "vi":
        return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"
    return f"{value.day} {_MONTHS_EN[value.month - 1]} {value.year:04d}"


def format_day(value: date | datetime, lang: str) -> str:
    """A short day label for charts: vi "21/11", en "21 Nov"."""
    if normalize_lang(lang) == "vi":
        return f"{value.day:02d}/{value.month:02d}"
    return f"{value.day} {_MONTHS_EN[value.month - 1]}"


def format_datetime(value: datetime, lang: str, tz: tzinfo | None = None) -> str:
    """A date and time to the minute: vi "21/11/2026 14:05", en "21 Nov 2026 14:05"."""
    if tz is not None:
        value = value.astimezone(tz)
    return f"{format_date(value, lang)} {value.hour:02d}:{value.minute:02d}"


def format_duration(seconds: float, lang: str) -> str:
    """A duration in the largest sensible units: "2 giờ 5 phút" / "2 h 5 min", "45 s"."""
    total = max(0, round(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts: list[tuple[int, str]]
    if days:
        parts = [(days, "unit.day"), (hours, "unit.hour")]
    elif hours:
        parts = [(hours, "unit.hour"), (minutes, "unit.minute")]
    elif minutes:
        parts = [(minutes, "unit.minute"), (secs, "unit.second")]
    else:
        parts = [(secs, "unit.second")]
    shown = [t(unit, lang, count=n) for n, unit in parts if n or unit == parts[0][1]]
    return " ".join(shown)


class Percent(float):
    """A ratio (0..1) that :func:`t` shows as a percentage of the language."""


class Duration(float):
    """A number of seconds that :func:`t` shows as a duration of the language."""


def _format_special(value: Any, lang: str) -> str | None:
    if isinstance(value, Percent):
        return format_percent(float(value), lang)
    if isinstance(value, Duration):
        return format_duration(float(value), lang)
    return None
