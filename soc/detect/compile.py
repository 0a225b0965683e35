"""Compile loaded Sigma rules into store-native queries: SQL for the local store, Lucene
``query_string`` for Elasticsearch, through the same citysoc pipelines.

A rule the backend cannot convert is kept with the reason (status "not_convertible"); a rule
that did not parse is "invalid". Nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from soc.detect.loader import RAW_ATTRIBUTE, LoadedRule, RuleFacts
from soc.detect.logsources import (
    LogSource,
    LogsourceMapping,
    Variant,
    logsource_mapping,
    resolve_paths,
)
from soc.detect.rule_cache import DEFAULT_CACHE, RuleCache, Target, open_cache, rule_key
from soc.store.sql_literals import Need, required_literals

# pySigma is imported where a rule is converted or a correlation compiled: a run whose
# single-event rules all come from the compiled-rule cache starts without it.
if TYPE_CHECKING:
    from sigma.conversion.base import TextQueryBackend
    from sigma.correlations import SigmaCorrelationRule
    from sigma.rule import SigmaRule

Status = Literal["converted", "not_convertible", "invalid"]

_SQL_PREFIX = "SELECT * FROM logs WHERE "


@dataclass
class CompiledRule:
    """A rule ready to run on one kind of store: its query (single-event rules), or the
    compiled base rules (correlations), or why it cannot run."""

    loaded: LoadedRule
    target: Target
    status: Status
    query: str | None = None
    variants: tuple[Variant, ...] = ()
    error: str | None = None
    note: str = ""
    bases: list[CompiledRule] = field(default_factory=list)
    #: SQL only: the literal clauses an event matching ``query`` satisfies
    #: (soc.store.sql_literals), None when none is known; the local store's scan uses them.
    literals: Need = None

    @property
    def id(self) -> str:
        """The rule's id."""
        return self.loaded.id

    @property
    def title(self) -> str:
        """The rule's title."""
        return self.loaded.title

    @property
    def runnable(self) -> bool:
        """True when the rule converted and can run on its store."""
        return self.status == "converted"

    def field_paths(self, sigma_field: str) -> list[str]:
        """The ECS paths a Sigma field may be stored under for this rule's events (one per
        log-source variant, first is the primary)."""
        paths: list[str] = []
        for variant in self.variants or (Variant("any", ()),):
            for path in resolve_paths(sigma_field, variant):
                if path not in paths:
                    paths.append(path)
        return paths


@lru_cache(maxsize=512)
def _backend(variant: Variant, target: Target) -> TextQueryBackend:
    from soc.detect.pipelines import variant_pipeline

    pipeline = variant_pipeline(variant, target)
    # The backends are imported when a rule is first converted: a run whose rules all come
    # from the compiled-rule cache starts without them (a fifth of a second and more).
    if target == "lucene":
        from sigma.backends.elasticsearch import LuceneBackend

        return LuceneBackend(processing_pipeline=pipeline)
    from soc.detect.sqlite_backend import CitySqliteBackend

    return CitySqliteBackend(processing_pipeline=pipeline)


def compile_rule(loaded: LoadedRule, target: Target) -> CompiledRule:
    """Compile one loaded rule for a backend target; never raises for a bad rule. (No
    cache: compile_all is the cached way.)"""
    return _compile(loaded, target, _convert_single)


_Single = Callable[[LoadedRule, Target], CompiledRule]


def _compile(loaded: LoadedRule, target: Target, single: _Single) -> CompiledRule:
    if loaded.errors:
        return CompiledRule(loaded, target, "invalid", error="; ".join(loaded.errors))
    if loaded.is_correlation:
        return _compile_correlation(loaded, target, single)
    return single(loaded, target)


def _convert_single(loaded: LoadedRule, target: Target) -> CompiledRule:
    """Convert one single-event rule with pySigma (the slow step the cache saves)."""
    from sigma.exceptions import SigmaConditionError, SigmaError, SigmaRuleLocation
    from sigma.rule import SigmaRule

    # The source dict gives the log source and each variant's rule: the loaded pySigma
    # object is left unbuilt (a pipeline changes the rule it converts).
    mapping = logsource_mapping(loaded.logsource)
    source = loaded.rule.source if loaded.built else SigmaRuleLocation(loaded.path)
    if not mapping.known:
        # Without a known log source the rule would run over every event unconstrained.
        return CompiledRule(
            loaded, target, "not_convertible", variants=mapping.variants, error=mapping.note
        )
    queries: list[str] = []
    for variant in mapping.variants:
        try:
            fresh = SigmaRule.from_dict(loaded.raw, source=source)
            converted = _backend(variant, target).convert_rule(fresh)
        except SigmaConditionError as exc:
            message = " ".join(str(exc).split())
            return CompiledRule(loaded, target, "invalid", variants=mapping.variants, error=message)
        except SigmaError as exc:
            return _not_convertible(loaded, target, mapping.variants, exc)
        except Exception as exc:  # a backend bug must not stop the other rules
            return _not_convertible(loaded, target, mapping.variants, exc)
        for query in converted:
            text = str(query)
            if target == "sqlite" and text.startswith(_SQL_PREFIX):
                text = text[len(_SQL_PREFIX) :]
            queries.append(text)
    if not queries:
        return CompiledRule(
            loaded, target, "not_convertible", variants=mapping.variants, error="empty query"
        )
    query = queries[0] if len(queries) == 1 else " OR ".join(f"({q})" for q in queries)
    return CompiledRule(
        loaded,
        target,
        "converted",
        query=query,
        variants=mapping.variants,
        note=mapping.note,
        literals=required_literals(query) if target == "sqlite" else None,
    )


def _not_convertible(
    loaded: LoadedRule, target: Target, variants: tuple[Variant, ...], exc: Exception
) -> CompiledRule:
    message = " ".join(str(exc).split()) or type(exc).__name__
    return CompiledRule(loaded, target, "not_convertible", variants=variants, error=message)


def _compile_correlation(loaded: LoadedRule, target: Target, single: _Single) -> CompiledRule:
    from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule

    corr = loaded.rule
    assert isinstance(corr, SigmaCorrelationRule)
    if corr.condition is not None and not isinstance(corr.condition, SigmaCorrelationCondition):
        return CompiledRule(
            loaded,
            target,
            "not_convertible",
            error="extended correlation conditions (a condition string) are not supported",
        )
    bases: list[CompiledRule] = []
    for ref in corr.referenced_rules:
        base_rule = ref.rule
        if isinstance(base_rule, SigmaCorrelationRule):
            return CompiledRule(
                loaded,
                target,
                "not_convertible",
                error=f"base rule {ref.reference} is itself a correlation (not supported)",
            )
        base_loaded = LoadedRule(
            rule=base_rule,
            raw=_raw_of(base_rule, loaded),
            path=loaded.path,
        )
        compiled = _compile(base_loaded, target, single)
        compiled.note = str(ref.reference)
        if not compiled.runnable:
            return CompiledRule(
                loaded,
                target,
                "not_convertible",
                error=f"base rule {ref.reference}: {compiled.error}",
            )
        bases.append(compiled)
    if not bases:
        return CompiledRule(loaded, target, "not_convertible", error="no base rules")
    variants = tuple(v for b in bases for v in b.variants)
    return CompiledRule(loaded, target, "converted", variants=variants, bases=bases)


def _raw_of(rule: SigmaRule | SigmaCorrelationRule, owner: LoadedRule) -> dict:
    """The source dict of a (base) rule as the loader kept it, else pySigma's rendering."""
    raw = getattr(rule, RAW_ATTRIBUTE, None)
    return raw if isinstance(raw, dict) else rule.to_dict()


#: A callable converting rule documents afresh, in bulk (e.g. in worker processes): given
#: (document, file path) pairs and the target, the cache entry of each, in order; see
#: convert_documents, which is what it must compute.
BulkConverter = Callable[[list[tuple[dict[str, Any], str]], Target], list[dict[str, Any]]]

#: Fewer conversions than this are not worth handing to a BulkConverter.
BULK_MINIMUM = 32


def compile_all(
    rules: Sequence[LoadedRule],
    target: Target,
    *,
    cache: RuleCache | Path | str | None = DEFAULT_CACHE,
    convert_many: BulkConverter | None = None,
) -> list[CompiledRule]:
    """Compile every rule for a target, in order; statuses tell what can run.

    Conversions are cached (soc.detect.rule_cache): a rule whose document, target, pipelines
    and package versions are unchanged is not converted again, by this or any other process.
    ``cache`` is a RuleCache, a cache directory, ``"default"`` (SOC_CACHE_DIR, else the user's
    cache directory; off with SOC_RULE_CACHE=off) or None for no cache. ``convert_many``,
    when given, converts the rules missing from the cache all at once (at least BULK_MINIMUM
    of them; e.g. on several cores) instead of one by one here. The result is the same with
    or without the cache and the bulk converter."""
    store = open_cache(cache)
    if store is None and convert_many is None:
        return [compile_rule(loaded, target) for loaded in rules]
    try:
        raws = _single_raws(rules)
        # the raws outlive the call: their ids stay theirs
        if store is not None:
            keys = {id(raw): rule_key(raw, target, digest) for raw, digest, _ in raws}
            known = store.get_many(keys.values())
        else:
            keys = {id(raw): str(id(raw)) for raw, _, _ in raws}
            known = {}
        fresh: dict[str, dict[str, Any]] = {}
        if convert_many is not None:
            missing: dict[str, tuple[dict[str, Any], str]] = {}
            for raw, _, path in raws:
                key = keys[id(raw)]
                if key not in known and key not in missing:
                    missing[key] = (raw, path)
            if len(missing) >= BULK_MINIMUM:
                entries = convert_many(list(missing.values()), target)
                for key, entry in zip(missing, entries, strict=True):
                    known[key] = fresh[key] = entry

        def single(loaded: LoadedRule, target: Target) -> CompiledRule:
            """A single-event rule from the cache, else converted and remembered."""
            key = keys.get(id(loaded.raw)) or rule_key(loaded.raw, target)
            entry = known.get(key)
            if entry is not None:
                cached = from_entry(loaded, target, entry)
                if cached is not None:
                    return cached
            compiled = _convert_single(loaded, target)
            known[key] = fresh[key] = entry_of(compiled)
            return compiled

        result = [_compile(loaded, target, single) for loaded in rules]
        if store is not None:
            store.put_many(fresh)
        return result
    finally:
        if store is not None and store is not cache:
            store.close()


def convert_documents(
    items: Sequence[tuple[dict[str, Any], str]], target: Target
) -> list[dict[str, Any]]:
    """The cache entry of each single-event rule document, converted afresh (what a
    BulkConverter computes, e.g. in a worker process): same as compile_all would store."""
    entries: list[dict[str, Any]] = []
    for raw, path in items:
        loaded = LoadedRule(raw=raw, path=Path(path), facts=_ANONYMOUS)
        entries.append(entry_of(_convert_single(loaded, target)))
    return entries


#: Facts for a document converted away from its loader (conversion reads only the document).
_ANONYMOUS = RuleFacts(None, None, None, None, (), "", False)


def _single_raws(rules: Sequence[LoadedRule]) -> list[tuple[dict[str, Any], str | None, str]]:
    """The documents of every single-event rule compile_all may convert (correlations'
    base rules included), with their digests where known and their files, to look them up
    at once."""
    raws: list[tuple[dict[str, Any], str | None, str]] = []
    for loaded in rules:
        if loaded.errors:
            continue
        if loaded.is_correlation:
            from sigma.correlations import SigmaCorrelationRule
            from sigma.rule import SigmaRule

            assert isinstance(loaded.rule, SigmaCorrelationRule)
            raws.extend(
                (_raw_of(ref.rule, loaded), None, str(loaded.path))
                for ref in loaded.rule.referenced_rules
                if isinstance(ref.rule, SigmaRule)
            )
        else:
            raws.append((loaded.raw, loaded.digest, str(loaded.path)))
    return raws


def entry_of(compiled: CompiledRule) -> dict[str, Any]:
    """What the compiled-rule cache keeps of a single-event rule (from_entry reads it)."""
    return {
        "status": compiled.status,
        "query": compiled.query,
        "error": compiled.error,
        "note": compiled.note,
        "literals": [sorted(c) for c in compiled.literals] if compiled.literals else None,
    }


def from_entry(
    loaded: LoadedRule, target: Target, entry: Mapping[str, Any], logsource: Any = None
) -> CompiledRule | None:
    """The CompiledRule of a cache entry (entry_of; variants are recomputed, they are
    cheap, from ``logsource`` when given, else from the rule's document); None for an entry
    this version cannot read."""
    status = entry.get("status")
    if status not in ("converted", "not_convertible", "invalid"):
        return None
    mapping = _mapping_of(loaded.raw.get("logsource") if logsource is None else logsource)
    literals = entry.get("literals")
    return CompiledRule(
        loaded,
        target,
        status,
        query=entry.get("query"),
        variants=mapping.variants,
        error=entry.get("error"),
        note=str(entry.get("note") or ""),
        literals=_clauses(literals),
    )


def _mapping_of(logsource: Any) -> LogsourceMapping:
    """The log-source mapping of a rule document's ``logsource`` (memoized: a rule set has
    few distinct log sources)."""
    if not isinstance(logsource, Mapping):
        logsource = {}
    fields = ("category", "product", "service")
    values = tuple(str(v) if (v := logsource.get(f)) is not None else None for f in fields)
    return _mapping_for(*values)


@lru_cache(maxsize=1024)
def _mapping_for(
    category: str | None, product: str | None, service: str | None
) -> LogsourceMapping:
    return logsource_mapping(LogSource(category=category, product=product, service=service))


def _clauses(stored: Any) -> Need:
    """The literal clauses of a cache entry (lists of [column, text] pairs)."""
    if not stored:
        return None
    # Written by entry_of of this very code (the cache's fingerprint covers this module).
    return tuple(frozenset(map(tuple, clause)) for clause in stored)
