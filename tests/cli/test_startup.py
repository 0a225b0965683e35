"""Start-up: `soc --help`, `soc alerts list` and a `soc hunt` whose rules are all in the
compiled-rule cache import only what they need, and every command of the lazily loaded table
exists and answers --help."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from soc.cli.lazy import COMMANDS
from soc.resources import demo_data_dir, rules_dir

HEAVY = ("sigma", "collectors", "soc.detect.compile", "soc.report", "soc.triage.runner", "jinja2")

PROBE = """
import sys
sys.argv = {argv!r}
from soc.cli.main import main
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.startswith({heavy!r}))
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
"""


def loaded_heavy(argv: list[str], data_dir: Path, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=heavy)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next(x for x in result.stderr.splitlines() if x.startswith("HEAVY="))
    return [m for m in line[6:].split(",") if m]


def test_help_imports_no_command_module(data_dir: Path) -> None:
    assert loaded_heavy(["soc", "--help"], data_dir) == []


def test_alerts_list_imports_no_detection_engine(data_dir: Path) -> None:
    assert loaded_heavy(["soc", "alerts", "list"], data_dir) == []


def test_a_command_with_options_does_not_import_pydantic(data_dir: Path, tmp_path: Path) -> None:
    """Typer from 0.29 coerces every option through pydantic, which costs each command about
    0.2 s of CPU before it starts its work (pyproject.toml keeps Typer below 0.29)."""
    log = tmp_path / "auth.log"
    shutil.copy(demo_data_dir() / "tc-app01-auth.log", log)
    argv = ["soc", "hunt", str(log), "--no-pack", "--json"]
    assert loaded_heavy(argv, data_dir, ("pydantic",)) == []


def test_json_output_imports_no_terminal_library(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Output for scripts (`--json`) starts without rich (about 20 ms before a hunt's workers
    can start); a person's table still has it, and an error line too."""
    monkeypatch.setenv("SOC_CACHE_DIR", str(tmp_path / "rule-cache"))
    log = tmp_path / "auth.log"
    shutil.copy(demo_data_dir() / "tc-app01-auth.log", log)
    argv = ["soc", "hunt", str(log), "--json"]
    assert loaded_heavy(argv, data_dir, ("rich",)) == []
    assert "rich.table" in loaded_heavy(argv[:-1], data_dir, ("rich",))
    assert "rich.console" in loaded_heavy(
        ["soc", "hunt", str(tmp_path / "gone")], data_dir, ("rich",)
    )


#: What a run needs only to convert rules (pySigma's backends) or to read packet captures.
CONVERSION_AND_CAPTURE = ("sigma.backends", "soc.detect.sqlite_backend", "collectors.pcap", "scapy")


def test_warm_hunt_of_a_log_imports_no_backend_and_no_capture_engine(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second hunt of a log takes every rule from the compiled-rule cache: it starts
    without pySigma's backends and without the capture engine (a fifth of a second each)."""
    monkeypatch.setenv("SOC_CACHE_DIR", str(tmp_path / "rule-cache"))
    monkeypatch.setenv("SOC_WORKERS", "1")  # conversions would happen in this very process
    log = tmp_path / "auth.log"
    shutil.copy(demo_data_dir() / "tc-app01-auth.log", log)
    argv = ["soc", "hunt", str(log), "--json"]
    cold = loaded_heavy(argv, data_dir, CONVERSION_AND_CAPTURE)
    assert "sigma.backends.sqlite" in cold  # the first run converted the pack
    warm = loaded_heavy(argv, data_dir, CONVERSION_AND_CAPTURE)
    assert warm == [], warm


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_listed_command_loads(name: str, data_dir: Path) -> None:
    exe = Path(sys.executable).with_name("soc")
    result = subprocess.run([str(exe), name, "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"soc {name}" in result.stdout


def test_a_finished_command_leaves_its_objects_out_of_the_final_collection(
    data_dir: Path, tmp_path: Path
) -> None:
    """Python's full collection at shutdown walked every object a hunt had made (0.15-0.2 s
    after the work was done); a `soc` command, done, freezes them first. Finalizers still
    run: a file left open for writing is flushed as the process ends."""
    written = tmp_path / "left-open.txt"
    probe = f"""
import gc, sys
sys.argv = ["soc", "--help"]
from soc.cli.main import main
left_open = open({str(written)!r}, "w")
left_open.write("flushed at exit")
try:
    main()
except SystemExit:
    pass
sys.stderr.write(f"FROZEN={{gc.get_freeze_count()}}\\n")
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    line = next(x for x in result.stderr.splitlines() if x.startswith("FROZEN="))
    assert int(line[7:]) > 1000
    assert written.read_text() == "flushed at exit"


#: Runs a `soc hunt` and reports whether pySigma was imported when its workers were forked,
#: when they were given their first files and the rest, and in the workers by the end.
HUNT_PROBE = """
import sys
sys.argv = {argv!r}
import soc.hunt.workers as workers
seen = {{}}

def sigma_in_worker():
    return "sigma" in sys.modules

def watch(name, label, before=None):
    original = getattr(workers.HuntWorkers, name)
    def watched(self, *args, **kwargs):
        if before is None:
            seen[label] = "sigma" in sys.modules
            return original(self, *args, **kwargs)
        if self.active:
            seen[label] = any(self._pool.submit(sigma_in_worker).result() for _ in range(4))
        return original(self, *args, **kwargs)
    setattr(workers.HuntWorkers, name, watched)

watch("__init__", "fork")
watch("read_files", "reading")
watch("close", "workers", before=True)
hand_out_rest = workers.PendingReads.hand_out_rest

def watched_hand_out(self, *args, **kwargs):
    if self.held is not None:
        seen["rest"] = "sigma" in sys.modules
    return hand_out_rest(self, *args, **kwargs)

workers.PendingReads.hand_out_rest = watched_hand_out
from soc.cli.main import main
try:
    main()
except SystemExit:
    pass
sys.stderr.write("SEEN=" + ",".join(f"{{k}}:{{v}}" for k, v in sorted(seen.items())) + "\\n")
"""


def test_a_warm_run_of_single_event_rules_never_imports_pysigma_nor_yaml(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rules without correlations, all in the caches: the hunt loads, groups, scans and
    alerts without pySigma (0.1 s of CPU to import), in the command's own process too, and
    without a YAML parser (no soc.yaml, no rule file to parse: 8 ms more)."""
    monkeypatch.setenv("SOC_CACHE_DIR", str(tmp_path / "rule-cache"))
    monkeypatch.setenv("SOC_WORKERS", "1")
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(rules_dir() / "linux" / "ssh_root_login.yml", rules)
    log = tmp_path / "auth.log"
    shutil.copy(demo_data_dir() / "tc-app01-auth.log", log)
    argv = ["soc", "hunt", str(log), "--no-pack", "--rules", str(rules), "--json"]
    watched = ("sigma", "yaml", "soc.detect.grouped")
    first = loaded_heavy(argv, data_dir, watched)  # the first run parsed and converted
    assert "sigma" in first and "yaml" in first
    assert loaded_heavy(argv, data_dir, watched) == ["soc.detect.grouped"]


def test_a_warm_hunt_gives_its_workers_every_file_before_it_imports_pysigma(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Importing pySigma takes 0.1-0.2 s. A hunt forks its workers and hands them their
    files before it imports pySigma (to load the rules), so they read meanwhile; on a warm
    run the workers never import it (their group scans need only the store)."""
    monkeypatch.setenv("SOC_CACHE_DIR", str(tmp_path / "rule-cache"))
    monkeypatch.setenv("SOC_WORKERS", "2")
    log = tmp_path / "auth.log"
    shutil.copy(demo_data_dir() / "tc-app01-auth.log", log)
    probe = HUNT_PROBE.format(argv=["soc", "hunt", str(log), "--json"])

    def seen() -> dict[str, str]:
        result = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300
        )
        line = next((x for x in result.stderr.splitlines() if x.startswith("SEEN=")), None)
        assert line is not None, result.stderr
        return dict(item.split(":") for item in line[5:].split(","))

    cold = seen()  # fills the caches (converting on the workers, with pySigma there)
    assert (cold["fork"], cold["reading"]) == ("False", "False")
    warm = seen()
    assert warm == {"fork": "False", "reading": "False", "rest": "False", "workers": "False"}
