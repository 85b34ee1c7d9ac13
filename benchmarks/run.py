"""Benchmark tap-calltouch against its performance goals; print one Markdown report.

Every program runs as its own process against the project's emulator (a child process too,
on 127.0.0.1), and is measured from outside: CPU (user+sys) and peak RSS from `os.wait4`,
wall time around the process, RECORD/SCHEMA/STATE lines counted from its stdout, and API
calls, statuses and body sizes from the emulator's own log.

    .venv/bin/python benchmarks/run.py                  # everything, a few minutes
    .venv/bin/python benchmarks/run.py --quick          # smaller data, a fast check
    .venv/bin/python benchmarks/run.py --only cpu,memory
    .venv/bin/python benchmarks/run.py --only profile   # cProfile of the tap, top functions

Sections: cpu (goal 1, with the bare loop and the plain SDK tap), saturation (goal 3),
memory (goal 4), windows (goal 5) measure the requests journal, each tap run with a catalog
selecting only its streams; calls-cpu, calls-saturation, calls-memory and calls-windows (goals
C1, C3, C4, C5) measure the paged calls journal the same way; journals (goal J3) reads both in
one run. Goal 2 is checked on every tap run made. Each section is a module of
benchmarks/scenarios/; the harness they share is benchmarks/harness.py. See README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in {None, ""}:  # run as `python benchmarks/run.py`: the repository's root first
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.datasets import FULL, QUICK
from benchmarks.harness import Benchmark, Runner, precompile
from benchmarks.report import (
    QUICK_NOTE,
    Report,
    goals_table,
    machine,
    rss_check,
    state_check,
    tap_version,
)
from benchmarks.runtime import ensure_runtime
from benchmarks.scenarios import SCENARIOS

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

SECTIONS = tuple(scenario.name for scenario in SCENARIOS)
DEFAULT_SECTIONS = tuple(scenario.name for scenario in SCENARIOS if scenario.default)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT_SECTIONS),
        help=f"comma-separated sections out of {', '.join(SECTIONS)} (default: all but profile)",
    )
    parser.add_argument("--quick", action="store_true", help="a fifth of the data, 12 windows")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per program in cpu (least CPU kept); saturation runs max(3, N) times, "
        "every run must pass",
    )
    parser.add_argument("--output", type=Path, help="also write the Markdown report here")
    parser.add_argument("--logs", type=Path, help="keep configs and each run's stderr here")
    args = parser.parse_args(argv)
    args.sections = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; use {', '.join(SECTIONS)}")
    return args


@contextlib.contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    path = Path(tempfile.mkdtemp(prefix="tap-calltouch-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scale = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"
    report = Report(mode)
    began = time.perf_counter()
    environment = f"{ensure_runtime()}; {precompile()}"
    with _workdir(args.logs) as workdir:
        runner = Runner(workdir, keep_logs=args.logs is not None)
        bench = Benchmark(scale, runner, report, max(1, args.repeat))
        try:
            for scenario in SCENARIOS:
                if scenario.name in args.sections:
                    print(f"[{scenario.name}]", file=sys.stderr, flush=True)
                    scenario.run(bench)
        finally:
            bench.close()
        if runner.tap_runs:
            report.checks += [state_check(runner.tap_runs), rss_check(runner.tap_runs)]
        report.checks.sort(key=lambda check: check.number)
    elapsed = time.perf_counter() - began
    text = "\n\n".join(
        [
            f"# tap-calltouch benchmark ({mode})",
            (
                f"{dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {machine()}; "
                f"{tap_version()}; {environment}; sections: {', '.join(args.sections)}; "
                f"{elapsed:.0f} s in all."
            ),
            "## Goals\n\n" + goals_table(report.checks) + (QUICK_NOTE if args.quick else ""),
            *report.sections,
        ]
    )
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return 0 if all(check.passed is not False for check in report.checks) else 1


if __name__ == "__main__":
    sys.exit(main())
