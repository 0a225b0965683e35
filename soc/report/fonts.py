"""The report font: DejaVu Sans (shipped with matplotlib, full Vietnamese coverage), subset
to the characters a document uses and embedded as a ``data:`` URI, so HTML and PDF show
Vietnamese diacritics identically on any machine, with no font fetched from anywhere."""

from __future__ import annotations

import base64
import io
from functools import cache
from pathlib import Path

import matplotlib
from fontTools import subset
from fontTools.ttLib import TTFont

#: Font files by weight, from matplotlib's bundled fonts.
FONT_FILES = {"normal": "DejaVuSans.ttf", "bold": "DejaVuSans-Bold.ttf"}
FAMILY = "CitySoc Sans"

_BASE_RANGES = (
    (0x20, 0x7E),  # ASCII
    (0xA0, 0xFF),  # Latin-1
    (0x100, 0x1B0),  # Latin Extended-A/B (ă đ ĩ ũ ơ ư ...)
    (0x300, 0x323),  # combining marks used by Vietnamese
    (0x1EA0, 0x1EF9),  # Vietnamese precomposed letters
    (0x2010, 0x2026),  # dashes, quotes, ellipsis
    (0x20AB, 0x20AB),  # đồng sign
)


def _font_path(name: str) -> Path:
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name


@cache
def _cmap(weight: str) -> frozenset[int]:
    with TTFont(_font_path(FONT_FILES[weight]), lazy=True) as font:
        return frozenset(font.getBestCmap())


def _base() -> set[int]:
    codes: set[int] = set()
    for low, high in _BASE_RANGES:
        codes.update(range(low, high + 1))
    return codes


@cache
def _subset(weight: str, codes: frozenset[int]) -> bytes:
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    options.drop_tables = [*options.drop_tables, "FFTM"]
    font = TTFont(_font_path(FONT_FILES[weight]))
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(codes))
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


def font_face_css(text: str) -> str:
    """``@font-face`` rules embedding the report font (normal and bold) for ``text``'s
    characters plus Latin and Vietnamese; empty when the font files are unavailable."""
    wanted = _base() | {ord(c) for c in text}
    rules = []
    for weight in FONT_FILES:
        try:
            codes = frozenset(wanted & _cmap(weight))
            data = base64.b64encode(_subset(weight, codes)).decode("ascii")
        except (OSError, KeyError, ValueError):
            return ""
        rules.append(
            f"@font-face{{font-family:'{FAMILY}';font-weight:{weight};font-style:normal;"
            f"src:url(data:font/ttf;base64,{data}) format('truetype');}}"
        )
    return "\n".join(rules)
