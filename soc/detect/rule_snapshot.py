"""A rule set's snapshot: the rules of a list of rule paths, loaded and compiled for one
backend, kept whole, so that an unchanged rule set starts without reading its files.

The load and compiled-rule caches (soc.detect.rule_cache) spare a warm run YAML and pySigma,
but such a run still reads every rule file to find its entries, then looks up and parses two
entries per rule: 0.3 s of CPU for SigmaHQ's 2,400 Windows rules, in a hunt while its
workers read the events on the same cores. A snapshot keeps what ``load_and_compile`` gave
for the paths and the target, in one row of the cache file: each rule's facts, errors and
compiled entry, the load errors, and the source documents as JSON text, one line each, that
a rule parses only when something asks for its document (a correlation, a rule's custom
suppression when it raises an alert). Correlations are linked and compiled again on
restoring, from the load and compiled-rule caches, as on any warm run.

A snapshot is used only while nothing under its paths changed. It records the Signature
(size, modification and change times, inode) of every rule file, taken on the open file
before its bytes were read, and of every folder walked, taken before the folder was listed:
editing, replacing or renaming a file, or adding or removing one, changes one of them, and a
change time cannot be set back. A file or folder changed in the RACY_SECONDS before the
snapshot would be written may change again within the same timestamp tick without showing
it, so such a rule set gets no snapshot that run (the next run writes it). Snapshots live
under the cache's fingerprint: a new citysoc, pySigma or pipeline makes them miss, like the
entries. Without a cache (``SOC_RULE_CACHE=off``) there is none.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soc import fast_json
from soc.detect import raw_codec
from soc.detect.compile import CompiledRule, compile_all, entry_of, from_entry
from soc.detect.loader import (
    UNKNOWN_REFERENCES,
    LoadedRule,
    LoadError,
    RuleFacts,
    RuleSet,
    resolve_correlations,
)
from soc.detect.rule_cache import DEFAULT_CACHE, RuleCache, Target, open_cache
from soc.detect.rule_files import RuleFile, Signature
from soc.detect.snapshot_tree import DIR, FILE, Found, kind_of, lookup, snapshot_key
from soc.store.sql_literals import query_columns

#: Seconds before the snapshot is written within which a changed file or folder is not
#: trusted (some file systems keep times in whole seconds, FAT in two).
RACY_SECONDS = 2.0


def restore(
    paths: Sequence[Path], target: Target, cache: RuleCache | Path | str | None = DEFAULT_CACHE
) -> tuple[RuleSet, list[CompiledRule]] | None:
    """What load_and_compile gives for ``paths`` and ``target``, from the snapshot of them,
    when there is one and nothing under the paths changed since it was written; else None."""
    found = find(paths, target, cache)
    return found.rules() if found is not None else None


@dataclass
class Snapshot:
    """A snapshot whose file tree is unchanged (find), not yet turned into rules (rules)."""

    key: str
    stamp: str
    target: Target
    cache: RuleCache | Path | str | None
    #: For the sqlite target: every name the rules' queries might read as a column,
    #: lower-cased (a superset; see columns_read); None for another target.
    columns: frozenset[str] | None = None

    def rules(self) -> tuple[RuleSet, list[CompiledRule]] | None:
        """The rule set and its compiled rules, as load_and_compile gave them; None when
        the snapshot was made by another fingerprint (citysoc, pySigma, pipelines) or
        cannot be read. Linking correlations imports pySigma."""
        started = time.perf_counter()
        store = open_cache(self.cache)
        if store is None:
            return None
        try:
            if store.stamp != self.stamp:
                return None
            texts = store.snapshot_rules(self.key, self.stamp)
            if texts is None:
                return None
            try:
                rules = fast_json.loads_bounded(texts[0])
                ruleset, entries = _ruleset(rules, texts[1].split(b"\n"))
            except (KeyError, TypeError, ValueError, IndexError):
                return None
            compiled = _compiled(ruleset, entries, self.target, store)
        finally:
            if store is not self.cache:
                store.close()
        ruleset.seconds = time.perf_counter() - started
        return ruleset, compiled


def find(
    paths: Sequence[Path], target: Target, cache: RuleCache | Path | str | None = DEFAULT_CACHE
) -> Snapshot | None:
    """The snapshot of ``paths`` for ``target`` when there is one and nothing under the
    paths changed since it was written; else None. Cheap (soc.detect.snapshot_tree.lookup:
    neither pySigma nor the cache's fingerprint is needed), so a hunt asks before it hands
    its workers the files; Snapshot.rules checks the fingerprint."""
    found = lookup(paths, target, cache)
    return None if found is None else of_found(found, target, cache)


def of_found(
    found: Found, target: Target, cache: RuleCache | Path | str | None = DEFAULT_CACHE
) -> Snapshot:
    """The Snapshot of what snapshot_tree.lookup found for ``target`` in ``cache``."""
    return Snapshot(found.key, found.stamp, target, cache, found.columns)


def save(
    paths: Sequence[Path],
    target: Target,
    files: Sequence[RuleFile],
    folders: Mapping[str, Signature],
    ruleset: RuleSet,
    compiled: Sequence[CompiledRule],
    cache: RuleCache | Path | str | None = DEFAULT_CACHE,
    *,
    now_ns: int | None = None,
) -> bool:
    """Write the snapshot of ``paths`` for ``target``: ``ruleset`` and ``compiled`` as
    load_and_compile made them from ``files`` (read_rule_files, with their signatures) and
    the ``folders`` walked. Nothing is written (False) without a cache, when a file could
    not be read, when a file or folder changed in the RACY_SECONDS before ``now_ns`` (the
    time now), when a path became a folder or file after the walk, or when a document
    cannot be kept exactly."""
    tree = _tree(paths, files, folders)
    if tree is None or _racy(tree, time.time_ns() if now_ns is None else now_ns):
        return False
    if target == "sqlite":
        tree["columns"] = sorted(columns_read(compiled))
    texts = _texts(ruleset, compiled)
    tree_text = fast_json.dumps_bounded(tree)  # read back by loads_bounded
    if texts is None or tree_text is None:
        return False
    store = open_cache(cache)
    if store is None:
        return False
    try:
        store.put_snapshot(snapshot_key(paths, target), tree_text, *texts)
    finally:
        if store is not cache:
            store.close()
    return True


def columns_read(compiled: Sequence[CompiledRule]) -> set[str]:
    """Every name the SQL queries of ``compiled`` (the base rules of correlations too) might
    read as a column, lower-cased: a superset (soc.store.sql_literals.query_columns). The
    detection of a hunt reads no other column of its store."""
    names: set[str] = set()
    pending = list(compiled)
    while pending:
        rule = pending.pop()
        if rule.query:
            names |= query_columns(rule.query)
        pending.extend(rule.bases)
    return names


# --- the file tree -------------------------------------------------------------------------


def _tree(
    paths: Sequence[Path], files: Sequence[RuleFile], folders: Mapping[str, Signature]
) -> dict[str, Any] | None:
    """The paths given with their kinds, and the signatures of the folders and files; None
    when a file has no signature (unreadable) or a path turned into a folder or file that
    the walk did not see."""
    signed = {str(f.path): f.signature for f in files}
    if any(signature is None for signature in signed.values()):
        return None
    roots = [[os.fspath(p), kind_of(os.fspath(p))] for p in paths]
    for path, kind in roots:
        if (kind == DIR and path not in folders) or (kind == FILE and path not in signed):
            return None
    return {
        "roots": roots,
        "folders": [[path, *signature] for path, signature in folders.items()],
        "files": [[path, *signature] for path, signature in signed.items()],  # type: ignore[misc]
    }


def _racy(tree: Mapping[str, Any], now_ns: int) -> bool:
    """Whether some folder or file of ``tree`` changed within RACY_SECONDS of ``now_ns``."""
    since = now_ns - int(RACY_SECONDS * 1e9)
    return any(
        max(mtime, ctime) >= since for _, _, mtime, ctime, _ in (*tree["folders"], *tree["files"])
    )


# --- the rules -----------------------------------------------------------------------------


def _texts(ruleset: RuleSet, compiled: Sequence[CompiledRule]) -> tuple[bytes, bytes] | None:
    """The rules' text and the documents' text (one line a rule) of a snapshot, in UTF-8;
    None when a document cannot be kept exactly."""
    rules: list[list[Any]] = []
    documents: list[str] = []
    for loaded, rule in zip(ruleset.rules, compiled, strict=True):
        encoded = raw_codec.encode(loaded.raw)
        if encoded is None:
            return None
        document = fast_json.dumps(encoded.data)
        if "\n" in document:  # JSON text escapes line ends; a line a document relies on it
            return None
        documents.append(document)
        errors = list(loaded.errors)
        if loaded.is_correlation and errors and errors[-1].startswith(UNKNOWN_REFERENCES):
            errors.pop()  # resolve_correlations adds it again on restoring
        facts = loaded.facts
        logsource = loaded.raw.get("logsource")
        single = not loaded.is_correlation and not loaded.errors
        rules.append(
            [
                str(loaded.path),
                errors,
                [
                    facts.sigma_id,
                    facts.name,
                    facts.title,
                    facts.level,
                    list(facts.tags),
                    facts.description,
                    facts.correlation,
                ],
                loaded.digest,
                encoded.dates,
                _plain(logsource),
                entry_of(rule) if single else None,
            ]
        )
    meta = {
        "files": ruleset.files,
        "errors": [[str(e.path), e.message] for e in ruleset.errors],
        "rules": rules,
    }
    text = fast_json.dumps_bounded(meta)  # read back by loads_bounded
    if text is None:
        return None
    return text.encode(), "\n".join(documents).encode()


def _plain(logsource: Any) -> dict[str, str | None]:
    """The three log-source fields that choose a rule's variants (soc.detect.compile)."""
    if not isinstance(logsource, Mapping):
        return {}
    fields = ("category", "product", "service")
    return {f: str(v) for f in fields if (v := logsource.get(f)) is not None}


def _ruleset(
    meta: Mapping[str, Any], documents: list[bytes]
) -> tuple[RuleSet, list[tuple[dict[str, Any], dict[str, Any] | None]]]:
    """The RuleSet of a snapshot's texts, correlations linked, and each rule's log source
    and compiled entry."""
    result = RuleSet(files=int(meta["files"]))
    result.errors = [LoadError(Path(path), str(message)) for path, message in meta["errors"]]
    entries: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    if len(documents) != len(meta["rules"]):
        raise ValueError("a snapshot's documents and rules disagree")
    for document, rule in zip(documents, meta["rules"], strict=True):
        path, errors, facts, digest, dates, logsource, entry = rule
        sigma_id, name, title, level, tags, description, correlation = facts
        result.rules.append(
            LoadedRule(
                path=str(path),
                errors=[str(e) for e in errors],
                facts=RuleFacts(
                    sigma_id, name, title, level, tuple(tags), str(description), bool(correlation)
                ),
                digest=str(digest),
                raw_json=(document, dates),
            )
        )
        entries.append((logsource, entry))
    resolve_correlations(result)
    return result, entries


def _compiled(
    ruleset: RuleSet,
    entries: list[tuple[dict[str, Any], dict[str, Any] | None]],
    target: Target,
    store: RuleCache,
) -> list[CompiledRule]:
    """Each rule compiled: single-event rules from their entries, the others (correlations,
    invalid rules) as compile_all compiles them, from the caches."""
    compiled: list[CompiledRule | None] = []
    others: list[tuple[int, LoadedRule]] = []
    for loaded, (logsource, entry) in zip(ruleset.rules, entries, strict=True):
        rule = None
        if entry is not None and not loaded.errors and not loaded.is_correlation:
            rule = from_entry(loaded, target, entry, logsource)
        if rule is None:
            others.append((len(compiled), loaded))
        compiled.append(rule)
    if others:
        made = compile_all([loaded for _, loaded in others], target, cache=store)
        for (index, _), rule in zip(others, made, strict=True):
            compiled[index] = rule
    return [rule for rule in compiled if rule is not None]
