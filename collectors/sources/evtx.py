"""Windows ``.evtx`` files as a source, read with the Rust-based ``evtx`` parser (PyPI).

Event ids: ``event_id("evtx:<computer>:<channel>", "<EventRecordID>:<TimeCreated>")``. A
record is named by the machine and log it was written to, its record number and its time,
not by the file holding it: the same record in a copy of the file, in a later export of the
same log that holds more records, or in a filtered export is one document, never two. The
time guards against the record numbers starting over after a log is cleared.

Damaged files: a file whose header cannot be read is dead-lettered whole ("not a readable
EVTX file: ..."); a chunk the parser cannot decode is dead-lettered with the parser's reason
(naming the record numbers lost) and reading goes on with the next chunk; a file shorter than
its header says (truncated copy) gets one dead letter saying how many chunks are missing.
A record that cannot be mapped to ECS is dead-lettered with its JSON.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evtx import PyEvtxParser

from collectors.evtx_ecs import EvtxRecordError, record_to_ecs
from collectors.ship import Shipper
from soc import fast_json
from soc.ecs import event_id

EVTX_MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
HEADER_BLOCK = 4096
CHUNK_SIZE = 65536


@dataclass(frozen=True)
class EvtxHeader:
    """What the file header says: number of chunks and the next record number."""

    chunk_count: int
    next_record_id: int


def read_header(path: Path) -> EvtxHeader:
    """The file header of an EVTX file; ValueError with a reason when it is not one."""
    with open(path, "rb") as handle:
        head = handle.read(HEADER_BLOCK)
    if head[:8] != EVTX_MAGIC:
        raise ValueError("no EVTX signature (ElfFile)")
    if len(head) < 128:
        raise ValueError("file header is cut short")
    next_record = struct.unpack_from("<Q", head, 24)[0]
    chunk_count = struct.unpack_from("<H", head, 42)[0]
    return EvtxHeader(chunk_count=chunk_count, next_record_id=next_record)


def count_records_by_chunks(path: Path) -> int:
    """The number of records the chunk headers of an EVTX file declare (an answer key that
    does not use the record parser)."""
    total = 0
    with open(path, "rb") as handle:
        handle.seek(HEADER_BLOCK)
        while True:
            chunk = handle.read(CHUNK_SIZE)
            if len(chunk) < 64:
                break
            if chunk[:8] == CHUNK_MAGIC:
                first, last = struct.unpack_from("<QQ", chunk, 8)
                if last >= first and not (first == 0 and last == 0):
                    total += last - first + 1
    return total


def ingest_evtx(
    path: Path,
    shipper: Shipper,
    *,
    source: str,
    department: str | None = None,
    keep_original: bool = True,
    on_bytes: Callable[[int], None] | None = None,
    threads: int = 1,
) -> None:
    """Read every record of one .evtx file into the shipper (events or dead letters)."""
    shipper.set_format(source, "evtx")
    size = path.stat().st_size
    try:
        header = read_header(path)
        parser = PyEvtxParser(str(path), number_of_threads=threads, skip_errors=True)
    except (OSError, ValueError, RuntimeError) as exc:
        shipper.reject(source, _head_text(path), f"not a readable EVTX file: {exc}")
        if on_bytes:
            on_bytes(size)
        return
    whole_chunks = max(0, (size - HEADER_BLOCK) // CHUNK_SIZE)
    file_path = str(path.resolve())
    send = shipper.send
    seen = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            for record in parser.records_json():
                seen += 1
                if caught:
                    _report_warnings(caught, shipper, source)
                data = record["data"]
                try:
                    doc = record_to_ecs(
                        fast_json.loads_bounded(data),  # values of at most 64 bits
                        original=data if keep_original else None,
                        department=department,
                    )
                except (EvtxRecordError, ValueError) as exc:
                    shipper.reject(
                        source, data, str(exc), position_text=record.get("event_record_id")
                    )
                    continue
                winlog = doc["winlog"]
                doc["_id"] = event_id(
                    f"evtx:{winlog.get('computer_name', '')}:{winlog.get('channel', '')}",
                    f"{record.get('event_record_id')}:{doc['@timestamp']}",
                )
                log = doc.get("log")
                if log is None:
                    doc["log"] = {"file": {"path": file_path}}
                else:
                    log["file"] = {"path": file_path}
                send(doc, source=source)
        except RuntimeError as exc:
            shipper.reject(
                source, "", f"EVTX parsing stopped after {seen} records: {exc}", position_text=seen
            )
        if caught:
            _report_warnings(caught, shipper, source)
    if header.chunk_count > whole_chunks:
        shipper.reject(
            source,
            "",
            f"truncated EVTX file: the header names {header.chunk_count} chunks, "
            f"the file holds {whole_chunks} whole chunks; the records of the rest are lost",
        )
    if on_bytes:
        on_bytes(size)


def _report_warnings(caught: list[warnings.WarningMessage], shipper: Shipper, source: str) -> None:
    for item in caught:
        message = str(item.message).removeprefix("Skipping EVTX data: ")
        shipper.reject(source, "", f"EVTX data skipped: {message}")
    caught.clear()


def _head_text(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(256)
    except OSError:
        return b""
