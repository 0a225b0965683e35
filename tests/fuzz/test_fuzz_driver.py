"""The atheris driver of `make fuzz` (tests/fuzz/fuzz.py), run as `make fuzz` runs it: a real
parser target passes a short run, and a target that raises, hangs or is slow for its length
fails the run with the failing input saved, so the harness cannot pass silently."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DRIVER = Path(__file__).resolve().parent / "fuzz.py"


def fuzz(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The driver's run with its work directory under ``tmp_path``."""
    return subprocess.run(
        [sys.executable, str(DRIVER), f"--workdir={tmp_path}", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
        check=False,
    )


def failing_input(out: str) -> bytes:
    found = re.search(r"failing input: (\S+)", out)
    assert found, out
    return Path(found.group(1)).read_bytes()


def test_a_parser_target_runs_its_inputs_without_a_failure(tmp_path: Path) -> None:
    # --bound-base 0: no timing check here (the suite never depends on the machine's speed)
    run = fuzz(tmp_path, "parse_syslog", "--runs=2000", "--bound-base=0")
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"parse_syslog\s+2,000 inputs  0 failures", run.stdout), run.stdout
    assert "failed targets: none" in run.stdout
    assert (tmp_path / "parse_syslog" / "slowest-input").exists()


def test_an_exception_fails_the_run_and_leaves_the_input(tmp_path: Path) -> None:
    run = fuzz(tmp_path, "selftest_crash", "--runs=2000", "--bound-base=0")
    assert run.returncode == 1
    assert "1 failures" in run.stdout and "ValueError: selftest" in run.stdout
    assert b"boom" in failing_input(run.stdout)


def test_an_input_over_the_timeout_fails_the_run(tmp_path: Path) -> None:
    run = fuzz(
        tmp_path, "selftest_hang", "--runs=2000", "--timeout=1", "--bound-base=0",
        FUZZ_SELFTEST_SLEEP="3",
    )  # fmt: skip
    assert run.returncode == 1
    assert "libFuzzer: timeout" in run.stdout
    assert b"hang" in failing_input(run.stdout)


def test_an_input_slow_for_its_length_fails_the_run(tmp_path: Path) -> None:
    run = fuzz(
        tmp_path, "selftest_hang", "--runs=2000", "--bound-base=0.05", "--bound-per-byte=0",
        FUZZ_SELFTEST_SLEEP="0.2",
    )  # fmt: skip
    assert run.returncode == 1
    assert "TooSlow" in run.stdout and "bound 0.050 s" in run.stdout
    assert b"hang" in failing_input(run.stdout)
