"""Where the bundled rule pack, playbooks and demo data are, installed or in a checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _bundled(name: str) -> Path:
    installed = resources.files("soc") / "_bundled" / name
    if installed.is_dir():
        return Path(str(installed))
    # Editable install or plain checkout: the folder sits at the top of the source tree.
    return Path(__file__).resolve().parent.parent / name


def rules_dir() -> Path:
    """The city rule pack (Sigma YAML) shipped with citysoc."""
    return _bundled("rules")


def playbooks_dir() -> Path:
    """The triage playbooks shipped with citysoc."""
    return _bundled("playbooks")


def demo_data_dir() -> Path:
    """The small bundle of sample city logs that `soc demo` ingests."""
    return Path(str(resources.files("soc") / "demo_data"))


def units_dir() -> Path:
    """The systemd unit templates shipped with citysoc (soc/units)."""
    return Path(str(resources.files("soc") / "units"))
