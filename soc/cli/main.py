"""The `soc` application: global options, then one sub-command group per job."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from soc import __version__, clock
from soc.cli.common import EXIT_ERROR, fail, state
from soc.cli.lazy import LazyGroup
from soc.detect.collector import skip_final_collection, tune_for_commands

app = typer.Typer(
    cls=LazyGroup,
    name="soc",
    help="citysoc: the city information-security center's toolkit.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"soc {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Data directory (SOC_DATA_DIR).", show_default=False),
    ] = None,
    es_url: Annotated[
        str | None,
        typer.Option(
            "--es-url", help="Elasticsearch URL; selects that store (SOC_ELASTICSEARCH_URL)."
        ),
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="auto, local or elasticsearch (SOC_STORE).")
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option("--timezone", help="Zone of log times that carry none (SOC_TIMEZONE)."),
    ] = None,
    analyst: Annotated[
        str | None, typer.Option("--analyst", help="Name recorded in the audit trail.")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """citysoc: collect city logs, detect threats with Sigma, triage and report."""
    app_state = state(ctx)
    app_state.overrides.update(
        {
            "data_dir": str(data_dir) if data_dir else None,
            "elasticsearch.url": es_url,
            "store": store,
            "timezone": tz,
            "analyst": analyst,
        }
    )
    ctx.call_on_close(app_state.close)


def main() -> None:
    """Console-script entry: run the app; any failure becomes one line on stderr and exit 2
    (SOC_DEBUG=1 shows the traceback instead)."""
    tune_for_commands()  # fewer cycle collections (see soc.detect.collector)
    try:
        clock.now()  # a bad SOC_CLOCK is one line before any work starts
        app()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:
        if os.environ.get("SOC_DEBUG"):
            raise
        raise SystemExit(_report(exc)) from None
    finally:
        skip_final_collection()  # the command is done (see soc.detect.collector)


def _report(exc: Exception) -> int:
    message = str(exc).strip() or type(exc).__name__
    if not type(exc).__module__.startswith(("soc.", "collectors.")):
        message = f"internal error: {type(exc).__name__}: {message} (SOC_DEBUG=1 shows where)"
    fail(message)
    return EXIT_ERROR
