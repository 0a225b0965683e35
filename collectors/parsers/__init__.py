"""Text log parsers: one line -> one nested ECS document. See base.py for the interface."""

from collectors.parsers.base import (
    FORMATS,
    MAX_LINE_BYTES,
    LineParser,
    ParseContext,
    ParseError,
    detect_format,
    get_parser,
)

__all__ = [
    "FORMATS",
    "MAX_LINE_BYTES",
    "LineParser",
    "ParseContext",
    "ParseError",
    "detect_format",
    "get_parser",
]
