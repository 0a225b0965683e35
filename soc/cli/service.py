"""`soc service`: the systemd units shipped with citysoc (collectors, detection, monthly
report), shown or installed for the system or for one user."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from soc.cli.common import console, err_console, fail
from soc.resources import units_dir

app = typer.Typer(help="Run citysoc as systemd services: show or install the units.")

UserOpt = Annotated[
    bool, typer.Option("--user", help="A user unit (systemctl --user) instead of a system one.")
]


def unit_names() -> list[str]:
    """The shipped unit names (citysoc-*.service / .timer), sorted."""
    return sorted(p.name for p in units_dir().glob("citysoc-*.*"))


def soc_executable() -> str:
    """The path of the `soc` command that is running (units start the same installation)."""
    beside = Path(sys.executable).with_name("soc")
    if beside.is_file():
        return str(beside)
    return shutil.which("soc") or "/usr/local/bin/soc"


def render(name: str, *, user: bool, executable: str | None = None) -> str:
    """The unit text: @SOC@ becomes the soc executable, system-only hardening lines
    (@SYSTEM@) are kept for system units and dropped for user units, and units are wanted by
    multi-user.target (system) or default.target (user). Raises KeyError for an unknown name."""
    path = units_dir() / name
    if name not in unit_names():
        raise KeyError(name)
    text = path.read_text(encoding="utf-8")
    text = text.replace("@SOC@", executable or soc_executable())
    text = text.replace("@WANTEDBY@", "default.target" if user else "multi-user.target")
    lines = []
    for line in text.splitlines():
        if line.startswith("@SYSTEM@"):
            if not user:
                lines.append(line[len("@SYSTEM@") :])
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def _resolve(name: str) -> str:
    names = unit_names()
    for candidate in (name, f"{name}.service", f"citysoc-{name}.service", f"citysoc-{name}"):
        if candidate in names:
            return candidate
    raise fail(f"{name}: no such unit (known: {', '.join(names)})")


@app.command("list")
def list_units() -> None:
    """The units shipped with citysoc."""
    for name in unit_names():
        first = (units_dir() / name).read_text(encoding="utf-8").splitlines()[0]
        console.print(f"{name:28} {first.lstrip('# ')}", markup=False, soft_wrap=True)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Unit name, e.g. citysoc-syslog.service or syslog.")],
    user: UserOpt = False,
) -> None:
    """Print one unit, ready to copy into /etc/systemd/system (or ~/.config/systemd/user)."""
    sys.stdout.write(render(_resolve(name), user=user))


@app.command("install")
def install(
    names: Annotated[
        list[str] | None, typer.Argument(help="Units to install (default: all).")
    ] = None,
    user: UserOpt = False,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Install here instead of the systemd unit directory."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace units that differ.")] = False,
) -> None:
    """Write the units into /etc/systemd/system, or ~/.config/systemd/user with --user, and
    print the systemctl commands that enable them. A unit already there with other content
    is left alone unless --force."""
    chosen = [_resolve(n) for n in names] if names else unit_names()
    if directory is None:
        directory = (
            Path.home() / ".config" / "systemd" / "user" if user else Path("/etc/systemd/system")
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"{directory}: {exc.strerror or exc}") from None
    written, kept = [], []
    for name in chosen:
        text = render(name, user=user)
        target = directory / name
        if target.exists() and target.read_text(encoding="utf-8") != text and not force:
            kept.append(name)
            continue
        try:
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise fail(f"{target}: {exc.strerror or exc}") from None
        written.append(name)
    for name in written:
        console.print(f"installed {directory / name}", markup=False, soft_wrap=True)
    for name in kept:
        err_console.print(
            f"soc: {directory / name} differs from the shipped unit; kept (--force replaces it)",
            markup=False,
            soft_wrap=True,
        )
    ctl = "systemctl --user" if user else "systemctl"
    console.print(f"next: {ctl} daemon-reload", markup=False)
    console.print(
        f"then, for example: {ctl} enable --now citysoc-syslog.service citysoc-scheduler.service "
        "citysoc-report.timer",
        markup=False,
        soft_wrap=True,
    )
    if kept:
        raise typer.Exit(1)


__all__ = ["app", "render", "unit_names"]
