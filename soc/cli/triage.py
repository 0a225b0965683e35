"""`soc triage ALERT_ID`: triage an alert with a playbook (interactive, or unattended with
--answers FILE); `soc triage --list-playbooks` / `--check PATH` show and validate playbooks."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from soc.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    console,
    err_console,
    fail,
    print_json,
    state,
)
from soc.store import StoreError
from soc.triage.console import ConsoleOutput, MappingAnswers, PromptAnswers
from soc.triage.display import analyst_of, print_rows
from soc.triage.enrich import Enricher, EnrichError
from soc.triage.lifecycle import LifecycleError, get_alert
from soc.triage.playbook import PlaybookError, load_library
from soc.triage.runner import (
    TriageError,
    check_answers,
    default_library,
    pick_playbook,
    run_playbook,
)

app = typer.Typer(
    no_args_is_help=True,
    subcommand_metavar="",
    context_settings={"allow_interspersed_args": True},
)


def load_answers(path: Path) -> dict[str, Any]:
    """The answers file: a YAML mapping of question id -> answer; ValueError naming the file
    and the problem otherwise."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the answers file: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{path}{line}: malformed YAML in the answers file") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a mapping of question id -> answer")
    for key, value in data.items():
        if isinstance(value, dict | list):
            raise ValueError(f"{path}: answer to {key!r} must be a single value")
    return {str(k): v for k, v in data.items()}


def _settings_paths(settings: Any, name: str) -> list[Path]:
    value = settings.get(name)
    if not value:
        return []
    if isinstance(value, str):
        return [Path(value)]
    return [Path(v) for v in value]


def build_enricher(
    settings: Any, inventory: list[Path], ioc: list[Path], geoip: Path | None
) -> Enricher:
    """The enrichment sources from the options, else from the settings (inventory,
    ioc_lists, geoip_db) when the configuration defines them."""
    inventory = inventory or _settings_paths(settings, "inventory")
    ioc = ioc or _settings_paths(settings, "ioc_lists")
    geo = geoip or (Path(settings.get("geoip_db")) if settings.get("geoip_db") else None)
    return Enricher.from_files(inventory, ioc, geo)


def _list_playbooks(extra: list[Path], as_json: bool) -> None:
    library = default_library(extra)
    if as_json:
        print_json(
            {
                "playbooks": [
                    {
                        "name": p.name,
                        "title": p.title,
                        "path": str(p.path),
                        "applies_to": {
                            "rules": list(p.applies_to.rules),
                            "tags": list(p.applies_to.tags),
                            "levels": list(p.applies_to.levels),
                        },
                        "steps": len(p.steps),
                    }
                    for p in library.playbooks.values()
                ],
                "problems": library.problems,
            }
        )
    else:
        print_rows(
            console,
            ("name", "steps", "title", "applies to"),
            [
                (
                    p.name,
                    len(p.steps),
                    p.title,
                    ", ".join([*p.applies_to.rules, *p.applies_to.tags, *p.applies_to.levels])
                    or "any alert (fallback)",
                )
                for p in sorted(library.playbooks.values(), key=lambda p: p.name)
            ],
        )
        for problem in library.problems:
            err_console.print(problem, markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_PARTIAL if library.problems else EXIT_OK)


def _check(paths: list[Path], as_json: bool) -> None:
    library = load_library(paths)
    if as_json:
        print_json({"valid": sorted(library.playbooks), "problems": library.problems})
    else:
        for name in sorted(library.playbooks):
            console.print(f"ok  {name}", markup=False)
        for problem in library.problems:
            err_console.print(problem, markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_ERROR if library.problems else EXIT_OK)


@app.callback(invoke_without_command=True)
def triage(
    ctx: typer.Context,
    alert_id: Annotated[
        str | None, typer.Argument(help="The alert to triage (id or unique id prefix).")
    ] = None,
    playbook: Annotated[
        str | None, typer.Option("--playbook", "-p", help="Use this playbook (by name).")
    ] = None,
    answers: Annotated[
        Path | None,
        typer.Option("--answers", help="YAML mapping question id -> answer: run unattended."),
    ] = None,
    playbooks: Annotated[
        list[Path] | None,
        typer.Option("--playbooks", help="Extra playbook folder or file (repeatable)."),
    ] = None,
    inventory: Annotated[
        list[Path] | None,
        typer.Option("--inventory", help="Asset inventory, CSV or YAML (repeatable)."),
    ] = None,
    ioc: Annotated[
        list[Path] | None,
        typer.Option("--ioc", help="IOC list, plain text or CSV (repeatable)."),
    ] = None,
    geoip: Annotated[
        Path | None, typer.Option("--geoip", help="MaxMind .mmdb file for offline GeoIP.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the outcome as JSON (progress to stderr).")
    ] = False,
    list_playbooks: Annotated[
        bool, typer.Option("--list-playbooks", help="List the playbooks and exit.")
    ] = False,
    check: Annotated[
        list[Path] | None,
        typer.Option("--check", help="Validate playbook files or folders and exit."),
    ] = None,
) -> None:
    """Triage an alert with a playbook (the best match: rule id > tags > level > generic).

    Interactive unless --answers FILE is given. Exit 0 when every step ran, 1 when some step
    failed (reported), 2 on an error (unknown alert or playbook, invalid playbook or answers
    file, a question left unanswered).
    """
    if ctx.invoked_subcommand is not None:
        return
    extra = list(playbooks or [])
    if list_playbooks:
        _list_playbooks(extra, as_json)
    if check:
        _check(check, as_json)
    if alert_id is None:
        raise fail("an ALERT_ID is needed (see `soc alerts list`)")
    app_state = state(ctx)
    settings = app_state.settings
    analyst = analyst_of(settings)
    try:
        given = load_answers(answers) if answers else None
        enricher = build_enricher(settings, list(inventory or []), list(ioc or []), geoip)
        library = default_library(extra)
        store = app_state.store
        alert = get_alert(store, alert_id)
        chosen = _invalid_named(library, playbook) or pick_playbook(library, alert, playbook)
        if given is not None:
            check_answers(chosen, given, str(answers))
    except (ValueError, EnrichError, PlaybookError, TriageError, LifecycleError) as exc:
        raise fail(str(exc)) from None
    out = ConsoleOutput(err_console if as_json else console)
    for problem in library.problems:
        err_console.print(f"warning: {problem}", markup=False, soft_wrap=True)
    answerer = (
        MappingAnswers(given, str(answers)) if given is not None else PromptAnswers(out, sys.stdin)
    )
    try:
        result = run_playbook(
            store,
            alert["id"],
            chosen,
            analyst=analyst,
            answerer=answerer,
            enricher=enricher,
            output=out,
        )
    except (TriageError, LifecycleError, StoreError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(result.as_dict())
    raise typer.Exit(EXIT_PARTIAL if result.failed_steps else EXIT_OK)


def _invalid_named(library: Any, name: str | None) -> Any:
    """When --playbook names no loaded playbook: the playbook of a file given by path, or a
    one-line error saying why the file of that name is invalid; None otherwise."""
    from soc.triage.playbook import load_playbook

    if not name or library.get(name) is not None:
        return None
    path = Path(name)
    if path.is_file():
        try:
            return load_playbook(path)
        except PlaybookError as exc:
            raise fail(f"playbook {name}: invalid: {'; '.join(exc.problems)}") from None
    related = [
        problem
        for problem in library.problems
        if Path(problem.split(":", 1)[0]).stem == name or f"'{name}'" in problem
    ]
    if related:
        raise fail(f"playbook {name!r} is invalid: {'; '.join(related)}")
    return None
