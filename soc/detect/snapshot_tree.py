"""Whether a rule set has a usable snapshot, and what it says of its rules, without building
them: the light half of soc.detect.rule_snapshot.

A hunt asks before it hands its workers any file (soc.hunt.run): a snapshot names the
columns its rules read, which a scratch store gives columns to (LocalStore's
``column_fields``). So this module needs only what the hunt's process has imported before
its workers fork (the rule cache, the rule-file signatures, JSON): about 10 ms for the
2,400 files of SigmaHQ's Windows rules, most of it one ``stat`` per file.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soc import fast_json
from soc.detect.rule_cache import DEFAULT_CACHE, RuleCache, Target, open_cache
from soc.detect.rule_files import signature_of

#: The layout of a snapshot's texts; part of its key. (2: the tree names the columns the
#: rules read.)
FORMAT = 2

#: The kind of each path given: what iter_rule_files did with it.
DIR, FILE, OTHER, MISSING = "dir", "file", "other", "missing"


@dataclass(frozen=True)
class Found:
    """A snapshot whose file tree is unchanged: its key, the cache fingerprint it was made
    with, and (for the sqlite target) every name its rules' queries might read as a column,
    lower-cased (None for another target)."""

    key: str
    stamp: str
    columns: frozenset[str] | None


def snapshot_key(paths: Sequence[Path], target: Target) -> str:
    """The key of the snapshot of ``paths`` (in order, as absolute paths) for ``target``."""
    text = "\n".join([f"format {FORMAT}", target, *(os.path.abspath(p) for p in paths)])
    return hashlib.sha256(text.encode()).hexdigest()


def lookup(
    paths: Sequence[Path], target: Target, cache: RuleCache | Path | str | None = DEFAULT_CACHE
) -> Found | None:
    """The snapshot of ``paths`` for ``target`` when there is one, made under the cache's
    present fingerprint (as the cache remembers it: a few ``stat`` calls), and nothing under
    the paths changed since it was written; else None. No pySigma is needed. A hunt writes
    its scratch store for the columns a snapshot names, so one that Snapshot.rules would
    refuse (another citysoc, pySigma or pipeline) is not found here either."""
    store = open_cache(cache)
    if store is None:
        return None
    key = snapshot_key(paths, target)
    try:
        found = store.snapshot_tree(key)
        if found is None or found[0] != store.stamp:
            return None
    finally:
        if store is not cache:
            store.close()
    stamp, tree = found
    try:
        recorded = fast_json.loads_bounded(tree)
        if not unchanged(recorded):
            return None
        columns = recorded.get("columns")
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return Found(key, stamp, None if columns is None else frozenset(map(str, columns)))


def kind_of(path: str) -> str:
    """DIR, FILE, OTHER or MISSING: what is at ``path`` now."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return MISSING
    return DIR if stat.S_ISDIR(mode) else FILE if stat.S_ISREG(mode) else OTHER


def unchanged(tree: Mapping[str, Any]) -> bool:
    """Whether every path, folder and file of ``tree`` is still as it was recorded."""
    for path, kind in tree["roots"]:
        if kind_of(path) != kind:
            return False
    for path, *recorded in (*tree["folders"], *tree["files"]):
        try:
            now = signature_of(os.stat(path))
        except OSError:
            return False
        if list(now) != recorded:
            return False
    return True
