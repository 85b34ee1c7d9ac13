"""Goal J3: both journals in one run keep the limiter busy from the first call to the last.

Each journal reads goal 3's 40 one-day windows. Alone, a journal reaches about 4.15 calls/s
there: its first call runs alone (it proves the token), and the rest are spaced 10 % wider than
5 a second. Over both journals that start is paid once, if the second journal's windows start
while the first's last pages are in flight; with a gap between them it is paid twice, and more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.emulators import EmulatorProcess
from benchmarks.goals import MIN_CALLS_PER_SECOND_BOTH, SATURATION_RUNS
from benchmarks.harness import Scenario, tap_program
from benchmarks.report import Pace, process_table

if TYPE_CHECKING:
    from benchmarks.harness import Benchmark


def run(bench: Benchmark) -> None:
    scale = bench.scale
    days = scale.saturation_days  # each journal as goal 3's run: one start shared by two
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
        "The second journal's first windows start while the first one's last pages are in "
        f"flight.\n\n{process_table(runs)}\n\n" + pace.table()
    )
    bench.report.checks.append(
        pace.check(
            "J3",
            f"Both journals: calls/s at {latency:g} s per call, {windows} windows",
            runs,
            MIN_CALLS_PER_SECOND_BOTH,
        )
    )


SCENARIO = Scenario("journals", run)
