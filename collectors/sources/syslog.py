"""A syslog server (``soc collect syslog``): RFC 5424 and RFC 3164 over UDP and TCP.

- UDP: one datagram is one message.
- TCP: framing is detected per connection from its first byte: a digit means RFC 6587
  octet counting (``LEN SP MSG``), anything else newline-delimited messages ("non-transparent
  framing"); a trailing unterminated message is taken when the peer closes the connection.
  Messages longer than ``max_message`` bytes are dead-lettered with a prefix. The framing is
  in collectors.sources.syslog_framing.
- Parsing: the message goes through the ``syslog`` parser; when its program is one of the
  authentication programs (sshd, sudo, su, useradd..., CRON; see AUTH_PROGRAMS) it is parsed
  by the ``auth`` parser instead, so it gets the system.auth actions and fields.
- Sender: ``log.source.address`` = ``"<ip>:<port>"`` of the peer (as Filebeat's syslog input
  names it); ``host.name`` comes from the message header, else ``--host``, else the peer IP.
- Ids: a network message has no file offset, so its id is
  ``event_id("syslog:<proto>://<listen address>", "<peer>|<receive time ns>|<hash of message>")``.
  Ids are still deterministic (a batch re-sent after a store error is not doubled) but a
  datagram that a sender transmits twice is two events.

Network I/O runs in one background thread (selectors) that appends every message to a
disk-backed queue (collectors.sources.spool.DiskQueue) before it counts as received; parsing
and shipping run in the thread that calls ``run``, which reads the queue in order, flushes on
the shipper's timer (``max_wait``) and acknowledges queue positions only after the store
did. A stop does not drain the queue (what is left is shipped after the next start), so it
takes about one batch. When the queue is full, TCP connections are not read (their senders
wait) and UDP datagrams are dropped and counted.
"""

from __future__ import annotations

import contextlib
import hashlib
import selectors
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.parsers import ParseContext, ParseError, get_parser
from collectors.parsers.auth import AUTH_PROGRAMS
from collectors.ship import Position, Shipper
from collectors.sources.lines import MAX_LINE_BYTES
from collectors.sources.logs import IngestOptions
from collectors.sources.spool import DiskQueue, Message
from collectors.sources.syslog_framing import _Conn, close_tcp, frame_tcp
from soc.ecs import event_id

UDP_MAX = 65535


class AddressError(ValueError):
    """A listen address is malformed; the message says which and why."""


def parse_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``:port`` -> (host, port); AddressError otherwise."""
    value = text.strip()
    host, sep, port_text = value.rpartition(":")
    if not sep:
        host, port_text = "", value
    host = host.strip("[]") or default_host
    try:
        port = int(port_text)
    except ValueError:
        raise AddressError(f"{text!r}: expected HOST:PORT") from None
    if not 0 <= port <= 65535:
        raise AddressError(f"{text!r}: port out of range")
    return host, port


#: One message as it arrived (kept under its former name).
Received = Message


@dataclass
class _Socket:
    sock: socket.socket
    proto: str
    name: str


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _peer_text(addr: Any) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class SyslogServer:
    """Listens on the given UDP and TCP addresses and ships what arrives until ``stop``."""

    #: None until the store answers: the listeners can start (and queue to disk) before.
    shipper: Shipper | None
    options: IngestOptions
    udp: list[tuple[str, int]] = field(default_factory=list)
    tcp: list[tuple[str, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    max_message: int = MAX_LINE_BYTES
    #: The disk queue; None: a private one in a temporary directory, removed at the end
    #: (for library use; `soc collect syslog` keeps it in ``<data_dir>/syslog-queue``).
    queue: DiskQueue | None = None
    #: Called with the counters (see ``counters``) every ``stats_every`` seconds of ``run``.
    on_stats: Callable[[dict[str, Any]], None] | None = None
    stats_every: float = 10.0

    def __post_init__(self) -> None:
        self._own_dir: str | None = None
        if self.queue is None:
            self._own_dir = tempfile.mkdtemp(prefix="soc-syslog-queue-")
            self.queue = DiskQueue(Path(self._own_dir))
        self._arrived = threading.Event()
        self._sockets: list[_Socket] = []
        self._thread: threading.Thread | None = None
        self._parsers: dict[str, tuple[Any, Any, ParseContext]] = {}
        #: (proto, host, port) of every bound listener, in the order given (ports resolved).
        self.bound: list[tuple[str, str, int]] = []

    # --- network ------------------------------------------------------------------------------
    def start(self) -> None:
        """Bind every listener (OSError names the address on failure) and start receiving."""
        try:
            for host, port in self.udp:
                sock = socket.socket(_family(host), socket.SOCK_DGRAM)
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
                self._bind(sock, host, port, "udp")
            for host, port in self.tcp:
                sock = socket.socket(_family(host), socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                self._bind(sock, host, port, "tcp")
                sock.listen(128)
        except OSError:
            self.close_sockets()
            raise
        self._thread = threading.Thread(target=self._serve, name="syslog-net", daemon=True)
        self._thread.start()

    def _bind(self, sock: socket.socket, host: str, port: int, proto: str) -> None:
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise OSError(
                exc.errno, f"cannot listen on {proto} {host}:{port}: {exc.strerror}"
            ) from None
        sock.setblocking(False)
        bound = sock.getsockname()
        name = f"{proto}://{_peer_text(bound)}"
        self.bound.append((proto, bound[0], bound[1]))
        self._sockets.append(_Socket(sock, proto, name))

    def close_sockets(self) -> None:
        """Close every listening socket."""
        for item in self._sockets:
            item.sock.close()
        self._sockets.clear()

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        for item in self._sockets:
            selector.register(item.sock, selectors.EVENT_READ, item)
        conns: dict[socket.socket, _Conn] = {}
        paused: set[socket.socket] = set()
        spool = self.queue
        assert spool is not None
        try:
            while not self.stop.is_set():
                if paused and not spool.full:
                    for sock in paused:
                        selector.register(sock, selectors.EVENT_READ, sock)
                    paused.clear()
                for key, _ in selector.select(timeout=0.1):
                    target = key.data
                    if isinstance(target, _Socket) and target.proto == "udp":
                        self._recv_udp(target)
                    elif isinstance(target, _Socket):
                        try:
                            conn, addr = target.sock.accept()
                        except OSError:
                            continue
                        conn.setblocking(False)
                        conns[conn] = _Conn(peer=_peer_text(addr), listener=target.name)
                        selector.register(conn, selectors.EVENT_READ, conn)
                    else:
                        sock = key.fileobj
                        assert isinstance(sock, socket.socket)
                        if spool.full:
                            # Hold the sender back (TCP flow control) instead of dropping.
                            selector.unregister(sock)
                            paused.add(sock)
                            spool.tcp_paused += 1
                            continue
                        if not self._recv_tcp(sock, conns[sock]):
                            selector.unregister(sock)
                            close_tcp(conns.pop(sock), self._put)
                            sock.close()
        finally:
            for sock, conn in conns.items():
                self._drain_tcp(sock, conn)
                close_tcp(conn, self._put)
                sock.close()
            # Datagrams already queued in the kernel are taken before closing.
            for item in self._sockets:
                if item.proto == "udp":
                    self._recv_udp(item)
            selector.close()
            self.close_sockets()
            spool.sync()

    def _recv_udp(self, item: _Socket) -> None:
        while True:
            try:
                data, addr = item.sock.recvfrom(UDP_MAX)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self._put(Received(item.name, _peer_text(addr), time.time_ns(), data), udp=True)

    def _recv_tcp(self, sock: socket.socket, conn: _Conn, *, capped: bool = True) -> bool:
        """Read what the connection has; False when the peer closed it. With ``capped``,
        reading stops as soon as the queue is full (a fast sender would otherwise keep one
        call reading past the cap); the serving loop then pauses the connection."""
        spool = self.queue
        assert spool is not None
        while True:
            if capped and spool.full:
                return True
            try:
                data = sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            if not data:
                return False
            frame_tcp(conn, data, self.max_message, self._put)

    def _drain_tcp(self, sock: socket.socket, conn: _Conn) -> None:
        try:
            sock.setblocking(False)
            self._recv_tcp(sock, conn, capped=False)
        except OSError:
            pass

    def _put(self, item: Received, *, udp: bool = False) -> None:
        """Append to the disk queue: a datagram is dropped (and counted) when the queue is
        full; TCP data already read is always kept (reading pauses before the next read)."""
        spool = self.queue
        assert spool is not None
        if udp:
            if not spool.put(item):
                spool.drop_udp()
                return
        else:
            spool.put(item, force=True)
        self._arrived.set()

    # --- parsing and shipping ----------------------------------------------------------------
    def close(self) -> None:
        """Stop receiving and close the queue without shipping (what arrived stays queued)."""
        self.stop.set()
        if self._thread is not None:
            self._thread.join(5)
        assert self.queue is not None
        self.queue.close()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    @property
    def _shipper(self) -> Shipper:
        if self.shipper is None:
            raise RuntimeError("SyslogServer.run needs a shipper")
        return self.shipper

    def counters(self) -> dict[str, Any]:
        """The queue's counters: received, shipped, udp_dropped, tcp_paused, corrupt,
        backlog_bytes, max_bytes."""
        assert self.queue is not None
        return self.queue.counters()

    def run(self) -> None:
        """Ship queued messages until ``stop`` is set; then flush the current batch and
        close (the rest stays queued on disk for the next start)."""
        if self._thread is None:
            self.start()
        spool = self.queue
        assert spool is not None
        if self._shipper.checkpoints is None:
            self._shipper.checkpoints = spool.acks
        next_stats = time.monotonic() + self.stats_every
        n = 0
        try:
            while not self.stop.is_set():
                got = spool.get()
                if got is None:
                    if spool.full:
                        # Everything queued was read and TCP senders are held back: ship
                        # the batch now instead of on the timer, so the queue frees space.
                        self._shipper.flush()
                        spool.release()
                    self._arrived.wait(0.1)
                    self._arrived.clear()
                    self._shipper.tick()
                    spool.release()
                else:
                    self.handle(*got)
                    n += 1
                    if not n & 255:
                        self._shipper.tick()
                        spool.release()
                if self.on_stats is not None and time.monotonic() >= next_stats:
                    next_stats = time.monotonic() + self.stats_every
                    self.on_stats(self.counters())
        finally:
            if self._thread is not None:
                self._thread.join(5)  # it drains its sockets into the queue, then ends
            try:
                self._shipper.flush()
                spool.release()
            finally:
                spool.close()
                if self._own_dir is not None:
                    shutil.rmtree(self._own_dir, ignore_errors=True)

    def _parsers_for(self, listener: str) -> tuple[Any, Any, ParseContext]:
        found = self._parsers.get(listener)
        if found is None:
            opts = self.options
            ctx = ParseContext(
                source=listener,
                timezone=opts.timezone,
                host_name=opts.host_name,
                department=opts.department,
                keep_original=opts.keep_original,
            )
            found = (get_parser("syslog"), get_parser("auth"), ctx)
            self._parsers[listener] = found
            self._shipper.set_format(listener, "syslog")
        return found

    def handle(self, item: Received, position: Position | None = None) -> None:
        """Parse one received message and send it (or dead-letter it); ``position`` is its
        place in the disk queue, acknowledged once the store has it."""
        source = item.listener
        syslog_parser, auth_parser, ctx = self._parsers_for(source)
        if item.too_long:
            reason = (
                "connection closed inside an octet-counted frame"
                if item.too_long < 0
                else f"message longer than {self.max_message} bytes"
            )
            self._shipper.reject(
                source,
                item.data,
                reason,
                position=position,
                position_text=item.peer,
                length=abs(item.too_long),
            )
            return
        text = item.data.decode("utf-8", errors="replace").rstrip("\r\n\x00")
        if not text.strip():
            if position is not None:
                self._shipper.mark(position)
            return
        try:
            doc = syslog_parser.parse(text, ctx)
            program = _program(doc)
            if program is not None and program.lower() in AUTH_PROGRAMS:
                doc = auth_parser.parse(text, ctx)
        except ParseError as exc:
            self._shipper.reject(
                source,
                text,
                str(exc) or "message does not parse",
                position=position,
                position_text=item.peer,
            )
            return
        except Exception as exc:  # a parser bug must not stop the server
            self._shipper.reject(
                source,
                text,
                f"parser failed: {type(exc).__name__}: {exc}",
                position=position,
                position_text=item.peer,
            )
            return
        digest = hashlib.blake2b(item.data, digest_size=12).hexdigest()
        doc["_id"] = event_id(f"syslog:{source}", f"{item.peer}|{item.received_ns}|{digest}")
        log = doc.get("log")
        if not isinstance(log, dict):
            log = doc["log"] = {}
        log["source"] = {"address": item.peer}
        host = doc.get("host")
        if not isinstance(host, dict):
            host = doc["host"] = {}
        if not host.get("name"):
            host["name"] = item.peer.rsplit(":", 1)[0].strip("[]")
        self._shipper.send(doc, source=source, position=position)


def _program(doc: dict[str, Any]) -> str | None:
    process = doc.get("process")
    if isinstance(process, dict) and isinstance(process.get("name"), str):
        return process["name"]
    return None
