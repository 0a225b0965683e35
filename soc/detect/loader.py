"""Load Sigma rules from folders and files: parse per file, collect errors per file, never abort.

Rule files are read with ``yaml.safe_load_all`` (C loader when available): nothing in a rule
file is ever executed. Correlation rules find their base rules by name or id across every
file loaded together.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sigma.correlations import SigmaCorrelationRule, SigmaRuleReference
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.rule import SigmaRule

try:  # the C loader is several times faster on a SigmaHQ checkout
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

RULE_SUFFIXES = (".yml", ".yaml")
#: Attribute under which each loaded rule object keeps its source dict (compilation of a
#: correlation's base rules starts again from it).
RAW_ATTRIBUTE = "_citysoc_raw"


@dataclass
class LoadedRule:
    """One Sigma document that parsed: the rule object, its source dict and file."""

    rule: SigmaRule | SigmaCorrelationRule
    raw: dict[str, Any]
    path: Path
    errors: list[str] = field(default_factory=list)
    #: False for a base rule of a correlation without ``generate: true``: it raises no
    #: alerts of its own.
    standalone: bool = True

    @property
    def id(self) -> str:
        """The rule's id (its name, or file-and-title when it has none)."""
        if self.rule.id is not None:
            return str(self.rule.id)
        if self.rule.name:
            return str(self.rule.name)
        return f"{self.path.name}:{self.rule.title}"

    @property
    def title(self) -> str:
        """The rule's title (its id when it has none)."""
        return str(self.rule.title or self.id)

    @property
    def is_correlation(self) -> bool:
        """True for a Sigma correlation rule."""
        return isinstance(self.rule, SigmaCorrelationRule)

    @property
    def level(self) -> str:
        """The rule's level in lower case (medium when it names none)."""
        level = getattr(self.rule, "level", None)
        return str(level.name.lower()) if level is not None else "medium"

    @property
    def tags(self) -> list[str]:
        """The rule's tags as text (attack.t1110, ...)."""
        return [str(t) for t in (getattr(self.rule, "tags", None) or [])]

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


def iter_rule_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Every .yml/.yaml file under the given folders (recursively, sorted) or given directly."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.suffix.lower() in RULE_SUFFIXES and p.is_file()
            )
        elif path.is_file():
            yield path


def load_rules(paths: Sequence[Path]) -> RuleSet:
    """Load every rule under ``paths``; per-file and per-document errors are collected in
    the result (a missing path is an error too), and correlation references resolved."""
    started = time.perf_counter()
    result = RuleSet()
    for path in paths:
        if not path.exists():
            result.errors.append(LoadError(path, "no such file or directory"))
    for path in iter_rule_files(paths):
        result.files += 1
        _load_file(path, result)
    _resolve_correlations(result)
    result.seconds = time.perf_counter() - started
    return result


def load_text(text: str, path: Path | None = None) -> RuleSet:
    """Load the Sigma documents of one YAML text (tests and `soc rules check` of a snippet)."""
    result = RuleSet(files=1)
    _load_documents(text, path or Path("<text>"), result)
    _resolve_correlations(result)
    return result


def _load_file(path: Path, result: RuleSet) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        result.errors.append(LoadError(path, f"cannot read: {exc}"))
        return
    _load_documents(text, path, result)


def _load_documents(text: str, path: Path, result: RuleSet) -> None:
    try:
        docs = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
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


def _resolve_correlations(result: RuleSet) -> None:
    index: dict[str, SigmaRule | SigmaCorrelationRule] = {}
    for loaded in result.rules:
        if loaded.rule.id is not None:
            index[str(loaded.rule.id)] = loaded.rule
        if loaded.rule.name:
            index[str(loaded.rule.name)] = loaded.rule
    silenced: set[int] = set()
    for loaded in result.rules:
        if not loaded.is_correlation or loaded.errors:
            continue
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
            target = index.get(str(ref.reference))
            if target is None:
                missing.append(str(ref.reference))
                continue
            ref.rule = target
            target.add_backreference(corr)
            if not corr.generate:
                target.disable_output()
                silenced.add(id(target))
        if missing:
            loaded.errors.append(f"correlation refers to unknown rule(s): {', '.join(missing)}")
    for loaded in result.rules:
        loaded.standalone = id(loaded.rule) not in silenced


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
