"""Goal 3: calls a second under a slow API, with 1-day windows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.emulators import EmulatorProcess
from benchmarks.goals import MIN_CALLS_PER_SECOND, SATURATION_RUNS
from benchmarks.harness import Scenario, tap_program
from benchmarks.report import Check, Pace, process_table

if TYPE_CHECKING:
    from benchmarks.harness import Benchmark


def run(bench: Benchmark) -> None:
    scale = bench.scale
    days = scale.saturation_days
    emulator = EmulatorProcess(days=days, per_day=scale.per_day, latency=scale.saturation_latency)
    with emulator:
        runs = [
            bench.runner.run(
                tap_program(f"tap-calltouch, run {number}"),
                emulator,
                days=days,
                window_days=1,
                section="saturation",
            )
            for number in range(1, max(SATURATION_RUNS, bench.repeat) + 1)
        ]
    pace = Pace(runs)
    bench.report.add(
        f"## 3. Saturation\n\nDataset: {emulator.describe()}; window_days=1, so "
        f"{runs[0].windows} windows; {len(runs)} run(s).\n\n{process_table(runs)}\n\n"
        + pace.table()
    )
    slowest, rejected = pace.slowest, pace.rejected
    bench.report.checks.append(
        Check(
            "3",
            f"Saturation: calls/s at {scale.saturation_latency:g} s per call, "
            f"{runs[0].windows} windows; no 429",
            f"{slowest:.2f} calls/s (slowest of {len(runs)}), {rejected} x 429",
            f">= {MIN_CALLS_PER_SECOND:g}/s, 0 x 429",
            all(run.ok for run in runs) and slowest >= MIN_CALLS_PER_SECOND and rejected == 0,
        )
    )


SCENARIO = Scenario("saturation", run)
