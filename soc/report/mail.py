"""Delivering a written report by e-mail through the alert outputs' SMTP settings.

The settings are those of the e-mail alert output, ``outputs.email`` in soc.yaml (see
docs/outputs.md and docs/reports.md); the keys read here:

- ``host`` (required), ``port`` (default 587), ``ssl`` (implicit TLS, default false),
  ``starttls`` (default true unless ``ssl``), ``ca_file`` (CA bundle to trust),
  ``timeout`` (seconds, default 30);
- ``username`` / ``password`` to log in (``SOC_OUTPUTS_EMAIL_PASSWORD`` overrides the
  password);
- ``from`` (required); ``report_to`` (a list or one address) for reports, else ``to``
  (the alert recipients);
- ``enabled: false`` turns the e-mail output off for reports too.

The report travels as an attachment, with a short message in the report's language.
"""

from __future__ import annotations

import mimetypes
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from soc import clock
from soc.i18n import t

#: Environment variable that overrides outputs.email.password (as for alert e-mail).
PASSWORD_ENV = "SOC_OUTPUTS_EMAIL_PASSWORD"


class MailError(Exception):
    """The report cannot be e-mailed; the message is one line for a person."""


@dataclass(frozen=True)
class MailSettings:
    """Where and how to send reports."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    ssl: bool = False
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    timeout: float = 30.0


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def mail_settings(outputs: Any) -> MailSettings:
    """The SMTP settings of ``outputs.email`` (the value of the ``outputs`` setting);
    MailError naming the missing or wrong key."""
    email = outputs.get("email") if isinstance(outputs, Mapping) else None
    if not isinstance(email, Mapping):
        raise MailError("--email needs the e-mail output: outputs.email in soc.yaml")
    if not _flag(email.get("enabled"), True):
        raise MailError("--email: the e-mail output is turned off (outputs.email.enabled)")
    for key in ("host", "from"):
        if not email.get(key):
            raise MailError(f"--email: outputs.email.{key} is missing in soc.yaml")
    raw_to = email.get("report_to") or email.get("to")
    recipients = tuple(
        str(r).strip() for r in (raw_to if isinstance(raw_to, list) else [raw_to]) if r
    )
    if not recipients:
        raise MailError("--email: outputs.email.report_to (or .to) names no recipient")
    implicit = _flag(email.get("ssl"), False)
    try:
        port = int(email.get("port") or (465 if implicit else 587))
        timeout = float(email.get("timeout") or 30.0)
    except (TypeError, ValueError):
        raise MailError("--email: outputs.email.port and .timeout must be numbers") from None
    return MailSettings(
        host=str(email["host"]),
        port=port,
        sender=str(email["from"]),
        recipients=recipients,
        ssl=implicit,
        starttls=_flag(email.get("starttls"), not implicit),
        username=str(email["username"]) if email.get("username") else None,
        password=os.environ.get(PASSWORD_ENV) or email.get("password") or None,
        ca_file=str(email["ca_file"]) if email.get("ca_file") else None,
        timeout=timeout,
    )


def report_message(report: Path, subject: str, lang: str, settings: MailSettings) -> EmailMessage:
    """The e-mail carrying ``report`` as an attachment, with a note in ``lang``."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message["Date"] = formatdate(clock.now().timestamp(), localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    message.set_content(t("mail.body", lang, subject=subject, file=report.name))
    kind, _ = mimetypes.guess_type(report.name)
    main, _, sub = (kind or "application/octet-stream").partition("/")
    message.add_attachment(report.read_bytes(), maintype=main, subtype=sub, filename=report.name)
    return message


def send_report(report: Path, subject: str, lang: str, settings: MailSettings) -> None:
    """Send ``report`` to the configured recipients; MailError (one line) on any failure."""
    message = report_message(report, subject, lang, settings)
    context = ssl.create_default_context(cafile=settings.ca_file)
    where = f"{settings.host}:{settings.port}"
    try:
        if settings.ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with client:
            client.ehlo()
            if not settings.ssl and settings.starttls:
                client.starttls(context=context)
                client.ehlo()
            if settings.username:
                client.login(settings.username, str(settings.password or ""))
            refused = client.send_message(message)
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise MailError(f"e-mail to {where}: {' '.join(str(exc).split())}") from None
    if refused:
        raise MailError(f"e-mail to {where}: refused for {', '.join(sorted(refused))}")
