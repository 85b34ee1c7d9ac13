"""Not a goal: where the tap's CPU goes, under cProfile (`--only profile`)."""

from __future__ import annotations

import pstats
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.datasets import ROOT, RUN_PYTHON
from benchmarks.harness import Scenario, plain_program, slug, tap_default_window_days, tap_program

if TYPE_CHECKING:
    from benchmarks.harness import Benchmark

AREA_PATTERNS = (
    (re.compile(r"site-packages/([^/]+?)(?:\.py)?(?:/|$)"), "{}"),
    (re.compile(r"/(tap_calltouch|benchmarks)/"), "{}"),
    (re.compile(r"/python3\.\d+/([^/]+?)(?:\.py)?(?:/|$)"), "stdlib {}"),
)
IMPORT_BUILTINS = frozenset(
    {
        "<built-in method marshal.loads>",
        "<built-in method builtins.compile>",
        "<built-in method builtins.__build_class__>",
        "<built-in method _imp.create_dynamic>",
        "<built-in method _imp.exec_dynamic>",
    }
)


def profile_tables(path: Path, top: int = 25) -> str:
    stats = pstats.Stats(str(path))
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in entries.values()) or 1.0
    by_area: Counter[str] = Counter()
    rows = []
    for (filename, line, function), (_, calls, own, cumulative, _) in entries.items():
        area = _area(filename, function)
        by_area[area] += own
        rows.append((own, cumulative, calls, f"{_short(filename)}:{line} {function}", area))
    rows.sort(reverse=True)
    lines = [
        f"Own time by area ({total:.2f} s profiled):",
        "",
        "| area | own s | share |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {area} | {own:.2f} | {own / total:.0%} |" for area, own in by_area.most_common(12)
    ]
    lines += [
        "",
        f"Top {top} functions by own time:",
        "",
        "| own s | cumulative s | calls | function |",
        "|---:|---:|---:|---|",
    ]
    lines += [
        f"| {own:.2f} | {cum:.2f} | {calls:,} | `{name}` |"
        for own, cum, calls, name, _ in rows[:top]
    ]
    by_cumulative = sorted(rows, key=lambda row: row[1], reverse=True)
    interesting = [
        row
        for row in by_cumulative
        if ("singer_sdk" in row[3] or "tap_calltouch" in row[3] or "benchmarks" in row[3])
        and not row[3].endswith("<module>")
    ]
    lines += [
        "",
        "Tap and SDK functions by cumulative time:",
        "",
        "| cumulative s | own s | calls | function |",
        "|---:|---:|---:|---|",
    ]
    lines += [
        f"| {cum:.2f} | {own:.2f} | {calls:,} | `{name}` |"
        for own, cum, calls, name, _ in interesting[:top]
    ]
    return "\n".join(lines)


def _area(filename: str, function: str) -> str:
    """A coarse owner for a profiled function: a package, a stdlib module, a builtin, imports."""
    if filename.startswith("<frozen") or function in IMPORT_BUILTINS:
        return "imports (module loading)"
    if filename == "~":
        method = re.fullmatch(r"<method '(\w+)' of '([\w.]+)' objects>", function)
        if method:
            return f"builtin {method[2]}.{method[1]}"
        return "builtin " + function.strip("<>").removeprefix("built-in method ")
    for pattern, template in AREA_PATTERNS:
        found = pattern.search(filename)
        if found:
            return template.format(found[1])
    return Path(filename).stem


def _short(filename: str) -> str:
    """A profiled file's path from its package or the stdlib, not from the filesystem root."""
    for marker in ("site-packages/", f"{ROOT}/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return re.sub(r"^.*/python3\.\d+/", "", filename)


def run(bench: Benchmark) -> None:
    emulator = bench.base()
    days = bench.scale.cpu_days
    window_days = tap_default_window_days()
    for program in (tap_program(), plain_program()):
        output = bench.runner.workdir / f"{slug(program.label)}.prof"
        run = bench.runner.run(
            program,
            emulator,
            days=days,
            window_days=window_days,
            wrap=[str(RUN_PYTHON), "-m", "cProfile", "-o", str(output)],
            section="profile",
        )
        title = f"## Profile: {program.label} (cProfile, main thread)"
        if not run.ok or not output.exists():
            tail = "\n".join(f"    {line}" for line in run.stderr_tail.splitlines()[-20:])
            bench.report.add(f"{title}\n\nThe profiled run failed:\n\n{tail}")
            continue
        bench.report.add(
            f"{title}\n\n{days} days of {emulator.describe()}, window_days={window_days}; "
            f"{run.cpu:.2f} s CPU under the profiler.\n\n{profile_tables(output)}"
        )


SCENARIO = Scenario("profile", run, default=False)
