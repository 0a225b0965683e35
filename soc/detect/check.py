"""`soc rules check`: per rule, converted / not convertible (with the reason) / invalid.

A rule is *invalid* when it does not parse as Sigma or a pySigma validator finds a problem of
high severity; lower-severity findings are listed as warnings. A valid rule is *converted*
when every requested backend converts it, otherwise *not convertible* with the backend's
reason. Validators that need network data (ATT&CK / D3FEND catalogues) are not run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sigma.validators.core import validators as core_validators

from soc.detect.compile import compile_rule
from soc.detect.loader import RuleSet
from soc.detect.rule_cache import Target

#: Validators left out: they download catalogues from the internet.
OFFLINE_EXCLUDED = frozenset({"attacktag", "d3_fendtag"})
#: Validators whose findings make a rule invalid (broken logic or identity); the others
#: (SigmaHQ naming and style conventions) are reported as warnings.
BLOCKING = frozenset(
    {
        "dangling_condition",
        "dangling_detection",
        "invalid_modifier_combinations",
        "identifier_existence",
        "identifier_uniqueness",
        "control_character",
    }
)


@dataclass
class RuleCheck:
    """The verdict on one rule."""

    id: str
    title: str
    path: str
    status: str  # converted | not_convertible | invalid
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class CheckReport:
    """Verdicts on every rule plus file-level load errors."""

    rules: list[RuleCheck] = field(default_factory=list)
    load_errors: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """Rules converted, not convertible and invalid (load errors count as invalid)."""
        counter = Counter(r.status for r in self.rules)
        counter["invalid"] += len(self.load_errors)
        return {k: counter.get(k, 0) for k in ("converted", "not_convertible", "invalid")}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by `soc rules check --json`."""
        return {
            "summary": {**self.counts(), "rules": len(self.rules), "seconds": self.seconds},
            "load_errors": self.load_errors,
            "rules": [r.__dict__ for r in self.rules],
        }


def _validators() -> dict[str, Any]:
    return {name: cls() for name, cls in core_validators.items() if name not in OFFLINE_EXCLUDED}


def _apply(check: RuleCheck, name: str, issues: Sequence[Any]) -> None:
    for issue in issues:
        if name in BLOCKING:
            check.status = "invalid"
            check.reason = "; ".join(filter(None, [check.reason, issue.description]))
        else:
            check.warnings.append(f"{name}: {issue.description}")


def check_rules(
    ruleset: RuleSet, targets: Sequence[Target] = ("sqlite", "lucene"), *, validate: bool = True
) -> CheckReport:
    """Validate and convert every loaded rule for each target; never raises for a bad rule."""
    report = CheckReport(seconds=ruleset.seconds)
    report.load_errors = [{"path": str(e.path), "error": e.message} for e in ruleset.errors]
    validators = _validators() if validate else {}
    by_rule: dict[int, RuleCheck] = {}
    for loaded in ruleset.rules:
        check = RuleCheck(loaded.id, loaded.title, str(loaded.path), "converted")
        if loaded.errors:
            check.status, check.reason = "invalid", "; ".join(loaded.errors)
            report.rules.append(check)
            continue
        by_rule[id(loaded.rule)] = check
        for name, validator in validators.items():
            try:
                _apply(check, name, validator.validate(loaded.rule))
            except Exception as exc:  # a validator bug must not stop the check
                check.warnings.append(f"{name}: validator failed: {exc}")
        if check.status == "invalid":
            report.rules.append(check)
            continue
        for target in targets:
            compiled = compile_rule(loaded, target)
            if compiled.status == "invalid":
                check.status, check.reason = "invalid", str(compiled.error)
                break
            if not compiled.runnable:
                check.status = "not_convertible"
                reason = f"{target}: {compiled.error}"
                check.reason = "; ".join(filter(None, [check.reason, reason]))
            elif compiled.note and not check.note:
                check.note = compiled.note
        report.rules.append(check)
    for name, validator in validators.items():
        try:
            issues = validator.finalize()
        except Exception:
            continue
        for issue in issues:
            for rule in issue.rules:
                check = by_rule.get(id(rule))
                if check is not None:
                    _apply(check, name, [issue])
    return report
