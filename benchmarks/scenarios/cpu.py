"""Goal 1 (and 2): the tap's CPU against the bare loop and the plain SDK tap."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.datasets import MB
from benchmarks.harness import (
    Scenario,
    bare_program,
    plain_program,
    tap_default_window_days,
    tap_program,
)
from benchmarks.report import Check, cpu_check, process_table, ratio, stream_table, unlike_note

if TYPE_CHECKING:
    from benchmarks.harness import Benchmark


def run(bench: Benchmark) -> None:
    emulator = bench.base()
    days = bench.scale.cpu_days
    window_days = tap_default_window_days()
    programs = [tap_program(), bare_program(), plain_program()]
    runs = bench.best_of(programs, emulator, days=days, window_days=window_days)
    tap, bare, plain = runs
    answer = sum(tap.server.body_bytes) / MB if tap.server else 0.0
    bench.report.add(
        f"## 1. CPU\n\nDataset: the first {days} days of {emulator.describe()}: "
        f"{tap.records['requests']:,} requests and "
        f"{tap.total_records - tap.records['requests']:,} child rows, {answer:.1f} MB of "
        f"answers; window_days={window_days} (the tap's default) for all three programs; "
        f"best of {bench.repeat} rounds by CPU.\n\n"
        f"{process_table(runs)}\n\n{stream_table(runs)}\n\n"
        f"Ratios: tap/bare = {ratio(tap, bare)}, tap/plain SDK = {ratio(tap, plain)}."
    )
    ok = tap.ok and bare.ok and plain.ok
    bench.report.checks += [
        cpu_check("1a", "CPU: tap vs bare orjson loop", tap, bare, ok=ok),
        Check(
            "1b",
            "CPU: tap vs plain SDK tap",
            f"{tap.cpu:.2f} s / {plain.cpu:.2f} s = {ratio(tap, plain)}",
            "a comparison (goals.py)",
            None,
        ),
    ]
    note = unlike_note(tap, bare, "bare loop")
    if ok and note:
        bench.report.add(note)


SCENARIO = Scenario("cpu", run)
