"""The `soc` command group, loading each sub-command's module only when it is run.

`soc --help` lists every command from the table below without importing any of them, and
`soc alerts list` imports the alerts module alone: start-up costs what the command needs,
not what the whole toolkit needs (pySigma, the pcap engine, report rendering...).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperGroup


def _alerts() -> Any:
    from soc.cli import alert_actions, alerts

    alert_actions.register(alerts.app)
    return alerts.app


def _module_attr(module: str, attr: str) -> Callable[[], Any]:
    def load() -> Any:
        return getattr(importlib.import_module(module), attr)

    return load


#: name -> (loader, is a group (Typer app) rather than one command, one-line help)
COMMANDS: dict[str, tuple[Callable[[], Any], bool, str]] = {
    "hunt": (
        _module_attr("soc.cli.hunt", "hunt"),
        False,
        "Hunt through a bundle of files with the rule pack, nothing configured.",
    ),
    "ingest": (
        _module_attr("soc.cli.ingest", "app"),
        True,
        "One-shot ingestion of log files, directories, stdin, EVTX and packet captures.",
    ),
    "collect": (
        _module_attr("soc.cli.collect", "app"),
        True,
        "Long-running collectors: follow files, syslog server, live capture.",
    ),
    "detect": (
        _module_attr("soc.cli.detect", "app"),
        True,
        "Run Sigma detection once or on a schedule.",
    ),
    "events": (_module_attr("soc.cli.events", "app"), True, "Search events."),
    "alerts": (_alerts, True, "List, inspect, export and work on alerts."),
    "outputs": (
        _module_attr("soc.cli.outputs", "app"),
        True,
        "Send alerts to webhook, e-mail and syslog outputs.",
    ),
    "rules": (
        _module_attr("soc.cli.rules", "app"),
        True,
        "Check, test and map the coverage of Sigma rules.",
    ),
    "triage": (
        _module_attr("soc.cli.triage", "app"),
        True,
        "Triage an alert with a playbook.",
    ),
    "cases": (_module_attr("soc.cli.cases", "app"), True, "Open, follow and close cases."),
    "audit": (
        _module_attr("soc.cli.audit", "app"),
        True,
        "The audit trail of every change analysts and playbooks made.",
    ),
    "report": (
        _module_attr("soc.cli.report", "app"),
        True,
        "Reports for the city's leadership (period, case).",
    ),
    "service": (
        _module_attr("soc.cli.service", "app"),
        True,
        "Run citysoc as systemd services: show or install the units.",
    ),
    "store": (
        _module_attr("soc.cli.store", "app"),
        True,
        "Elasticsearch store housekeeping: retention and migration.",
    ),
    "config": (_module_attr("soc.cli.config_cmd", "app"), True, "Show the effective settings."),
    "doctor": (
        _module_attr("soc.cli.doctor", "doctor"),
        False,
        "Which store, reachable or not, versions, counts and the events' time span.",
    ),
    "demo": (
        _module_attr("soc.cli.demo", "demo"),
        False,
        "The main job on the bundled sample, in an embedded store.",
    ),
}


def load_command(name: str) -> Any:
    """The click command of one sub-command (importing its module)."""
    loader, is_group, _help = COMMANDS[name]
    target = loader()
    if is_group:
        command = typer.main.get_group(target)
    else:
        single = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """A TyperGroup whose sub-commands come from COMMANDS, imported on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        """Every command name, in the order of the table."""
        return [*COMMANDS, *(n for n in self.commands if n not in COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command, loading its module the first time."""
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The Commands section from the table's one-line helps (nothing imported)."""
        rows = [(name, help_text) for name, (_l, _g, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


__all__ = ["COMMANDS", "LazyGroup", "load_command"]
