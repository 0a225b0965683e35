"""The compiled-rule cache: a Sigma rule converted once is not converted again.

A converted query depends on the rule's own text, on the backend target, on our processing
pipelines and on the versions of pySigma and its backends. The cache key is a hash of the
rule's source document (canonical JSON of what the YAML file holds) and the target, under a
*fingerprint* of everything else: the versions of citysoc, pySigma, the two backends and
Python, and a hash of the source files of the modules that shape a query and what is kept
with it (log sources, pipelines, compile, ecs, the SQL literal reader, the loader). Change
any of them and the old entries simply stop matching; a rule file edited changes its own key
only.

The same file keeps loaded rule files (soc.detect.loader): the documents of a file and what
pySigma made of them, under the hash of the file's bytes, so that an unchanged rule set is
loaded without YAML parsing or pySigma; and rule-set snapshots (soc.detect.rule_snapshot):
everything a list of rule paths loaded and compiled to, so that an unchanged rule set starts
without reading its files.

Entries live in one SQLite file (``compiled-rules.sqlite``) in the cache directory: WAL mode
and a busy timeout make it safe for several processes at once (a scheduler and an analyst's
``soc detect run``); a write that still cannot get the lock is skipped, never an error. The
directory is ``SOC_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/citysoc`` (``~/.cache/citysoc``);
``SOC_RULE_CACHE=off`` turns the cache off. A damaged or unwritable cache is ignored: rules are
then converted as if there were none.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from soc import clock, fast_json

CACHE_FILE = "compiled-rules.sqlite"

#: The backend a rule is compiled for: part of each compiled entry's key.
Target = Literal["sqlite", "lucene"]


def target_for(store_kind: str) -> Target:
    """The backend target for a store kind ("local" -> sqlite, "elasticsearch" -> lucene)."""
    return "lucene" if store_kind == "elasticsearch" else "sqlite"


#: The page cache of a connection to the cache file, in KiB. Entries are looked up by hash,
#: so in no particular order of their pages: with SQLite's default 2 MiB a warm load of the
#: SigmaHQ Windows rules read each page of their entries 3.4 times on average (18,500 reads of
#: 5,500 pages), with this once.
CACHE_KIB = 65536
#: How many fingerprints (code/package versions) keep their entries; older ones are pruned.
KEEP_FINGERPRINTS = 4
#: How many signatures of the fingerprint's inputs keep the fingerprint computed from them
#: (see RuleCache.stamp), and how recent a change to an input must not be for it to be kept:
#: a file changed twice within one tick of its file system's clock may show no change.
KEEP_INPUT_SIGNATURES = 8
INPUTS_RACY_NS = 2_000_000_000
#: How many rule-set snapshots (soc.detect.rule_snapshot) are kept, the newest:
#: each is about the size of its rule files' entries (11 MB for SigmaHQ's Windows rules).
KEEP_SNAPSHOTS = 8
_PACKAGES = ("citysoc", "pysigma", "pysigma-backend-sqlite", "pysigma-backend-elasticsearch")
_SHAPING_MODULES = (
    "soc.detect.logsources",
    "soc.detect.logsource_tables",
    "soc.detect.pipelines",
    "soc.detect.compile",
    "soc.detect.sqlite_backend",
    "soc.ecs",
    "soc.store.sql_literals",
    "soc.detect.loader",
)


def default_cache_dir() -> Path | None:
    """Where compiled rules are cached, or None when ``SOC_RULE_CACHE`` is off."""
    if os.environ.get("SOC_RULE_CACHE", "").strip().lower() in {"off", "0", "no", "false"}:
        return None
    explicit = os.environ.get("SOC_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "citysoc"


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """The fingerprint of this installation: package versions and the pipeline sources."""
    from importlib import metadata  # 5-10 ms: only when a cache is first opened

    versions: dict[str, str] = {"python": sys.version}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "-"
    sources: list[bytes] = []
    for name in _SHAPING_MODULES:
        # found, not imported: a run whose rules are all cached never loads the backends
        spec = importlib.util.find_spec(name)
        source = spec.origin if spec is not None else None
        if source and spec is not None and spec.has_location:
            sources.append(Path(source).read_bytes())
    return compute_fingerprint(versions, sources)


def compute_fingerprint(versions: Mapping[str, str], sources: Iterable[bytes]) -> str:
    """A hash of package versions (name -> version) and source texts: any change to one of
    them gives another fingerprint."""
    digest = hashlib.sha256()
    for name in sorted(versions):
        digest.update(f"{name}={versions[name]}\n".encode())
    for source in sources:
        digest.update(hashlib.sha256(source).digest())
    return digest.hexdigest()[:32]


def fingerprint_inputs() -> tuple[str, int]:
    """The signature of what fingerprint() reads, and the newest change among it (ns since
    the epoch): Python's version, each folder on ``sys.path`` (installing, upgrading or
    removing a package adds or removes an entry in its folder, which changes the folder's
    times) and the source file of each shaping module, by size, modification and change
    times and inode. A few dozen stat calls: no import, no package metadata read."""
    digest = hashlib.sha256(sys.version.encode())
    newest = 0
    package = Path(__file__).resolve().parents[1]  # soc/
    sources = [os.path.join(package, *name.split(".")[1:]) + ".py" for name in _SHAPING_MODULES]
    for path in [*sys.path, *sources]:
        try:
            status = os.stat(path or os.curdir)
        except OSError:
            digest.update(f"{path}\0-\n".encode())
            continue
        size, mtime, ctime = status.st_size, status.st_mtime_ns, status.st_ctime_ns
        digest.update(f"{path}\0{size} {mtime} {ctime} {status.st_ino}\n".encode())
        newest = max(newest, mtime, ctime)
    return digest.hexdigest()[:32], newest


def document_digest(raw: Mapping[str, Any]) -> str:
    """The hash of a rule document's canonical JSON (what the YAML file holds)."""
    text = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def rule_key(raw: Mapping[str, Any], target: str, digest: str | None = None) -> str:
    """The cache key of one rule document for one backend target (``digest``: the
    document's document_digest when already known)."""
    return hashlib.sha256(f"{target}\n{digest or document_digest(raw)}".encode()).hexdigest()


#: The default of the ``cache`` arguments: the cache in default_cache_dir() (none when
#: SOC_RULE_CACHE=off).
DEFAULT_CACHE = "default"


def open_cache(cache: RuleCache | Path | str | None) -> RuleCache | None:
    """A RuleCache for a ``cache`` argument: a RuleCache itself, a directory, DEFAULT_CACHE
    or None (no cache); None too when the cache cannot be opened."""
    if isinstance(cache, RuleCache):
        return cache
    if cache is None:
        return None
    directory = default_cache_dir() if cache == DEFAULT_CACHE else Path(cache)
    if directory is None:
        return None
    opened = RuleCache(directory)
    return opened if opened.usable else None


class RuleCache:
    """Compiled rules by key, for one fingerprint, in one SQLite file."""

    def __init__(self, directory: Path, stamp: str | None = None) -> None:
        self.path = directory / CACHE_FILE
        self._stamp = stamp
        self._lock = threading.RLock()  # stamp may be first needed with it held
        self._conn: sqlite3.Connection | None = None
        self.hits = 0
        self.misses = 0
        try:
            directory.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS compiled (stamp TEXT NOT NULL, key TEXT NOT NULL, "
                "entry TEXT NOT NULL, PRIMARY KEY (stamp, key)) WITHOUT ROWID"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS stamps (stamp TEXT PRIMARY KEY, used INTEGER NOT NULL)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS fingerprints (inputs TEXT PRIMARY KEY, "
                "fingerprint TEXT NOT NULL, made INTEGER NOT NULL)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS rule_snapshots (key TEXT PRIMARY KEY, "
                "stamp TEXT NOT NULL, made INTEGER NOT NULL, tree TEXT NOT NULL, "
                "rules BLOB NOT NULL, documents BLOB NOT NULL)"
            )
            self._conn = conn
        except (OSError, sqlite3.Error):
            self._conn = None

    @property
    def stamp(self) -> str:
        """The fingerprint this cache reads and writes entries under (found when first
        needed: finding a rule-set snapshot does not need it; see remembered_fingerprint)."""
        if self._stamp is None:
            self._stamp = self.remembered_fingerprint()
        return self._stamp

    def remembered_fingerprint(self, now_ns: int | None = None) -> str:
        """fingerprint(), as this file remembers it for the present signature of its inputs
        (fingerprint_inputs), else computed and remembered: importing the package metadata
        reader and reading four versions take 30-45 ms, a warm run's largest cost after its
        rules. Not remembered when an input changed within INPUTS_RACY_NS of ``now_ns``
        (the time now), nor when the file is locked."""
        inputs, newest = fingerprint_inputs()
        if self._conn is None:
            return fingerprint()
        try:
            with self._lock:
                row = self._conn.execute(
                    "SELECT fingerprint FROM fingerprints WHERE inputs = ?", (inputs,)
                ).fetchone()
        except sqlite3.Error:
            row = None
        if row is not None:
            return str(row[0])
        value = fingerprint()
        now = time.time_ns() if now_ns is None else now_ns
        if newest < now - INPUTS_RACY_NS:
            self._remember(inputs, value, now)
        return value

    def _remember(self, inputs: str, value: str, now_ns: int) -> None:
        """Keep ``value`` for ``inputs``, and only the KEEP_INPUT_SIGNATURES newest."""

        def keep(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO fingerprints (inputs, fingerprint, made) VALUES (?, ?, ?)",
                (inputs, value, now_ns),
            )
            conn.execute(
                "DELETE FROM fingerprints WHERE inputs NOT IN (SELECT inputs FROM "
                "fingerprints ORDER BY made DESC, inputs LIMIT ?)",
                (KEEP_INPUT_SIGNATURES,),
            )

        self._write(keep)

    def _write(self, work: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``work`` in one write transaction; give up quietly, nothing written, when the
        file stays locked or cannot be written (a cache is never worth an error)."""
        conn = self._conn
        if conn is None:
            return
        try:
            with self._lock:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    work(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error:
            return

    @property
    def usable(self) -> bool:
        """False when the cache file could not be opened (everything is then a miss)."""
        return self._conn is not None

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The cached entries among ``keys`` (key -> entry)."""
        wanted = list(dict.fromkeys(keys))
        try:
            found = {k: fast_json.loads_bounded(e) for k, e in self._rows("key, entry", wanted)}
        except (sqlite3.Error, ValueError):
            return {}
        self.hits += len(found)
        self.misses += len(wanted) - len(found)
        return found

    def present(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` have an entry (without reading the entries)."""
        try:
            return {k for (k,) in self._rows("key", list(dict.fromkeys(keys)))}
        except sqlite3.Error:
            return set()

    def _rows(self, columns: str, keys: list[str]) -> list[tuple[Any, ...]]:
        """``columns`` of the entries of this fingerprint among ``keys``, 500 keys a query."""
        rows: list[tuple[Any, ...]] = []
        if self._conn is None or not keys:
            return rows
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ", ".join("?" for _ in chunk)
                rows.extend(
                    self._conn.execute(
                        f"SELECT {columns} FROM compiled WHERE stamp = ? AND key IN ({marks})",
                        [self.stamp, *chunk],
                    ).fetchall()
                )
        return rows

    def put_many(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        """Store entries in one transaction; gives up quietly if the file stays locked."""
        if self._conn is None or not entries:
            return
        # Written by orjson, read back exactly by loads_bounded; an entry orjson cannot write
        # (an integer beyond 64 bits in a rule) is not kept, so it is converted each time.
        texts = {k: fast_json.dumps_bounded(v) for k, v in entries.items()}
        stamp = self.stamp
        rows = [(stamp, k, text) for k, text in texts.items() if text is not None]

        def put(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO compiled (stamp, key, entry) VALUES (?, ?, ?)", rows
            )
            self._touch_and_prune()

        self._write(put)

    def snapshot_tree(self, key: str) -> tuple[str, str] | None:
        """The fingerprint and the file tree of the rule-set snapshot ``key``
        (soc.detect.rule_snapshot), whatever fingerprint it was made with; None when there
        is none."""
        row = self._snapshot_row("stamp, tree", key)
        return (str(row[0]), str(row[1])) if row is not None else None

    def snapshot_rules(self, key: str, stamp: str) -> tuple[bytes, bytes] | None:
        """The rules and the documents (UTF-8 JSON texts) of the snapshot ``key`` if it was
        made with fingerprint ``stamp``; None otherwise."""
        row = self._snapshot_row("stamp, rules, documents", key)
        if row is None or row[0] != stamp or not isinstance(row[1], bytes):
            return None
        return row[1], bytes(row[2])

    def _snapshot_row(self, columns: str, key: str) -> tuple[Any, ...] | None:
        if self._conn is None:
            return None
        try:
            with self._lock:
                row = self._conn.execute(
                    f"SELECT {columns} FROM rule_snapshots WHERE key = ?", (key,)
                ).fetchone()
        except sqlite3.Error:
            return None
        return tuple(row) if row is not None else None

    def put_snapshot(self, key: str, tree: str, rules: bytes, documents: bytes) -> None:
        """Keep a rule-set snapshot under this fingerprint (replacing one of the same key),
        and only the KEEP_SNAPSHOTS newest; gives up quietly if the file stays locked. Its
        rules and documents are kept as bytes: read back, orjson parses them without their
        11 MB (SigmaHQ's Windows rules) being decoded into text first."""
        if self._conn is None:
            return
        made = int(clock.now().timestamp() * 1000)
        stamp = self.stamp

        def put(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO rule_snapshots (key, stamp, made, tree, rules, "
                "documents) VALUES (?, ?, ?, ?, ?, ?)",
                (key, stamp, made, tree, rules, documents),
            )
            conn.execute(
                "DELETE FROM rule_snapshots WHERE key NOT IN (SELECT key FROM "
                "rule_snapshots ORDER BY made DESC, key LIMIT ?)",
                (KEEP_SNAPSHOTS,),
            )
            self._touch_and_prune()

        self._write(put)

    def _touch_and_prune(self) -> None:
        assert self._conn is not None
        self._conn.execute(
            "INSERT INTO stamps (stamp, used) VALUES (?, ?) "
            "ON CONFLICT (stamp) DO UPDATE SET used = excluded.used",
            (self.stamp, int(clock.now().timestamp())),
        )
        stale = [
            r[0]
            for r in self._conn.execute(
                "SELECT stamp FROM stamps ORDER BY used DESC, stamp LIMIT -1 OFFSET ?",
                (KEEP_FINGERPRINTS,),
            )
        ]
        for stamp in stale:
            self._conn.execute("DELETE FROM compiled WHERE stamp = ?", (stamp,))
            self._conn.execute("DELETE FROM rule_snapshots WHERE stamp = ?", (stamp,))
            self._conn.execute("DELETE FROM stamps WHERE stamp = ?", (stamp,))

    def close(self) -> None:
        """Close the cache file."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
