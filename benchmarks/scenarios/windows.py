"""Goal 5: calls against answer size, for each window_days."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from benchmarks.datasets import MB
from benchmarks.harness import Scenario, tap_program
from benchmarks.report import Check, fmt

if TYPE_CHECKING:
    from benchmarks.harness import Benchmark


def run(bench: Benchmark) -> None:
    emulator = bench.base()
    days = bench.scale.memory_days
    rows = []
    for window_days in bench.scale.window_sizes:
        run = bench.runner.run(
            tap_program(), emulator, days=days, window_days=window_days, section="windows"
        )
        log = run.server
        assert log is not None  # noqa: S101 - set by run
        sizes = log.body_bytes or [0]
        rows.append(
            f"| {window_days} | {run.windows} | {log.calls} | "
            f"{fmt(run.self_reported_calls)} | {log.rejected_429} | "
            f"{statistics.mean(sizes) / MB:.1f} | {max(sizes) / MB:.1f} | "
            f"{sum(sizes) / MB:.1f} | {run.cpu:.2f} | {run.wall:.2f} | "
            f"{run.max_rss_mb:.0f} | {run.states} | {'ok' if run.ok else 'FAILED'} |"
        )
    bench.report.checks.append(
        Check("5", "Calls per run against answer size", "see section 5", "a table", None)
    )
    bench.report.add(
        f"## 5. Calls against answer size\n\nDataset: {emulator.describe()}, all {days} days "
        "fetched by the tap with each window_days; calls and sizes from the emulator.\n\n"
        "| window_days | windows | calls (server) | calls (tap's log) | 429s | "
        "mean answer MB | largest answer MB | total MB | CPU s | wall s | peak RSS MB | "
        "STATE | exit |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n" + "\n".join(rows)
    )


SCENARIO = Scenario("windows", run)
