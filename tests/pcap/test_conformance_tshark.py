"""Conformance: the pcap engine against tshark (Wireshark) as the answer key, trace by trace.

Over every trace of ../shared/corpus/pcap/zeek-traces (recursively; files tshark itself
cannot read are skipped) one tshark run per trace gives per-frame fields, aggregated here
into six kinds of records:

- TCP/UDP conversations: normalised 5-tuple -> (packets, bytes), bytes being frame lengths on
  the wire. Every TCP/UDP layer of a frame (outer and inner layers of tunnels alike, but not
  a header quoted inside an ICMP error) adds the frame to that layer's conversation; IP
  fragments count with the frame where tshark reassembled them. tshark has no flow
  timeouts, so our flow records are summed per 5-tuple (over VLANs and over records cut by
  timeouts) before comparing; the engine runs with timeouts larger than any trace.
  A conversation agrees when both sides have it with the same packet and byte counts.
- DNS queries: (query name, query type number) of each query message.
- HTTP requests: (method, host without port in lower case, request URI); the host of a
  CONNECT is its URI and is left out.
- TLS ClientHello server names, and JA3 hashes (TCP and QUIC).
- SSH identification lines (client and server banners).
- Community ID of each TCP/UDP conversation of frames with a single IP layer.

Recall is the share of tshark's records we reproduce exactly; agreement is
|ours ∩ tshark| / |ours ∪ tshark| (our extra records count against it). Over all kinds
recall must be >= 99% and agreement >= 98%; each kind's recall >= 95% (TLS has ~50
records, so one record is 2%). Every difference is written to ``pcap-differences.txt`` in
the pytest tmp dir (path printed) for a person to read; most of our extra records are
traffic tshark does not decode (HTTP on non-standard ports, TLS after STARTTLS or on port
80, the same 5-tuple on different VLANs kept apart). tshark's output is cached (gzip) by
file content, tshark version and field list under the pytest cache, so a second run takes
seconds; the first takes one tshark start per trace (~800), in a thread pool.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from collectors.pcap.engine import Engine, EngineConfig
from collectors.pcap.reader import CaptureError, ReadStats, iter_records

pytestmark = pytest.mark.conformance

FIELDS = [
    "frame.number",
    "frame.len",
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "dns.flags.response",
    "dns.qry.name",
    "dns.qry.type",
    "http.request.method",
    "http.host",
    "http.request.uri",
    "tls.handshake.type",
    "tls.handshake.extensions_server_name",
    "ip.reassembled_in",
    "ipv6.reassembled.in",
    "communityid",
    "tls.handshake.ja3",
    "ssh.protocol",
]
AGG = "\x1e"
KINDS = ("conversations", "dns", "http", "tls", "ja3", "ssh", "community_id")
NOT_TRACES = {".txt", ".java", ".keytab"}
THRESHOLD = 0.99  # of tshark's records, over all kinds, reproduced exactly
KIND_RECALL = 0.95  # the same, for each kind on its own (TLS has only ~50 records)
AGREEMENT = 0.98  # agreeing records over the union: our extra records count against


def traces(root: Path) -> list[Path]:
    """Every file under the corpus folder that may be a capture."""
    out = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix in NOT_TRACES:
            continue
        if path.name in {"COPYING", "README"} or path.name.endswith("README"):
            continue
        out.append(path)
    return out


def _split(value: str) -> list[str]:
    return value.split(AGG) if value else []


def run_tshark(tshark: str, path: Path) -> str | None:
    """tshark's per-frame fields for one trace (tab-separated lines), or None when tshark
    cannot read the file."""
    cmd = [tshark, "-n", "--enable-protocol", "communityid", "-r", str(path), "-T", "fields"]
    cmd += ["-E", "occurrence=a", "-E", f"aggregator={AGG}", "-E", "separator=/t"]
    for name in FIELDS:
        cmd += ["-e", name]
    proc = subprocess.run(cmd, capture_output=True, timeout=300, check=False)
    if proc.returncode != 0 and not proc.stdout:
        return None
    return proc.stdout.decode("utf-8", "replace")


def tshark_answers(text: str) -> dict[str, Any]:
    """tshark's records for one trace, from the output of run_tshark."""
    conv: dict[str, list[int]] = {}
    dns: Counter[str] = Counter()
    http: Counter[str] = Counter()
    tls: Counter[str] = Counter()
    ja3: Counter[str] = Counter()
    ssh: Counter[str] = Counter()
    community: dict[str, str] = {}
    frame_keys: dict[str, list[str]] = {}
    fragments: list[tuple[str, int]] = []
    for raw in text.split("\n"):  # not splitlines(): it also splits on the aggregator
        if not raw:
            continue
        cols = raw.split("\t")
        if len(cols) < len(FIELDS):
            cols += [""] * (len(FIELDS) - len(cols))
        values = dict(zip(FIELDS, cols, strict=False))
        whole = _split(values["ip.reassembled_in"]) or _split(values["ipv6.reassembled.in"])
        if whole and whole[-1] != values["frame.number"]:
            # a fragment: it counts with the frame where its datagram was reassembled
            fragments.append((whole[-1], int(values["frame.len"] or 0)))
            continue
        keys = frame_keys[values["frame.number"]] = list(_conversations(values))
        for key in keys:
            entry = conv.setdefault(key, [0, 0])
            entry[0] += 1
            entry[1] += int(values["frame.len"] or 0)
        ids = _split(values["communityid"])
        layers = values["frame.protocols"].split(":")
        if len(keys) == 1 and len(ids) == 1 and layers.count("ip") + layers.count("ipv6") == 1:
            community[keys[0]] = ids[0]
        if "icmp" in layers or "icmpv6" in layers:
            continue  # application data quoted in an ICMP error is not a transaction
        if values["dns.flags.response"] and "0" in _split(values["dns.flags.response"]):
            names = _split(values["dns.qry.name"])
            types = _split(values["dns.qry.type"])
            if names and types:
                dns[f"{names[0]} {types[0]}"] += 1
        for method, host, uri in zip(
            _split(values["http.request.method"]),
            _split(values["http.host"]) or [""] * 64,
            _split(values["http.request.uri"]),
            strict=False,
        ):
            http[http_key(method, _host(host), uri)] += 1
        if "1" in _split(values["tls.handshake.type"]):
            for name in _split(values["tls.handshake.extensions_server_name"]):
                if name:
                    tls[name] += 1
            for value in _split(values["tls.handshake.ja3"]):
                ja3[value] += 1
        for banner in _split(values["ssh.protocol"]):
            if banner.startswith("SSH-"):
                ssh[banner] += 1
    for frame, length in fragments:
        for key in frame_keys.get(frame, []):
            conv[key][0] += 1
            conv[key][1] += length
    return {
        "conversations": conv,
        "dns": dict(dns),
        "http": dict(http),
        "tls": dict(tls),
        "ja3": dict(ja3),
        "ssh": dict(ssh),
        "community_id": community,
    }


def _conversations(values: dict[str, str]) -> Iterable[str]:
    """The TCP/UDP conversations one frame belongs to (walking its protocol stack)."""
    ips4 = list(zip(_split(values["ip.src"]), _split(values["ip.dst"]), strict=False))
    ips6 = list(zip(_split(values["ipv6.src"]), _split(values["ipv6.dst"]), strict=False))
    tcp = list(zip(_split(values["tcp.srcport"]), _split(values["tcp.dstport"]), strict=False))
    udp = list(zip(_split(values["udp.srcport"]), _split(values["udp.dstport"]), strict=False))
    current: tuple[str, str] | None = None
    for layer in values["frame.protocols"].split(":"):
        if layer == "ip":
            current = ips4.pop(0) if ips4 else None
        elif layer == "ipv6":
            current = ips6.pop(0) if ips6 else None
        elif layer in ("icmp", "icmpv6"):
            return  # what follows is the header quoted by an ICMP error
        elif layer in ("tcp", "udp"):
            ports = tcp if layer == "tcp" else udp
            pair = ports.pop(0) if ports else None
            if current is None or pair is None:
                continue
            yield conversation_key(layer, current[0], pair[0], current[1], pair[1])


def conversation_key(transport: str, a: str, pa: Any, b: str, pb: Any) -> str:
    """Direction-free text key of a conversation."""
    one, two = (a, int(pa)), (b, int(pb))
    if two < one:
        one, two = two, one
    return f"{transport} {one[0]}:{one[1]} {two[0]}:{two[1]}"


def http_key(method: str, host: str, uri: str) -> str:
    """Text key of an HTTP request. The host of a CONNECT is its URI (tshark leaves it
    empty when there is no Host header; we fill url.domain from the URI), so it is left out."""
    return f"{method} {'' if method == 'CONNECT' else host} {uri}"


def _host(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def our_answers(path: Path) -> dict[str, Any]:
    """The engine's records for one trace, in the same shape as tshark_answers."""
    stats = ReadStats()
    engine = Engine(
        EngineConfig(
            idle_timeout=10**9,
            active_timeout=0,
            closed_timeout=10**9,
            max_flows=10**7,
            host_name="test",
        )
    )
    try:
        for ts, linktype, data, wirelen in iter_records(path, stats):
            engine.packet(ts, linktype, data, wirelen)
    except CaptureError:
        pass
    engine.finish()
    conv: dict[str, list[int]] = {}
    dns: Counter[str] = Counter()
    http: Counter[str] = Counter()
    tls: Counter[str] = Counter()
    ja3: Counter[str] = Counter()
    ssh: Counter[str] = Counter()
    community: dict[str, str] = {}
    for doc in engine.take_events():
        dataset = doc["event"]["dataset"]
        if dataset == "pcap.flow":
            transport = doc["network"]["transport"]
            if transport not in ("tcp", "udp"):
                continue
            key = conversation_key(
                transport,
                doc["source"]["ip"],
                doc["source"]["port"],
                doc["destination"]["ip"],
                doc["destination"]["port"],
            )
            entry = conv.setdefault(key, [0, 0])
            entry[0] += doc["network"]["packets"]
            entry[1] += doc["network"]["bytes"]
            community[key] = doc["network"]["community_id"]
        elif dataset == "pcap.dns":
            q = doc["dns"].get("question")
            if q and _has_query(doc):
                dns[f"{q['name']} {_type_number(q['type'])}"] += 1
        elif dataset == "pcap.http":
            url = doc["url"]
            method = doc["http"]["request"]["method"]
            http[http_key(method, url.get("domain", ""), url["original"])] += 1
        elif dataset == "pcap.tls":
            client = doc["tls"].get("client", {})
            if client.get("server_name"):
                tls[client["server_name"]] += 1
            if client.get("ja3"):
                ja3[client["ja3"]] += 1
        elif dataset == "pcap.ssh":
            for side in ("client", "server"):
                banner = doc["ssh"].get(side, {}).get("banner")
                if banner:
                    ssh[banner] += 1
    return {
        "conversations": conv,
        "dns": dict(dns),
        "http": dict(http),
        "tls": dict(tls),
        "ja3": dict(ja3),
        "ssh": dict(ssh),
        "community_id": community,
    }


def _has_query(doc: dict[str, Any]) -> bool:
    """A DNS event stands for a query seen on the wire: alone, or paired with its answer."""
    return doc["dns"]["type"] == "query" or "duration" in doc["event"]


def _type_number(name: str) -> str:
    from collectors.pcap.dns import TYPES

    if name.startswith("TYPE") and name[4:].isdigit():
        return name[4:]
    for number, mnemonic in TYPES.items():
        if mnemonic == name:
            return str(number)
    return name


@dataclass
class Tally:
    """Records of one kind: agreeing, in tshark's answer, in ours; the differences."""

    same: int = 0
    answer: int = 0
    ours: int = 0
    lines: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.same += other.same
        self.answer += other.answer
        self.ours += other.ours

    @property
    def recall(self) -> float:
        """Share of tshark's records we reproduce exactly."""
        return self.same / self.answer if self.answer else 1.0

    @property
    def agreement(self) -> float:
        """Agreeing records over the union of both sides (our extra records count against)."""
        union = self.answer + self.ours - self.same
        return self.same / union if union else 1.0


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Tally]:
    """Per kind: the tally of one trace."""
    out: dict[str, Tally] = {}
    a, b = ours["conversations"], theirs["conversations"]
    tally = Tally(answer=len(b), ours=len(a))
    for key in sorted(set(a) | set(b)):
        mine, key_answer = a.get(key), b.get(key)
        if mine is not None and key_answer is not None and list(mine) == list(key_answer):
            tally.same += 1
        else:
            tally.lines.append(
                f"conversation {key}: ours {mine} tshark {key_answer} (packets, bytes)"
            )
    out["conversations"] = tally
    mine_ids, their_ids = ours["community_id"], theirs["community_id"]
    tally = Tally(answer=len(their_ids), ours=len(their_ids))
    for key, value in sorted(their_ids.items()):
        if mine_ids.get(key) == value:
            tally.same += 1
        else:
            tally.lines.append(f"community_id of {key}: ours {mine_ids.get(key)} tshark {value}")
    out["community_id"] = tally
    for kind in ("dns", "http", "tls", "ja3", "ssh"):
        mine_c, theirs_c = Counter(ours[kind]), Counter(theirs[kind])
        tally = Tally(
            same=sum((mine_c & theirs_c).values()),
            answer=sum(theirs_c.values()),
            ours=sum(mine_c.values()),
        )
        for key in sorted(set(mine_c) | set(theirs_c)):
            if mine_c[key] != theirs_c[key]:
                tally.lines.append(f"{kind} {key!r}: ours {mine_c[key]} tshark {theirs_c[key]}")
        out[kind] = tally
    return out


def _cached_tshark(tshark: str, version: str, cache_dir: Path, path: Path) -> str | None:
    """run_tshark's output, cached by file content, tshark version and field list."""
    salt = (version + " ".join(FIELDS)).encode()
    digest = hashlib.sha256(path.read_bytes() + salt).hexdigest()[:32]
    cached = cache_dir / f"{digest}.gz"
    unreadable = cache_dir / f"{digest}.none"
    if cached.is_file():
        return gzip.decompress(cached.read_bytes()).decode("utf-8")
    if unreadable.is_file():
        return None
    text = run_tshark(tshark, path)
    if text is None:
        unreadable.write_text("")
    else:
        cached.write_bytes(gzip.compress(text.encode("utf-8")))
    return text


def run_comparison(corpus: Path, cache_dir: Path, report: Path) -> dict[str, Tally]:
    """Compare every trace; write the differences to ``report``; the totals per kind."""
    tshark = shutil.which("tshark")
    assert tshark is not None
    version = subprocess.run(
        [tshark, "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    files = traces(corpus / "pcap" / "zeek-traces")
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        answers = list(pool.map(lambda p: _cached_tshark(tshark, version, cache_dir, p), files))
    totals = {kind: Tally() for kind in KINDS}
    skipped = []
    with report.open("w", encoding="utf-8") as out:
        for path, theirs in zip(files, answers, strict=True):
            name = path.relative_to(corpus)
            if theirs is None:
                skipped.append(str(name))
                continue
            for kind, tally in compare(our_answers(path), tshark_answers(theirs)).items():
                totals[kind].add(tally)
                for line in tally.lines:
                    out.write(f"{name}: {line}\n")
        out.write(f"\nskipped (tshark cannot read): {len(skipped)}\n")
        for name in skipped:
            out.write(f"  {name}\n")
        out.write("\n" + summary_lines(totals) + "\n")
    return totals


def summary_lines(totals: dict[str, Tally]) -> str:
    """One line per kind and one for all: counts, recall and agreement."""
    overall = Tally()
    lines = []
    for kind, tally in totals.items():
        overall.add(tally)
        lines.append(
            f"{kind}: {tally.same} agree; tshark {tally.answer}, ours {tally.ours}: "
            f"recall {tally.recall:.2%}, agreement {tally.agreement:.2%}"
        )
    lines.append(
        f"all: {overall.same} agree; tshark {overall.answer}, ours {overall.ours}: "
        f"recall {overall.recall:.2%}, agreement {overall.agreement:.2%}"
    )
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~800 tshark runs: about 75 s of CPU, far more on a loaded machine
def test_engine_agrees_with_tshark(
    corpus_dir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (Debian package tshark); conformance skipped")
    if not (corpus_dir / "pcap" / "zeek-traces").is_dir():
        pytest.skip("no pcap/zeek-traces in the corpus")
    cache_dir = Path(request.config.cache.mkdir("pcap-tshark"))
    report = tmp_path / "pcap-differences.txt"
    totals = run_comparison(corpus_dir, cache_dir, report)
    print(f"\npcap vs tshark:\n{summary_lines(totals)}\ndifferences listed in {report}")
    overall = Tally()
    for kind, tally in totals.items():
        overall.add(tally)
        assert tally.answer > 0, f"no {kind} records from tshark: the comparison is not looking"
        assert tally.recall >= KIND_RECALL, f"{kind}: recall {tally.recall:.2%}; see {report}"
    assert overall.recall >= THRESHOLD, f"recall {overall.recall:.2%}; see {report}"
    assert overall.agreement >= AGREEMENT, f"agreement {overall.agreement:.2%}; see {report}"
