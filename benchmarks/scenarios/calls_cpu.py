"""Goal C1 (and 2): the calls journal's CPU against a bare loop over the same pages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.datasets import CALL_STREAMS, MB
from benchmarks.harness import (
    Scenario,
    bare_program,
    tap_default_window_days,
    tap_program,
)
from benchmarks.report import cpu_check, page_count, process_table, ratio, stream_table, unlike_note

if TYPE_CHECKING:
    from benchmarks.harness import Benchmark


def run(bench: Benchmark) -> None:
    scale = bench.scale
    emulator = bench.calls_emulator()
    days = scale.calls_cpu_days
    window_days = tap_default_window_days("calls_window_days")

    runs = bench.best_of(
        [tap_program(journal="calls"), bare_program("bare orjson loop (calls)", journal="calls")],
        emulator,
        days=days,
        window_days=window_days,
        section="calls-cpu",
        page_size=scale.page_size,
    )
    tap, bare = runs
    answer = sum(tap.server.body_bytes) / MB if tap.server else 0.0
    bench.report.add(
        f"## C1. Calls: CPU\n\nDataset: the first {days} days of {emulator.describe()}: "
        f"{tap.records['calls']:,} calls and {tap.total_records - tap.records['calls']:,} "
        f"child rows in {page_count(tap)} pages, {answer:.1f} MB of answers; "
        f"calls_window_days={window_days} (the tap's default), page_size={scale.page_size} "
        f"for both programs; best of {bench.repeat} rounds by CPU. The bare loop reads the pages "
        "one after the other; the tap reads a window's pages 2..N concurrently.\n\n"
        f"{process_table(runs)}\n\n{stream_table(runs, CALL_STREAMS)}\n\n"
        f"Ratio: tap/bare = {ratio(tap, bare)}."
    )
    ok = tap.ok and bare.ok
    goal = (
        f"Calls CPU: tap vs bare orjson loop ({days} days, ~{scale.calls_per_day}/day, "
        f"{page_count(tap)} pages of {scale.page_size})"
    )
    bench.report.checks.append(cpu_check("C1", goal, tap, bare, ok=ok))
    note = unlike_note(tap, bare, "bare calls loop")
    if ok and note:
        bench.report.add(note)


SCENARIO = Scenario("calls-cpu", run)
