"""Settings: CLI flag > SOC_* environment > soc.yaml (cwd, then ~/.config/citysoc/) > defaults.

Every setting has a dotted name (``elasticsearch.url``); its environment variable is ``SOC_``
plus the name in upper case with dots as underscores (``SOC_ELASTICSEARCH_URL``), and in
soc.yaml it is nested (``elasticsearch: {url: ...}``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """Settings cannot be loaded; the message is one line naming the file and the problem."""


@dataclass(frozen=True)
class Setting:
    """One known setting: its dotted name, default, type and whether it is a secret."""

    name: str
    default: Any
    kind: type = str
    secret: bool = False
    help: str = ""

    @property
    def env_var(self) -> str:
        return "SOC_" + self.name.upper().replace(".", "_")


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "citysoc")


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir", None, str, help="where the embedded store, checkpoints and dead letters live"
    ),
    Setting("store", "auto", str, help="auto, local or elasticsearch"),
    Setting("elasticsearch.url", None, str, help="selects the Elasticsearch store when set"),
    Setting("elasticsearch.api_key", None, str, secret=True),
    Setting("elasticsearch.username", None, str),
    Setting("elasticsearch.password", None, str, secret=True),
    Setting("elasticsearch.ca_file", None, str, help="CA bundle for TLS"),
    Setting("elasticsearch.verify_certs", True, bool),
    Setting("elasticsearch.index_prefix", "soc", str),
    Setting("elasticsearch.timeout", 30.0, float),
    Setting("elasticsearch.shards", 1, int, help="primary shards of each event index"),
    Setting("elasticsearch.replicas", 1, int, help="replicas of each event index"),
    Setting("elasticsearch.refresh_interval", "5s", str, help="refresh of event indices"),
    Setting("elasticsearch.total_fields_limit", 2000, int, help="mapped fields per event index"),
    Setting("elasticsearch.bulk_concurrency", 2, int, help="bulk requests in flight"),
    Setting(
        "elasticsearch.bulk_timeout",
        120.0,
        float,
        help="seconds one bulk or one multi-search of detection may take",
    ),
    Setting("elasticsearch.bulk_events", 5000, int, help="events per bulk request at most"),
    Setting("elasticsearch.bulk_bytes", 8388608, int, help="bytes per bulk request at most"),
    Setting("elasticsearch.lifecycle", "none", str, help="none, ilm or ism: server-side retention"),
    Setting("elasticsearch.retention", "90d", str, help="age at which event indices go"),
    Setting(
        "elasticsearch.rollover",
        None,
        dict,
        help="rollover conditions (max_primary_shard_size, max_age, max_docs, check_every)",
    ),
    Setting(
        "elasticsearch.wildcard_copies",
        False,
        bool,
        help="lower-cased wildcard copies of leading-wildcard fields (new indices)",
    ),
    Setting(
        "elasticsearch.dedup_across_days",
        True,
        bool,
        help="check other days' indices for an event's id before storing it",
    ),
    Setting("timezone", "Asia/Ho_Chi_Minh", str, help="zone of log times that carry none"),
    Setting("keep_original", True, bool, help="keep event.original on every event"),
    Setting("department", None, str, help="labels.department for sources that name none"),
    Setting("language", "vi", str, help="report language: vi or en"),
    Setting("rules", [], list, help="extra Sigma rule folders"),
    Setting("analyst", None, str, help="name recorded in the audit trail"),
    Setting("inventory", [], list, help="asset inventory files (CSV or YAML) for triage"),
    Setting("ioc_lists", [], list, help="IOC lists (text or CSV) for triage"),
    Setting("geoip_db", None, str, help="a MaxMind .mmdb file for offline GeoIP"),
    Setting("outputs", {}, dict, help="alert outputs: webhook, email, syslog (docs/outputs.md)"),
)

#: Keys whose values are hidden wherever nested settings are shown.
SECRET_KEYS = ("password", "secret", "api_key", "token")
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass
class Settings:
    """The effective settings, with where each value came from."""

    values: dict[str, Any]
    origins: dict[str, str] = field(default_factory=dict)
    config_file: Path | None = None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        value = self.values.get(name)
        return default if value is None else value

    @property
    def data_dir(self) -> Path:
        return Path(self.values["data_dir"]).expanduser()

    @property
    def store_kind(self) -> str:
        """ "elasticsearch" when a URL is configured (or forced), else "local"."""
        chosen = (self.values.get("store") or "auto").lower()
        if chosen == "auto":
            return "elasticsearch" if self.values.get("elasticsearch.url") else "local"
        return chosen

    def masked(self) -> dict[str, Any]:
        """All values with secrets replaced by ``****``, for display."""
        shown: dict[str, Any] = {}
        for name, value in self.values.items():
            setting = SETTINGS_BY_NAME.get(name)
            if setting and setting.secret and value:
                shown[name] = "****"
            elif name == "elasticsearch.url" and value:
                shown[name] = mask_url(str(value))
            elif isinstance(value, Mapping):
                shown[name] = _mask_nested(value)
            else:
                shown[name] = value
        return shown


def _mask_nested(value: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (
            _mask_nested(v)
            if isinstance(v, Mapping)
            else "****"
            if v and any(word in str(k).lower() for word in SECRET_KEYS)
            else v
        )
        for k, v in value.items()
    }


def mask_url(url: str) -> str:
    """The URL with any password in it replaced by ``****``."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1) if "://" in url else ("", url)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:****@{host}" if scheme else f"{user}:****@{host}"


def config_file_candidates() -> list[Path]:
    """Where soc.yaml is looked for, first match wins: $SOC_CONFIG, ./soc.yaml, then
    $XDG_CONFIG_HOME/citysoc/soc.yaml (~/.config/citysoc/soc.yaml)."""
    explicit = os.environ.get("SOC_CONFIG")
    if explicit:
        return [Path(explicit)]
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path.cwd() / "soc.yaml", Path(config_home) / "citysoc" / "soc.yaml"]


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings in one soc.yaml, flattened to dotted names."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    import yaml  # here: most commands find no soc.yaml and need no YAML parser

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: malformed YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping of settings, found {type(data).__name__}")
    flat: dict[str, Any] = {}
    _flatten_settings(data, "", flat)
    unknown = [k for k in flat if k not in SETTINGS_BY_NAME and not k.startswith("sources")]
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r}")
    return flat


def _flatten_settings(data: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and name not in SETTINGS_BY_NAME:
            _flatten_settings(value, name + ".", out)
        else:
            out[name] = value


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    if value is None:
        return None
    try:
        if setting.kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(f"not a yes/no value: {value!r}")
        if setting.kind is dict and isinstance(value, str):
            return value  # key=value text, checked by the part that reads it
        if setting.kind is list:
            if isinstance(value, list):
                return [str(v) for v in value]
            return [p for p in str(value).split(os.pathsep) if p]
        return setting.kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{origin}: setting {setting.name}: {exc}") from None


def load_settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    """The effective settings: ``overrides`` (CLI flags; None values ignored) over SOC_*
    environment variables over the first soc.yaml found over the defaults."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for s in SETTINGS:
        values[s.name] = s.default
        origins[s.name] = "default"
    values["data_dir"] = _default_data_dir()

    config_file = next((p for p in config_file_candidates() if p.is_file()), None)
    extra: dict[str, Any] = {}
    if config_file is not None:
        for name, value in read_config_file(config_file).items():
            if name in SETTINGS_BY_NAME:
                values[name] = _coerce(SETTINGS_BY_NAME[name], value, str(config_file))
                origins[name] = str(config_file)
            else:
                extra[name] = value
    for s in SETTINGS:
        if s.env_var in os.environ:
            values[s.name] = _coerce(s, os.environ[s.env_var], s.env_var)
            origins[s.name] = s.env_var
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        setting = SETTINGS_BY_NAME[name]
        values[name] = _coerce(setting, value, f"--{name.replace('.', '-').replace('_', '-')}")
        origins[name] = "flag"
    if values["store"] not in {"auto", "local", "elasticsearch"}:
        raise ConfigError(
            f"{origins['store']}: setting store: expected auto, local or elasticsearch, "
            f"got {values['store']!r}"
        )
    settings = Settings(values=values, origins=origins, config_file=config_file)
    settings.values.update({k: v for k, v in extra.items()})
    return settings
