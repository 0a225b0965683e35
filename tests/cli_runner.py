"""Running the installed `soc` command as an analyst would (tests of cli, hunt, outputs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def soc(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
    """Run `soc ARGS...` in a subprocess (the environment of the test, plus ``env``)."""
    exe = Path(sys.executable).with_name("soc")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=600,
    )
