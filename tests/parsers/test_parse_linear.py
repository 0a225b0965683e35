"""Every parser (and format detection) runs in time linear in the line's length, whatever
the line holds: long runs of each character class, after each parser's own prefixes.

Work per byte is compared, not wall time: the CPU time of this thread (time.thread_time,
which a busy machine's other processes do not add to) for an 8n-byte line over that for an
n-byte one must stay far below the 64 a quadratic regex gives (8 when linear; the bound is
generous). A case whose long line is parsed in under
2 ms is not timed further (a quadratic pattern takes far longer on 16,000 characters); that
shortcut can only skip a case, never fail one."""

from __future__ import annotations

import contextlib
import time

import pytest
from parser_helpers import ctx

from collectors.parsers import FORMATS, ParseError, detect_format, get_parser

N = 2000
GROWTH = 8
RATIO = 24.0

# The starts that lead each parser into its inner patterns.
PREFIXES = {
    "": "",
    "bsd": "<38>Nov 21 08:00:01 web1 ",
    "sshd": "Nov 21 08:00:01 web1 sshd[1]: ",
    "pam": "Nov 21 08:00:01 web1 sshd[1]: pam_unix(sshd:auth): authentication failure; ",
    "sudo": "Nov 21 08:00:01 web1 sudo:    alice : TTY=pts/0 ; ",
    "failed": "Nov 21 08:00:01 web1 sshd[1]: Failed password for ",
    "5424": '<14>1 2026-11-21T01:00:03Z web3 app 77 ID1 [x@1 a="',
    "audit": "type=SYSCALL msg=audit(1700000000.123:42): ",
    "forti": 'date=2026-11-21 time=08:00:01 devname="fw1" ',
    "access": '10.0.0.1 - - [21/Nov/2026:08:00:01 +0700] "GET /',
    "apache_err": "[Sat Nov 21 08:00:01.123456 2026] [core:error] [pid 1] ",
    "nginx_err": "2026/11/21 08:00:01 [error] 1#1: *1 ",
    "nf": "Nov 21 08:00:01 fw kernel: [12.5] IN=eth0 OUT= ",
    "bind": "21-Nov-2026 08:00:01.123 client @0x1 10.0.0.1#5353 (",
    "cisco": "<189>42: Nov 21 08:00:01: %SEC-6-IPACCESSLOGP: ",
    "json": '{"message": "',
}
# Runs of each character class, and the pairs that drive key=value and quoting patterns.
RUNS = [
    "a",
    "1",
    " ",
    "\t",
    "=",
    "a=",
    "a= ",
    '"',
    "'",
    "\\",
    '\\"',
    "[",
    "]",
    ":",
    ".",
    "-",
    "%",
    "(",
    ")",
    "#",
    "<",
    "é",
    "\x1d",
    ", ",
    'a="',
    "for ",
    " from ",
    "user ",
    "CMD (",
]


def _seconds(fn, arg: str, rounds: int = 5) -> float:
    """Best per-call CPU time of ``fn(arg)`` over a few rounds of at least 10 ms each."""
    best = float("inf")
    for _ in range(rounds):
        reps, start = 0, time.thread_time()
        while True:
            fn(arg)
            reps += 1
            elapsed = time.thread_time() - start
            if elapsed >= 0.01:
                break
        best = min(best, elapsed / reps)
    return best


def _runner(fmt: str):
    if fmt == "detect":
        return lambda line: detect_format([line] * 3, None)
    parser = get_parser(fmt)
    context = ctx()

    def parse(line: str) -> None:
        with contextlib.suppress(ParseError):
            parser.parse(line, context)
        parser.sniff(line)

    return parse


def _line(prefix: str, run: str, n: int) -> str:
    return prefix + run * (n // len(run))


@pytest.mark.parametrize("fmt", [*FORMATS, "detect"])
def test_parsers_are_linear_on_runs_of_every_character_class(fmt: str) -> None:
    run = _runner(fmt)
    slow = []
    for prefix in PREFIXES.values():
        for chars in RUNS:
            long_line = _line(prefix, chars, GROWTH * N)
            start = time.perf_counter()
            run(long_line)
            if time.perf_counter() - start < 0.002:
                continue
            big = _seconds(run, long_line)
            small = _seconds(run, _line(prefix, chars, N))
            if big / small > RATIO:
                slow.append((prefix[:20], chars, round(big / small, 1)))
    assert not slow, f"{fmt}: super-linear on {slow}"


@pytest.mark.parametrize("run", ["1", "W", "a.", "1:"])
def test_cisco_head_search_is_linear_in_what_stands_before_the_code(run: str) -> None:
    # Found by `make fuzz`: every start inside a run before %FAC-SEV-MNEMONIC: was tried, so
    # 1,000 digits before the code took 28 ms (quadratic below the 1,024-character code limit).
    parse = _runner("cisco_ios")
    small = _seconds(parse, run * (100 // len(run)) + " %SYS-5-CONFIG_I: x")
    big = _seconds(parse, run * (GROWTH * 100 // len(run)) + " %SYS-5-CONFIG_I: x")
    assert big / small < RATIO, f"{run!r}: {big / small:.1f}x for {GROWTH}x the length"
