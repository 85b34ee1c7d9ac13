"""The report: the goals table, the process and stream tables, and the checks over every run."""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.datasets import MB, ROOT, RUN_PYTHON, STREAMS, WINDOW_SETTING
from benchmarks.goals import CPU_VS_BARE, MAX_CALLS_PER_SECOND, MAX_RSS_MB, STATE_SLACK

if TYPE_CHECKING:
    from collections.abc import Sequence

    from benchmarks.emulators import ServerLog
    from benchmarks.harness import Run

CROWDING_LINES = 8  # 429s explained in the saturation sections, at most
QUICK_NOTE = (
    "\n\nQuick mode: on a fifth of the data, start-up (about 0.6 s CPU to import the SDK) "
    "weighs far more, and answers are small; the verdicts that count are the full mode's."
)


@dataclass
class Check:
    number: str
    goal: str
    measured: str
    target: str
    passed: bool | None  # None: not measured, or informational


@dataclass
class Report:
    scale_name: str
    sections: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.sections.append(text)


class Pace:
    """The emulator's view of a set of runs: sustained rate, 429s and the busiest second."""

    def __init__(self, runs: Sequence[Run]) -> None:
        self.pairs = [(run, run.server) for run in runs if run.server is not None]
        logs = [log for _, log in self.pairs]
        self.slowest = min((log.sustained_rate or 0.0 for log in logs), default=0.0)
        self.rejected = sum(log.rejected_429 for log in logs)
        self.peak = max((log.peak_rate for log in logs), default=0)

    def check(self, number: str, what: str, runs: Sequence[Run], minimum: float) -> Check:
        """The goal these runs meet: every run ok, >= `minimum` sustained, no 429, no 6th call."""
        return Check(
            number,
            f"{what}; no 429; <= {MAX_CALLS_PER_SECOND} in any 1 s",
            f"{self.slowest:.2f} calls/s (slowest of {len(runs)}), {self.rejected} x 429, "
            f"peak {self.peak} in 1 s",
            f">= {minimum:.3g}/s, 0 x 429, peak <= {MAX_CALLS_PER_SECOND}",
            all(run.ok for run in runs)
            and self.slowest >= minimum
            and self.rejected == 0
            and self.peak <= MAX_CALLS_PER_SECOND,
        )

    def table(self) -> str:
        rows, crowding = [], []
        for run, log in self.pairs:
            whole = log.calls / run.wall if run.wall else 0.0
            rows.append(
                f"| {run.label} | {log.calls} | {log.rejected_429} | {_span(log)} | "
                f"{log.sustained_rate or 0.0:.2f} | {log.peak_rate} | {whole:.2f} |"
            )
            crowding += [f"{run.label}: {line}" for line in log.crowded_seconds()]
        return (
            "| run | calls (server) | 429s | first->last call s | sustained calls/s | "
            "peak calls in any 1 s | calls / whole wall |\n"
            "|---|---:|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n\n"
            "Sustained = (calls - 1) / (last arrival - first arrival), from the emulator's log; "
            "the whole-wall figure adds start-up, the last answer's second and the tail."
            + _crowding(crowding)
        )


def process_table(runs: Sequence[Run], *, answers: bool = False) -> str:
    head = (
        "| program | CPU s | wall s | RECORDs | records/s | API calls (server / tap's log) "
        "| calls/s | peak RSS MB | SCHEMA max/stream | STATE | windows |"
    )
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    if answers:
        head += " largest answer MB |"
        rule += "---:|"
    lines = [head, rule]
    for run in runs:
        rate = run.total_records / run.wall if run.wall else 0.0
        calls_rate = run.calls / run.wall if run.wall else 0.0
        calls = f"{run.calls} / {fmt(run.self_reported_calls)}" if run.is_tap else str(run.calls)
        failed = "" if run.ok else f" **(exit {run.returncode})**"
        line = (
            f"| {run.label}{failed} | {run.cpu:.2f} | {run.wall:.2f} | {run.total_records:,} | "
            f"{rate:,.0f} | {calls} | {calls_rate:.2f} | {run.max_rss_mb:.0f} | "
            f"{max(run.schemas.values(), default=0):,} | {run.states:,} | {run.windows} |"
        )
        if answers:
            line += f" {largest_mb(run):.1f} |"
        lines.append(line)
    return "\n".join(lines)


def stream_table(runs: Sequence[Run], streams: Sequence[str] = STREAMS) -> str:
    lines = [
        "RECORD (SCHEMA) messages per stream:",
        "",
        "| program | " + " | ".join(streams) + " |",
        "|---|" + "---:|" * len(streams),
    ]
    lines += [
        f"| {run.label} | "
        + " | ".join(f"{run.records[s]:,} ({run.schemas[s]:,})" for s in streams)
        + " |"
        for run in runs
    ]
    return "\n".join(lines)


def cpu_check(number: str, goal: str, tap: Run, floor: Run, *, ok: bool) -> Check:
    """Goals 1a and C1: the tap's CPU within `CPU_VS_BARE` times a bare loop's."""
    return Check(
        number,
        goal,
        f"{tap.cpu:.2f} s / {floor.cpu:.2f} s = {ratio(tap, floor)}",
        f"<= {CPU_VS_BARE:g}x",
        ok and tap.cpu <= CPU_VS_BARE * floor.cpu,
    )


def unlike_note(tap: Run, floor: Run, floor_name: str) -> str | None:
    """The warning a CPU section prints when its programs did not emit the same records."""
    if tap.records == floor.records:
        return None
    return (
        f"**Note:** the tap and the {floor_name} emitted different record counts; "
        "the comparison is not like for like."
    )


def ratio(run: Run, other: Run) -> str:
    return f"{run.cpu / other.cpu:.2f}x" if other.cpu else "n/a"


def _crowding(lines: list[str]) -> str:
    """The emulator's view of each 429: which arrivals, seconds after the first call, crowded it."""
    if not lines:
        return ""
    return (
        "\n\nArrivals at the emulator in the second up to each 429 "
        "(seconds after the run's first call, status):\n\n"
        + "\n".join(f"- {line}" for line in lines[:CROWDING_LINES])
        + (f"\n- ... and {len(lines) - CROWDING_LINES} more" if len(lines) > CROWDING_LINES else "")
    )


def _span(log: ServerLog) -> str:
    if log.first is None or log.last is None:
        return "n/a"
    return f"{log.last - log.first:.2f}"


def largest_mb(run: Run) -> float:
    return max(run.server.body_bytes, default=0) / MB if run.server else 0.0


def page_count(run: Run) -> int:
    """Answers with status 200: pages for the calls journal, windows for requests."""
    return len(run.server.body_bytes) if run.server else 0


def fmt(value: int | None) -> str:
    return "n/a" if value is None else str(value)


def state_check(runs: Sequence[Run]) -> Check:
    """Goal 2 over every tap run: one SCHEMA per stream, STATE bounded by windows."""
    if not runs:
        return Check("2", "One SCHEMA per stream; STATE bounded by windows", "no tap run", "", None)
    worst_schema = max(max(run.schemas.values(), default=0) for run in runs)
    missing = [run.label for run in runs if run.ok and set(run.schemas) != set(run.streams)]
    over = [run for run in runs if run.states > run.windows + STATE_SLACK]
    excess = max(runs, key=lambda run: run.states - run.windows)
    measured = (
        f"{len(runs)} runs: max {worst_schema} SCHEMA/stream; worst STATE {excess.states} "
        f"for {excess.windows} window(s)"
    )
    if missing:
        measured += f"; streams without SCHEMA in {', '.join(missing)}"
    return Check(
        "2",
        "One SCHEMA per stream per run; STATE bounded by windows",
        measured,
        f"1 each; STATE <= windows + {STATE_SLACK}",
        worst_schema == 1 and not missing and not over and all(run.ok for run in runs),
    )


def rss_check(runs: Sequence[Run]) -> Check:
    """Goal 4 over every tap run: the ceiling holds whatever the window size."""
    worst = max(runs, key=lambda run: run.max_rss_mb)
    return Check(
        "4c",
        "Peak RSS over every tap run (any window size, any section)",
        f"{worst.max_rss_mb:.0f} MB ({worst.label}, {WINDOW_SETTING[worst.streams[0]]}="
        f"{worst.window_days}, "
        f"{largest_mb(worst):.1f} MB largest answer)",
        f"<= {MAX_RSS_MB:g} MB",
        worst.max_rss_mb <= MAX_RSS_MB,
    )


def goals_table(checks: Sequence[Check]) -> str:
    lines = ["| # | goal | measured | target | result |", "|---|---|---|---|---|"]
    for check in checks:
        result = {True: "PASS", False: "**FAIL**", None: "-"}[check.passed]
        lines.append(
            f"| {check.number} | {check.goal} | {check.measured} | {check.target} | {result} |"
        )
    return "\n".join(lines)


def tap_version() -> str:
    """Which tap was measured: the commit, and a digest of tap_calltouch/ as it is on disk."""
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    digest = hashlib.sha256()
    for path in sorted((ROOT / "tap_calltouch").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return (
        f"tap at {commit or 'unknown commit'}, tap_calltouch/*.py sha256 {digest.hexdigest()[:12]}"
    )


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    probe = (
        "import sys, importlib.metadata as m; "
        "print(sys.version.split()[0], m.version('singer-sdk'))"
    )
    version = subprocess.run(
        [str(RUN_PYTHON), "-c", probe], capture_output=True, text=True, check=False
    ).stdout.split()
    python, sdk = [*version, "?", "?"][:2]
    return (
        f"{os.cpu_count()} x {model}, {platform.system()} {platform.release()}, "
        f"Python {python}, singer-sdk {sdk}"
    )
