"""`soc rules`: check, test and map the coverage of Sigma rules."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from soc.cli.common import EXIT_OK, EXIT_PARTIAL, fail, print_json, state
from soc.resources import rules_dir
from soc.store.base import Store, StoreError

if TYPE_CHECKING:
    from soc.detect.loader import RuleSet

app = typer.Typer(help="Check, test and map the coverage of Sigma rules.", no_args_is_help=True)

RulesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--rules",
        "-r",
        help="Extra Sigma rule folder or file (repeatable; also the `rules` setting).",
        show_default=False,
    ),
]
NoPackOpt = Annotated[
    bool, typer.Option("--no-pack", help="Leave out the city rule pack shipped with citysoc.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def gather_rule_paths(ctx: typer.Context, rules: list[Path] | None, no_pack: bool) -> list[Path]:
    """The rule pack (unless --no-pack), the `rules` setting, then --rules paths; exits with
    one error line when a given path does not exist."""
    extra = [Path(p).expanduser() for p in state(ctx).settings.get("rules", [])]
    extra += [Path(p).expanduser() for p in rules or []]
    for path in extra:
        if not path.exists():
            raise fail(f"{path}: no such rule file or folder")
    paths = [] if no_pack or not rules_dir().is_dir() else [rules_dir()]
    paths += [p for p in extra if p not in paths]
    if not paths:
        raise fail("no rules to load (the rule pack is missing and no --rules was given)")
    return paths


def _load(ctx: typer.Context, rules: list[Path] | None, no_pack: bool) -> RuleSet:
    from soc.detect.loader import load_rules

    return load_rules(gather_rule_paths(ctx, rules, no_pack))


@app.command("check")
def check(
    ctx: typer.Context,
    rules: RulesOpt = None,
    no_pack: NoPackOpt = False,
    backend: Annotated[
        str, typer.Option("--backend", help="sqlite, lucene or both (default both).")
    ] = "both",
    show_all: Annotated[
        bool, typer.Option("--all", help="List converted rules too, not only problems.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Validate and convert every rule: converted, not convertible (with the reason) or
    invalid. Exit 0 when every rule converts, 1 when some do not."""
    if backend not in {"sqlite", "lucene", "both"}:
        raise fail(f"--backend: expected sqlite, lucene or both, got {backend!r}")
    from soc.detect.check import check_rules

    targets = ("sqlite", "lucene") if backend == "both" else (backend,)
    ruleset = _load(ctx, rules, no_pack)
    report = check_rules(ruleset, targets)  # type: ignore[arg-type]
    counts = report.counts()
    if as_json:
        print_json(report.to_dict())
    else:
        from rich.table import Table

        from soc.cli.common import console

        table = Table(title="Sigma rules", show_lines=False)
        for column in ("status", "rule", "title", "reason / note"):
            table.add_column(column, overflow="fold")
        for row in report.rules:
            if row.status == "converted" and not show_all:
                continue
            table.add_row(row.status, row.id, row.title, row.reason or row.note)
        for error in report.load_errors:
            table.add_row("invalid", error["path"], "", error["error"])
        if table.row_count:
            console.print(table)
        console.print(
            f"{len(report.rules)} rules from {ruleset.files} files in {ruleset.seconds:.1f}s: "
            f"{counts['converted']} converted, {counts['not_convertible']} not convertible, "
            f"{counts['invalid']} invalid",
            markup=False,
        )
    bad = counts["not_convertible"] + counts["invalid"]
    raise typer.Exit(EXIT_PARTIAL if bad else EXIT_OK)


def _test_store(ctx: typer.Context, kind: str, workdir: Path) -> Store:
    if kind == "local":
        from soc.store.local import LocalStore

        return LocalStore(workdir / "ruletest.db")
    from soc.store.elastic import ElasticStore

    settings = state(ctx).settings
    if not settings.get("elasticsearch.url"):
        raise fail("--store elasticsearch: no Elasticsearch URL configured (--es-url)")
    prefix = f"{settings.get('elasticsearch.index_prefix', 'soc')}-ruletest-{os.getpid()}"
    return ElasticStore(
        str(settings.get("elasticsearch.url")),
        api_key=settings.get("elasticsearch.api_key"),
        username=settings.get("elasticsearch.username"),
        password=settings.get("elasticsearch.password"),
        ca_file=settings.get("elasticsearch.ca_file"),
        verify_certs=bool(settings.get("elasticsearch.verify_certs", True)),
        index_prefix=prefix,
    )


@app.command("test")
def test(
    ctx: typer.Context,
    store: Annotated[
        str,
        typer.Option(
            "--store",
            help="local (a throw-away SQLite file) or elasticsearch (the configured server, "
            "indices <prefix>-ruletest-<pid>).",
        ),
    ] = "local",
    rules: RulesOpt = None,
    no_pack: NoPackOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the positive and negative test events embedded in the rules. Exit 0 when every
    case passes, 1 when some fail."""
    from soc.detect.testing import run_rule_tests

    if store not in {"local", "elasticsearch"}:
        raise fail(f"--store: expected local or elasticsearch, got {store!r}")
    ruleset = _load(ctx, rules, no_pack)
    with tempfile.TemporaryDirectory(prefix="soc-ruletest-") as tmp:
        target_store = _test_store(ctx, store, Path(tmp))
        try:
            report = run_rule_tests(target_store, ruleset)
        except (StoreError, ValueError) as exc:
            raise fail(f"rule tests on the {store} store: {exc}") from None
        finally:
            target_store.close()
    if as_json:
        print_json({"store": store, **report.to_dict()})
    else:
        from rich.table import Table

        from soc.cli.common import console

        if report.failed:
            table = Table(title=f"Failing rule tests ({store} store)")
            for column in ("rule", "case", "why"):
                table.add_column(column, overflow="fold")
            for result in report.failed:
                table.add_row(result.title, result.case, result.error or "")
            console.print(table)
        console.print(
            f"{report.passed}/{len(report.results)} cases pass on the {store} store "
            f"({report.rules_with_tests} rules with tests, "
            f"{len(report.rules_without_tests)} without)",
            markup=False,
        )
    raise typer.Exit(EXIT_PARTIAL if report.failed else EXIT_OK)


@app.command("coverage")
def coverage(
    ctx: typer.Context,
    navigator: Annotated[
        Path,
        typer.Option("--navigator", help="Write an ATT&CK Navigator layer (JSON) to this file."),
    ],
    rules: RulesOpt = None,
    no_pack: NoPackOpt = False,
) -> None:
    """Write the ATT&CK techniques the loaded rules cover as a Navigator layer (score = number
    of rules per technique)."""
    from soc.detect.coverage import navigator_layer

    ruleset = _load(ctx, rules, no_pack)
    layer = navigator_layer(ruleset.rules)
    try:
        navigator.write_text(json.dumps(layer, indent=2, ensure_ascii=False), encoding="utf-8")
    except OSError as exc:
        raise fail(f"{navigator}: cannot write: {exc.strerror or exc}") from None
    from soc.cli.common import console

    console.print(
        f"{len(layer['techniques'])} techniques from {len(ruleset.rules)} rules -> {navigator}",
        markup=False,
    )
