"""IP fragment reassembly (IPv4 and IPv6), bounded in datagrams, pieces and bytes.

A ``FragmentReassembler`` holds the fragments of the datagrams not yet complete, keyed on
(IP version, source, destination, identification, protocol), and gives back a datagram's
payload once every piece is there. It gives up on a datagram that is too big, has too many
pieces, waited too long or is pushed out by newer ones; the fragments it held are counted
as dropped, and when the first fragment is among them the datagram is handed to a
``LostDatagram`` callback, so that the engine still counts it in its flow from the
transport header that fragment carries (fragmentation cannot hide a flow from the sensor).
"""

from __future__ import annotations

from collections.abc import Callable

from collectors.pcap.config import EngineStats

MAX_FRAGMENT_DATAGRAMS = 4096
MAX_FRAGMENT_PIECES = 512  # per datagram
MAX_FRAGMENT_BYTES = 32 * 1024 * 1024  # waiting in all datagrams together
FRAGMENT_TIMEOUT_NS = 30 * 1_000_000_000


#: told of a datagram given up on whose first fragment is there: the first fragment's time,
#: the summed frame lengths and the count of the datagram's fragments, its key, the first
#: fragment's bytes (the transport header first) and the ``where`` it was added with
LostDatagram = Callable[[int, int, int, tuple, bytes, tuple], None]


class FragmentReassembler:
    """The fragments of incomplete IP datagrams; ``held`` is the payload bytes they hold."""

    __slots__ = ("datagrams", "held", "lost", "stats")

    def __init__(self, stats: EngineStats, lost: LostDatagram) -> None:
        self.stats = stats  # reassembled, fragments_dropped and malformed are counted here
        self.lost = lost
        # key -> [first ts, total length or -1, summed frame length, pieces, where]
        self.datagrams: dict[tuple, list] = {}
        self.held = 0

    def add(
        self,
        ts: int,
        key: tuple,
        offset: int,
        more: bool,
        chunk: bytes,
        wirelen: int,
        where: tuple,
    ) -> tuple[bytes, int, int] | None:
        """Add a fragment; the whole datagram's payload (with the summed frame lengths and
        the fragment count) once every piece is there, else None. ``key``: (IP version,
        source, destination, identification, protocol) for the engine, opaque here;
        ``where``: what the engine needs to place the datagram (VLAN ids, tunnel depth),
        given back to ``lost``."""
        datagrams = self.datagrams
        entry = datagrams.get(key)
        if entry is None:
            if len(datagrams) >= MAX_FRAGMENT_DATAGRAMS:
                self.drop(next(iter(datagrams)))
            entry = [ts, -1, 0, {}, where]
            datagrams[key] = entry
        pieces: dict[int, bytes] = entry[3]
        if offset + len(chunk) > 65535 + 8 or len(pieces) >= MAX_FRAGMENT_PIECES:
            self.stats.fragments_dropped += 1  # this one; the others with their datagram
            self.stats.malformed += 1
            self.drop(key)
            return None
        old = pieces.get(offset)
        self.held += len(chunk) - (len(old) if old is not None else 0)
        pieces[offset] = chunk
        while self.held > MAX_FRAGMENT_BYTES and len(datagrams) > 1:
            oldest = next(iter(datagrams))
            if oldest == key:
                break
            self.drop(oldest)
        entry[2] += wirelen
        if not more:
            entry[1] = offset + len(chunk)
        total = entry[1]
        if total < 0:
            return None
        covered = 0
        for start in sorted(pieces):
            if start > covered:
                return None
            covered = max(covered, start + len(pieces[start]))
        if covered < total:
            return None
        buf = bytearray(total)
        for start in sorted(pieces):
            piece = pieces[start][: max(0, total - start)]
            buf[start : start + len(piece)] = piece
        del datagrams[key]
        self.held -= sum(len(p) for p in pieces.values())
        self.stats.reassembled += 1
        return bytes(buf), entry[2], len(pieces)

    def drop(self, key: tuple) -> None:
        """Give up on an incomplete datagram (nothing happens for a key not held): count its
        fragments as dropped, and when its first fragment is there, hand it to ``lost``."""
        entry = self.datagrams.pop(key, None)
        if entry is None:
            return
        pieces: dict[int, bytes] = entry[3]
        self.stats.fragments_dropped += len(pieces)
        self.held -= sum(len(p) for p in pieces.values())
        first = pieces.get(0)
        if first is None:
            return
        self.lost(entry[0], entry[2], len(pieces), key, first, entry[4])

    def expire(self, now: int) -> None:
        """Give up on the datagrams whose first fragment came more than FRAGMENT_TIMEOUT_NS
        before packet time ``now``."""
        if self.datagrams:
            for key in [k for k, v in self.datagrams.items() if now - v[0] > FRAGMENT_TIMEOUT_NS]:
                self.drop(key)

    def drop_all(self) -> None:
        """Give up on every datagram held (the end of the capture); ``held`` is then 0."""
        for key in list(self.datagrams):
            self.drop(key)
        self.held = 0
