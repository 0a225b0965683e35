"""Shared helpers of the collector tests: auth-like lines, dead letters, the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "collectors"


def auth_line(i: int, user: str = "root") -> str:
    """A distinct sshd failed-password line (no newline)."""
    return (
        f"Nov 21 08:{(i // 60) % 60:02d}:{i % 60:02d} web1 sshd[{1000 + i}]: "
        f"Failed password for {user} from 10.0.{(i // 250) % 250}.{i % 250 + 1} "
        f"port {20000 + i % 40000} ssh2"
    )


def auth_lines(start: int, count: int, user: str = "root") -> str:
    """``count`` lines with newlines, numbered from ``start``."""
    return "".join(auth_line(i, user) + "\n" for i in range(start, start + count))


def dead_letters(data_dir: Path) -> list[dict]:
    """Every dead letter written under ``data_dir``."""
    out: list[dict] = []
    for path in sorted((data_dir / "deadletter").glob("*.ndjson")):
        out.extend(json.loads(line) for line in path.read_text().splitlines() if line)
    return out


def soc(*args: str, data_dir: Path, stdin: bytes | None = None, timeout: float = 120):
    """Run the real `soc` CLI in a subprocess with its own data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env["SOC_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [_soc_exe(), *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def _soc_exe() -> str:
    exe = Path(sys.executable).with_name("soc")
    return str(exe)
