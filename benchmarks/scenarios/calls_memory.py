"""Goal C4: peak RSS flat in the number of pages, per window and per backfill."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.datasets import MB
from benchmarks.goals import CALLS_RSS_GROWTH_MB, CALLS_RSS_GROWTH_SHARE
from benchmarks.harness import Scenario, tap_default_window_days, tap_program
from benchmarks.report import Check, largest_mb, page_count

if TYPE_CHECKING:
    from benchmarks.harness import Benchmark


def run(bench: Benchmark) -> None:
    scale = bench.scale
    emulator = bench.calls_emulator()
    days = scale.calls_memory_days
    paged = [
        bench.runner.run(
            tap_program(f"tap-calltouch, one {days}-day window, page_size {size}", "calls"),
            emulator,
            days=days,
            window_days=days,
            section="calls-memory",
            page_size=size,
        )
        for size in scale.calls_memory_page_sizes
    ]
    default_days = tap_default_window_days("calls_window_days")
    backfills = [
        bench.runner.run(
            tap_program(f"tap-calltouch, {length} days in {default_days}-day windows", "calls"),
            emulator,
            days=length,
            window_days=default_days,
            section="calls-memory",
            page_size=scale.page_size,
        )
        for length in scale.calls_backfill_days
    ]
    rows = [
        f"| {run.label} | {page_count(run)} | {run.records['calls']:,} | "
        f"{sum(run.server.body_bytes if run.server else []) / MB:.1f} | {largest_mb(run):.1f} | "
        f"{run.cpu:.2f} | {run.wall:.2f} | {run.max_rss_mb:.1f} | "
        f"{'ok' if run.ok else 'FAILED'} |"
        for run in [*paged, *backfills]
    ]
    verdicts = []
    for runs in (paged, backfills):
        smallest = runs[0]
        growth = max(run.max_rss_mb for run in runs) - smallest.max_rss_mb
        allowed = max(CALLS_RSS_GROWTH_SHARE * smallest.max_rss_mb, CALLS_RSS_GROWTH_MB)
        verdicts.append((runs, growth, allowed))
    sizes = ", ".join(map(str, scale.calls_memory_page_sizes))
    bench.report.add(
        f"## C4. Calls: memory against pages\n\nDataset: {emulator.describe()}. First the "
        f"same {days}-day window read in pages of {sizes} "
        "calls, then backfills of more and more default windows (each window's set of call "
        "ids, kept to skip a call seen twice while paging, is the one thing that grows with a "
        "window's calls: about 60 bytes a call, freed at the window's end).\n\n"
        "| run | pages | calls | answers MB | largest page MB | CPU s | wall s | "
        "peak RSS MB | exit |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n"
        + "\n".join(rows)
        + "\n\n"
        + " ".join(
            f"Peak RSS from {page_count(runs[0])} to {page_count(runs[-1])} pages: "
            f"{growth:+.1f} MB."
            for runs, growth, _ in verdicts
        )
    )
    bench.report.checks.append(
        Check(
            "C4",
            "Calls peak RSS flat in pages: one window in "
            + " / ".join(str(page_count(run)) for run in paged)
            + " pages; backfills of "
            + " / ".join(str(page_count(run)) for run in backfills)
            + " pages",
            " / ".join(f"{run.max_rss_mb:.1f}" for run in paged)
            + " MB; "
            + " / ".join(f"{run.max_rss_mb:.1f}" for run in backfills)
            + " MB",
            f"largest <= smallest + max({CALLS_RSS_GROWTH_SHARE:.0%}, "
            f"{CALLS_RSS_GROWTH_MB:g} MB), in each series",
            all(run.ok for runs, _, _ in verdicts for run in runs)
            and all(growth <= allowed for _, growth, allowed in verdicts),
        )
    )


SCENARIO = Scenario("calls-memory", run)
