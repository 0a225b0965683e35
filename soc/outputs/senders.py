"""The three ways an alert leaves citysoc: an HTTP webhook (JSON POST), an e-mail (SMTP with
STARTTLS and auth), and a syslog line (CEF, or JSON) over UDP or TCP.

A sender raises SendError with a one-line reason when the alert did not get through; the
caller records it and tries again later. Only the standard library is used.
"""

from __future__ import annotations

import json
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

from soc import clock, ecs
from soc.outputs.formats import SEVERITY, ecs_document


class SendError(Exception):
    """The alert was not delivered (one line: the output and why)."""


def _timeout(options: Mapping[str, Any]) -> float:
    return float(options.get("timeout", 10))


# --- webhook ------------------------------------------------------------------------------


def send_webhook(alert: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """POST ``{"alert": record, "ecs": document}`` as JSON to ``url``; the secret goes in
    ``secret_header`` (default ``X-Soc-Token``). Connection errors and 5xx/429 answers are
    retried ``retries`` times (default 3) with doubling pauses; a 4xx answer is final."""
    body = json.dumps(
        {"alert": dict(alert), "ecs": ecs_document(alert)}, ensure_ascii=False, default=str
    ).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "citysoc"}
    if options.get("secret"):
        headers[str(options.get("secret_header") or "X-Soc-Token")] = str(options["secret"])
    for key, value in (options.get("headers") or {}).items():
        headers[str(key)] = str(value)
    retries = int(options.get("retries", 3))
    pause = float(options.get("retry_pause", 0.5))
    context = None
    if str(options.get("url", "")).startswith("https"):
        context = ssl.create_default_context(cafile=options.get("ca_file"))
    last = ""
    for attempt in range(retries + 1):
        request = urllib.request.Request(
            str(options["url"]), data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=_timeout(options), context=context) as r:
                r.read()
                return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code} {exc.reason}"
            if exc.code < 500 and exc.code != 429:
                raise SendError(f"webhook: {last}") from None
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        if attempt < retries:
            time.sleep(pause * (2**attempt))
    raise SendError(f"webhook: {last} (after {retries + 1} tries)")


# --- e-mail -------------------------------------------------------------------------------


def email_message(alert: Mapping[str, Any], options: Mapping[str, Any]) -> EmailMessage:
    """The e-mail of one alert: subject with level and rule, a plain-text body."""
    message = EmailMessage()
    to = options["to"]
    message["From"] = str(options["from"])
    message["To"] = ", ".join(to) if isinstance(to, list) else str(to)
    level = str(alert.get("level", "")).upper()
    title = " ".join(str(alert.get("rule_title", "")).split())
    message["Subject"] = f"[citysoc {level}] {title}"[:200]
    lines = [
        f"Alert: {alert.get('id')}",
        f"Rule: {title} ({alert.get('rule_id')})",
        f"Level: {alert.get('level')}",
        f"First seen: {alert.get('first_seen')}",
        f"Last seen: {alert.get('last_seen')}",
        f"Events: {len(alert.get('event_ids') or [])}",
    ]
    for name, values in (alert.get("entities") or {}).items():
        lines.append(f"{name}: {', '.join(str(v) for v in values)}")
    lines.append("")
    lines.append(f"soc alerts show {alert.get('id')}")
    message.set_content("\n".join(lines))
    return message


def send_email(alert: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """Send the alert's e-mail through ``host:port`` (default 587): ``ssl: true`` for
    implicit TLS, else STARTTLS when ``starttls`` (default true); login when ``username``
    is set. ``ca_file`` names the CA to trust (default: the system's)."""
    host, port = str(options["host"]), int(options.get("port", 587))
    context = ssl.create_default_context(cafile=options.get("ca_file"))
    try:
        if options.get("ssl"):
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=_timeout(options), context=context
            )
        else:
            client = smtplib.SMTP(host, port, timeout=_timeout(options))
        with client:
            client.ehlo()
            if not options.get("ssl") and options.get("starttls", True):
                client.starttls(context=context)
                client.ehlo()
            if options.get("username"):
                client.login(str(options["username"]), str(options.get("password", "")))
            client.send_message(email_message(alert, options))
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise SendError(f"email: {host}:{port}: {' '.join(str(exc).split())}") from None


# --- syslog / CEF -------------------------------------------------------------------------


def _cef_escape(value: Any, header: bool = False) -> str:
    text = " ".join(str(value).split())
    text = text.replace("\\", "\\\\")
    return text.replace("|", "\\|") if header else text.replace("=", "\\=")


def cef_line(alert: Mapping[str, Any]) -> str:
    """The alert as one ArcSight CEF record (severity 0-10 from the level)."""
    level = str(alert.get("level", ""))
    severity = round(SEVERITY.get(level, 0) / 10)
    entities = alert.get("entities") or {}
    ext = {
        "externalId": alert.get("id"),
        "rt": _epoch_ms(alert.get("first_seen")),
        "end": _epoch_ms(alert.get("last_seen")),
        "cnt": alert.get("count") or len(alert.get("event_ids") or []),
        "dhost": ",".join(entities.get("host.name", [])[:3]),
        "src": (entities.get("source.ip") or [""])[0],
        "duser": ",".join(entities.get("user.name", [])[:3]),
        "cs1Label": "tags",
        "cs1": ",".join(str(t) for t in alert.get("tags") or []),
        "cs2Label": "status",
        "cs2": alert.get("status", ""),
    }
    extension = " ".join(f"{k}={_cef_escape(v)}" for k, v in ext.items() if v not in ("", None))
    head = "|".join(
        _cef_escape(x, header=True)
        for x in (
            "CEF:0",
            "citysoc",
            "soc",
            "1",
            alert.get("rule_id", ""),
            alert.get("rule_title", ""),
            severity,
        )
    )
    return f"{head}|{extension}"


def _epoch_ms(value: Any) -> str:
    try:
        return str(int(ecs.parse_timestamp(str(value)).timestamp() * 1000))
    except ValueError:
        return ""


def syslog_line(alert: Mapping[str, Any], options: Mapping[str, Any]) -> bytes:
    """An RFC 5424 syslog message (facility ``facility``, default 13 = log audit) whose
    text is the CEF record, or the ECS document as JSON with ``format: json``."""
    facility = int(options.get("facility", 13))
    severity = {"critical": 2, "high": 3, "medium": 4, "low": 5}.get(str(alert.get("level")), 6)
    body = (
        json.dumps(ecs_document(alert), ensure_ascii=False, default=str)
        if options.get("format") == "json"
        else cef_line(alert)
    )
    stamp = ecs.format_timestamp(clock.now())
    host = socket.gethostname()
    return f"<{facility * 8 + severity}>1 {stamp} {host} citysoc - alert - {body}".encode()


def send_syslog(alert: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """Send the alert's syslog line to ``host:port`` (default 514) over ``protocol`` udp
    (default) or tcp (octet-counted framing, RFC 6587)."""
    host, port = str(options["host"]), int(options.get("port", 514))
    data = syslog_line(alert, options)
    protocol = str(options.get("protocol", "udp")).lower()
    try:
        if protocol == "tcp":
            with socket.create_connection((host, port), timeout=_timeout(options)) as conn:
                conn.sendall(str(len(data)).encode() + b" " + data)
        elif protocol == "udp":
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.sendto(data, (host, port))
        else:
            raise SendError(f"syslog: protocol {protocol!r}: expected udp or tcp")
    except OSError as exc:
        raise SendError(f"syslog: {host}:{port}/{protocol}: {exc.strerror or exc}") from None


SENDERS = {"webhook": send_webhook, "email": send_email, "syslog": send_syslog}

__all__ = ["SENDERS", "SendError", "cef_line", "email_message", "syslog_line"]
