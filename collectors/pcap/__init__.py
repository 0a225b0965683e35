"""Packet captures (files and live interfaces) -> ECS network events.

reader: pcap/pcapng records; engine: frames -> flows and application events, built from
network (link and IP layers, with links and fragments), tunnels, flows (the flow record and
TCP state) and apps (application protocols, with dns, http, tls, quic, ssh, logins, streams);
config: the engine's settings and counters; events: the ECS documents (with community_id);
ingest / live: the drivers behind `soc ingest pcap` and `soc collect pcap`. See docs/pcap.md.
"""
