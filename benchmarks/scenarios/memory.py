"""Goal 4: peak RSS for one big window, and as the data doubles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.emulators import EmulatorProcess
from benchmarks.goals import MAX_RSS_GROWTH_MB, MAX_RSS_MB
from benchmarks.harness import Program, Run, Scenario, bare_program, tap_program
from benchmarks.report import Check, largest_mb, process_table

if TYPE_CHECKING:
    from benchmarks.harness import Benchmark


def run(bench: Benchmark) -> None:
    scale = bench.scale
    days = scale.memory_days
    double = EmulatorProcess(days=days, per_day=2 * scale.per_day)

    def one_window(program: Program, emulator: EmulatorProcess) -> Run:
        return bench.runner.run(program, emulator, days=days, window_days=days, section="memory")

    one = one_window(tap_program("tap-calltouch, 1x data"), bench.base())
    bare_one = one_window(bare_program("bare loop, 1x data"), bench.base())
    with double:
        two = one_window(tap_program("tap-calltouch, 2x data"), double)
        bare_two = one_window(bare_program("bare loop, 2x data"), double)
    runs = [one, two, bare_one, bare_two]
    growth = two.max_rss_mb - one.max_rss_mb
    bench.report.add(
        f"## 4. Memory\n\nOne {days}-day window: 1x = {bench.base().describe()}, "
        f"2x = {double.describe()}. The bare loop holds the whole answer in memory, "
        f"for contrast.\n\n{process_table(runs, answers=True)}\n\n"
        f"Tap peak RSS growth from 1x to 2x: {growth:+.1f} MB."
    )
    bench.report.checks += [
        Check(
            "4a",
            f"Peak RSS, one {days}-day window ({largest_mb(one):.0f} MB answer)",
            f"{one.max_rss_mb:.0f} MB",
            f"<= {MAX_RSS_MB:g} MB",
            one.ok and one.max_rss_mb <= MAX_RSS_MB,
        ),
        Check(
            "4b",
            f"Peak RSS flat as data doubles ({largest_mb(two):.0f} MB answer)",
            f"{two.max_rss_mb:.0f} MB ({growth:+.1f} MB)",
            f"<= {MAX_RSS_MB:g} MB, growth <= {MAX_RSS_GROWTH_MB:g} MB",
            two.ok and two.max_rss_mb <= MAX_RSS_MB and growth <= MAX_RSS_GROWTH_MB,
        ),
    ]


SCENARIO = Scenario("memory", run)
