"""The line splitter: offsets, CRLF, over-long lines in bounded memory, the last line."""

from __future__ import annotations

from collectors.sources.lines import LONG_LINE_PREFIX, LineSplitter, iter_lines


def test_offsets_survive_any_chunking():
    data = b"alpha\r\nbeta\n\ngamma\nlast-without-newline"
    expected = [
        (0, b"alpha"),
        (7, b"beta"),
        (12, b""),
        (13, b"gamma"),
        (19, b"last-without-newline"),
    ]
    for size in (1, 2, 3, 7, 64):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        got = [(ln.offset, ln.data) for ln in iter_lines(chunks)]
        assert got == expected, size


def test_line_end_is_the_offset_of_the_next_line():
    lines = list(iter_lines([b"one\r\ntwo\nthree\n"]))
    assert [ln.end for ln in lines] == [5, 9, 15]


def test_long_line_is_reported_with_a_prefix_and_never_held_whole():
    limit = 1000
    splitter = LineSplitter(0, max_line=limit)
    out = splitter.feed(b"short\n" + b"x" * 600)
    assert [ln.data for ln in out] == [b"short"]
    for _ in range(50):  # 30 KB more of the same line, fed in pieces
        assert splitter.feed(b"x" * 600) == []
        assert splitter.held_bytes <= limit + 600
    out = splitter.feed(b"x" * 10 + b"\nnext\n")
    assert out[0].too_long and out[0].length == 600 * 51 + 10
    assert out[0].data.startswith(b"x" * 600) and len(out[0].data) <= LONG_LINE_PREFIX
    assert (out[1].offset, out[1].data) == (6 + 600 * 51 + 10 + 1, b"next")


def test_long_line_inside_one_chunk():
    lines = list(iter_lines([b"a\n" + b"y" * 5000 + b"\nb\n"], max_line=100))
    assert [(ln.data[:3], ln.too_long, ln.length) for ln in lines] == [
        (b"a", False, 1),
        (b"yyy", True, 5000),
        (b"b", False, 1),
    ]
    assert lines[2].offset == 2 + 5000 + 1


def test_resume_from_an_offset():
    lines = list(iter_lines([b"four\nfive\n"], offset=100))
    assert [(ln.offset, ln.end) for ln in lines] == [(100, 105), (105, 110)]
