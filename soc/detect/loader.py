"""Load Sigma rules from folders and files: parse per file, collect errors per file, never abort.

Rule files are read with ``yaml.safe_load_all`` (C loader when available): nothing in a rule
file is ever executed. Correlation rules find their base rules by name or id across every
file loaded together.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from soc import fast_json
from soc.detect import raw_codec
from soc.detect.rule_cache import DEFAULT_CACHE, RuleCache, document_digest, open_cache
from soc.detect.rule_files import RuleFile, read_rule_files

# pySigma is imported where a rule object is built (a YAML file parsed, a rule converted, a
# correlation resolved): rules from the load cache are listed, grouped and alerted on without
# it.
if TYPE_CHECKING:
    from sigma.correlations import SigmaCorrelationRule
    from sigma.rule import SigmaLogSource, SigmaRule

#: Attribute under which each loaded rule object keeps its source dict (compilation of a
#: correlation's base rules starts again from it).
RAW_ATTRIBUTE = "_citysoc_raw"


@dataclass(frozen=True)
class RuleFacts:
    """What the loader read of one document through pySigma: enough to list, group and
    alert on a rule without building its pySigma object again (the load cache keeps it)."""

    sigma_id: str | None
    name: str | None
    title: str | None
    level: str | None
    tags: tuple[str, ...]
    description: str
    correlation: bool

    @classmethod
    def of(cls, rule: SigmaRule | SigmaCorrelationRule) -> RuleFacts:
        """The facts of a parsed rule."""
        from sigma.correlations import SigmaCorrelationRule

        level = getattr(rule, "level", None)
        return cls(
            sigma_id=str(rule.id) if rule.id is not None else None,
            name=str(rule.name) if rule.name else None,
            title=str(rule.title) if rule.title is not None else None,
            level=str(level.name.lower()) if level is not None else None,
            tags=tuple(str(t) for t in (getattr(rule, "tags", None) or [])),
            description=str(getattr(rule, "description", "") or ""),
            correlation=isinstance(rule, SigmaCorrelationRule),
        )


class LoadedRule:
    """One Sigma document that parsed: its source dict, file, facts, and the pySigma rule
    object (built from the source dict when first asked for, if the load cache supplied
    the facts)."""

    def __init__(
        self,
        rule: SigmaRule | SigmaCorrelationRule | None = None,
        raw: dict[str, Any] | None = None,
        path: Path | str | None = None,
        errors: list[str] | None = None,
        standalone: bool = True,
        facts: RuleFacts | None = None,
        digest: str | None = None,
        raw_json: tuple[str | bytes, list[raw_codec.Place]] | None = None,
    ) -> None:
        """``raw_json``, in place of ``raw``: the source dict as raw_codec-encoded JSON text
        and its dates, parsed when first asked for (a rule set's snapshot); a ``path`` given
        as text likewise becomes a Path when first asked for (2,400 Paths take 30-50 ms)."""
        if rule is None and facts is None:
            raise ValueError("a LoadedRule needs its rule or its facts")
        self._rule = rule
        self._raw: dict[str, Any] | None = raw if raw is not None or raw_json else {}
        self._raw_json = raw_json
        self._path: Path | str = path or Path("<text>")
        self.errors: list[str] = errors if errors is not None else []
        #: False for a base rule of a correlation without ``generate: true``: it raises no
        #: alerts of its own.
        self.standalone = standalone
        self.facts: RuleFacts = facts or RuleFacts.of(rule)  # type: ignore[arg-type]
        self._digest = digest

    def __repr__(self) -> str:
        return f"LoadedRule({self.id!r}, path={str(self.path)!r})"

    @property
    def path(self) -> Path:
        """The file the rule came from."""
        path = self._path
        if isinstance(path, str):
            path = self._path = Path(path)
        return path

    @path.setter
    def path(self, value: Path) -> None:
        self._path = value

    @property
    def raw(self) -> dict[str, Any]:
        """The rule's source dict, as the YAML file gave it."""
        if self._raw is None:
            assert self._raw_json is not None
            text, dates = self._raw_json
            self._raw = raw_codec.revive(fast_json.loads(text), dates)
            self._raw_json = None
        return self._raw

    @property
    def rule(self) -> SigmaRule | SigmaCorrelationRule:
        """The pySigma rule object (built from the source dict on first use)."""
        if self._rule is None:
            from sigma.correlations import SigmaCorrelationRule
            from sigma.exceptions import SigmaRuleLocation
            from sigma.rule import SigmaRule

            location = SigmaRuleLocation(self.path)
            kind = SigmaCorrelationRule if self.facts.correlation else SigmaRule
            built = kind.from_dict(self.raw, collect_errors=True, source=location)
            setattr(built, RAW_ATTRIBUTE, self.raw)
            self._rule = built
        return self._rule

    @property
    def digest(self) -> str:
        """The hash of the source dict's canonical JSON (the compiled-rule cache's key)."""
        if self._digest is None:
            self._digest = document_digest(self.raw)
        return self._digest

    @property
    def built(self) -> bool:
        """True once the pySigma rule object exists."""
        return self._rule is not None

    @property
    def logsource(self) -> SigmaLogSource:
        """The rule's log source (read from the source dict until the rule is built)."""
        from sigma.rule import SigmaLogSource, SigmaRule

        if self._rule is not None and isinstance(self._rule, SigmaRule):
            return self._rule.logsource
        return SigmaLogSource.from_dict(self.raw.get("logsource") or {})

    @property
    def id(self) -> str:
        """The rule's id (its name, or file-and-title when it has none)."""
        if self.facts.sigma_id is not None:
            return self.facts.sigma_id
        if self.facts.name:
            return self.facts.name
        return f"{self.path.name}:{self.facts.title}"

    @property
    def title(self) -> str:
        """The rule's title (its id when it has none)."""
        return self.facts.title or self.id

    @property
    def is_correlation(self) -> bool:
        """True for a Sigma correlation rule."""
        return self.facts.correlation

    @property
    def level(self) -> str:
        """The rule's level in lower case (medium when it names none)."""
        return self.facts.level or "medium"

    @property
    def tags(self) -> list[str]:
        """The rule's tags as text (attack.t1110, ...)."""
        return list(self.facts.tags)

    @property
    def description(self) -> str:
        """The rule's description ("" when it has none)."""
        return self.facts.description

    @property
    def valid(self) -> bool:
        """True when the rule parsed without errors."""
        return not self.errors


@dataclass(frozen=True)
class LoadError:
    """A file, or one document of it, that could not be read as Sigma."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class RuleSet:
    """Everything loaded from a list of paths, with the errors met on the way."""

    rules: list[LoadedRule] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    files: int = 0
    seconds: float = 0.0

    def by_id(self) -> dict[str, LoadedRule]:
        """The loaded rules by id (a later duplicate id wins)."""
        return {r.id: r for r in self.rules}

    def valid_rules(self) -> list[LoadedRule]:
        """The rules that parsed without errors."""
        return [r for r in self.rules if r.valid]


def load_rules(
    paths: Sequence[Path],
    *,
    cache: RuleCache | Path | str | None = DEFAULT_CACHE,
    files: Sequence[RuleFile] | None = None,
) -> RuleSet:
    """Load every rule under ``paths``; per-file and per-document errors are collected in
    the result (a missing path is an error too), and correlation references resolved.

    A file whose content was loaded before (by any process, same fingerprint: see
    soc.detect.rule_cache) is taken from the cache given as in compile_all: its documents,
    facts and errors, without YAML parsing or pySigma; each rule's pySigma object is then
    built only when asked for (conversion of a rule the compiled cache lacks, correlations
    and their base rules). The result is the same with or without the cache. ``files``:
    the rule files under ``paths`` as soc.detect.rule_files.read_rule_files read them
    (read here when not given), so that a caller that looked at them first reads them once."""
    started = time.perf_counter()
    result = RuleSet()
    for path in paths:
        if not path.exists():
            result.errors.append(LoadError(path, "no such file or directory"))
    store = open_cache(cache)
    try:
        read = read_rule_files(paths) if files is None else files
        result.errors.extend(LoadError(f.path, f.error) for f in read if f.error is not None)
        known = store.get_many(f.key for f in read if f.key) if store is not None else {}
        fresh: dict[str, dict[str, Any]] = {}
        for rule_file in read:
            result.files += 1
            path, data, key = rule_file.path, rule_file.data, rule_file.key
            if data is None or key is None:
                continue
            entry = known.get(key)
            if entry is not None and _from_entry(entry, path, result):
                continue
            rules_before, errors_before = len(result.rules), len(result.errors)
            _load_bytes(data, path, result)
            made = _entry(result.rules[rules_before:], result.errors[errors_before:])
            if made is not None:
                fresh[key] = made
        if store is not None:
            store.put_many(fresh)
    finally:
        if store is not None and store is not cache:
            store.close()
    resolve_correlations(result)
    result.seconds = time.perf_counter() - started
    return result


def load_text(text: str, path: Path | None = None) -> RuleSet:
    """Load the Sigma documents of one YAML text (tests and `soc rules check` of a snippet)."""
    result = RuleSet(files=1)
    _load_documents(text, path or Path("<text>"), result)
    resolve_correlations(result)
    return result


def _load_bytes(data: bytes, path: Path, result: RuleSet) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        result.errors.append(LoadError(path, f"cannot read: {exc}"))
        return
    _load_documents(text, path, result)


def _entry(rules: list[LoadedRule], errors: list[LoadError]) -> dict[str, Any] | None:
    """What the cache keeps of one file's load (documents with their facts, then the
    errors), or None when a document cannot be kept exactly."""
    documents: list[dict[str, Any]] = []
    for loaded in rules:
        encoded = raw_codec.encode(loaded.raw)
        if encoded is None:
            return None
        facts = loaded.facts
        documents.append(
            {
                "raw": encoded.data,
                "dates": encoded.dates,
                "errors": loaded.errors,
                "digest": loaded.digest,
                "facts": [
                    facts.sigma_id,
                    facts.name,
                    facts.title,
                    facts.level,
                    list(facts.tags),
                    facts.description,
                    facts.correlation,
                ],
            }
        )
    return {"documents": documents, "errors": [e.message for e in errors]}


def _from_entry(entry: Mapping[str, Any], path: Path, result: RuleSet) -> bool:
    """Add the rules and errors of a cache entry; False (nothing added) for an entry this
    version cannot read."""
    try:
        rules: list[LoadedRule] = []
        for document in entry["documents"]:
            sigma_id, name, title, level, tags, description, correlation = document["facts"]
            facts = RuleFacts(
                sigma_id, name, title, level, tuple(tags), str(description), bool(correlation)
            )
            raw = raw_codec.revive(document["raw"], document["dates"])
            errors = [str(e) for e in document["errors"]]
            digest = str(document["digest"])
            rules.append(LoadedRule(raw=raw, path=path, errors=errors, facts=facts, digest=digest))
        errors = [LoadError(path, str(message)) for message in entry["errors"]]
    except (KeyError, TypeError, ValueError):
        return False
    result.rules.extend(rules)
    result.errors.extend(errors)
    return True


def _load_documents(text: str, path: Path, result: RuleSet) -> None:
    import yaml  # here: a run whose rule files are all in the load cache parses no YAML
    from sigma.correlations import SigmaCorrelationRule
    from sigma.exceptions import SigmaError, SigmaRuleLocation
    from sigma.rule import SigmaRule

    # the C loader is several times faster on a SigmaHQ checkout
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        docs = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        result.errors.append(LoadError(path, f"{where}malformed YAML: {problem}"))
        return
    for index, doc in enumerate(docs):
        where = f" (document {index + 1})" if len(docs) > 1 else ""
        if not isinstance(doc, dict):
            result.errors.append(LoadError(path, f"not a Sigma rule{where}: not a mapping"))
            continue
        if "action" in doc:
            result.errors.append(
                LoadError(path, f"action: {doc['action']!r}{where} is not supported (Sigma v1)")
            )
            continue
        if "filter" in doc and "detection" not in doc and "correlation" not in doc:
            result.errors.append(LoadError(path, f"Sigma filter documents{where} not supported"))
            continue
        location = SigmaRuleLocation(path)
        try:
            if "correlation" in doc:
                rule: SigmaRule | SigmaCorrelationRule = SigmaCorrelationRule.from_dict(
                    doc, collect_errors=True, source=location
                )
            else:
                rule = SigmaRule.from_dict(doc, collect_errors=True, source=location)
        except SigmaError as exc:
            result.errors.append(LoadError(path, f"invalid rule{where}: {exc}"))
            continue
        except Exception as exc:  # pySigma raises plain errors on some malformed input
            result.errors.append(LoadError(path, f"invalid rule{where}: {exc}"))
            continue
        setattr(rule, RAW_ATTRIBUTE, doc)
        errors = [_one_line(e) for e in getattr(rule, "errors", [])]
        result.rules.append(LoadedRule(rule=rule, raw=doc, path=path, errors=errors))


#: How the error a correlation gets for its unknown base rules begins (resolve_correlations
#: adds it; a rule set's snapshot keeps each rule's errors without it).
UNKNOWN_REFERENCES = "correlation refers to unknown rule(s): "


def resolve_correlations(result: RuleSet) -> None:
    """Link each valid correlation of ``result`` to its base rules (by id or name), name the
    ones it cannot find as an error of the correlation, and mark the base rules of
    correlations without ``generate: true`` as raising no alerts of their own."""
    index: dict[str, LoadedRule] = {}
    for loaded in result.rules:
        if loaded.facts.sigma_id is not None:
            index[loaded.facts.sigma_id] = loaded
        if loaded.facts.name:
            index[loaded.facts.name] = loaded
    silenced: set[int] = set()
    for loaded in result.rules:
        if not loaded.is_correlation or loaded.errors:
            continue
        from sigma.correlations import SigmaCorrelationRule, SigmaRuleReference

        corr = loaded.rule
        assert isinstance(corr, SigmaCorrelationRule)
        missing: list[str] = []
        refs = list(corr.rules or [])
        if (
            not refs
            and corr.condition is not None
            and hasattr(corr.condition, "get_referenced_rules")
        ):
            refs = [SigmaRuleReference(n) for n in corr.condition.get_referenced_rules()]
        corr.referenced_rules = refs
        for ref in refs:
            found = index.get(str(ref.reference))
            if found is None:
                missing.append(str(ref.reference))
                continue
            target = found.rule
            ref.rule = target
            target.add_backreference(corr)
            if not corr.generate:
                target.disable_output()
                silenced.add(id(found))
        if missing:
            loaded.errors.append(UNKNOWN_REFERENCES + ", ".join(missing))
    for loaded in result.rules:
        loaded.standalone = id(loaded) not in silenced


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
