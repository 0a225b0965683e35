"""`soc hunt`: read a bundle of files into a store, detect over the data's own time span, and
sum up what was found.

The store is whatever the caller opened (a scratch SQLite file by default). Detection runs
over ``[first event, last event]`` of the events this hunt read, never over "the last 24
hours", so old evidence is judged like fresh logs. With worker processes
(soc.hunt.workers) and a local store, the files are read on every core while this process
loads the rules, the rules missing from the compiled-rule cache are converted on the
workers, and the rule groups are scanned there; the report is the same as without them.
This module imports pySigma only once the workers have their first files (see hunt()).
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collectors.sources.logs import IngestOptions
from soc import clock, ecs
from soc.detect import snapshot_tree
from soc.detect.alerts import LEVELS
from soc.detect.rule_cache import target_for
from soc.detect.rule_files import RuleFile, Signature, read_rule_files, rule_paths
from soc.hunt.inputs import InputFile
from soc.hunt.reading import FileOutcome, HuntProgress, ingest
from soc.hunt.workers import HuntWorkers
from soc.store.base import Store

# Detection (soc.detect.runner and what it imports: pySigma) is imported by hunt() once the
# workers have every file (or, on a cold run, the conversions first): importing pySigma
# takes 0.1-0.2 s, which they spend reading instead of waiting.
if TYPE_CHECKING:
    from soc.detect.compile import CompiledRule
    from soc.detect.loader import RuleSet
    from soc.detect.runner import DetectionSummary


@dataclass
class HuntReport:
    """Everything `soc hunt` found: per-file results, the data's span, the detection
    summary and the alerts it raised (``alerts``: those the summary kept whole, oldest
    first; ``all_alerts`` reads every one)."""

    files: list[FileOutcome]
    first: str | None
    last: str | None
    detection: DetectionSummary | None
    alerts: list[dict[str, Any]]
    store: str
    events: int = 0
    seconds: float = 0.0

    @property
    def alert_count(self) -> int:
        """How many alerts the hunt raised."""
        return len(self.detection.alert_ids) if self.detection is not None else 0

    def all_alerts(self, store: Store) -> list[dict[str, Any]]:
        """Every alert the hunt raised, oldest first: those kept whole, or else read from
        ``store`` (where the hunt wrote them) by id, ALERT_BATCH at a time."""
        detection = self.detection
        if detection is None or detection.all_alerts_kept:
            return self.alerts
        from soc.detect.emit import ALERT_BATCH, get_records

        ids = detection.alert_ids
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), ALERT_BATCH):
            found.extend(get_records(store, "alerts", ids[start : start + ALERT_BATCH]).values())
        return sorted(found, key=lambda a: str(a.get("first_seen", "")))

    def levels(self) -> dict[str, int]:
        """Alert counts per level, most severe first (levels with none left out)."""
        counts = self.detection.tally.levels if self.detection is not None else Counter()
        order = [lvl for lvl in reversed(LEVELS) if counts.get(lvl)]
        order += sorted(k for k in counts if k not in LEVELS and counts[k])
        return {lvl: counts[lvl] for lvl in order}

    def top_rules(self, n: int = 10) -> list[dict[str, Any]]:
        """The rules with the most alerts: title, id, level, alerts."""
        rules = self.detection.tally.rules if self.detection is not None else {}
        counts = Counter({rid: rule["alerts"] for rid, rule in rules.items()})
        return [
            {"id": rid, "title": rules[rid]["title"], "level": rules[rid]["level"], "alerts": c}
            for rid, c in _ranked(counts, n)
        ]

    def top_entities(self, name: str, n: int = 10) -> list[tuple[str, int]]:
        """The values of an entity field (host.name, user.name, source.ip) in most alerts."""
        tally = self.detection.tally if self.detection is not None else None
        return _ranked(tally.entities.get(name, Counter()) if tally else Counter(), n)

    def not_parsed(self) -> list[dict[str, Any]]:
        """Files (or parts of files) that gave no events or dead letters, with the reasons."""
        rows = []
        for f in self.files:
            if f.dead_lettered or f.kind in ("skipped", "empty") or (f.events == 0 and f.reasons):
                reasons = dict(f.reasons.most_common(3))
                if not reasons and f.kind == "empty":
                    reasons = {"empty file": 0}
                rows.append({"file": f.display, "records": f.dead_lettered, "reasons": reasons})
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The `--json` object."""
        det = self.detection
        return {
            "store": self.store,
            "events": self.events,
            "first_event": self.first,
            "last_event": self.last,
            "seconds": round(self.seconds, 3),
            "alerts": self.alert_count,
            "levels": self.levels(),
            "top_rules": self.top_rules(),
            "top_hosts": self.top_entities("host.name"),
            "top_users": self.top_entities("user.name"),
            "top_sources": self.top_entities("source.ip"),
            "files": [f.to_dict() for f in self.files],
            "not_parsed": self.not_parsed(),
            "detection": det.to_dict() if det is not None else None,
        }


def _ranked(counts: Counter[str], n: int) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def hunt(
    store: Store,
    inputs: Sequence[InputFile],
    *,
    options: IngestOptions,
    dead_dir: Path,
    rules_paths: Sequence[Path] = (),
    include_pack: bool = True,
    department: str | None = None,
    progress: HuntProgress | None = None,
    workers: HuntWorkers | None = None,
    scratch: bool = False,
) -> HuntReport:
    """Ingest ``inputs`` into ``store``, then run the pack plus ``rules_paths`` over the
    span of the events read (first to last event, inclusive). Alerts raised by this hunt are
    in the report; an empty span means no detection ran. ``workers`` (forked before the
    store was opened) share the work; the report is the same with or without them.

    ``scratch``: nothing but this hunt reads ``store`` (it is deleted afterwards). Then,
    when the workers read and the rule set has a snapshot, the events give columns only to
    the fields its rules read (snapshot_tree.Found.columns): the other fields are in the
    documents alone, which is all the report and the timeline read."""
    progress = progress or HuntProgress()
    started = clock.now()
    pool = workers if workers is not None and workers.active else None
    store_path = _local_path(store)
    rules: tuple[RuleSet, list[CompiledRule]] | None = None
    if pool is not None and store_path is not None:
        parts = Path(tempfile.mkdtemp(prefix="soc-hunt-parts-"))
        try:
            # Each worker starts on a slice of the files; rule files new to the caches are
            # converted next, and the rest of the files read after them: this process
            # then loads the rules from the caches while the workers read, instead of
            # after. Finding which rule files are new needs no pySigma (soc.detect.
            # rule_files) and takes less than a slice, so no worker waits for the rest.
            if progress.on_phase:
                progress.on_phase("reading")
            # An unchanged rule set has a snapshot, found without reading its files (about
            # 10 ms, before any file is handed out: it names the only columns a scratch
            # store needs).
            paths = rule_paths(rules_paths, include_pack=include_pack)
            found = snapshot_tree.lookup(paths, target_for(store.kind))
            reading = pool.read_files(
                store_path,
                inputs,
                options=options,
                dead_dir=dead_dir,
                parts_dir=parts,
                department=department,
                progress=progress,
                first=pool.workers,
                durable=getattr(store, "durable", True),
                columns=found.columns if scratch and found is not None else None,
            )
            if found is not None:
                from soc.detect import rule_snapshot

                reading.hand_out_rest()
                snapshot = rule_snapshot.of_found(found, target_for(store.kind))
                rules = snapshot.rules()  # linking correlations imports pySigma
            if rules is None:
                # The rule files are read once, here: for which of them the caches lack,
                # then to load them.
                folders: dict[str, Signature] = {}
                rule_files = read_rule_files(paths, folders)
                warming = pool.start_warming(rule_files, target_for(store.kind))
                reading.hand_out_rest()
                warming.wait()
                # The rules do not depend on the data: load them while the workers read.
                rules = _load_rules(
                    store,
                    rules_paths,
                    include_pack,
                    pool=None,
                    convert=pool,
                    files=rule_files,
                    folders=folders,
                )
            files, events = reading.wait()
        finally:
            shutil.rmtree(parts, ignore_errors=True)
    else:
        if progress.on_phase:
            progress.on_phase("reading")
        files, shipper = ingest(
            store,
            inputs,
            options=options,
            dead_dir=dead_dir,
            department=department,
            progress=progress,
        )
        events = shipper.stats.stored + shipper.stats.duplicates
    firsts = [f.first for f in files if f.first]
    lasts = [f.last for f in files if f.last]
    first = min(firsts) if firsts else None
    last = max(lasts) if lasts else None
    detection = None
    if first and last:
        if progress.on_phase:
            progress.on_phase("compiling rules")
        store.refresh()
        ruleset, compiled = rules or _load_rules(store, rules_paths, include_pack, pool)
        if progress.on_phase:
            progress.on_phase("detecting")
        from soc.detect.runner import run_compiled

        since = ecs.parse_timestamp(first)
        until = ecs.parse_timestamp(last) + timedelta(microseconds=1)
        detection = run_compiled(
            store,
            compiled,
            since,
            until,
            load_errors=ruleset.errors,
            on_progress=progress.on_rules,
            scanner=pool.scanner(store_path) if pool is not None and store_path else None,
        )
    alerts = sorted(
        detection.alerts if detection else [], key=lambda a: str(a.get("first_seen", ""))
    )
    return HuntReport(
        files=files,
        first=first,
        last=last,
        detection=detection,
        alerts=alerts,
        store=_where(store),
        events=events,
        seconds=(clock.now() - started).total_seconds(),
    )


def _load_rules(
    store: Store,
    rules_paths: Sequence[Path],
    include_pack: bool,
    pool: HuntWorkers | None,
    convert: HuntWorkers | None = None,
    files: Sequence[RuleFile] | None = None,
    folders: Mapping[str, Signature] | None = None,
) -> tuple[RuleSet, list[CompiledRule]]:
    """The rules loaded and compiled for the store; with ``pool``, the rule files new to the
    caches are first loaded and converted on its workers; with ``convert`` (or ``pool``),
    rules still missing from the compiled-rule cache are converted on those workers.
    ``files``, ``folders``: the rule files as already read and the folders walked
    (soc.detect.rule_files.read_rule_files; see load_and_compile)."""
    from soc.detect.runner import load_and_compile

    if pool is not None:
        paths = rule_paths(rules_paths, include_pack=include_pack)
        pool.warm_rules(paths, target_for(store.kind))
    bulk = convert or pool
    return load_and_compile(
        store.kind,
        rules_paths,
        include_pack=include_pack,
        convert_many=bulk.convert if bulk is not None else None,
        files=files,
        folders=folders,
    )


def _local_path(store: Store) -> Path | None:
    """The file of a local store (workers open their own connections to it), else None."""
    path = getattr(store, "path", None)
    return Path(path) if store.kind == "local" and path is not None else None


def _where(store: Store) -> str:
    info = store.info()
    return str(info.get("location") or info.get("path") or info.get("url") or store.kind)


__all__ = ["FileOutcome", "HuntProgress", "HuntReport", "hunt", "ingest"]
