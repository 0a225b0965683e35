"""The tables of soc.detect.logsources: which events each Sigma log source selects (Windows
channels and event ids, non-Windows datasets) and the field names of each source onto ECS
paths. Plain data, read when a rule is mapped onto our events."""

from __future__ import annotations

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

#: Linux services: datasets and, where the service's own programs write them, their
#: process.name values. OpenSSH 9.8 and later log logins from sshd-session (Debian 13,
#: Ubuntu 24.10, Fedora 41 and later), older versions from sshd.
LINUX_SERVICES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "sshd": (("system.auth",), ("sshd", "sshd-session")),
    "auth": (("system.auth",), ()),
    "sudo": (("system.auth",), ("sudo",)),
    "su": (("system.auth",), ("su",)),
    "cron": (("system.auth", "system.syslog"), ()),
    "syslog": (("system.syslog", "system.auth"), ()),
    "auditd": (("auditd.log",), ()),
    "vsftpd": (("system.syslog",), ("vsftpd",)),
    "clamav": (("system.syslog",), ()),
    "modsecurity": (("apache.error", "nginx.error"), ()),
    "guacamole": (("system.syslog",), ()),
}
