"""Goal C3: a window's follow-up pages saturate the shared limiter, never past it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.goals import MIN_CALLS_PER_SECOND, SATURATION_RUNS
from benchmarks.harness import Scenario, tap_default_window_days, tap_program
from benchmarks.report import Pace, page_count, process_table

if TYPE_CHECKING:
    from benchmarks.harness import Benchmark


def run(bench: Benchmark) -> None:
    scale = bench.scale
    emulator = bench.calls_emulator()
    days = scale.calls_saturation_days
    window_days = tap_default_window_days("calls_window_days")
    emulator.set_latency(scale.saturation_latency)
    try:
        runs = [
            bench.runner.run(
                tap_program(f"tap-calltouch, run {number}", journal="calls"),
                emulator,
                days=days,
                window_days=window_days,
                section="calls-saturation",
                page_size=scale.calls_saturation_page_size,
            )
            for number in range(1, max(SATURATION_RUNS, bench.repeat) + 1)
        ]
    finally:
        emulator.set_latency(0.0)
    pace = Pace(runs)
    bench.report.add(
        f"## C3. Calls: saturation\n\nDataset: the first {days} days of "
        f"{emulator.describe()}, answered {scale.saturation_latency:g} s per call; "
        f"calls_window_days={window_days} (the tap's default), "
        f"page_size={scale.calls_saturation_page_size}, so {runs[0].windows} windows of "
        f"{page_count(runs[0])} pages in all; {len(runs)} run(s).\n\n"
        f"{process_table(runs)}\n\n" + pace.table()
    )
    bench.report.checks.append(
        pace.check(
            "C3",
            f"Calls saturation: calls/s at {scale.saturation_latency:g} s per call, "
            f"{page_count(runs[0])} pages",
            runs,
            MIN_CALLS_PER_SECOND,
        )
    )


SCENARIO = Scenario("calls-saturation", run)
