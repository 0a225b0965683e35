"""Start-up figures: CPU time (user + system) of `soc --help`, `soc alerts list` on an empty
store, and `soc hunt --help`, each the best of several runs in a fresh process. The goal for
`soc --help` is at most 0.25 s of CPU; it is printed beside the figure, never asserted.

With the corpus: how soon an unchanged SigmaHQ Windows rule set starts matching. `soc detect
run --rules <corpus>/sigma/rules/windows --no-pack` over an empty store does everything a run
does before its first scan (start, load, compile) and nothing after it but empty scans: its
wall and CPU time, first with empty caches (YAML parsed, rules converted), then the best of
several warm runs (the load and compiled-rule caches filled). Goal: warm within 2 s.

Then `soc hunt` end to end over the corpus EVTX, in one process and on the default workers,
and Zircolite beside it when SOC_BENCH_ZIRCOLITE names its command, in interleaved rounds
(see _hunt_end_to_end and _zircolite_side_by_side), and both warm on the corpus's smallest
EVTX file: what a run costs whatever its data, and what the records cost each tool
(_fixed_and_per_event)."""

from __future__ import annotations

import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5
GOAL_HELP = 0.25
GOAL_START = 2.0


def cpu_seconds(args: list[str], env: dict[str, str]) -> float:
    """CPU seconds (user + system) one `soc` process spent, from the kernel's accounting."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(args, env=env, capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cold_and_warm(
    args: list[str], env: dict[str, str], runs: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """(wall, CPU) seconds of a first run (caches empty) and the best of ``runs - 1`` more."""
    times: list[tuple[float, float]] = []
    for _ in range(runs):
        started = time.perf_counter()
        cpu = cpu_seconds(args, env)
        times.append((time.perf_counter() - started, cpu))
    return times[0], min(times[1:])


def run(corpus: Path | None) -> None:
    """Print the best-of-RUNS CPU time of each start-up case; nothing is asserted."""
    exe = str(Path(sys.executable).with_name("soc"))
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SOC_DATA_DIR": tmp}
        env.pop("SOC_ELASTICSEARCH_URL", None)
        cases = [
            ("soc --help", [exe, "--help"]),
            ("soc hunt --help", [exe, "hunt", "--help"]),
            ("soc alerts list (empty store)", [exe, "alerts", "list"]),
        ]
        for label, args in cases:
            best = min(cpu_seconds(args, env) for _ in range(RUNS))
            goal = f" (goal <= {GOAL_HELP:.2f} s)" if args[1:] == ["--help"] else ""
            print(f"{label}: {best:.3f} s CPU, best of {RUNS}{goal}")
        if corpus is not None:
            _time_to_matching(exe, env, corpus, Path(tmp))
            _hunt_end_to_end(exe, env, corpus, Path(tmp))


def _time_to_matching(exe: str, env: dict[str, str], corpus: Path, tmp: Path) -> None:
    rules = corpus / "sigma" / "rules" / "windows"
    env = {**env, "SOC_CACHE_DIR": str(tmp / "cache"), "SOC_RULE_CACHE": "on"}
    args = [exe, "detect", "run", "--rules", str(rules), "--no-pack", "--json"]
    cold, warm = cold_and_warm(args, env, RUNS)
    print(
        f"SigmaHQ Windows rules to matching (soc detect run, empty store): cold "
        f"{cold[0]:.2f} s wall / {cold[1]:.2f} s CPU, warm {warm[0]:.2f} s wall / "
        f"{warm[1]:.2f} s CPU, best of {RUNS - 1} (goal: warm <= {GOAL_START:.0f} s)"
    )


def _hunt_end_to_end(exe: str, env: dict[str, str], corpus: Path, tmp: Path) -> None:
    """`soc hunt` over the corpus EVTX files with the SigmaHQ Windows rules: ingestion into a
    scratch store, detection, summary; what a Zircolite run does. Cold (empty caches), then
    warm, in one process (SOC_WORKERS=1) and with the default workers (one per CPU). With
    SOC_BENCH_ZIRCOLITE (the command that runs Zircolite, e.g. "python zircolite.py -c
    config.yaml"), the peer on the same files and rules in interleaved rounds with our
    default workers, and the ratios."""
    from soc.hunt.workers import worker_count

    rules = corpus / "sigma" / "rules" / "windows"
    args = [exe, "hunt", str(corpus / "evtx"), "--rules", str(rules), "--no-pack", "--json"]
    counts = sorted({1, worker_count()})
    for count in counts:
        run_env = {
            **env,
            "SOC_CACHE_DIR": str(tmp / f"hunt-cache-{count}"),
            "SOC_RULE_CACHE": "on",
            "SOC_WORKERS": str(count),
        }
        cold, warm = cold_and_warm(args, run_env, 3)
        label = "1 process" if count == 1 else f"{count} workers"
        print(
            f"soc hunt, corpus EVTX (10,015 events) x SigmaHQ Windows rules, end to end, "
            f"{label}: cold {cold[0]:.2f} s wall / {cold[1]:.2f} s CPU, warm {warm[0]:.2f} s "
            f"wall / {warm[1]:.2f} s CPU (best of 2)"
        )
    peer = os.environ.get("SOC_BENCH_ZIRCOLITE")
    if peer:
        count = worker_count()
        default = {**env, "SOC_RULE_CACHE": "on", "SOC_WORKERS": str(count)}
        _zircolite_side_by_side(shlex.split(peer), args, default, corpus, rules, tmp)


#: Rounds of the side-by-side comparison. In each, our run and Zircolite's follow each other,
#: so that both fall in the same minutes of a machine whose speed drifts by 10-30%.
SIDE_BY_SIDE_ROUNDS = 3


def _zircolite_side_by_side(
    command: list[str],
    ours: list[str],
    env: dict[str, str],
    corpus: Path,
    rules: Path,
    tmp: Path,
) -> None:
    """Zircolite and `soc hunt` (default workers) on the same EVTX files and rules, in
    interleaved rounds: cold (Zircolite converts the YAML rules with pySigma and saves the
    converted ruleset; we start with empty caches, a new cache folder each round), then warm
    (Zircolite from its saved ruleset, as its users run it; we from our caches). Printed:
    each round's times and ratio, and the ratio of the best times."""
    workdir = tmp / "zircolite"
    workdir.mkdir()
    evtx = ["-e", str(corpus / "evtx"), "-n"]
    yaml_rules = ["-r", str(rules), "-p", "sysmon", "-p", "windows-logsources"]
    caches = [tmp / f"side-by-side-cache-{index}" for index in range(SIDE_BY_SIDE_ROUNDS)]
    cold = [
        (
            _wall(ours, tmp, {**env, "SOC_CACHE_DIR": str(cache)}),
            _wall(command + evtx + yaml_rules + ["-sr"], workdir),
        )
        for cache in caches
    ]
    label = f"{env['SOC_WORKERS']} workers" if env["SOC_WORKERS"] != "1" else "1 process"
    _print_rounds("cold", label, cold)
    saved = sorted(workdir.glob("*.json"))
    if not saved:
        print("Zircolite: no converted ruleset was saved; warm rounds skipped")
        return
    warm_env = {**env, "SOC_CACHE_DIR": str(caches[0])}
    warm = [
        (_wall(ours, tmp, warm_env), _wall(command + evtx + ["-r", str(saved[0])], workdir))
        for _ in range(SIDE_BY_SIDE_ROUNDS)
    ]
    _print_rounds("warm", label, warm)
    _fixed_and_per_event(command, ours, warm_env, corpus, saved[0], workdir, warm)


def _fixed_and_per_event(
    command: list[str],
    ours: list[str],
    env: dict[str, str],
    corpus: Path,
    saved: Path,
    workdir: Path,
    whole: list[tuple[float, float]],
) -> None:
    """Both tools, warm, on the corpus's smallest EVTX file, in interleaved rounds: what a
    run costs whatever the data (start, rules, set-up), and, subtracted from the best warm
    times over the whole corpus, what the records themselves cost each tool."""
    small = min((p for p in (corpus / "evtx").rglob("*.evtx") if p.is_file()), key=_size_name)
    ours_small = [*ours[:2], str(small), *ours[3:]]
    peer_small = [*command, "-e", str(small), "-n", "-r", str(saved)]
    rounds = [
        (_wall(ours_small, workdir, env), _wall(peer_small, workdir))
        for _ in range(SIDE_BY_SIDE_ROUNDS)
    ]
    fixed_ours = min(ours for ours, _ in rounds)
    fixed_peer = min(peer for _, peer in rounds)
    rest_ours = min(ours for ours, _ in whole) - fixed_ours
    rest_peer = min(peer for _, peer in whole) - fixed_peer
    print(
        f"  warm on the smallest file ({small.stat().st_size:,} bytes), best of {len(rounds)} "
        f"interleaved rounds: soc hunt {fixed_ours:.2f} s, Zircolite {fixed_peer:.2f} s "
        "(the cost of a run whatever its data)"
    )
    if rest_ours > 0 and rest_peer > 0:
        print(
            f"  warm, the corpus's records beyond that: soc hunt {rest_ours:.2f} s, Zircolite "
            f"{rest_peer:.2f} s: {rest_peer / rest_ours:.2f}x as fast per record"
        )


def _size_name(path: Path) -> tuple[int, str]:
    return path.stat().st_size, str(path)


def _print_rounds(kind: str, label: str, rounds: list[tuple[float, float]]) -> None:
    """One line per round (ours, Zircolite, ratio) and the ratio of the best times."""
    for index, (ours, peer) in enumerate(rounds, 1):
        print(
            f"  {kind} round {index}: soc hunt {ours:.2f} s wall, Zircolite {peer:.2f} s wall: "
            f"{peer / ours:.2f}x as fast"
        )
    best_ours = min(ours for ours, _ in rounds)
    best_peer = min(peer for _, peer in rounds)
    ratios = sorted(peer / ours for ours, peer in rounds)
    print(
        f"soc hunt ({label}) against Zircolite 3.7.0, {kind}, best of "
        f"{len(rounds)} interleaved rounds: {best_ours:.2f} s against {best_peer:.2f} s, "
        f"{best_peer / best_ours:.2f}x as fast (rounds {ratios[0]:.2f}-{ratios[-1]:.2f}x; "
        "goal 3x)"
    )


def _wall(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, capture_output=True, check=False)
    return time.perf_counter() - started


if __name__ == "__main__":
    run(None)
