"""Packet captures (files and live interfaces) -> ECS network events.

reader: pcap/pcapng records; engine: frames -> flows and application events (with dns, http,
tls, quic, streams, community_id); events: the ECS documents; ingest / live: the drivers
behind `soc ingest pcap` and `soc collect pcap`. See docs/pcap.md.
"""
