"""Alert outputs as configured under ``outputs:`` in soc.yaml.

```yaml
outputs:
  webhook:   {url: https://chat.example/hook, secret_header: X-Soc-Token, secret: "...",
              min_level: high, rules: [RULE-ID], retries: 3, timeout: 10}
  email:     {host: smtp.example, port: 587, starttls: true, username: soc, password: "...",
              from: soc@city.example, to: [oncall@city.example], min_level: critical}
  syslog:    {host: 10.0.0.5, port: 514, protocol: udp, format: cef, min_level: medium}
```

Each output takes the alerts at ``min_level`` or above (default ``high``) plus those of the
rules listed in ``rules``; ``enabled: false`` turns one off. Secrets may come from the
environment instead: ``SOC_OUTPUTS_WEBHOOK_SECRET``, ``SOC_OUTPUTS_EMAIL_PASSWORD``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from soc.detect.alerts import LEVELS

KINDS = ("webhook", "email", "syslog")


class OutputConfigError(Exception):
    """The outputs setting is not usable; one line naming the key and the problem."""


@dataclass(frozen=True)
class OutputConfig:
    """One configured output: its name (webhook, email, syslog), its routing (minimum level,
    extra rules) and its own options."""

    name: str
    min_level: str = "high"
    rules: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    max_age_hours: float = 24.0
    max_attempts: int = 10

    def wants(self, alert: Mapping[str, Any]) -> bool:
        """True when this output should deliver ``alert``."""
        if str(alert.get("rule_id", "")) in self.rules:
            return True
        level = str(alert.get("level", ""))
        return level in LEVELS and LEVELS.index(level) >= LEVELS.index(self.min_level)


_REQUIRED = {"webhook": ("url",), "email": ("host", "from", "to"), "syslog": ("host",)}
_ENV_SECRETS = {"webhook": "secret", "email": "password"}


def parse_outputs(value: Any) -> list[OutputConfig]:
    """The enabled outputs of the ``outputs`` setting (a mapping; None/empty: no outputs).
    Raises OutputConfigError naming the first problem."""
    if not value:
        return []
    if not isinstance(value, Mapping):
        raise OutputConfigError("outputs: expected a mapping of webhook, email, syslog")
    found = []
    for name, raw in value.items():
        if name not in KINDS:
            raise OutputConfigError(f"outputs.{name}: unknown output (expected {', '.join(KINDS)})")
        if not isinstance(raw, Mapping):
            raise OutputConfigError(f"outputs.{name}: expected a mapping of options")
        options = dict(raw)
        if options.pop("enabled", True) in (False, "false", "no", 0):
            continue
        env = f"SOC_OUTPUTS_{name.upper()}_{_ENV_SECRETS.get(name, '').upper()}"
        if name in _ENV_SECRETS and os.environ.get(env):
            options[_ENV_SECRETS[name]] = os.environ[env]
        for key in _REQUIRED[name]:
            if not options.get(key):
                raise OutputConfigError(f"outputs.{name}.{key}: missing")
        level = str(options.pop("min_level", "high"))
        if level not in LEVELS:
            raise OutputConfigError(
                f"outputs.{name}.min_level: expected one of {', '.join(LEVELS)}, got {level!r}"
            )
        rules = options.pop("rules", []) or []
        if not isinstance(rules, list):
            raise OutputConfigError(f"outputs.{name}.rules: expected a list of rule ids")
        try:
            max_age = float(options.pop("max_age_hours", 24.0))
            attempts = int(options.pop("max_attempts", 10))
        except (TypeError, ValueError) as exc:
            raise OutputConfigError(f"outputs.{name}: {exc}") from None
        found.append(
            OutputConfig(name, level, tuple(str(r) for r in rules), options, max_age, attempts)
        )
    return found


__all__ = ["KINDS", "OutputConfig", "OutputConfigError", "parse_outputs"]
