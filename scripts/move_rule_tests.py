"""Move the ``tests:`` embedded in rule files into regression folders (SigmaHQ style).

For every document of every rule file under the given folders (default: ``rules``) that
carries ``tests:``, the cases are written to
``<pack>/regression/<dir>/<file stem>/<title slug>/{positive,negative}/NN.json`` (one case per
file: a JSON list of events) and the ``tests:`` block is replaced in the text by
``regression_tests_path: <folder relative to the rule file>``. The rest of the file is kept
byte for byte. Run: ``python scripts/move_rule_tests.py [RULES_DIR]``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

_TOP_KEY = re.compile(r"^[A-Za-z_][\w-]*:")


def slug(text: str) -> str:
    """A folder name from a rule title."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:70] or "rule"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__}")


def write_cases(folder: Path, tests: dict[str, Any]) -> None:
    """One JSON file per case, under positive/ and negative/."""
    for kind in ("positive", "negative"):
        for index, item in enumerate(tests.get(kind) or []):
            events = item["events"] if isinstance(item, dict) and "events" in item else [item]
            path = folder / kind / f"{index + 1:02d}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(events, indent=1, ensure_ascii=False, default=_plain)
            path.write_text(text + "\n", encoding="utf-8")


def move_file(rule_file: Path, pack: Path) -> int:
    """Move the tests of one rule file; returns how many documents had tests."""
    text = rule_file.read_text(encoding="utf-8")
    chunks = re.split(r"(?m)^---[ \t]*\n", text)
    moved = 0
    out_chunks = []
    for chunk in chunks:
        doc = yaml.safe_load(chunk) if chunk.strip() else None
        if not isinstance(doc, dict) or "tests" not in doc:
            out_chunks.append(chunk)
            continue
        relative = rule_file.relative_to(pack).with_suffix("")
        folder = pack / "regression" / relative / slug(str(doc.get("title", "rule")))
        write_cases(folder, doc["tests"])
        lines = chunk.splitlines(keepends=True)
        start = next(i for i, line in enumerate(lines) if line.startswith("tests:"))
        end = start + 1
        while end < len(lines) and not _TOP_KEY.match(lines[end]):
            end += 1
        link = os.path.relpath(folder, rule_file.parent)
        lines[start:end] = [f"regression_tests_path: {link}\n"]
        out_chunks.append("".join(lines))
        moved += 1
    if moved:
        rule_file.write_text("---\n".join(out_chunks), encoding="utf-8")
    return moved


def main(argv: list[str]) -> int:
    """Move the tests of every rule file of the pack folder ``argv[0]`` (default rules)."""
    pack = Path(argv[0] if argv else "rules")
    total = 0
    for rule_file in sorted(pack.rglob("*.yml")):
        if "regression" in rule_file.relative_to(pack).parts:
            continue
        total += move_file(rule_file, pack)
    print(f"{total} rule documents now read their tests from {pack / 'regression'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
