"""What a packet engine is told (EngineConfig) and what it counts (EngineStats).

Apart from the engine so that its parts (the network decoder, the fragment reassembler...)
share one counter object without importing the engine; ``collectors.pcap.engine`` exports
both names too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class EngineConfig:
    """Knobs of the engine; the defaults suit a sensor and reading files alike."""

    idle_timeout: float = 60.0  # seconds without a packet before a flow ends
    active_timeout: float = 1800.0  # a flow longer than this is cut into records
    closed_timeout: float = 5.0  # a closed TCP connection (FIN both ways, or RST) ends after
    max_flows: int = 100_000
    host_name: str | None = None
    department: str | None = None
    community_id_seed: int = 0


@dataclass
class EngineStats:
    """Packet and flow counts of one engine run."""

    packets: int = 0
    bytes: int = 0
    decoded: int = 0  # IP packets whose transport header was read
    non_ip: int = 0  # frames of other protocols (ARP, LLDP, STP...)
    malformed: int = 0  # headers cut short or inconsistent
    skipped_link_type: int = 0  # frames of link types we cannot read
    fragments: int = 0
    reassembled: int = 0
    fragments_dropped: int = 0  # fragments of datagrams never completed
    flows: int = 0
    evicted: int = 0  # flows pushed out of a full table
    errors: int = 0  # packets or flow ends whose decoding failed: counted and skipped
    events: dict[str, int] = field(default_factory=dict)
    unknown_link_types: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        """Plain counts for JSON output: sets as sorted lists, dicts sorted by key."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, set):
                value = sorted(value)
            elif isinstance(value, dict):
                value = dict(sorted(value.items()))
            out[f.name] = value
        return out
