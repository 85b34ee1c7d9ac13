"""Goal C5: calls, pages, CPU, memory and wall time for each calls_window_days."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.harness import Run, Scenario, tap_program
from benchmarks.report import Check, fmt, page_count

if TYPE_CHECKING:
    from benchmarks.harness import Benchmark


def run(bench: Benchmark) -> None:
    scale = bench.scale
    emulator = bench.calls_emulator()
    days = scale.calls_windows_days

    def run(window_days: int, label: str) -> Run:
        return bench.runner.run(
            tap_program(label, journal="calls"),
            emulator,
            days=days,
            window_days=window_days,
            section="calls-windows",
            page_size=scale.page_size,
        )

    fast = [run(size, "tap-calltouch") for size in scale.window_sizes]
    emulator.set_latency(scale.saturation_latency)
    try:
        slow = [run(size, "tap-calltouch, 1 s per call") for size in scale.window_sizes]
    finally:
        emulator.set_latency(0.0)
    rows = []
    for size, quick, late in zip(scale.window_sizes, fast, slow, strict=True):
        log = quick.server
        assert log is not None  # noqa: S101 - set by run
        pages = page_count(quick)
        per_page = quick.records["calls"] / pages if pages else 0.0
        rate = late.calls / late.wall if late.wall else 0.0
        rows.append(
            f"| {size} | {quick.windows} | {log.calls} | {fmt(quick.self_reported_calls)} | "
            f"{pages} | {per_page:,.0f} | {log.rejected_429} | {quick.cpu:.2f} | "
            f"{quick.wall:.2f} | {quick.max_rss_mb:.0f} | {late.wall:.2f} | {rate:.2f} | "
            f"{late.calls} | {quick.states} | "
            f"{'ok' if quick.ok and late.ok else 'FAILED'} |"
        )
    bench.report.checks.append(
        Check(
            "C5",
            "Calls per run against calls_window_days",
            "see section C5",
            "a table",
            None,
        )
    )
    bench.report.add(
        f"## C5. Calls: window size\n\nDataset: {emulator.describe()}; the first {days} "
        f"days, fetched by the tap with each calls_window_days, page_size={scale.page_size}. "
        "Each size runs twice: with instant answers (calls, pages, CPU, RSS, wall) and "
        f"with {scale.saturation_latency:g} s per call (wall). Calls and pages from the "
        "emulator; every 200 answer is one page and spends one API point.\n\n"
        "| calls_window_days | windows | calls (server) | calls (tap's log) | pages | "
        "records per page | 429s | CPU s | wall s | peak RSS MB | wall s at 1 s/call | "
        "calls/s at 1 s/call | calls at 1 s/call | STATE | exit |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
        + "\n".join(rows)
    )


SCENARIO = Scenario("calls-windows", run)
