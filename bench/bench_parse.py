"""Parse+normalise rate of the text log parsers on the shared corpus (one core, no store).

For each case the corpus file is read once, then parsed repeatedly in memory (a fresh parser
per pass, like a new source) until about one second of work is done; the rate printed is
lines per second of ``parser.parse`` producing the finished ECS document, over all passes and
for the fastest pass (on a shared machine the fastest pass is the least disturbed figure).
"""

from __future__ import annotations

import time
from pathlib import Path

from collectors.parsers import ParseContext, ParseError, get_parser

CASES = (
    ("auth", "logs/auth.log"),
    ("syslog", "logs/auth.log"),
    ("apache_access", "logs/apache_access.log"),
)
#: Formats without a corpus file: the repository's demo sample, repeated the same way.
DEMO = Path(__file__).resolve().parent.parent / "soc" / "demo_data"
DEMO_CASES = (
    ("fortigate", "fortigate.log"),
    ("bind", "bind-queries.log"),
)
TARGET_SECONDS = 1.0


def _one_pass(fmt: str, lines: list[str], ctx: ParseContext) -> int:
    parser = get_parser(fmt)
    errors = 0
    for line in lines:
        try:
            parser.parse(line, ctx)
        except ParseError:
            errors += 1
    return errors


def run(corpus: Path | None) -> None:
    """Print lines/s of parse+normalise for auth.log (auth and syslog), apache_access.log and
    the demo FortiGate and BIND samples."""
    if corpus is None:
        print("parse: corpus absent, nothing measured")
        return
    ctx = ParseContext(source="bench")
    cases = [(fmt, corpus / rel, rel) for fmt, rel in CASES]
    cases += [(fmt, DEMO / name, f"soc/demo_data/{name}") for fmt, name in DEMO_CASES]
    for fmt, path, rel in cases:
        if not path.is_file():
            print(f"parse {fmt}: {rel} not found, skipped")
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = [ln for ln in text.split("\n") if ln]
        start = time.perf_counter()
        errors = _one_pass(fmt, lines, ctx)  # warm-up pass, also sizes the run
        first = time.perf_counter() - start
        passes = max(1, round(TARGET_SECONDS / max(first, 1e-6)))
        best = float("inf")
        elapsed = 0.0
        for _ in range(passes):
            start = time.perf_counter()
            _one_pass(fmt, lines, ctx)
            took = time.perf_counter() - start
            elapsed += took
            best = min(best, took)
        total = passes * len(lines)
        print(
            f"parse {fmt:<14} {rel}: {len(lines):,} lines x {passes} passes = {total:,} lines"
            f" in {elapsed:.2f} s -> {total / elapsed:,.0f} lines/s"
            f" (fastest pass {len(lines) / best:,.0f} lines/s; {errors} ParseError per pass)"
        )
