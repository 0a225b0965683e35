"""Small helpers of the Elasticsearch store: error texts, URLs and value ordering."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit


def one_line(text: Any) -> str:
    return " ".join(str(text).split())


def error_reason(body: Any, default: str = "") -> str:
    """The most telling reason in an Elasticsearch error body, on one line."""
    error = body.get("error", body) if isinstance(body, Mapping) else body
    if not isinstance(error, Mapping):
        return one_line(error or default)
    reasons: list[str] = []
    node: Any = error
    # root_cause / failed_shards carry the precise parser message; caused_by chains go deeper
    failed = error.get("failed_shards")
    if isinstance(failed, list) and failed and isinstance(failed[0], Mapping):
        node = failed[0].get("reason", error)
    while isinstance(node, Mapping):
        reason = node.get("reason")
        if reason and not any(str(reason) in seen for seen in reasons):
            reasons.append(str(reason))
        node = node.get("caused_by")
    if not reasons:
        root = error.get("root_cause")
        if isinstance(root, list) and root and isinstance(root[0], Mapping):
            reasons.append(str(root[0].get("reason") or root[0].get("type") or ""))
    return one_line(": ".join(reasons) or error.get("type") or default)


_POOL_PREFIX = re.compile(r"^\s*\w*Connection(?:Pool)?\([^)]*\):\s*")
_NEW_CONNECTION = re.compile(r"^Failed to establish a new connection:\s*")


def connection_text(message: Any) -> str:
    """A transport error message without urllib3's connection-object preamble."""
    text = _POOL_PREFIX.sub("", one_line(message))
    return _NEW_CONNECTION.sub("", text) or "connection failed"


def split_url(url: str) -> tuple[str, str | None, str | None]:
    """The URL as the client wants it (no user:password, an explicit port: 443 for https,
    80 for http when the URL names none), and the user and password it carried. Raises
    ValueError for a URL that is not http(s)://host[:port][/path]."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("expected a URL like https://host:9200")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    clean = urlunsplit((parts.scheme, f"{host}:{port}", parts.path, parts.query, parts.fragment))
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return clean, user, password


def as_list(value: Any) -> list[Any] | None:
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    return None


def sort_value(value: Any) -> tuple[int, Any, str]:
    """Order of bucket keys on ties: numbers before text, text case-insensitively (as the
    local store's NOCASE columns order it)."""
    if isinstance(value, bool):
        return (0, int(value), "")
    if isinstance(value, int | float):
        return (0, value, "")
    text = str(value)
    return (1, text.casefold(), text)
