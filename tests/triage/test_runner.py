"""The playbook runner's behaviour at the edges: conditional steps, steps that cannot run,
questions without answers, bad answers files, unknown alerts and playbooks."""

from __future__ import annotations

from pathlib import Path

import pytest
from triage_helpers import soc

from soc.store.local import LocalStore
from soc.triage.audit import list_audit
from soc.triage.console import MappingAnswers, SilentOutput
from soc.triage.playbook import parse_playbook
from soc.triage.runner import TriageError, check_answers, run_playbook

PLAYBOOK = """
name: edges
steps:
  - id: logins
    type: stats
    detection:
      selection: {source.ip: "${alert.entities.source.ip}"}
      condition: selection
    by: user.name
    save_as: logins
  - id: host_only
    type: search
    when: {fact: logins.count, gt: 100}
    detection:
      selection: {host.name: "${alert.entities.host.name}"}
      condition: selection
  - id: no_host
    type: search
    detection:
      selection: {host.name: "${alert.entities.host.name}"}
      condition: selection
  - id: reason
    type: question
    prompt: Why?
  - id: verdict
    type: decide
    rules:
      - when: {fact: answers.reason, contains: test}
        verdict: benign
        severity: low
  - id: act
    type: action
    do:
      - status: in_progress
      - close: true
"""


def seed(store: LocalStore) -> None:
    store.write_events(
        [
            {
                "_id": f"e{i}",
                "@timestamp": f"2026-11-20T03:00:0{i}.000000Z",
                "event": {"dataset": "system.auth"},
                "user": {"name": f"u{i % 2}"},
                "source": {"ip": "203.0.113.5"},
            }
            for i in range(5)
        ]
    )
    store.put_record(
        "alerts",
        "a1",
        {
            "id": "a1",
            "rule_id": "r",
            "rule_title": "t",
            "level": "low",
            "tags": [],
            "status": "new",
            "event_ids": ["e0"],
            "entities": {"source.ip": ["203.0.113.5"]},
            "first_seen": "2026-11-20T03:00:00.000000Z",
            "last_seen": "2026-11-20T03:00:04.000000Z",
        },
    )


def test_steps_skip_fail_and_continue(local_store: LocalStore) -> None:
    seed(local_store)
    playbook = parse_playbook(PLAYBOOK, Path("edges.yaml"))
    result = run_playbook(
        local_store,
        "a1",
        playbook,
        analyst="lan",
        answerer=MappingAnswers({"reason": "a test run"}),
        output=SilentOutput(),
    )
    outcome = {s.id: (s.status, s.summary) for s in result.steps}
    assert outcome["logins"] == ("done", "5 events, 2 distinct user.name")
    assert outcome["host_only"] == ("skipped", "condition not met")
    assert outcome["no_host"][0] == "skipped" and "has no value" in outcome["no_host"][1]
    assert result.failed_steps == []
    assert result.facts["logins"]["top"] == [
        {"value": "u0", "count": 3},
        {"value": "u1", "count": 2},
    ]
    assert (result.verdict, result.status) == ("benign", "closed")
    assert local_store.get_record("alerts", "a1")["resolution"] == "benign"
    triage_record = list_audit(local_store, action="alert.triage")[0]
    assert triage_record["detail"]["answers"] == {"reason": "a test run"}

    # no verdict: the close action cannot run; the step fails, the others stand
    local_store.put_record(
        "alerts",
        "a2",
        {**local_store.get_record("alerts", "a1"), "id": "a2", "status": "new", "resolution": None},
    )
    again = run_playbook(
        local_store,
        "a2",
        playbook,
        analyst="lan",
        answerer=MappingAnswers({"reason": "looks bad"}),
        output=SilentOutput(),
    )
    assert [s.id for s in again.failed_steps] == ["act"]
    assert "cannot close: no verdict decided yet" in again.failed_steps[0].summary
    assert local_store.get_record("alerts", "a2")["status"] == "in_progress"


def test_a_question_without_answer_or_default_stops_the_run(local_store: LocalStore) -> None:
    seed(local_store)
    playbook = parse_playbook(PLAYBOOK, Path("edges.yaml"))
    with pytest.raises(TriageError, match="question 'reason' has no answer"):
        run_playbook(
            local_store,
            "a1",
            playbook,
            analyst="lan",
            answerer=MappingAnswers({}),
            output=SilentOutput(),
        )
    with pytest.raises(TriageError, match="no answer to question 'reason'"):
        check_answers(playbook, {}, "answers.yaml")
    with pytest.raises(TriageError, match="unknown question 'reasn'"):
        check_answers(playbook, {"reasn": "x", "reason": "y"}, "answers.yaml")


def test_cli_errors_are_one_line_with_exit_2(data_dir: Path, tmp_path: Path) -> None:
    store = LocalStore(data_dir / "soc.db")
    seed(store)
    store.close()
    playbooks = tmp_path / "pb"
    playbooks.mkdir()
    (playbooks / "edges.yaml").write_text(PLAYBOOK)
    answers = tmp_path / "answers.yaml"

    def run(*args: str) -> tuple[int, str]:
        result = soc("triage", *args, "--playbooks", str(playbooks))
        return result.returncode, result.stderr.strip()

    assert run("nope") == (
        2,
        "soc: error: no alert 'nope': prefix too short (an id prefix needs at least 6 "
        "characters; see `soc alerts list`)",
    )
    assert run("nopenope") == (2, "soc: error: no alert 'nopenope' (see `soc alerts list`)")
    code, err = run("a1", "--playbook", "nope")
    assert code == 2 and err.startswith("soc: error: no playbook named 'nope' (known: ")
    answers.write_text("reasn: typo\n")
    code, err = run("a1", "--playbook", "edges", "--answers", str(answers))
    assert code == 2 and "unknown question 'reasn' (playbook edges asks: reason)" in err
    answers.write_text("- a list\n")
    code, err = run("a1", "--playbook", "edges", "--answers", str(answers))
    assert (code, err) == (2, f"soc: error: {answers}: expected a mapping of question id -> answer")
    answers.write_text("reason: [1, 2]\n")
    code, err = run("a1", "--playbook", "edges", "--answers", str(answers))
    assert code == 2 and "must be a single value" in err
    code, err = run("a1", "--playbook", "edges", "--inventory", str(tmp_path / "none.csv"))
    assert code == 2 and "cannot read the inventory" in err
    # nothing was changed by the refused runs
    store = LocalStore(data_dir / "soc.db")
    assert store.get_record("alerts", "a1")["status"] == "new"
    assert list_audit(store) == []
    store.close()

    # a run where one step fails still finishes, with exit 1
    answers.write_text("reason: no idea\n")
    result = soc(
        "triage",
        "a1",
        "--playbook",
        "edges",
        "--answers",
        str(answers),
        "--playbooks",
        str(playbooks),
    )
    assert result.returncode == 1, result.stderr
    assert "close: cannot close: no verdict decided yet" in result.stdout
    # stdin at its end with no default: a clear error, exit 2
    store = LocalStore(data_dir / "soc.db")
    store.put_record(
        "alerts", "a2", {**store.get_record("alerts", "a1"), "id": "a2", "status": "new"}
    )
    store.close()
    result = soc("triage", "a2", "--playbook", "edges", "--playbooks", str(playbooks))
    assert result.returncode == 2
    assert "question 'reason': no answer on standard input and no default" in result.stderr
