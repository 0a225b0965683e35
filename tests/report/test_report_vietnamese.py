"""Issue 16: a Vietnamese report is Vietnamese throughout.

The demo runs for real (ingest the bundled city logs, detect, triage the top alert with its
playbook, which opens a case with recommendations), then every report is written in `vi`
(the period report and the report of every case, HTML and Markdown) and read for English:
any word of the catalogue's English sentences or of a list of common English words, left
after taking out what is quoted from logs and rules (addresses, accounts, hosts, field=value
pairs, rule titles, ATT&CK technique names, the text inside «…»), fails the test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from report_fixtures import text_of

from soc.config import load_settings
from soc.i18n import en, vi
from soc.report import write_case_report, write_period_report
from soc.report.attack import attack_data

#: Common English words (function words and the SOC vocabulary that leaked before).
COMMON_ENGLISH = frozenset(
    [
        "the",
        "and",
        "of",
        "to",
        "from",
        "at",
        "for",
        "on",
        "with",
        "by",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "an",
        "or",
        "not",
        "no",
        "yes",
        "as",
        "into",
        "over",
        "under",
        "after",
        "before",
        "about",
        "than",
        "then",
        "when",
        "which",
        "who",
        "what",
        "alert",
        "alerts",
        "case",
        "cases",
        "event",
        "events",
        "verdict",
        "decision",
        "block",
        "blocked",
        "firewall",
        "failed",
        "failure",
        "success",
        "login",
        "logins",
        "source",
        "address",
        "addresses",
        "triage",
        "started",
        "opened",
        "closed",
        "open",
        "recommendation",
        "recommendations",
        "perimeter",
        "days",
        "disable",
        "rotate",
        "review",
        "session",
        "password",
        "accounts",
        "account",
        "tried",
        "known",
        "take",
        "record",
        "outcome",
        "severity",
        "status",
        "true",
        "positive",
        "false",
        "benign",
        "medium",
        "high",
        "low",
        "critical",
        "new",
        "progress",
        "escalated",
        "escalate",
        "note",
        "notes",
        "assigned",
        "playbook",
        "step",
        "steps",
        "query",
        "queries",
        "found",
        "distinct",
        "none",
        "other",
        "unknown",
    ]
)
#: Words both languages write the same way (acronyms, product names, units).
SHARED = frozenset(
    [
        "ip",
        "ssh",
        "dns",
        "vpn",
        "att",
        "ck",
        "mitre",
        "enterprise",
        "fortigate",
        "edr",
        "kerberos",
        "geoip",
        "url",
        "html",
        "pdf",
        "csv",
        "ioc",
        "nat",
        "mfa",
        "sql",
        "tor",
        "dmz",
        "web",
        "api",
        "siem",
        "soc",
        "ecs",
        "utc",
        "gmt",
        "ho",
        "chi",
        "minh",
    ]
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]+")
_QUOTED = re.compile(r"«[^»]*»|“[^”]*”")
#: Values as logged: addresses, ids, hosts, accounts, paths, field=value pairs.
_LOGGED = re.compile(r"\S*[\d=/@\\]\S*|\S+[.:-]\S+")


def english_words() -> frozenset[str]:
    """Words of the English catalogue that the Vietnamese one never uses, plus COMMON_ENGLISH."""
    vi_words = {
        w.lower()
        for text in vi.MESSAGES.values()
        for w in _WORD.findall(re.sub(r"\{[^}]*\}", " ", text))
    }
    en_words = {
        w.lower()
        for text in en.MESSAGES.values()
        for w in _WORD.findall(re.sub(r"\{[^}]*\}", " ", text))
    }
    return frozenset((en_words | COMMON_ENGLISH) - vi_words - SHARED)


def leftover_english(text: str, quoted_names: list[str]) -> list[str]:
    """English words of ``text`` outside quoted values and the given names."""
    for name in sorted(quoted_names, key=len, reverse=True):
        if name:
            text = text.replace(name, " ")
    text = _QUOTED.sub(" ", text)
    text = _LOGGED.sub(" ", text)
    words = english_words()
    return sorted({w for w in _WORD.findall(text) if w.lower() in words})


def test_the_checker_catches_english_sentences() -> None:
    """Control: the English leaks of issue 16 are caught; quoted log values are not."""
    leaks = leftover_english(
        "Block 201.178.81.113 at the city perimeter firewall; decision: verdict true_positive",
        [],
    )
    assert {"Block", "perimeter", "firewall", "decision", "verdict", "true"} <= set(leaks)
    assert leftover_english("Chặn 201.178.81.113 user.name=root «SSH brute force»", []) == []


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["local", "elastic"])
def test_every_report_of_the_demo_reads_vietnamese(
    data_dir: Path, clock_at, kind: str, request: pytest.FixtureRequest
) -> None:
    from soc.demo import open_demo_store, run_demo

    clock_at("2026-11-25T03:00:00+07:00")
    settings = load_settings()
    if kind == "local":
        store: Any = open_demo_store(settings)
    else:
        from soc.store.elastic import ElasticStore

        store = ElasticStore(request.getfixturevalue("es_url"))
    try:
        result = run_demo(settings, store, report_format="md")
        assert result.triage is not None and result.triage.case_id
        names = [str(a.get("rule_title") or "") for a in store.list_records("alerts")]
        names += [t.name for t in attack_data().techniques.values()]
        cases = store.list_records("cases")
        assert cases
        outputs = []
        for fmt in ("md", "html"):
            outputs.append(
                write_period_report(
                    store,
                    result.report_first_day,
                    result.report_last_day,
                    "vi",
                    fmt,
                    data_dir / f"period.{fmt}",
                    timezone=settings["timezone"],
                )
            )
            for case in cases:
                outputs.append(
                    write_case_report(
                        store, case["id"], "vi", fmt, data_dir / f"{case['id']}.{fmt}"
                    )
                )
        for out in outputs:
            text = text_of(out, out.suffix[1:])
            assert leftover_english(text, names) == [], f"English in {out.name}"
    finally:
        store.close()
