"""`make fuzz`: run every atheris (libFuzzer) target of targets.py, each in its own process.

    python tests/fuzz/fuzz.py [TARGET ...] [--runs N] [--timeout S] [--workdir DIR]

Without TARGET names every target of targets.TARGETS runs (the self-test targets run only
when named). Each target starts from its seed corpus in ``<workdir>/<target>/corpus`` (made
afresh) with the collectors code instrumented for coverage, and runs N inputs of at most
``--max-len`` bytes (N from FUZZ_EXAMPLES, default 1,000,000).

An input fails the target when it raises anything the target does not accept, when it runs
longer than ``--timeout`` seconds (libFuzzer's hang limit), or when, measured three times,
it takes longer than the length bound ``--bound-base`` + ``--bound-per-byte`` x its length
(``--bound-base 0`` turns that check off). libFuzzer stops at the first failing input and
writes it to ``<workdir>/<target>/crash-*`` (or ``timeout-*``); its path is printed.

Per target one line: inputs run, failures, wall time and the slowest input (its time during
the run, best of three, and its length; saved as ``<workdir>/<target>/slowest-input``), with
that input re-timed afterwards in a fresh process without instrumentation (best of five).
The exit status is 1 when any target failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ARTIFACTS = ("crash-*", "timeout-*", "oom-*", "leak-*")


def _options(argv: list[str]) -> argparse.Namespace:
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("targets", nargs="*", help="target names (default: every real target)")
    ap.add_argument("--runs", type=int, default=int(env("FUZZ_EXAMPLES", "1000000")))
    ap.add_argument("--timeout", type=int, default=int(env("FUZZ_TIMEOUT", "10")))
    ap.add_argument("--max-len", type=int, default=int(env("FUZZ_MAX_LEN", "4096")))
    ap.add_argument("--bound-base", type=float, default=float(env("FUZZ_BOUND_BASE", "0.25")))
    per_byte = float(env("FUZZ_BOUND_PER_BYTE", "1e-4"))
    ap.add_argument("--bound-per-byte", type=float, default=per_byte)
    ap.add_argument("--workdir", type=Path, default=Path(env("FUZZ_DIR", str(REPO / ".fuzz"))))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--retime", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


# ---------------------------------------------------------------- the child: one target


class TooSlow(Exception):
    """An input took longer than the length bound, every time it was measured."""


def _timed(run: Callable[[bytes], None], data: bytes) -> float:
    start = time.perf_counter()
    run(data)
    return time.perf_counter() - start


def child(opts: argparse.Namespace, libfuzzer_args: list[str]) -> None:
    """Fuzz target ``opts.child`` under atheris; never returns (libFuzzer exits)."""
    import atheris

    with atheris.instrument_imports(include=["collectors"]):
        import collectors.pcap.engine
        import collectors.pcap.reader  # noqa: F401
        from collectors.parsers import FORMATS, get_parser

        for fmt in FORMATS:
            get_parser(fmt)  # imports (and so instruments) every parser module
    sys.path.insert(0, str(HERE))
    import targets

    target = {**targets.TARGETS, **targets.SELFTESTS}[opts.child]
    tdir = opts.workdir / opts.child
    slowest = 0.0

    def one(data: bytes) -> None:
        nonlocal slowest
        took = _timed(target.run, data)
        if took <= slowest:
            return
        took = min(took, _timed(target.run, data), _timed(target.run, data))
        if took <= slowest:
            return
        slowest = took
        (tdir / "slowest-input").write_bytes(data)
        stats = {"slowest_seconds": took, "slowest_bytes": len(data)}
        (tdir / "slowest.json").write_text(json.dumps(stats))
        bound = opts.bound_base + opts.bound_per_byte * len(data)
        if opts.bound_base > 0 and took > bound:
            raise TooSlow(f"{took:.3f} s for {len(data)} bytes (bound {bound:.3f} s)")

    atheris.Setup([sys.argv[0], *libfuzzer_args], one)
    atheris.Fuzz()


def retime(opts: argparse.Namespace) -> None:
    """Print the best of 5 timings of target ``opts.retime`` on its saved slowest input, in
    a fresh process without instrumentation: what the input costs the product itself."""
    sys.path.insert(0, str(HERE))
    import targets

    run = {**targets.TARGETS, **targets.SELFTESTS}[opts.retime].run
    data = (opts.workdir / opts.retime / "slowest-input").read_bytes()
    run(data)  # warm: first-use imports and caches
    print(min(_timed(run, data) for _ in range(5)))


# ---------------------------------------------------------------- the parent: every target


def _exception_summary(log: str) -> str:
    """The Python exception atheris printed (its last lines), or libFuzzer's error line."""
    found = re.search(r"=== Uncaught Python exception: ===\n(.*?)\n==\d+==", log, re.S)
    if found:
        return "\n".join(found.group(1).strip().splitlines()[-3:])
    errors = [ln for ln in log.splitlines() if "ERROR: libFuzzer" in ln]
    return errors[0] if errors else "(see the log)"


def run_target(name: str, opts: argparse.Namespace) -> bool:
    """Run one target in its own process and print its line; True when it passed."""
    sys.path.insert(0, str(HERE))
    import targets

    tdir = opts.workdir / name
    shutil.rmtree(tdir, ignore_errors=True)
    corpus = tdir / "corpus"
    corpus.mkdir(parents=True)
    target = {**targets.TARGETS, **targets.SELFTESTS}[name]
    for i, seed in enumerate(target.seeds()):
        (corpus / f"seed-{i:04d}").write_bytes(seed)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name]
    cmd += [f"--workdir={opts.workdir}", f"--bound-base={opts.bound_base}"]
    cmd += [f"--bound-per-byte={opts.bound_per_byte}", "--"]
    cmd += [f"-runs={opts.runs}", f"-timeout={opts.timeout}", f"-max_len={opts.max_len}"]
    cmd += [f"-artifact_prefix={tdir}/", "-print_final_stats=1", str(corpus)]
    log_path = tdir / "log.txt"
    start = time.monotonic()
    with log_path.open("w") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    wall = time.monotonic() - start
    log_text = log_path.read_text(errors="replace")
    done = re.search(r"Done (\d+) runs in", log_text)
    counts = re.findall(r"^#(\d+)\t", log_text, re.M)  # libFuzzer's progress lines
    runs = int(done.group(1)) if done else int(counts[-1]) if counts else 0
    artifacts = sorted(p for pattern in ARTIFACTS for p in tdir.glob(pattern))
    passed = code == 0 and runs >= opts.runs and not artifacts
    slow = tdir / "slowest.json"
    stats = json.loads(slow.read_text()) if slow.exists() else {}
    slowest = "-"
    if stats:
        slowest = f"{stats['slowest_seconds'] * 1000:.1f} ms ({stats['slowest_bytes']} bytes"
        cmd = [sys.executable, str(Path(__file__).resolve()), f"--retime={name}"]
        cmd.append(f"--workdir={opts.workdir}")
        again = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if again.returncode == 0:
            slowest += f"; re-timed uninstrumented {float(again.stdout) * 1000:.2f} ms"
        slowest += ")"
    print(
        f"{name:22} {runs:>10,} inputs  {0 if passed else 1} failures  "
        f"wall {wall:7.1f} s  slowest {slowest}",
        flush=True,
    )
    if not passed:
        print(f"  FAILED (exit {code}): {_exception_summary(log_text)}", flush=True)
        for path in artifacts:
            print(f"  failing input: {path}", flush=True)
        print(f"  log: {log_path}", flush=True)
    return passed


def main(argv: list[str]) -> int:
    """Run the named targets (default: all real ones); 0 when every one passed."""
    if "--" in argv:
        at = argv.index("--")
        argv, libfuzzer_args = argv[:at], argv[at + 1 :]
    else:
        libfuzzer_args = []
    opts = _options(argv)
    if opts.child:
        child(opts, libfuzzer_args)
        return 1  # not reached: libFuzzer exits
    if opts.retime:
        retime(opts)
        return 0
    sys.path.insert(0, str(HERE))
    import targets

    names = opts.targets or list(targets.TARGETS)
    unknown = [n for n in names if n not in targets.TARGETS and n not in targets.SELFTESTS]
    if unknown:
        print(f"unknown target(s): {', '.join(unknown)}; known: {', '.join(targets.TARGETS)}")
        return 2
    print(
        f"fuzzing {len(names)} target(s) with atheris: {opts.runs:,} inputs each, "
        f"<= {opts.max_len} bytes, timeout {opts.timeout} s per input; work dir {opts.workdir}",
        flush=True,
    )
    start = time.monotonic()
    failed = [name for name in names if not run_target(name, opts)]
    print(f"total wall {time.monotonic() - start:.1f} s; failed targets: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
