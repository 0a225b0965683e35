"""`soc ingest pcap` and `soc collect pcap`: packet captures to ECS network events."""

from __future__ import annotations
