"""Playbook files: the shipped ones are valid; mistakes are reported with file, line and
field; the best playbook is chosen for an alert (rule id > tags > level > generic)."""

from __future__ import annotations

from pathlib import Path

import pytest
from triage_helpers import BRUTEFORCE_RULE_ID, soc

from soc.resources import playbooks_dir
from soc.triage.playbook import PlaybookError, load_library, load_playbook, parse_playbook

SHIPPED = {
    "ssh-bruteforce",
    "password-spray",
    "web-attack",
    "port-scan",
    "dns-tunnel",
    "suspicious-windows-process",
    "credential-access",
    "beaconing",
    "generic",
}


def test_every_shipped_playbook_is_valid() -> None:
    library = load_library([playbooks_dir()])
    assert library.problems == []
    assert set(library.playbooks) == SHIPPED
    assert library.playbooks["generic"].applies_to.generic
    for playbook in library.playbooks.values():
        assert playbook.steps
        assert {s.type for s in playbook.steps} >= {"action", "decide"}


GOOD = """\
name: demo
title: Demo
applies_to: {tags: [attack.t1110]}
steps:
  - id: look
    type: search
    detection:
      sel: {source.ip: "${alert.entities.source.ip}"}
      condition: sel
  - id: ask
    type: question
    prompt: ok?
    choices: ["yes", "no"]
"""


def problems_of(text: str, name: str = "playbooks/x.yaml") -> list[str]:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, Path(name))
    return caught.value.problems


def test_a_valid_playbook_parses() -> None:
    playbook = parse_playbook(GOOD, Path("demo.yaml"))
    assert playbook.name == "demo"
    assert [s.id for s in playbook.steps] == ["look", "ask"]
    assert playbook.steps[1].line == 10


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("type: search", "type: serch"),
            "playbooks/x.yaml:6: steps[0].type: unknown step type 'serch' (expected search, "
            "stats, enrich, question, decide, action)",
        ),
        (
            ("    prompt: ok?", "    prompt: ok?\n    colour: red"),
            "playbooks/x.yaml:13: steps[1].colour: unknown field for a question step",
        ),
        (
            ("      condition: sel", "      condition: sel and other"),
            "playbooks/x.yaml:7: steps[0].detection: not a valid Sigma detection: Detection "
            "'other' not defined",
        ),
        (
            ('"${alert.entities.source.ip}"', '"${alrt.entities.source.ip}"'),
            "playbooks/x.yaml:8: steps[0].detection.sel.source.ip: '${alrt.entities.source.ip}' "
            "starts with 'alrt'",
        ),
        (
            ("applies_to: {tags: [attack.t1110]}", "applies_to: {levels: [urgent]}"),
            "playbooks/x.yaml:3: applies_to.levels[0]: unknown level 'urgent'",
        ),
        (
            ("  - id: ask\n", "  - id: look\n"),
            "playbooks/x.yaml:10: steps[1].id: duplicate step id 'look'",
        ),
        (("name: demo\n", ""), "playbooks/x.yaml:1: name: required"),
        (
            ('    choices: ["yes", "no"]', '    choices: ["yes", "no"]\n    default: maybe'),
            "playbooks/x.yaml:14: steps[1].default: 'maybe' is not one of the choices",
        ),
    ],
)
def test_mistakes_name_file_line_and_field(change: tuple[str, str], expected: str) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    problems = problems_of(text)
    assert any(p.startswith(expected) for p in problems), problems


def test_decide_and_action_mistakes() -> None:
    text = (
        GOOD
        + """\
  - id: verdict
    type: decide
    rules:
      - when: {fact: failed.count, greater: 10}
        verdict: true_positive
      - when: {fact: x, eq: 1}
        verdict: guilty
  - id: act
    type: action
    do:
      - status: done
      - recommend: {kind: nuke, text: x}
      - shell: rm -rf /
"""
    )
    problems = problems_of(text)
    expected = [
        "playbooks/x.yaml:17: steps[2].rules[0].when.greater: unknown operator 'greater'",
        "playbooks/x.yaml:20: steps[2].rules[1].verdict: unknown verdict 'guilty'",
        "playbooks/x.yaml:24: steps[3].do[0].status: unknown status 'done'",
        "playbooks/x.yaml:25: steps[3].do[1].recommend.kind: unknown recommendation 'nuke'",
        "playbooks/x.yaml:26: steps[3].do[2].shell: unknown action 'shell'",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in problems), (line, problems)


def test_malformed_yaml_and_bad_files(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: x\nsteps: [\n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "good.yaml").write_text(GOOD)
    library = load_library([tmp_path])
    assert set(library.playbooks) == {"demo"}
    assert any(
        p.startswith(f"{tmp_path / 'broken.yaml'}:3: malformed YAML") for p in library.problems
    ), library.problems
    assert any(
        p.startswith(f"{tmp_path / 'list.yaml'}:1: (top): expected a mapping")
        for p in library.problems
    ), library.problems
    with pytest.raises(PlaybookError, match="cannot read"):
        load_playbook(tmp_path / "missing.yaml")


def test_soc_triage_check_reports_problems_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("type: search", "type: serch"))
    result = soc("triage", "--check", str(bad))
    assert result.returncode == 2
    assert f"{bad}:6: steps[0].type: unknown step type 'serch'" in result.stderr
    result = soc("triage", "--check", str(playbooks_dir()))
    assert result.returncode == 0, result.stderr
    listed = soc("triage", "--list-playbooks", "--json")
    assert listed.returncode == 0
    assert '"ssh-bruteforce"' in listed.stdout


def alert(rule_id: str = "r-1", tags: tuple[str, ...] = (), level: str = "medium") -> dict:
    return {"id": "a", "rule_id": rule_id, "rule_title": "t", "level": level, "tags": list(tags)}


def playbook_text(name: str, applies: str) -> str:
    return GOOD.replace("name: demo", f"name: {name}").replace(
        "applies_to: {tags: [attack.t1110]}", f"applies_to: {applies}"
    )


def test_the_most_specific_playbook_wins(tmp_path: Path) -> None:
    for name, applies in {
        "by-rule": "{rules: [r-42]}",
        "by-tag": "{tags: [attack.t1110.001]}",
        "by-prefix": "{tags: [attack.t1110]}",
        "by-level": "{levels: [critical]}",
        "high-only": "{tags: [attack.t1059], levels: [high, critical]}",
        "fallback": "{}",
    }.items():
        (tmp_path / f"{name}.yaml").write_text(playbook_text(name, applies))
    library = load_library([tmp_path])
    assert library.problems == []

    def chosen(**kwargs: object) -> str:
        found = library.choose(alert(**kwargs))  # type: ignore[arg-type]
        assert found is not None
        return found.name

    assert chosen(rule_id="r-42", tags=("attack.t1110.001",), level="critical") == "by-rule"
    assert chosen(tags=("attack.t1110.001",), level="critical") == "by-tag"
    assert chosen(tags=("attack.t1110.003",)) == "by-prefix"
    assert chosen(tags=("attack.t1078",), level="critical") == "by-level"
    assert chosen(tags=("attack.t1059",), level="high") == "high-only"
    assert chosen(tags=("attack.t1059",), level="low") == "fallback"  # levels filter
    assert chosen(tags=("attack.t9999",)) == "fallback"


def test_shipped_playbooks_fit_the_rule_pack_alerts() -> None:
    library = load_library([playbooks_dir()])
    ssh = library.choose(alert(rule_id=BRUTEFORCE_RULE_ID, tags=("attack.t1110.001",)))
    assert ssh is not None and ssh.name == "ssh-bruteforce"
    cases = {
        ("attack.privilege-escalation", "attack.t1548.003", "attack.t1110.001"): "generic",
        ("attack.t1110.003",): "password-spray",
        ("attack.initial-access", "attack.t1190", "attack.t1539"): "web-attack",
        ("attack.t1071.004", "attack.t1048"): "dns-tunnel",
        ("attack.t1003.001",): "credential-access",
        ("attack.t1059.001", "attack.t1027.010"): "suspicious-windows-process",
        ("attack.t1046",): "port-scan",
        ("attack.t1090.003",): "beaconing",
        ("attack.t1136.001",): "generic",
    }
    for tags, expected in cases.items():
        found = library.choose(alert(tags=tags))
        assert found is not None and found.name == expected, (tags, found and found.name)
