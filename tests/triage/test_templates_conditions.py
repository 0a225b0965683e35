"""Templates (``${alert.entities.source.ip}``) are lookups, never evaluation; decision
conditions are a fixed set of operators over facts."""

from __future__ import annotations

import pytest

from soc.triage.conditions import evaluate, validate_condition
from soc.triage.template import (
    TemplateError,
    check_path,
    lookup,
    render,
    render_detection,
    render_text,
)

CONTEXT = {
    "alert": {
        "id": "a1",
        "entities": {"source.ip": ["203.0.113.5", "198.51.100.7"], "user.name": ["root"]},
        "rule": {"level": "high"},
        "event_ids": ["e1", "e2"],
    },
    "facts": {"failed": {"count": 24, "events": [{"user.name": "deploy"}]}},
    "answers": {"known": "no"},
    "analyst": "lan",
    "verdict": None,
}


def test_lookup_follows_dotted_keys_and_indexes() -> None:
    assert lookup(CONTEXT, "alert.entities.source.ip") == ["203.0.113.5", "198.51.100.7"]
    assert lookup(CONTEXT, "alert.entities.source.ip.1") == "198.51.100.7"
    assert lookup(CONTEXT, "alert.entities.source.ip[0]") == "203.0.113.5"
    assert lookup(CONTEXT, "facts.failed.events.0.user.name") == "deploy"
    with pytest.raises(TemplateError, match="has no value"):
        lookup(CONTEXT, "alert.entities.host.name")
    assert lookup(CONTEXT, "alert.nothing", None) is None


def test_render_keeps_types_for_whole_values_and_text_inside_strings() -> None:
    assert render("${alert.entities.source.ip}", CONTEXT) == ["203.0.113.5", "198.51.100.7"]
    assert render("${facts.failed.count}", CONTEXT) == 24
    assert render("from ${alert.entities.user.name} by ${analyst}", CONTEXT) == ("from root by lan")
    assert render("cost: $$5", CONTEXT) == "cost: $5"
    with pytest.raises(TemplateError):
        render("${verdict}", CONTEXT)  # decided nothing yet
    assert render_text("verdict ${verdict}, ${alert.nothing}", CONTEXT) == "verdict -, -"


def test_substituted_values_are_never_read_again() -> None:
    context = {
        "alert": {"entities": {"user.name": ["${analyst}", "{{ 7*7 }}", "__import__"]}},
        "analyst": "lan",
    }
    assert render("${alert.entities.user.name}", context) == [
        "${analyst}",
        "{{ 7*7 }}",
        "__import__",
    ]
    assert render_text("u=${alert.entities.user.name.0}", context) == "u=${analyst}"


def test_detection_values_are_escaped_as_sigma_literals() -> None:
    context = {"alert": {"entities": {"user.name": ["adm*", "a?b\\c"], "pat": ["a.c(d)"]}}}
    rendered = render_detection(
        {
            "sel": {"user.name": "${alert.entities.user.name}", "user.name|startswith": "x*"},
            "rx": {"user.name|re": "^${alert.entities.pat.0}$"},
            "condition": "sel or rx",
        },
        context,
    )
    assert rendered["sel"]["user.name"] == ["adm\\*", "a\\?b\\\\c"]
    assert rendered["sel"]["user.name|startswith"] == "x*"  # the playbook's own wildcard
    assert rendered["rx"]["user.name|re"] == "^a\\.c\\(d\\)$"
    assert rendered["condition"] == "sel or rx"


def test_template_paths_are_checked() -> None:
    assert check_path("alert.entities.source.ip") is None
    assert "starts with 'os'" in (check_path("os.system") or "")
    assert "not a dotted path" in (check_path("alert.x + 1") or "")
    assert "not a dotted path" in (check_path("alert.__class__()") or "")


FACTS = {"failed": {"count": 24, "top": [1, 2, 3]}, "src": {"ioc_match": True, "countries": ["VN"]}}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"fact": "failed.count", "gte": 10}, True),
        ({"fact": "failed.count", "lt": 10}, False),
        ({"fact": "failed.top", "gt": 2}, True),  # a list compares by its length
        ({"fact": "src.ioc_match", "eq": True}, True),
        ({"fact": "src.countries", "contains": "vn"}, True),
        ({"fact": "answers.known", "eq": "NO"}, True),
        ({"fact": "answers.known", "in": ["yes", "unsure"]}, False),
        ({"fact": "answers.missing", "ne": "yes"}, True),
        ({"fact": "answers.missing", "eq": "yes"}, False),
        ({"fact": "answers.missing", "exists": False}, True),
        ({"fact": "alert.rule.level", "in": ["high", "critical"]}, True),
        ({"fact": "verdict", "exists": True}, False),
        (
            {
                "all": [
                    {"fact": "failed.count", "gt": 5},
                    {"not": {"fact": "src.ioc_match", "eq": False}},
                ]
            },
            True,
        ),
        (
            {"any": [{"fact": "failed.count", "gt": 100}, {"fact": "nothing", "exists": True}]},
            False,
        ),
    ],
)
def test_conditions(condition: dict, expected: bool) -> None:
    assert validate_condition(condition) == []
    assert evaluate(condition, FACTS, CONTEXT) is expected


def test_invalid_conditions_are_explained() -> None:
    assert validate_condition({"fact": "x", "matches": ".*"})[0][1].startswith(
        "unknown operator 'matches'"
    )
    assert validate_condition({"fact": "x", "gt": "ten"}) == [("when.gt", "expected a number")]
    assert validate_condition({"all": []}) == [
        ("when.all", "expected a non-empty list of conditions")
    ]
    assert validate_condition("failed.count > 10") == [
        ("when", "expected a condition mapping, found str")
    ]
    assert validate_condition({"fact": "x", "eq": 1, "ne": 2}) == [
        ("when", "expected exactly one operator beside 'fact'")
    ]
