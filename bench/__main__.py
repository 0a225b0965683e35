"""Run every benchmark module (bench/bench_*.py), or those named on the command line.

Each module has ``run(corpus: Path | None) -> None`` and prints its figures: what was measured,
on how much data, and the rate. Nothing here asserts a speed.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = Path(os.environ.get("SOC_CORPUS", HERE.parent.parent / "shared" / "corpus"))


def main(names: list[str]) -> int:
    corpus = CORPUS if CORPUS.is_dir() else None
    if corpus is None:
        print(f"corpus not found at {CORPUS}: benchmarks that need it print nothing")
    modules = sorted(p.stem for p in HERE.glob("bench_*.py"))
    chosen = [m for m in modules if not names or any(n in m for n in names)]
    for name in chosen:
        print(f"== {name}")
        module = importlib.import_module(f"bench.{name}")
        module.run(corpus)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
