"""Sigma log sources onto citysoc's ECS events, and Sigma field names onto ECS paths.

A Sigma rule names a log source (product / category / service) and uses the field names of
that source (``Image``, ``c-uri``, ``query``...). Our collectors store ECS documents, so each
log source is mapped onto one or more *variants*: the event conditions that select its events
(always an ``event.dataset`` condition, plus channel and event ids for Windows) and the field
renames that apply to those events. A rule is converted once per variant of its log source
and the queries are OR-ed (see soc.detect.compile), so Windows ``process_creation`` matches
Sysmon event 1 *and* Security 4688 (with 4688's own field names).

Field names that already look like ECS paths (they contain a dot, or are ``@timestamp``)
pass through unchanged, so the city rule pack writes ECS names directly. Unbound keywords
(``keywords:`` lists) are matched against KEYWORD_FIELDS.

Plain data and functions, without pySigma: a run whose rules all come from the caches reads
its log sources here without importing pySigma (soc.detect.pipelines turns a variant into a
pySigma processing pipeline when a rule is converted).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from soc.ecs import field_type


class LogSourceFields(Protocol):
    """What a Sigma log source names (pySigma's SigmaLogSource has these)."""

    @property
    def product(self) -> str | None: ...

    @property
    def category(self) -> str | None: ...

    @property
    def service(self) -> str | None: ...


@dataclass(frozen=True)
class LogSource:
    """A log source given by its names (as in a rule's ``logsource`` mapping)."""

    category: str | None = None
    product: str | None = None
    service: str | None = None


#: The fields every unbound keyword is matched against (contains, either field): the raw
#: line and the parsed message.
KEYWORD_FIELDS = ["event.original", "message"]


def keyword_fields(target: str) -> list[str]:
    """The fields keywords search for a backend target: for Lucene only those the
    Elasticsearch store indexes (soc.ecs.FIELD_TYPES marks event.original "unindexed", and a
    query naming an unindexed field is an error there)."""
    if target != "lucene":
        return list(KEYWORD_FIELDS)
    return [f for f in KEYWORD_FIELDS if field_type(f) != "unindexed"]


WINDOWS_DATASET = "windows.eventlog"
SYSMON = "Microsoft-Windows-Sysmon/Operational"
SECURITY = "Security"
PS_OPERATIONAL = "Microsoft-Windows-PowerShell/Operational"
PS_CLASSIC = "Windows PowerShell"

#: Windows System fields with their own ECS paths; every other Sigma field X of a Windows
#: rule is ``winlog.event_data.X``.
WINDOWS_SYSTEM_FIELDS: dict[str, str] = {
    "EventID": "winlog.event_id",
    "Channel": "winlog.channel",
    "Provider_Name": "winlog.provider_name",
    "Computer": "winlog.computer_name",
    "EventRecordID": "winlog.record_id",
}
WINDOWS_EVENT_DATA = "winlog.event_data."

#: SigmaHQ's ``Data`` field means the unnamed ``<EventData><Data>`` values of a record (the
#: classic PowerShell, MSSQL, ESENT, MSI installer and WER events have no names). The EVTX
#: collector stores a lone unnamed value as ``winlog.event_data.Data`` and several as
#: ``param1``, ``param2``...; a ``Data`` condition holds when any one of them satisfies it (as
#: for a multi-valued field: ``contains|all`` needs all its parts in the same value).
UNNAMED_DATA_PARAMS = 24
UNNAMED_DATA_PATHS: tuple[str, ...] = (
    WINDOWS_EVENT_DATA + "Data",
    *(f"{WINDOWS_EVENT_DATA}param{i}" for i in range(1, UNNAMED_DATA_PARAMS + 1)),
)

#: Sigma's process_creation names (Sysmon 1) onto the names Security 4688 uses.
SECURITY_4688_FIELDS: dict[str, str] = {
    "Image": "NewProcessName",
    "ParentImage": "ParentProcessName",
    "ProcessId": "NewProcessId",
    "ParentProcessId": "ProcessId",
    "User": "SubjectUserName",
    "LogonId": "SubjectLogonId",
    "IntegrityLevel": "MandatoryLabel",
}

#: Sysmon event ids per Sigma Windows category.
SYSMON_CATEGORIES: dict[str, tuple[int, ...]] = {
    "process_creation": (1,),
    "file_change": (2,),
    "network_connection": (3,),
    "sysmon_status": (4, 16),
    "process_termination": (5,),
    "driver_load": (6,),
    "image_load": (7,),
    "create_remote_thread": (8,),
    "raw_access_thread": (9,),
    "raw_access_read": (9,),
    "process_access": (10,),
    "file_event": (11,),
    "registry_add": (12,),
    "registry_delete": (12,),
    "registry_set": (13,),
    "registry_rename": (14,),
    "registry_event": (12, 13, 14),
    "create_stream_hash": (15,),
    "pipe_created": (17, 18),
    "wmi_event": (19, 20, 21),
    "dns_query": (22,),
    "file_delete": (23, 26),
    "clipboard_capture": (24,),
    "process_tampering": (25,),
    "file_delete_detected": (26,),
    "file_block_executable": (27,),
    "file_block_shredding": (28,),
    "file_executable_detected": (29,),
    "sysmon_error": (255,),
}

#: Windows categories logged outside Sysmon: (channel, event ids).
WINDOWS_OTHER_CATEGORIES: dict[str, tuple[str, tuple[int, ...]]] = {
    "ps_module": (PS_OPERATIONAL, (4103,)),
    "ps_script": (PS_OPERATIONAL, (4104,)),
    "ps_classic_start": (PS_CLASSIC, (400,)),
    "ps_classic_provider_start": (PS_CLASSIC, (600,)),
    "ps_classic_script": (PS_CLASSIC, (800,)),
}

#: Sigma Windows services onto event log channels.
WINDOWS_SERVICES: dict[str, tuple[str, ...]] = {
    "security": (SECURITY,),
    "system": ("System",),
    "application": ("Application",),
    "sysmon": (SYSMON,),
    "powershell": (PS_OPERATIONAL,),
    "powershell-classic": (PS_CLASSIC,),
    "taskscheduler": ("Microsoft-Windows-TaskScheduler/Operational",),
    "wmi": ("Microsoft-Windows-WMI-Activity/Operational",),
    "dns-server": ("DNS Server",),
    "dns-server-audit": ("Microsoft-Windows-DNSServer/Audit",),
    "dns-server-analytic": ("Microsoft-Windows-DNS-Server/Analytical",),
    "dns-client": ("Microsoft-Windows-DNS Client Events/Operational",),
    "driver-framework": ("Microsoft-Windows-DriverFrameworks-UserMode/Operational",),
    "ntlm": ("Microsoft-Windows-NTLM/Operational",),
    "windefend": ("Microsoft-Windows-Windows Defender/Operational",),
    "firewall-as": ("Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",),
    "bits-client": ("Microsoft-Windows-Bits-Client/Operational",),
    "codeintegrity-operational": ("Microsoft-Windows-CodeIntegrity/Operational",),
    "applocker": (
        "Microsoft-Windows-AppLocker/MSI and Script",
        "Microsoft-Windows-AppLocker/EXE and DLL",
        "Microsoft-Windows-AppLocker/Packaged app-Deployment",
        "Microsoft-Windows-AppLocker/Packaged app-Execution",
    ),
    "msexchange-management": ("MSExchange Management",),
    "printservice-admin": ("Microsoft-Windows-PrintService/Admin",),
    "printservice-operational": ("Microsoft-Windows-PrintService/Operational",),
    "smbclient-security": ("Microsoft-Windows-SmbClient/Security",),
    "smbclient-connectivity": ("Microsoft-Windows-SmbClient/Connectivity",),
    "smbserver-connectivity": ("Microsoft-Windows-SMBServer/Connectivity",),
    "terminalservices-localsessionmanager": (
        "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
    ),
    "openssh": ("OpenSSH/Operational",),
    "ldap_debug": ("Microsoft-Windows-LDAP-Client/Debug",),
    "security-mitigations": (
        "Microsoft-Windows-Security-Mitigations/Kernel Mode",
        "Microsoft-Windows-Security-Mitigations/User Mode",
    ),
    "shell-core": ("Microsoft-Windows-Shell-Core/Operational",),
    "appxdeployment-server": ("Microsoft-Windows-AppXDeploymentServer/Operational",),
    "appxpackaging-om": ("Microsoft-Windows-AppxPackaging/Operational",),
    "appmodel-runtime": ("Microsoft-Windows-AppModel-Runtime/Admin",),
    "capi2": ("Microsoft-Windows-CAPI2/Operational",),
    "certificateservicesclient-lifecycle-system": (
        "Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational",
    ),
    "diagnosis-scripted": ("Microsoft-Windows-Diagnosis-Scripted/Operational",),
    "lsa-server": ("Microsoft-Windows-LSA/Operational",),
    "vhdmp": ("Microsoft-Windows-VHDMP-Operational",),
    "kernel-shimengine": ("Microsoft-Windows-Kernel-ShimEngine/Operational",),
    "iis-configuration": ("Microsoft-IIS-Configuration/Operational",),
    "dhcp": ("Microsoft-Windows-DHCP-Server/Operational",),
    "bitlocker": ("Microsoft-Windows-BitLocker/BitLocker Management",),
    "hyper-v-worker": ("Microsoft-Windows-Hyper-V-Worker",),
    "microsoft-servicebus-client": ("Microsoft-ServiceBus-Client",),
    "sysmon-operational": (SYSMON,),
    "wmi-activity": ("Microsoft-Windows-WMI-Activity/Operational",),
}

#: Windows services whose EventData names contain spaces.
SPACED_SERVICES = frozenset({"windefend"})

# --- non-Windows sources: datasets and field names ---------------------------------------

WEB_ACCESS = ("apache.access", "nginx.access")
WEB_FIELDS: dict[str, str] = {
    "c-ip": "source.ip",
    "clientip": "source.ip",
    "cs-method": "http.request.method",
    "method": "http.request.method",
    "c-uri": "url.original",
    "cs-uri": "url.original",
    "cs-uri-stem": "url.path",
    "c-uri-stem": "url.path",
    "c-uri-path": "url.path",
    "c-uri-query": "url.query",
    "cs-uri-query": "url.query",
    "c-uri-extension": "url.extension",
    "sc-status": "http.response.status_code",
    "c-useragent": "user_agent.original",
    "cs-user-agent": "user_agent.original",
    "cs-host": "url.domain",
    "cs-referer": "http.request.referrer",
    "cs-referrer": "http.request.referrer",
    "cs-username": "user.name",
    "cs-version": "http.version",
    "sc-bytes": "http.response.body.bytes",
    "cs-bytes": "http.request.body.bytes",
    "r-dns": "url.domain",
    "dst_ip": "destination.ip",
    "src_ip": "source.ip",
    "cs-cookie": "http.request.cookie",
}

DNS_DATASETS = ("bind.query", "pcap.dns")
DNS_FIELDS: dict[str, str] = {
    "query": "dns.question.name",
    "QueryName": "dns.question.name",
    "record_type": "dns.question.type",
    "qtype_name": "dns.question.type",
    "QueryType": "dns.question.type",
    "answer": "dns.answers.data",
    "answers": "dns.answers.data",
    "QueryResults": "dns.answers.data",
    "response_code": "dns.response_code",
    "rcode_name": "dns.response_code",
    "src_ip": "source.ip",
    "dst_ip": "destination.ip",
    "src_port": "source.port",
    "dst_port": "destination.port",
}

FIREWALL_DATASETS = ("fortinet.firewall", "iptables.log")
#: Cisco IOS system messages (collectors.parsers.cisco): AAA command accounting, the config
#: logger, and the routing-protocol messages SigmaHQ's cisco rules read, all as cisco.ios.
CISCO_SERVICES = frozenset({"aaa", "syslog", "bgp", "ldp", ""})
NETWORK_FIELDS: dict[str, str] = {
    "src_ip": "source.ip",
    "dst_ip": "destination.ip",
    "src_port": "source.port",
    "dst_port": "destination.port",
    "SourceIp": "source.ip",
    "DestinationIp": "destination.ip",
    "SourcePort": "source.port",
    "DestinationPort": "destination.port",
    "DestinationHostname": "destination.domain",
    "SourceHostname": "source.domain",
    "Protocol": "network.transport",
    "protocol": "network.transport",
    "proto": "network.transport",
    "action": "event.action",
    "User": "user.name",
    "Image": "process.executable",
}

ZEEK_FIELDS: dict[str, str] = {
    "id.orig_h": "source.ip",
    "id.orig_p": "source.port",
    "id.resp_h": "destination.ip",
    "id.resp_p": "destination.port",
    "proto": "network.transport",
    "service": "network.protocol",
    "orig_bytes": "source.bytes",
    "resp_bytes": "destination.bytes",
    "orig_pkts": "source.packets",
    "resp_pkts": "destination.packets",
    "community_id": "network.community_id",
    "query": "dns.question.name",
    "qtype_name": "dns.question.type",
    "qclass_name": "dns.question.class",
    "rcode_name": "dns.response_code",
    "answers": "dns.answers.data",
    "host": "url.domain",
    "uri": "url.original",
    "method": "http.request.method",
    "user_agent": "user_agent.original",
    "referrer": "http.request.referrer",
    "status_code": "http.response.status_code",
    "resp_mime_types": "http.response.mime_type",
    "request_body_len": "http.request.body.bytes",
    "response_body_len": "http.response.body.bytes",
    "server_name": "tls.client.server_name",
    "ja3": "tls.client.ja3",
    "ja3s": "tls.server.ja3s",
    "version": "tls.version",
    "cipher": "tls.cipher",
    "subject": "tls.server.x509.subject.distinguished_name",
    "issuer": "tls.server.x509.issuer.distinguished_name",
    "client": "ssh.client.banner",
    "server": "ssh.server.banner",
}
ZEEK_SERVICES: dict[str, tuple[str, ...]] = {
    "conn": ("pcap.flow",),
    "dns": ("pcap.dns",),
    "http": ("pcap.http",),
    "ssl": ("pcap.tls",),
    "x509": ("pcap.tls",),
    "ssh": ("pcap.ssh",),
    "ftp": ("pcap.ftp",),
    "smtp": ("pcap.smtp",),
    "pop3": ("pcap.pop3",),
    "imap": ("pcap.imap",),
}

#: ``product: citysoc``: every event in the store (triage pivots use it), ECS names only.
ANY_PRODUCT = "citysoc"

#: Services named without a product.
PLAIN_SERVICES: dict[str, tuple[str, ...]] = {
    "apache": ("apache.access", "apache.error"),
    "nginx": ("nginx.access", "nginx.error"),
}

LINUX_PROCESS_FIELDS: dict[str, str] = {
    "Image": "process.executable",
    "CommandLine": "process.command_line",
    "ParentImage": "process.parent.executable",
    "ParentCommandLine": "process.parent.command_line",
    "ProcessId": "process.pid",
    "ParentProcessId": "process.parent.pid",
    "CurrentDirectory": "process.working_directory",
    "User": "user.name",
    "LogonId": "user.id",
}
LINUX_AUTH_FIELDS: dict[str, str] = {
    "User": "user.name",
    "user": "user.name",
    "src_ip": "source.ip",
    "pam_user": "user.name",
    "pam_rhost": "source.ip",
}

#: Linux services: datasets and, where one program writes them, process.name.
LINUX_SERVICES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "sshd": (("system.auth",), "sshd"),
    "auth": (("system.auth",), None),
    "sudo": (("system.auth",), "sudo"),
    "su": (("system.auth",), "su"),
    "cron": (("system.auth", "system.syslog"), None),
    "syslog": (("system.syslog", "system.auth"), None),
    "auditd": (("auditd.log",), None),
    "vsftpd": (("system.syslog",), "vsftpd"),
    "clamav": (("system.syslog",), None),
    "modsecurity": (("apache.error", "nginx.error"), None),
    "guacamole": (("system.syslog",), None),
}


@dataclass(frozen=True)
class Variant:
    """One way a log source appears in our store: the conditions that select its events
    (ECS path -> value or tuple of alternatives) and the Sigma-name -> ECS-path renames."""

    name: str
    conditions: tuple[tuple[str, Any], ...]
    fields: tuple[tuple[str, str], ...] = ()
    windows: bool = False
    #: Windows logs whose EventData names contain spaces ("Threat Name") where Sigma writes
    #: them without (ThreatName): match either spelling.
    spaced_names: bool = False

    def condition_dict(self) -> dict[str, Any]:
        """The conditions as AddConditionTransformation takes them (alternatives as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.conditions}

    def field_map(self) -> dict[str, str]:
        """The Sigma-name -> ECS-path renames of this variant."""
        return dict(self.fields)

    def resolve(self, sigma_field: str) -> str:
        """The ECS path this variant stores a Sigma field under."""
        return resolve_field(sigma_field, self)


@dataclass(frozen=True)
class LogsourceMapping:
    """The variants of one Sigma log source, or why it has none we know of."""

    variants: tuple[Variant, ...]
    known: bool = True
    note: str = ""


def _cond(**pairs: Any) -> tuple[tuple[str, Any], ...]:
    return tuple((k.replace("__", "."), v) for k, v in pairs.items())


def _conditions(pairs: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(
        (k, tuple(v) if isinstance(v, list | tuple) and len(v) > 1 else _single(v))
        for k, v in pairs.items()
    )


def _single(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return value[0]
    return value


def _windows_variant(name: str, channels: Sequence[str], ids: Sequence[int] | None) -> Variant:
    pairs: dict[str, Any] = {"event.dataset": WINDOWS_DATASET}
    if channels:
        pairs["winlog.channel"] = list(channels)
    if ids:
        pairs["winlog.event_id"] = list(ids)
    return Variant(name=name, conditions=_conditions(pairs), windows=True)


def logsource_mapping(logsource: LogSourceFields) -> LogsourceMapping:
    """The variants for a Sigma log source; an unknown source gets no condition but its own
    (known=False), so the rule still converts and the caller can report the gap."""
    product = (logsource.product or "").lower()
    category = (logsource.category or "").lower()
    service = (logsource.service or "").lower()

    if product == "windows":
        return _windows_mapping(category, service)
    if product == "zeek" or (not product and service in ZEEK_SERVICES and not category):
        datasets = ZEEK_SERVICES.get(service)
        if datasets is None:
            return LogsourceMapping(
                (_generic("zeek", ZEEK_FIELDS),),
                known=False,
                note=f"log source not collected by citysoc: zeek {service}",
            )
        return LogsourceMapping(
            (Variant(f"zeek/{service}", _conditions({"event.dataset": datasets}), _f(ZEEK_FIELDS)),)
        )
    if not product and not category and service in PLAIN_SERVICES:
        return LogsourceMapping(
            (Variant(service, _conditions({"event.dataset": PLAIN_SERVICES[service]}), ()),)
        )
    if product == "cisco" and service in CISCO_SERVICES:
        return LogsourceMapping(
            (Variant(f"cisco/{service}", _conditions({"event.dataset": "cisco.ios"}), ()),)
        )
    if product in {"fortigate", "fortios"}:
        return LogsourceMapping(
            (Variant("fortigate", _conditions({"event.dataset": "fortinet.firewall"}), ()),)
        )
    if category in {"webserver", "proxy"}:
        # the sensor's HTTP records are web requests too (scanners seen only in captures)
        datasets: tuple[str, ...] = (*WEB_ACCESS, "pcap.http")
        return LogsourceMapping(
            (Variant(category, _conditions({"event.dataset": datasets}), _f(WEB_FIELDS)),)
        )
    if category == "dns":
        return LogsourceMapping(
            (Variant("dns", _conditions({"event.dataset": DNS_DATASETS}), _f(DNS_FIELDS)),)
        )
    if category == "firewall":
        return LogsourceMapping(
            (
                Variant(
                    "firewall",
                    _conditions({"event.dataset": FIREWALL_DATASETS}),
                    _f(NETWORK_FIELDS),
                ),
            )
        )
    if category == "network_connection":
        datasets = ("pcap.flow", *FIREWALL_DATASETS)
        return LogsourceMapping(
            (Variant("network", _conditions({"event.dataset": datasets}), _f(NETWORK_FIELDS)),)
        )
    if product == "linux":
        if category == "process_creation":
            return LogsourceMapping(
                (
                    Variant(
                        "linux/process_creation",
                        _conditions({"event.dataset": "auditd.log"}),
                        _f(LINUX_PROCESS_FIELDS),
                    ),
                )
            )
        if service in LINUX_SERVICES:
            datasets, program = LINUX_SERVICES[service]
            pairs: dict[str, Any] = {"event.dataset": list(datasets)}
            if program:
                pairs["process.name"] = program
            fields = LINUX_AUTH_FIELDS if service != "auditd" else {}
            return LogsourceMapping((Variant(f"linux/{service}", _conditions(pairs), _f(fields)),))
        if not category and not service:
            datasets = ("system.syslog", "system.auth", "auditd.log")
            return LogsourceMapping(
                (Variant("linux", _conditions({"event.dataset": datasets}), _f(LINUX_AUTH_FIELDS)),)
            )
        return LogsourceMapping(
            (_generic("linux", LINUX_PROCESS_FIELDS),),
            known=False,
            note=f"log source not collected by citysoc: linux {category or service}",
        )
    if (not product and not category and not service) or (product == ANY_PRODUCT and not category):
        return LogsourceMapping((Variant("any", ()),))
    return LogsourceMapping(
        (Variant("unmapped", ()),),
        known=False,
        note=f"log source not collected by citysoc: {_describe(logsource)}",
    )


def _windows_mapping(category: str, service: str) -> LogsourceMapping:
    if category == "process_creation":
        return LogsourceMapping(
            (
                _windows_variant("windows/sysmon/1", [SYSMON], [1]),
                Variant(
                    "windows/security/4688",
                    _conditions(
                        {
                            "event.dataset": WINDOWS_DATASET,
                            "winlog.channel": SECURITY,
                            "winlog.event_id": 4688,
                        }
                    ),
                    _f(SECURITY_4688_FIELDS),
                    windows=True,
                ),
            )
        )
    if category in SYSMON_CATEGORIES:
        ids = SYSMON_CATEGORIES[category]
        return LogsourceMapping((_windows_variant(f"windows/sysmon/{category}", [SYSMON], ids),))
    if category in WINDOWS_OTHER_CATEGORIES:
        channel, ids = WINDOWS_OTHER_CATEGORIES[category]
        return LogsourceMapping((_windows_variant(f"windows/{category}", [channel], ids),))
    if service in WINDOWS_SERVICES:
        variant = _windows_variant(f"windows/{service}", WINDOWS_SERVICES[service], None)
        if service in SPACED_SERVICES:
            variant = replace(variant, spaced_names=True)
        return LogsourceMapping((variant,))
    known = not category and not service
    note = "" if known else f"log source not collected by citysoc: windows {category or service}"
    return LogsourceMapping((_windows_variant("windows", [], None),), known=known, note=note)


def _generic(name: str, fields: Mapping[str, str]) -> Variant:
    return Variant(name, (), _f(fields))


def _f(fields: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(fields.items())


def _describe(logsource: LogSourceFields) -> str:
    parts = [
        f"{k}={v}"
        for k, v in (
            ("product", logsource.product),
            ("category", logsource.category),
            ("service", logsource.service),
        )
        if v
    ]
    return " ".join(parts) or "(none)"


def is_ecs_name(name: str) -> bool:
    """True for field names written as ECS paths (dotted, or @timestamp): they pass through."""
    return "." in name or name.startswith("@") or name == "message"


def resolve_field(sigma_field: str, variant: Variant) -> str:
    """The ECS path under which ``variant`` stores the Sigma field ``sigma_field``."""
    renamed = variant.field_map().get(sigma_field)
    if renamed is not None:
        sigma_field = renamed
        if not variant.windows:
            return sigma_field
    if is_ecs_name(sigma_field):
        return sigma_field
    if variant.windows:
        system = WINDOWS_SYSTEM_FIELDS.get(sigma_field)
        if system is not None:
            return system
        return WINDOWS_EVENT_DATA + sigma_field
    return sigma_field


def resolve_paths(sigma_field: str, variant: Variant) -> list[str]:
    """Every ECS path ``variant`` may store a Sigma field under (primary first)."""
    primary = resolve_field(sigma_field, variant)
    if variant.windows and primary == UNNAMED_DATA_PATHS[0]:
        return list(UNNAMED_DATA_PATHS)
    if variant.spaced_names and primary.startswith(WINDOWS_EVENT_DATA):
        spaced = WINDOWS_EVENT_DATA + spaced_name(primary[len(WINDOWS_EVENT_DATA) :])
        if spaced != primary:
            return [primary, spaced]
    return [primary]


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])")


def spaced_name(name: str) -> str:
    """``ThreatName`` -> ``Threat Name``: how Defender and some other providers name their
    EventData fields."""
    return _CAMEL_BOUNDARY.sub(" ", name)


__all__ = [
    "KEYWORD_FIELDS",
    "LogSource",
    "LogSourceFields",
    "LogsourceMapping",
    "Variant",
    "is_ecs_name",
    "keyword_fields",
    "logsource_mapping",
    "resolve_field",
    "resolve_paths",
    "spaced_name",
]
