"""Compile loaded Sigma rules into store-native queries: SQL for the local store, Lucene
``query_string`` for Elasticsearch, through the same citysoc pipelines.

A rule the backend cannot convert is kept with the reason (status "not_convertible"); a rule
that did not parse is "invalid". Nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from sigma.backends.elasticsearch import LuceneBackend
from sigma.backends.sqlite import sqliteBackend
from sigma.conversion.base import TextQueryBackend
from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule
from sigma.exceptions import SigmaConditionError, SigmaError
from sigma.rule import SigmaRule

from soc.detect.loader import RAW_ATTRIBUTE, LoadedRule
from soc.detect.pipelines import Variant, logsource_mapping, resolve_paths, variant_pipeline

Target = Literal["sqlite", "lucene"]
Status = Literal["converted", "not_convertible", "invalid"]

_SQL_PREFIX = "SELECT * FROM logs WHERE "


def target_for(store_kind: str) -> Target:
    """The backend target for a store kind ("local" -> sqlite, "elasticsearch" -> lucene)."""
    return "lucene" if store_kind == "elasticsearch" else "sqlite"


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
    pipeline = variant_pipeline(variant, target)
    if target == "lucene":
        return LuceneBackend(processing_pipeline=pipeline)
    return sqliteBackend(processing_pipeline=pipeline)


def compile_rule(loaded: LoadedRule, target: Target) -> CompiledRule:
    """Compile one loaded rule for a backend target; never raises for a bad rule."""
    if loaded.errors:
        return CompiledRule(loaded, target, "invalid", error="; ".join(loaded.errors))
    if isinstance(loaded.rule, SigmaCorrelationRule):
        return _compile_correlation(loaded, target)
    mapping = logsource_mapping(loaded.rule.logsource)
    if not mapping.known:
        # Without a known log source the rule would run over every event unconstrained.
        return CompiledRule(
            loaded, target, "not_convertible", variants=mapping.variants, error=mapping.note
        )
    queries: list[str] = []
    for variant in mapping.variants:
        try:
            fresh = SigmaRule.from_dict(loaded.raw, source=loaded.rule.source)
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
        loaded, target, "converted", query=query, variants=mapping.variants, note=mapping.note
    )


def _not_convertible(
    loaded: LoadedRule, target: Target, variants: tuple[Variant, ...], exc: Exception
) -> CompiledRule:
    message = " ".join(str(exc).split()) or type(exc).__name__
    return CompiledRule(loaded, target, "not_convertible", variants=variants, error=message)


def _compile_correlation(loaded: LoadedRule, target: Target) -> CompiledRule:
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
        compiled = compile_rule(base_loaded, target)
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


def compile_all(rules: list[LoadedRule], target: Target) -> list[CompiledRule]:
    """Compile every rule for a target, in order; statuses tell what can run."""
    return [compile_rule(loaded, target) for loaded in rules]
