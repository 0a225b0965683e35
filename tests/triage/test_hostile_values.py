"""Values from logs are attacker-controlled. Log lines carrying rich markup, ANSI and OSC 52
escape sequences and shell metacharacters go through ingestion -> detection -> triage, and come
out printed literally (control characters as visible escapes), executed nowhere; substituted
into pivots they stay literal values, never wildcards."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from triage_helpers import BRUTEFORCE_RULE_ID, ingest, soc, store_env

from soc.detect.runner import run_detection
from soc.safe_text import visible
from soc.store.base import Store
from soc.store.local import LocalStore
from soc.triage.console import MappingAnswers, SilentOutput
from soc.triage.playbook import parse_playbook
from soc.triage.runner import run_playbook

pytest_plugins = ["es_fixtures"]

ATTACKER = "203.0.113.77"
SGR = re.compile(r"\x1b\[[0-9;]*m")


def hostile_names(canary: Path) -> list[str]:
    return [
        "[bold red]x[/]",
        "\x1b[31mred\x1b[0m",
        "\x1b]52;c;aGVsbG8=\x07",
        f"$(touch {canary})",
        f"`touch {canary}`",
        f"a; touch {canary}; rm -rf /",
        "[link=http://evil.example]y[/link]",
        "\x1b]0;pwned title\x07\x1b[2J",
    ]


def write_log(path: Path, names: list[str]) -> None:
    lines = []
    for i in range(12):
        name = names[i % len(names)]
        lines.append(
            f"Nov 20 10:0{4 + i // 6}:{(i % 6) * 10:02d} tc-app02 sshd[{5000 + i}]: "
            f"Failed password for invalid user {name} from {ATTACKER} port {40000 + i} ssh2"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_hostile_log_values_are_shown_literally_and_never_run(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    names = hostile_names(canary)
    log = tmp_path / "auth.log"
    write_log(log, names)
    data_dir = tmp_path / "data"
    env = store_env("local", data_dir, None)
    ingest(log, env, department="[red]Sở[/red] \x1b[5mX")
    store = LocalStore(data_dir / "soc.db")
    try:
        run_detection(store, [], None, None)
        (alert,) = store.list_records("alerts", filters={"rule_id": BRUTEFORCE_RULE_ID})
        assert set(names) <= set(alert["entities"]["user.name"])
    finally:
        store.close()

    answers = tmp_path / "answers.yaml"
    answers.write_text("known_source: 'no'\n")
    outputs = [soc("triage", alert["id"], "--answers", str(answers), env=env)]
    assert outputs[0].returncode == 0, outputs[0].stderr
    store = LocalStore(data_dir / "soc.db")
    case_id = store.get_record("alerts", alert["id"])["case_id"]
    store.close()
    assert case_id
    outputs.append(soc("cases", "show", case_id, env=env))
    outputs.append(soc("cases", "list", env=env))
    outputs.append(soc("audit", env=env))
    outputs.append(
        soc("triage", alert["id"], "--answers", str(answers), "--playbook", "generic", env=env)
    )
    for result in outputs:
        text = result.stdout + result.stderr
        # nothing a terminal would interpret: no ESC, BEL or other C0/C1 control
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text), text
    shown = outputs[0].stdout
    assert "[bold red]x[/]" in shown  # markup shown as text, not applied
    assert "[link=http://evil.example]y[/link]" in shown
    assert "\\x1b[31mred\\x1b[0m" in shown  # ANSI colour made visible
    assert "\\x1b]52;c;aGVsbG8=\\x07" in shown  # OSC 52 clipboard write made visible
    assert "\\x1b]0;pwned title\\x07\\x1b[2J" in shown
    assert f"$(touch {canary})" in shown and f"`touch {canary}`" in shown
    assert "[red]Sở[/red] \\x1b[5mX" in outputs[0].stdout  # department label, from config
    assert "[red]Sở[/red] \\x1b[5mX" in outputs[1].stdout  # ... and in the case
    assert not canary.exists()

    # JSON keeps the exact values (escaped the JSON way), for machines.
    listed = soc("audit", "--object", alert["id"], "--json", env=env)
    assert listed.returncode == 0
    assert "\x1b" not in listed.stdout
    json.loads(listed.stdout)
    assert not canary.exists()


def test_hostile_values_on_a_terminal_stay_escaped(tmp_path: Path) -> None:
    """On a real terminal rich adds its own styling, but never the log's sequences."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    canary = tmp_path / "pwned"
    log = tmp_path / "auth.log"
    write_log(log, hostile_names(canary))
    data_dir = tmp_path / "data"
    env = store_env("local", data_dir, None)
    ingest(log, env)
    store = LocalStore(data_dir / "soc.db")
    try:
        run_detection(store, [], None, None)
        (alert,) = store.list_records("alerts", filters={"rule_id": BRUTEFORCE_RULE_ID})
    finally:
        store.close()
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("soc")), "triage", alert["id"]],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "250", **env},
    )
    os.close(slave)
    output = b""
    answered = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            if not answered and b"authorised scanner" in output:
                os.write(master, b"no\n")
                answered = True
        elif proc.poll() is not None:
            break
    assert proc.wait(timeout=30) == 0
    os.close(master)
    text = output.decode("utf-8", "replace")
    plain = SGR.sub("", text)  # rich's own styling (bold, dim, colours)
    assert "\x1b" not in plain and "\x07" not in plain
    assert "\\x1b]52;c;aGVsbG8=\\x07" in plain
    assert "[bold red]x[/]" in plain
    assert not canary.exists()


@pytest.fixture(params=["local", "elasticsearch"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        store: Store = LocalStore(tmp_path / "w.db")
    else:
        from soc.store.elastic import ElasticStore

        store = ElasticStore(request.getfixturevalue("es_url"))
    yield store
    store.close()


PIVOT_PLAYBOOK = """
name: pivot-literal
steps:
  - id: same_user
    type: search
    detection:
      selection:
        event.dataset: system.auth
        user.name: ${alert.entities.user.name}
      condition: selection
    window: {before: 1h, after: 1h}
    fields: [user.name]
    save_as: same
  - id: by_regex
    type: stats
    detection:
      selection:
        event.dataset: system.auth
        user.name|re: ${alert.entities.user.name}
      condition: selection
    by: user.name
    save_as: rx
"""


def test_substituted_values_are_literal_not_wildcards_or_patterns(any_store: Store) -> None:
    names = ["adm*", "admin", "administrator", "adm?x", "admx", "a.c", "abc"]
    any_store.write_events(
        [
            {
                "_id": f"e{i}",
                "@timestamp": f"2026-11-20T03:00:0{i}.000000Z",
                "event": {"dataset": "system.auth", "action": "ssh_login"},
                "user": {"name": name},
                "source": {"ip": "203.0.113.5"},
            }
            for i, name in enumerate(names)
        ]
    )
    any_store.refresh()
    playbook = parse_playbook(PIVOT_PLAYBOOK, Path("pivot-literal.yaml"))
    for hostile, expected in (("adm*", ["adm*"]), ("adm?x", ["adm?x"]), ("a.c", ["a.c"])):
        alert_id = f"alert-{hostile}"
        any_store.put_record(
            "alerts",
            alert_id,
            {
                "id": alert_id,
                "rule_id": "r",
                "rule_title": "t",
                "level": "low",
                "tags": [],
                "status": "new",
                "event_ids": [],
                "entities": {"user.name": [hostile]},
                "first_seen": "2026-11-20T03:00:00.000000Z",
                "last_seen": "2026-11-20T03:00:09.000000Z",
            },
        )
        result = run_playbook(
            any_store,
            alert_id,
            playbook,
            analyst="t",
            answerer=MappingAnswers({}),
            output=SilentOutput(),
        )
        assert [s.status for s in result.steps] == ["done", "done"], result.steps
        found = [row["user.name"] for row in result.facts["same"]["events"]]
        assert found == expected
        assert result.facts["rx"]["values"] == expected


def test_visible_escapes_every_control_character() -> None:
    assert visible("a\x1b[31mb\x07\x00\x9b\u202etxt\n") == (
        "a\\x1b[31mb\\x07\\x00\\x9b\\u202etxt\\x0a"
    )
    assert visible("ok [b]x[/b] $(id)") == "ok [b]x[/b] $(id)"
    assert visible("line1\nline2", multiline=True) == "line1\nline2"
