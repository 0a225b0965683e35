"""The server certificate of a TLS handshake: the fields analysts pivot on (subject, issuer,
their common names, validity, serial number), read from DER with a minimal walker."""

from __future__ import annotations

from dataclasses import dataclass


class DerError(ValueError):
    """A certificate's DER encoding is cut short or malformed."""


#: X.500 attribute OIDs (DER content bytes) -> short names used in distinguished names.
ATTRIBUTES = {
    bytes.fromhex("550403"): "CN",
    bytes.fromhex("550406"): "C",
    bytes.fromhex("550407"): "L",
    bytes.fromhex("550408"): "ST",
    bytes.fromhex("550409"): "STREET",
    bytes.fromhex("55040a"): "O",
    bytes.fromhex("55040b"): "OU",
    bytes.fromhex("550405"): "serialNumber",
    bytes.fromhex("550411"): "postalCode",
    bytes.fromhex("2a864886f70d010901"): "emailAddress",
    bytes.fromhex("0992268993f22c640119"): "DC",
    bytes.fromhex("0992268993f22c640101"): "UID",
}


@dataclass
class Certificate:
    """The fields of an X.509 certificate that analysts pivot on."""

    subject: str
    issuer: str
    subject_cn: list[str]
    issuer_cn: list[str]
    not_before: str | None
    not_after: str | None
    serial: str


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``."""
    if pos + 2 > end:
        raise DerError("DER element cut short")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        nbytes = length & 0x7F
        if nbytes == 0 or nbytes > 4 or pos + nbytes > end:
            raise DerError("bad DER length")
        length = int.from_bytes(data[pos : pos + nbytes], "big")
        pos += nbytes
    if pos + length > end:
        raise DerError("DER content runs past its parent")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    pos = start
    while pos < end and len(out) < 256:
        tag, cstart, cend = _tlv(data, pos, end)
        out.append((tag, cstart, cend))
        pos = cend
    return out


def _dn_value(tag: int, raw: bytes) -> str:
    if tag == 0x1E:  # BMPString
        return raw.decode("utf-16-be", "replace")
    return raw.decode("utf-8", "replace")


def _escape_dn(value: str) -> str:
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;=' or (ch == "#" and i == 0) or (ch == " " and i in (0, len(value) - 1)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _name(data: bytes, start: int, end: int) -> tuple[str, list[str]]:
    """RFC 4514 string of a DER Name, and its common names."""
    rdns = []
    cns = []
    for _tag, sstart, send in _children(data, start, end):
        parts = []
        for _t, astart, aend in _children(data, sstart, send):
            attr = _children(data, astart, aend)
            if len(attr) < 2:
                continue
            oid = data[attr[0][1] : attr[0][2]]
            vtag, vstart, vend = attr[1]
            value = _dn_value(vtag, data[vstart:vend])
            key = ATTRIBUTES.get(oid) or _oid_text(oid)
            if key == "CN":
                cns.append(value)
            parts.append(f"{key}={_escape_dn(value)}")
        if parts:
            rdns.append("+".join(parts))
    return ",".join(reversed(rdns)), cns


def _oid_text(oid: bytes) -> str:
    if not oid:
        return "?"
    values = [oid[0] // 40, oid[0] % 40]
    acc = 0
    for byte in oid[1:]:
        acc = (acc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            values.append(acc)
            acc = 0
    return ".".join(str(v) for v in values)


def _time(tag: int, raw: bytes) -> str | None:
    text = raw.decode("ascii", "replace").rstrip("Z")
    if tag == 0x17 and len(text) >= 12:  # UTCTime YYMMDDHHMMSS
        year = int(text[:2])
        year += 2000 if year < 50 else 1900
        text = f"{year}{text[2:]}"
    if len(text) < 14 or not text[:14].isdigit():
        return None
    return f"{text[0:4]}-{text[4:6]}-{text[6:8]}T{text[8:10]}:{text[10:12]}:{text[12:14]}.000000Z"


def parse_certificate(der: bytes) -> Certificate:
    """Subject, issuer, validity and serial of a DER X.509 certificate."""
    _tag, cstart, cend = _tlv(der, 0, len(der))
    _tag, tstart, tend = _tlv(der, cstart, cend)
    fields = _children(der, tstart, tend)
    if fields and fields[0][0] == 0xA0:  # explicit version
        fields = fields[1:]
    if len(fields) < 5:
        raise DerError("certificate has too few fields")
    serial = der[fields[0][1] : fields[0][2]].hex()
    issuer, issuer_cn = _name(der, fields[2][1], fields[2][2])
    validity = _children(der, fields[3][1], fields[3][2])
    not_before = _time(validity[0][0], der[validity[0][1] : validity[0][2]]) if validity else None
    not_after = (
        _time(validity[1][0], der[validity[1][1] : validity[1][2]]) if len(validity) > 1 else None
    )
    subject, subject_cn = _name(der, fields[4][1], fields[4][2])
    return Certificate(subject, issuer, subject_cn, issuer_cn, not_before, not_after, serial)
