"""What every command shares: settings and store from the global options, JSON output and
one-line errors."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from soc.config import Settings, load_settings
from soc.safe_text import safe_cell
from soc.store import Store, open_store

#: Exit codes shared by all commands (documented in the README).
EXIT_OK = 0
EXIT_PARTIAL = 1  # the command ran but some input was dead-lettered or some item failed
EXIT_ERROR = 2  # bad input, bad settings, store unreachable: nothing was done

if TYPE_CHECKING:
    from rich.console import Console

    #: The consoles for people: stdout, and stderr (errors, progress).
    console: Console
    err_console: Console


def __getattr__(name: str) -> Any:
    """``console`` and ``err_console``, made on first use: importing rich costs a command
    about 20 ms before it starts, which its `--json` output (for scripts) never needs."""
    if name not in ("console", "err_console"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    made = Console(stderr=name == "err_console", highlight=False)
    globals()[name] = made  # found directly from now on
    return made


@dataclass
class AppState:
    """Global options of one `soc` invocation, with settings and store opened on demand."""

    overrides: dict[str, Any] = field(default_factory=dict)
    _settings: Settings | None = None
    _store: Store | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.overrides)
        return self._settings

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def state(ctx: typer.Context) -> AppState:
    """The AppState of the running command."""
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    """Print one error line for a person (control characters made visible, so the line stays
    one line) and return the Exit to raise."""
    sys.modules[__name__].err_console.print(safe_cell(f"soc: error: {message}"), soft_wrap=True)
    return typer.Exit(code)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(value: Any) -> None:
    """Write ``value`` as JSON on stdout (for scripts: no colour, no wrapping)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=_json_default))
    sys.stdout.write("\n")
    sys.stdout.flush()
