"""Goal J3: both journals in one run lose no more than the switch between them costs.

Each journal reads 40 one-day windows, one after the other. Within a journal calls keep
goal 3's pace (the first alone, the rest 1.1 / 5 s apart); the switch costs two latencies:
the last answer of the journal before, then the next journal's first call, alone. The floor
is one journal's pace less those (`goals.min_calls_per_second_both`); any gap beyond them
is one the tap added.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.emulators import EmulatorProcess
from benchmarks.goals import SATURATION_RUNS, min_calls_per_second_both
from benchmarks.harness import Scenario, tap_program
from benchmarks.report import Pace, process_table

if TYPE_CHECKING:
    from benchmarks.harness import Benchmark


def run(bench: Benchmark) -> None:
    scale = bench.scale
    days = scale.journals_days  # one-day windows: as many a journal as days
    latency = scale.saturation_latency
    emulator = EmulatorProcess(
        days=days,
        per_day=scale.per_day,
        calls_per_day=scale.journals_calls_per_day,
        latency=latency,
    )
    with emulator:
        runs = [
            bench.runner.run(
                tap_program(f"tap-calltouch, run {number}", journal="both"),
                emulator,
                days=days,
                window_days=1,
                section="journals",
            )
            for number in range(1, max(SATURATION_RUNS, bench.repeat) + 1)
        ]
    pace = Pace(runs)
    windows = runs[0].windows
    bench.report.add(
        f"## J3. Both journals\n\nDataset: {days} days of {emulator.requests:,} requests and "
        f"{emulator.calls:,} calls; both journals and all their "
        f"child streams selected, window_days=calls_window_days=1, so {windows} windows "
        f"({days} a journal), answered {latency:g} s per call; {len(runs)} run(s). "
        "The journals run one after the other.\n\n"
        f"{process_table(runs)}\n\n" + pace.table()
    )
    bench.report.checks.append(
        pace.check(
            "J3",
            f"Both journals: calls/s at {latency:g} s per call, {windows} windows",
            runs,
            min_calls_per_second_both(windows, switches=1, latency=latency),
        )
    )


SCENARIO = Scenario("journals", run)
