"""Helpers for the SigmaHQ regression-data conformance test (also used by the bench)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from collectors.ship import DeadLetterFile, Shipper
from collectors.sources.evtx import ingest_evtx
from collectors.sources.logs import IngestOptions, LogIngestor
from soc.detect.compile import compile_rule
from soc.detect.loader import LoadedRule, load_rules
from soc.detect.runner import iter_hits
from soc.store.local import LocalStore

RULE_DIRS = ("rules", "rules-emerging-threats", "rules-threat-hunting")


@dataclass(frozen=True)
class Sample:
    """One regression sample: the rule it names, its log file (an .evtx, or a .raw text log)
    and the expected match count (None: the rule must fire at least once)."""

    name: str
    rule_id: str
    path: Path
    match_count: int | None

    @property
    def kind(self) -> str:
        return "evtx" if self.path.suffix.lower() == ".evtx" else "raw"


def samples(sigma_dir: Path) -> list[Sample]:
    """Every sample of regression_data, one per info.yml: its declared evtx or raw test, or,
    where the info.yml declares none (upstream commented it out), the sample's own log file
    named after the rule id, with no expected count."""
    found: list[Sample] = []
    for info in sorted((sigma_dir / "regression_data").rglob("info.yml")):
        data = yaml.safe_load(info.read_text(encoding="utf-8")) or {}
        tests = data.get("regression_tests_info") or []
        rule_id = str((data.get("rule_metadata") or [{}])[0].get("id"))
        declared = [t for t in tests if t.get("type") in ("evtx", "raw")]
        for test in declared:
            path = sigma_dir / str(test["path"])
            found.append(Sample(info.parent.name, rule_id, path, test.get("match_count")))
        if not declared:
            logs = sorted(p for p in info.parent.glob(f"{rule_id}.*") if p.suffix != ".json")
            if logs:
                found.append(Sample(info.parent.name, rule_id, logs[0], None))
    return found


def ingest_sample(sample: Sample, shipper: Shipper) -> None:
    """Ingest a sample's log with the collectors: EVTX reader, or text-format detection."""
    if sample.kind == "evtx":
        ingest_evtx(sample.path, shipper, source=str(sample.path))
    else:
        LogIngestor(shipper, IngestOptions()).ingest_file(sample.path)


def sigma_rules(sigma_dir: Path) -> dict[str, LoadedRule]:
    """The SigmaHQ rules by id."""
    ruleset = load_rules([sigma_dir / d for d in RULE_DIRS])
    return ruleset.by_id()


def check_sample(sample: Sample, rules: dict[str, LoadedRule], workdir: Path) -> str | None:
    """None when the sample's rule fires exactly as expected, else the reason it does not."""
    loaded = rules.get(sample.rule_id)
    if loaded is None:
        return f"rule {sample.rule_id} not found among the loaded rules"
    compiled = compile_rule(loaded, "sqlite")
    if not compiled.runnable:
        return f"rule {compiled.status}: {compiled.error}"
    store = LocalStore(workdir / f"{sample.name}.db")
    try:
        shipper = Shipper(store, dead_letters=DeadLetterFile(workdir / "dead"), max_wait=None)
        ingest_sample(sample, shipper)
        shipper.close()
        if shipper.stats.dead_lettered:
            return f"{shipper.stats.dead_lettered} records of {sample.path.name} dead-lettered"
        assert compiled.query is not None
        hits = list(iter_hits(store, compiled.query, None, None))
    finally:
        store.close()
    expected = sample.match_count
    if expected is None:
        return None if hits else "rule did not fire"
    if len(hits) != expected:
        return f"{len(hits)} matches, expected {expected}"
    return None
