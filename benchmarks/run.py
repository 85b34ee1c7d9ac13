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
C1, C3, C4, C5) measure the paged calls journal the same way. Goal 2 is checked on every tap run
made. See README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import platform
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from typing_extensions import Self

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
TAP = ROOT / ".venv" / "bin" / "tap-calltouch"
BENCH = ROOT / "benchmarks"
STREAMS = ("requests", "orders", "comments", "map_visits", "request_tags")
CALL_STREAMS = ("calls", "call_orders", "call_comments", "call_map_visits", "call_tags")
JOURNAL_STREAMS = {"requests": STREAMS, "calls": CALL_STREAMS}
WINDOW_SETTING = {"requests": "window_days", "calls": "calls_window_days"}
TOKEN = "demo-token"  # noqa: S105 - the emulator's default token, not a secret
SITE_ID = "12345"
FIRST_DAY = dt.date(2025, 3, 1)  # fixed, so every run sees the same records
DEFAULT_SECTIONS = (
    "cpu",
    "saturation",
    "memory",
    "windows",
    "calls-cpu",
    "calls-saturation",
    "calls-memory",
    "calls-windows",
)
SECTIONS = (*DEFAULT_SECTIONS, "profile")
RUN_TIMEOUT = 900.0
RATE_WINDOW = 1.1  # the emulator counts calls over the last second; a little margin
MB = 1024 * 1024
SATURATION_RUNS = 3  # its 429s come and go, so one clean run proves little
CROWDING_LINES = 8  # 429s explained in the saturation section, at most

# Goals (see README.md).
CPU_VS_BARE = 3.0
CPU_VS_PLAIN = 0.1
MIN_CALLS_PER_SECOND = 4.0
MAX_RSS_MB = 120.0
MAX_RSS_GROWTH_MB = 10.0  # from 1x to 2x data: a 33 MB larger answer must not show up in RSS
MAX_CALLS_PER_SECOND = 5  # the API's limit: calls in any rolling second
# Calls memory: the largest run's peak RSS within this share, or these MB, of the smallest's.
CALLS_RSS_GROWTH_SHARE = 0.10
CALLS_RSS_GROWTH_MB = 5.0
STATE_SLACK = 2  # STATE messages allowed beyond one per window (start, end)

QUICK_NOTE = (
    "\n\nQuick mode: on a fifth of the data, start-up (about 0.6 s CPU to import the SDK) "
    "weighs far more, and answers are small; the verdicts that count are the full mode's."
)

LINE_HEAD = re.compile(rb'\{"type": ?"([A-Z_]+)"(?:, ?"stream": ?"([^"]+)")?')
MADE_CALLS = re.compile(r"Made (\d+) API call")
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


@dataclass(frozen=True)
class Scale:
    """Dataset sizes for one benchmark mode."""

    per_day: int  # requests per day (the emulator varies each day by +-10 %)
    cpu_days: int = 30
    memory_days: int = 31
    saturation_days: int = 40
    saturation_latency: float = 1.0
    window_sizes: tuple[int, ...] = (1, 3, 7, 14, 31)
    # The calls journal: one dataset of calls_days x ~calls_per_day calls serves every section.
    calls_per_day: int = 1000
    page_size: int = 1000  # = calls_per_day: a day is about one page
    calls_cpu_days: int = 30
    calls_memory_days: int = 20  # one window, read in pages of each of these sizes:
    calls_memory_page_sizes: tuple[int, ...] = (1000, 333, 100)  # ~20, 60, 200 pages
    calls_backfill_days: tuple[int, ...] = (28, 84)  # 2 and 6 default windows
    calls_windows_days: int = 31
    calls_saturation_days: int = 8
    calls_saturation_page_size: int = 100  # ~10 pages a day: many pages, little data

    @property
    def calls_days(self) -> int:
        return max(
            self.calls_cpu_days,
            self.calls_windows_days,
            self.calls_memory_days,
            *self.calls_backfill_days,
        )


FULL = Scale(per_day=320)
QUICK = Scale(
    per_day=64,
    saturation_days=12,
    calls_per_day=200,
    page_size=200,
    calls_saturation_days=4,
    calls_memory_page_sizes=(200, 67, 20),
)


# --- the emulator ------------------------------------------------------------------------------


class EmulatorProcess:
    """`python -m benchmarks.emulator` as a child process, with its call log on a pipe."""

    def __init__(
        self, *, days: int, per_day: int, latency: float = 0.0, calls_per_day: int = 0
    ) -> None:
        self.days, self.per_day, self.latency = days, per_day, latency
        self.calls_per_day = calls_per_day
        self.url = ""
        self.requests = self.calls = 0
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        command = [
            str(PYTHON),
            "-m",
            "benchmarks.emulator",
            f"--days={self.days}",
            f"--per-day={self.per_day}",
            f"--calls-per-day={self.calls_per_day}",
            f"--start={FIRST_DAY.isoformat()}",
            f"--token={TOKEN}",
            f"--site-id={SITE_ID}",
            f"--latency={self.latency}",
        ]
        self._proc = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._proc.stdout is not None  # noqa: S101 - set by Popen
        line = self._proc.stdout.readline()
        found = re.search(r"EMULATOR_URL=(\S+) REQUESTS=(\d+) CALLS=(\d+)", line)
        if not found:
            self.__exit__()
            msg = f"the emulator did not start: {line!r}"
            raise RuntimeError(msg)
        self.url, self.requests, self.calls = found[1], int(found[2]), int(found[3])
        return self

    def __exit__(self, *_: object) -> None:
        if self._proc is None:
            return
        if self._proc.stdin:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def command(self, name: str) -> dict[str, Any]:
        proc = self._proc
        assert proc is not None  # noqa: S101 - started
        assert proc.stdin  # noqa: S101 - a pipe
        assert proc.stdout  # noqa: S101 - a pipe
        proc.stdin.write(name + "\n")
        proc.stdin.flush()
        result: dict[str, Any] = json.loads(proc.stdout.readline())
        return result

    def set_latency(self, seconds: float) -> None:
        """Answer every later call `seconds` late."""
        self.command(f"latency {seconds:g}")
        self.latency = seconds

    def settle(self) -> None:
        """Forget the last run's calls and let its rate-limit second pass: no 429s carried over."""
        last = self.command("stats")["last"]
        if last is not None:  # time.monotonic() in the emulator: the same clock on Linux
            time.sleep(max(0.0, last + RATE_WINDOW - time.monotonic()))
        self.command("reset")

    def describe(self) -> str:
        latency = f", {self.latency:g} s per call" if self.latency else ""
        if self.calls_per_day:
            return f"{self.days} days x ~{self.calls_per_day}/day = {self.calls:,} calls{latency}"
        return f"{self.days} days x ~{self.per_day}/day = {self.requests:,} requests{latency}"


@dataclass
class ServerLog:
    """What the emulator saw during one run."""

    calls: int
    statuses: dict[str, int]
    first: float | None
    last: float | None
    peak_rate: int
    body_bytes: list[int]
    arrivals: list[tuple[float, int]]  # (seconds since the first call, status), in order

    @property
    def rejected_429(self) -> int:
        return self.statuses.get("429", 0)

    def crowded_seconds(self) -> list[str]:
        """For each 429: the arrivals in the second that ended with it, as `+t status`."""
        lines = []
        for index, (moment, status) in enumerate(self.arrivals):
            if status == 429:
                before = [
                    f"+{t:.3f} {s}" for t, s in self.arrivals[: index + 1] if moment - t < 1.0
                ]
                lines.append(f"{len(before)} calls within 1 s: " + ", ".join(before))
        return lines

    @property
    def sustained_rate(self) -> float | None:
        """Calls per second between the first and the last arrival."""
        if self.calls < 2 or self.first is None or self.last is None or self.last <= self.first:
            return None
        return (self.calls - 1) / (self.last - self.first)


# --- running one program -----------------------------------------------------------------------


@dataclass
class Run:
    """One program, one process: what it cost and what it wrote."""

    label: str
    windows: int
    window_days: int = 0
    cpu: float = 0.0
    wall: float = 0.0
    max_rss_mb: float = 0.0
    returncode: int = 0
    records: Counter[str] = field(default_factory=Counter)
    schemas: Counter[str] = field(default_factory=Counter)
    states: int = 0
    self_reported_calls: int | None = None
    server: ServerLog | None = None
    stderr_tail: str = ""
    is_tap: bool = False
    streams: tuple[str, ...] = STREAMS  # the streams it was asked for

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    @property
    def calls(self) -> int:
        return self.server.calls if self.server else 0

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class Program:
    """How to start one of the three programs on a config file, and which journal it reads."""

    label: str
    argv: list[str]
    is_tap: bool = False
    journal: str = "requests"

    @property
    def streams(self) -> tuple[str, ...]:
        return JOURNAL_STREAMS[self.journal]


def tap_program(label: str = "tap-calltouch", journal: str = "requests") -> Program:
    """The tap; the runner gives it a catalog selecting only `journal`'s streams."""
    return Program(label, [str(TAP)], is_tap=True, journal=journal)


def bare_program(label: str = "bare orjson loop", journal: str = "requests") -> Program:
    argv = [str(PYTHON), str(BENCH / "bare_loop.py")]
    if journal != "requests":
        argv += ["--journal", journal]
    return Program(label, argv, journal=journal)


def plain_program() -> Program:
    return Program("plain SDK tap", [str(PYTHON), str(BENCH / "plain_sdk_tap.py")])


class Runner:
    """Runs programs one at a time, each measured as a whole process."""

    def __init__(self, workdir: Path, *, keep_logs: bool) -> None:
        self.workdir = workdir
        self.keep_logs = keep_logs
        self.tap_runs: list[Run] = []
        self._serial = 0
        self._catalogs: dict[str, Path] = {}

    def config(
        self,
        emulator: EmulatorProcess,
        *,
        days: int,
        window_days: int,
        journal: str = "requests",
        page_size: int | None = None,
    ) -> Path:
        self._serial += 1
        path = self.workdir / f"config-{self._serial:02d}.json"
        config: dict[str, Any] = {
            "api_token": TOKEN,
            "site_id": SITE_ID,
            "start_date": FIRST_DAY.isoformat(),
            "end_date": (FIRST_DAY + dt.timedelta(days=days - 1)).isoformat(),
            "api_url": emulator.url,
            WINDOW_SETTING[journal]: window_days,
        }
        if page_size is not None:
            config["page_size"] = page_size
        path.write_text(json.dumps(config, indent=2))
        return path

    def catalog(self, journal: str) -> Path:
        """The tap's discovered catalog with only `journal`'s streams selected (made once)."""
        if journal not in self._catalogs:
            config = self.workdir / "discover-config.json"
            config.write_text(
                json.dumps(
                    {"api_token": TOKEN, "site_id": SITE_ID, "start_date": FIRST_DAY.isoformat()}
                )
            )
            found = subprocess.run(
                [str(TAP), "--config", str(config), "--discover"],
                capture_output=True,
                check=True,
                cwd=ROOT,
            )
            catalog = json.loads(found.stdout)
            wanted = JOURNAL_STREAMS[journal]
            for stream in catalog["streams"]:
                for entry in stream["metadata"]:
                    if entry["breadcrumb"] == []:
                        entry["metadata"]["selected"] = stream["tap_stream_id"] in wanted
            path = self.workdir / f"catalog-{journal}.json"
            path.write_text(json.dumps(catalog, indent=2))
            self._catalogs[journal] = path
        return self._catalogs[journal]

    def run(  # noqa: PLR0913 - each is a knob of one measured run
        self,
        program: Program,
        emulator: EmulatorProcess,
        *,
        days: int,
        window_days: int,
        wrap: Sequence[str] = (),
        section: str,
        page_size: int | None = None,
    ) -> Run:
        journal = program.journal
        config = self.config(
            emulator, days=days, window_days=window_days, journal=journal, page_size=page_size
        )
        run = Run(
            program.label,
            windows=math.ceil(days / window_days),
            window_days=window_days,
            is_tap=program.is_tap,
            streams=program.streams,
        )
        stderr_path = self.workdir / f"{section}-{self._serial:02d}-{_slug(program.label)}.log"
        pages = f", page_size={page_size}" if page_size else ""
        print(
            f"  {section}: {program.label}, {days} days, "
            f"{WINDOW_SETTING[journal]}={window_days}{pages}",
            end="",
            file=sys.stderr,
            flush=True,
        )
        emulator.settle()
        with stderr_path.open("wb") as stderr:
            argv = program.argv
            if program.is_tap:  # only this journal's streams: the other one is not measured
                argv = [*argv, "--catalog", str(self.catalog(journal))]
            if wrap and argv[0] == str(PYTHON):  # the wrapper is the interpreter
                argv = argv[1:]
            _measure([*wrap, *argv, "--config", str(config)], stderr, run)
        run.server = ServerLog(**emulator.command("stats"))
        _read_stderr(stderr_path, run)
        if not self.keep_logs:
            stderr_path.unlink()
        print(
            f" -> {run.cpu:.2f} s CPU, {run.wall:.2f} s wall, {run.calls} calls",
            file=sys.stderr,
            flush=True,
        )
        if not run.ok:
            print(f"  FAILED (exit {run.returncode}):\n{run.stderr_tail}", file=sys.stderr)
        if program.is_tap and not wrap:
            self.tap_runs.append(run)
        return run


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _measure(argv: list[str], stderr: IO[bytes], run: Run) -> None:
    """Start, count stdout lines, reap with wait4: CPU and peak RSS of exactly this process."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr)
    watchdog = threading.Timer(RUN_TIMEOUT, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None  # noqa: S101 - set by Popen
        _count_messages(proc.stdout, run)
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        watchdog.cancel()
    run.wall = time.perf_counter() - began
    proc.returncode = run.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    run.cpu = usage.ru_utime + usage.ru_stime
    run.max_rss_mb = usage.ru_maxrss / 1024  # kilobytes on Linux


def _count_messages(stdout: IO[bytes], run: Run) -> None:
    """Tally Singer messages by type and stream from the head of each line."""
    records, schemas, states = run.records, run.schemas, 0
    for line in stdout:
        head = LINE_HEAD.match(line)
        if head:
            kind, stream = head[1], head[2]
        else:  # another key order: parse the line
            try:
                message = json.loads(line)
            except ValueError:
                continue
            kind, stream = message.get("type"), message.get("stream")
            kind, stream = str(kind).encode(), str(stream).encode()
        if kind == b"RECORD":
            records[stream.decode()] += 1
        elif kind == b"STATE":
            states += 1
        elif kind == b"SCHEMA":
            schemas[stream.decode()] += 1
    run.states = states


def _read_stderr(path: Path, run: Run) -> None:
    """The tap's own call count (its last summary line) and the tail, for failures."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - 8192))
        run.stderr_tail = handle.read().decode(errors="replace")
    if run.is_tap:
        with path.open(errors="replace") as handle:
            for line in handle:
                found = MADE_CALLS.search(line)
                if found:
                    run.self_reported_calls = int(found[1])


# --- sections ----------------------------------------------------------------------------------


@dataclass
class Check:
    number: str
    goal: str
    measured: str
    target: str
    passed: bool | None  # None: not measured, or informational


@dataclass
class Report:
    scale_name: str
    sections: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.sections.append(text)


class Benchmark:
    """The sections, sharing one emulator per dataset."""

    def __init__(self, scale: Scale, runner: Runner, report: Report, repeat: int) -> None:
        self.scale = scale
        self.runner = runner
        self.report = report
        self.repeat = repeat
        self._stack = contextlib.ExitStack()
        self._base: EmulatorProcess | None = None
        self._calls: EmulatorProcess | None = None

    def close(self) -> None:
        self._stack.close()

    def base(self) -> EmulatorProcess:
        """The main dataset (31 days), started once and shared by cpu, memory and windows."""
        if self._base is None:
            emulator = EmulatorProcess(days=self.scale.memory_days, per_day=self.scale.per_day)
            self._base = self._stack.enter_context(emulator)
        return self._base

    def calls_emulator(self) -> EmulatorProcess:
        """The calls dataset (no requests), started once and shared by the calls sections."""
        if self._calls is None:
            scale = self.scale
            emulator = EmulatorProcess(
                days=scale.calls_days, per_day=0, calls_per_day=scale.calls_per_day
            )
            self._calls = self._stack.enter_context(emulator)
        return self._calls

    def best_of(  # noqa: PLR0913 - each is a knob of the measured runs
        self,
        program: Program,
        emulator: EmulatorProcess,
        *,
        days: int,
        window_days: int,
        section: str = "cpu",
        page_size: int | None = None,
    ) -> Run:
        """The run with the least CPU out of `--repeat` runs."""
        runs = [
            self.runner.run(
                program,
                emulator,
                days=days,
                window_days=window_days,
                section=section,
                page_size=page_size,
            )
            for _ in range(self.repeat)
        ]
        return min(runs, key=lambda run: run.cpu if run.ok else math.inf)

    # Goal 1 (and 2): CPU against the floor and the plain SDK.

    def cpu(self) -> None:
        emulator = self.base()
        days = self.scale.cpu_days
        window_days = tap_default_window_days()
        tap = self.best_of(tap_program(), emulator, days=days, window_days=window_days)
        bare = self.best_of(bare_program(), emulator, days=days, window_days=window_days)
        plain = self.best_of(plain_program(), emulator, days=days, window_days=window_days)
        runs = [tap, bare, plain]
        answer = sum(tap.server.body_bytes) / MB if tap.server else 0.0
        self.report.add(
            f"## 1. CPU\n\nDataset: the first {days} days of {emulator.describe()}: "
            f"{tap.records['requests']:,} requests and "
            f"{tap.total_records - tap.records['requests']:,} child rows, {answer:.1f} MB of "
            f"answers; window_days={window_days} (the tap's default) for all three programs; "
            f"best of {self.repeat} by CPU.\n\n{process_table(runs)}\n\n{stream_table(runs)}\n\n"
            f"Ratios: tap/bare = {_ratio(tap, bare)}, tap/plain SDK = {_ratio(tap, plain)}."
        )
        ok = tap.ok and bare.ok and plain.ok
        self.report.checks += [
            Check(
                "1a",
                "CPU: tap vs bare orjson loop",
                f"{tap.cpu:.2f} s / {bare.cpu:.2f} s = {_ratio(tap, bare)}",
                f"<= {CPU_VS_BARE:g}x",
                ok and tap.cpu <= CPU_VS_BARE * bare.cpu,
            ),
            Check(
                "1b",
                "CPU: tap vs plain SDK tap",
                f"{tap.cpu:.2f} s / {plain.cpu:.2f} s = {_ratio(tap, plain)}",
                f"<= {CPU_VS_PLAIN:g}x",
                ok and tap.cpu <= CPU_VS_PLAIN * plain.cpu,
            ),
        ]
        if ok and tap.records != bare.records:
            self.report.add(
                "**Note:** the tap and the bare loop emitted different record counts; "
                "the comparison is not like for like."
            )

    # Goal 3: saturation under a slow API.

    def saturation(self) -> None:
        scale = self.scale
        days = scale.saturation_days
        emulator = EmulatorProcess(
            days=days, per_day=scale.per_day, latency=scale.saturation_latency
        )
        with emulator:
            runs = [
                self.runner.run(
                    tap_program(f"tap-calltouch, run {number}"),
                    emulator,
                    days=days,
                    window_days=1,
                    section="saturation",
                )
                for number in range(1, max(SATURATION_RUNS, self.repeat) + 1)
            ]
        pace = Pace(runs)
        self.report.add(
            f"## 3. Saturation\n\nDataset: {emulator.describe()}; window_days=1, so "
            f"{runs[0].windows} windows; {len(runs)} run(s).\n\n{process_table(runs)}\n\n"
            + pace.table()
        )
        slowest, rejected = pace.slowest, pace.rejected
        self.report.checks.append(
            Check(
                "3",
                f"Saturation: calls/s at {scale.saturation_latency:g} s per call, "
                f"{runs[0].windows} windows; no 429",
                f"{slowest:.2f} calls/s (slowest of {len(runs)}), {rejected} x 429",
                f">= {MIN_CALLS_PER_SECOND:g}/s, 0 x 429",
                all(run.ok for run in runs) and slowest >= MIN_CALLS_PER_SECOND and rejected == 0,
            )
        )

    # Goal 4: memory for one big window, and as the data doubles.

    def memory(self) -> None:
        scale = self.scale
        days = scale.memory_days
        double = EmulatorProcess(days=days, per_day=2 * scale.per_day)

        def one_window(program: Program, emulator: EmulatorProcess) -> Run:
            return self.runner.run(program, emulator, days=days, window_days=days, section="memory")

        one = one_window(tap_program("tap-calltouch, 1x data"), self.base())
        bare_one = one_window(bare_program("bare loop, 1x data"), self.base())
        with double:
            two = one_window(tap_program("tap-calltouch, 2x data"), double)
            bare_two = one_window(bare_program("bare loop, 2x data"), double)
        runs = [one, two, bare_one, bare_two]
        growth = two.max_rss_mb - one.max_rss_mb
        self.report.add(
            f"## 4. Memory\n\nOne {days}-day window: 1x = {self.base().describe()}, "
            f"2x = {double.describe()}. The bare loop holds the whole answer in memory, "
            f"for contrast.\n\n{process_table(runs, answers=True)}\n\n"
            f"Tap peak RSS growth from 1x to 2x: {growth:+.1f} MB."
        )
        self.report.checks += [
            Check(
                "4a",
                f"Peak RSS, one {days}-day window ({_largest(one):.0f} MB answer)",
                f"{one.max_rss_mb:.0f} MB",
                f"<= {MAX_RSS_MB:g} MB",
                one.ok and one.max_rss_mb <= MAX_RSS_MB,
            ),
            Check(
                "4b",
                f"Peak RSS flat as data doubles ({_largest(two):.0f} MB answer)",
                f"{two.max_rss_mb:.0f} MB ({growth:+.1f} MB)",
                f"<= {MAX_RSS_MB:g} MB, growth <= {MAX_RSS_GROWTH_MB:g} MB",
                two.ok and two.max_rss_mb <= MAX_RSS_MB and growth <= MAX_RSS_GROWTH_MB,
            ),
        ]

    # Goal 5: calls against answer size, per window size.

    def windows(self) -> None:
        emulator = self.base()
        days = self.scale.memory_days
        rows = []
        for window_days in self.scale.window_sizes:
            run = self.runner.run(
                tap_program(), emulator, days=days, window_days=window_days, section="windows"
            )
            log = run.server
            assert log is not None  # noqa: S101 - set by run
            sizes = log.body_bytes or [0]
            rows.append(
                f"| {window_days} | {run.windows} | {log.calls} | "
                f"{_fmt(run.self_reported_calls)} | {log.rejected_429} | "
                f"{statistics.mean(sizes) / MB:.1f} | {max(sizes) / MB:.1f} | "
                f"{sum(sizes) / MB:.1f} | {run.cpu:.2f} | {run.wall:.2f} | "
                f"{run.max_rss_mb:.0f} | {run.states} | {'ok' if run.ok else 'FAILED'} |"
            )
        self.report.checks.append(
            Check("5", "Calls per run against answer size", "see section 5", "a table", None)
        )
        self.report.add(
            f"## 5. Calls against answer size\n\nDataset: {emulator.describe()}, all {days} days "
            "fetched by the tap with each window_days; calls and sizes from the emulator.\n\n"
            "| window_days | windows | calls (server) | calls (tap's log) | 429s | "
            "mean answer MB | largest answer MB | total MB | CPU s | wall s | peak RSS MB | "
            "STATE | exit |\n"
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n" + "\n".join(rows)
        )

    # Goal C1 (and 2): the calls journal's CPU against a bare loop over the same pages.

    def calls_cpu(self) -> None:
        scale = self.scale
        emulator = self.calls_emulator()
        days = scale.calls_cpu_days
        window_days = tap_default_window_days("calls_window_days")

        def best(program: Program) -> Run:
            return self.best_of(
                program,
                emulator,
                days=days,
                window_days=window_days,
                section="calls-cpu",
                page_size=scale.page_size,
            )

        tap = best(tap_program(journal="calls"))
        bare = best(bare_program("bare orjson loop (calls)", journal="calls"))
        runs = [tap, bare]
        answer = sum(tap.server.body_bytes) / MB if tap.server else 0.0
        self.report.add(
            f"## C1. Calls: CPU\n\nDataset: the first {days} days of {emulator.describe()}: "
            f"{tap.records['calls']:,} calls and {tap.total_records - tap.records['calls']:,} "
            f"child rows in {_pages(tap)} pages, {answer:.1f} MB of answers; "
            f"calls_window_days={window_days} (the tap's default), page_size={scale.page_size} "
            f"for both programs; best of {self.repeat} by CPU. The bare loop reads the pages "
            "one after the other; the tap reads a window's pages 2..N concurrently.\n\n"
            f"{process_table(runs)}\n\n{stream_table(runs, CALL_STREAMS)}\n\n"
            f"Ratio: tap/bare = {_ratio(tap, bare)}."
        )
        ok = tap.ok and bare.ok
        self.report.checks.append(
            Check(
                "C1",
                f"Calls CPU: tap vs bare orjson loop ({days} days, ~{scale.calls_per_day}/day, "
                f"{_pages(tap)} pages of {scale.page_size})",
                f"{tap.cpu:.2f} s / {bare.cpu:.2f} s = {_ratio(tap, bare)}",
                f"<= {CPU_VS_BARE:g}x",
                ok and tap.cpu <= CPU_VS_BARE * bare.cpu,
            )
        )
        if ok and tap.records != bare.records:
            self.report.add(
                "**Note:** the tap and the bare calls loop emitted different record counts; "
                "the comparison is not like for like."
            )

    # Goal C3: saturation of the shared limiter by a window's follow-up pages.

    def calls_saturation(self) -> None:
        scale = self.scale
        emulator = self.calls_emulator()
        days = scale.calls_saturation_days
        window_days = tap_default_window_days("calls_window_days")
        emulator.set_latency(scale.saturation_latency)
        try:
            runs = [
                self.runner.run(
                    tap_program(f"tap-calltouch, run {number}", journal="calls"),
                    emulator,
                    days=days,
                    window_days=window_days,
                    section="calls-saturation",
                    page_size=scale.calls_saturation_page_size,
                )
                for number in range(1, max(SATURATION_RUNS, self.repeat) + 1)
            ]
        finally:
            emulator.set_latency(0.0)
        pace = Pace(runs)
        self.report.add(
            f"## C3. Calls: saturation\n\nDataset: the first {days} days of "
            f"{emulator.describe()}, answered {scale.saturation_latency:g} s per call; "
            f"calls_window_days={window_days} (the tap's default), "
            f"page_size={scale.calls_saturation_page_size}, so {runs[0].windows} windows of "
            f"{_pages(runs[0])} pages in all; {len(runs)} run(s).\n\n"
            f"{process_table(runs)}\n\n" + pace.table()
        )
        self.report.checks.append(
            Check(
                "C3",
                f"Calls saturation: calls/s at {scale.saturation_latency:g} s per call, "
                f"{_pages(runs[0])} pages; no 429; <= {MAX_CALLS_PER_SECOND} in any 1 s",
                f"{pace.slowest:.2f} calls/s (slowest of {len(runs)}), {pace.rejected} x 429, "
                f"peak {pace.peak} in 1 s",
                f">= {MIN_CALLS_PER_SECOND:g}/s, 0 x 429, peak <= {MAX_CALLS_PER_SECOND}",
                all(run.ok for run in runs)
                and pace.slowest >= MIN_CALLS_PER_SECOND
                and pace.rejected == 0
                and pace.peak <= MAX_CALLS_PER_SECOND,
            )
        )

    # Goal C4: peak RSS flat in the number of pages: one window's data read in more and
    # more pages, and a backfill of more and more windows.

    def calls_memory(self) -> None:
        scale = self.scale
        emulator = self.calls_emulator()
        days = scale.calls_memory_days
        paged = [
            self.runner.run(
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
            self.runner.run(
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
            f"| {run.label} | {_pages(run)} | {run.records['calls']:,} | "
            f"{sum(run.server.body_bytes if run.server else []) / MB:.1f} | {_largest(run):.1f} | "
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
        self.report.add(
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
                f"Peak RSS from {_pages(runs[0])} to {_pages(runs[-1])} pages: {growth:+.1f} MB."
                for runs, growth, _ in verdicts
            )
        )
        self.report.checks.append(
            Check(
                "C4",
                "Calls peak RSS flat in pages: one window in "
                + " / ".join(str(_pages(run)) for run in paged)
                + " pages; backfills of "
                + " / ".join(str(_pages(run)) for run in backfills)
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

    # Goal C5: calls, pages, CPU, memory and wall time per calls_window_days.

    def calls_windows(self) -> None:
        scale = self.scale
        emulator = self.calls_emulator()
        days = scale.calls_windows_days

        def run(window_days: int, label: str) -> Run:
            return self.runner.run(
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
            pages = _pages(quick)
            per_page = quick.records["calls"] / pages if pages else 0.0
            rate = late.calls / late.wall if late.wall else 0.0
            rows.append(
                f"| {size} | {quick.windows} | {log.calls} | {_fmt(quick.self_reported_calls)} | "
                f"{pages} | {per_page:,.0f} | {log.rejected_429} | {quick.cpu:.2f} | "
                f"{quick.wall:.2f} | {quick.max_rss_mb:.0f} | {late.wall:.2f} | {rate:.2f} | "
                f"{late.calls} | {quick.states} | "
                f"{'ok' if quick.ok and late.ok else 'FAILED'} |"
            )
        self.report.checks.append(
            Check(
                "C5",
                "Calls per run against calls_window_days",
                "see section C5",
                "a table",
                None,
            )
        )
        self.report.add(
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

    # Not a goal: where the tap's CPU goes.

    def profile(self) -> None:
        emulator = self.base()
        days = self.scale.cpu_days
        window_days = tap_default_window_days()
        for program in (tap_program(), plain_program()):
            output = self.runner.workdir / f"{_slug(program.label)}.prof"
            run = self.runner.run(
                program,
                emulator,
                days=days,
                window_days=window_days,
                wrap=[str(PYTHON), "-m", "cProfile", "-o", str(output)],
                section="profile",
            )
            title = f"## Profile: {program.label} (cProfile, main thread)"
            if not run.ok or not output.exists():
                tail = "\n".join(f"    {line}" for line in run.stderr_tail.splitlines()[-20:])
                self.report.add(f"{title}\n\nThe profiled run failed:\n\n{tail}")
                continue
            self.report.add(
                f"{title}\n\n{days} days of {emulator.describe()}, window_days={window_days}; "
                f"{run.cpu:.2f} s CPU under the profiler.\n\n{profile_tables(output)}"
            )


def tap_default_window_days(setting: str = "window_days") -> int:
    """The tap's own default `window_days` (or `calls_window_days`), from `--about`."""
    about = subprocess.run(
        [str(TAP), "--about", "--format=json"], capture_output=True, check=True, cwd=ROOT
    )
    settings = json.loads(about.stdout)["settings"]["properties"]
    return int(settings[setting]["default"])


class Pace:
    """The emulator's view of a set of runs: sustained rate, 429s and the busiest second."""

    def __init__(self, runs: Sequence[Run]) -> None:
        self.pairs = [(run, run.server) for run in runs if run.server is not None]
        logs = [log for _, log in self.pairs]
        self.slowest = min((log.sustained_rate or 0.0 for log in logs), default=0.0)
        self.rejected = sum(log.rejected_429 for log in logs)
        self.peak = max((log.peak_rate for log in logs), default=0)

    def table(self) -> str:
        rows, crowding = [], []
        for run, log in self.pairs:
            whole = log.calls / run.wall if run.wall else 0.0
            rows.append(
                f"| {run.label} | {log.calls} | {log.rejected_429} | {_span(log)} | "
                f"{log.sustained_rate or 0.0:.2f} | {log.peak_rate} | {whole:.2f} |"
            )
            crowding += [f"{run.label}: {line}" for line in log.crowded_seconds()]
        return (
            "| run | calls (server) | 429s | first->last call s | sustained calls/s | "
            "peak calls in any 1 s | calls / whole wall |\n"
            "|---|---:|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n\n"
            "Sustained = (calls - 1) / (last arrival - first arrival), from the emulator's log; "
            "the whole-wall figure adds start-up, the last answer's second and the tail."
            + _crowding(crowding)
        )


# --- formatting --------------------------------------------------------------------------------


def process_table(runs: Sequence[Run], *, answers: bool = False) -> str:
    head = (
        "| program | CPU s | wall s | RECORDs | records/s | API calls (server / tap's log) "
        "| calls/s | peak RSS MB | SCHEMA max/stream | STATE | windows |"
    )
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    if answers:
        head += " largest answer MB |"
        rule += "---:|"
    lines = [head, rule]
    for run in runs:
        rate = run.total_records / run.wall if run.wall else 0.0
        calls_rate = run.calls / run.wall if run.wall else 0.0
        calls = f"{run.calls} / {_fmt(run.self_reported_calls)}" if run.is_tap else str(run.calls)
        failed = "" if run.ok else f" **(exit {run.returncode})**"
        line = (
            f"| {run.label}{failed} | {run.cpu:.2f} | {run.wall:.2f} | {run.total_records:,} | "
            f"{rate:,.0f} | {calls} | {calls_rate:.2f} | {run.max_rss_mb:.0f} | "
            f"{max(run.schemas.values(), default=0):,} | {run.states:,} | {run.windows} |"
        )
        if answers:
            line += f" {_largest(run):.1f} |"
        lines.append(line)
    return "\n".join(lines)


def stream_table(runs: Sequence[Run], streams: Sequence[str] = STREAMS) -> str:
    lines = [
        "RECORD (SCHEMA) messages per stream:",
        "",
        "| program | " + " | ".join(streams) + " |",
        "|---|" + "---:|" * len(streams),
    ]
    lines += [
        f"| {run.label} | "
        + " | ".join(f"{run.records[s]:,} ({run.schemas[s]:,})" for s in streams)
        + " |"
        for run in runs
    ]
    return "\n".join(lines)


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


def _ratio(run: Run, other: Run) -> str:
    return f"{run.cpu / other.cpu:.2f}x" if other.cpu else "n/a"


def _crowding(lines: list[str]) -> str:
    """The emulator's view of each 429: which arrivals, seconds after the first call, crowded it."""
    if not lines:
        return ""
    return (
        "\n\nArrivals at the emulator in the second up to each 429 "
        "(seconds after the run's first call, status):\n\n"
        + "\n".join(f"- {line}" for line in lines[:CROWDING_LINES])
        + (f"\n- ... and {len(lines) - CROWDING_LINES} more" if len(lines) > CROWDING_LINES else "")
    )


def _span(log: ServerLog) -> str:
    if log.first is None or log.last is None:
        return "n/a"
    return f"{log.last - log.first:.2f}"


def _largest(run: Run) -> float:
    return max(run.server.body_bytes, default=0) / MB if run.server else 0.0


def _pages(run: Run) -> int:
    """Answers with status 200: pages for the calls journal, windows for requests."""
    return len(run.server.body_bytes) if run.server else 0


def _fmt(value: int | None) -> str:
    return "n/a" if value is None else str(value)


def state_check(runs: Sequence[Run]) -> Check:
    """Goal 2 over every tap run: one SCHEMA per stream, STATE bounded by windows."""
    if not runs:
        return Check("2", "One SCHEMA per stream; STATE bounded by windows", "no tap run", "", None)
    worst_schema = max(max(run.schemas.values(), default=0) for run in runs)
    missing = [run.label for run in runs if run.ok and set(run.schemas) != set(run.streams)]
    over = [run for run in runs if run.states > run.windows + STATE_SLACK]
    excess = max(runs, key=lambda run: run.states - run.windows)
    measured = (
        f"{len(runs)} runs: max {worst_schema} SCHEMA/stream; worst STATE {excess.states} "
        f"for {excess.windows} window(s)"
    )
    if missing:
        measured += f"; streams without SCHEMA in {', '.join(missing)}"
    return Check(
        "2",
        "One SCHEMA per stream per run; STATE bounded by windows",
        measured,
        f"1 each; STATE <= windows + {STATE_SLACK}",
        worst_schema == 1 and not missing and not over and all(run.ok for run in runs),
    )


def rss_check(runs: Sequence[Run]) -> Check:
    """Goal 4 over every tap run: the ceiling holds whatever the window size."""
    worst = max(runs, key=lambda run: run.max_rss_mb)
    return Check(
        "4c",
        "Peak RSS over every tap run (any window size, any section)",
        f"{worst.max_rss_mb:.0f} MB ({worst.label}, {WINDOW_SETTING[worst.streams[0]]}="
        f"{worst.window_days}, "
        f"{_largest(worst):.1f} MB largest answer)",
        f"<= {MAX_RSS_MB:g} MB",
        worst.max_rss_mb <= MAX_RSS_MB,
    )


def goals_table(checks: Sequence[Check]) -> str:
    lines = ["| # | goal | measured | target | result |", "|---|---|---|---|---|"]
    for check in checks:
        result = {True: "PASS", False: "**FAIL**", None: "-"}[check.passed]
        lines.append(
            f"| {check.number} | {check.goal} | {check.measured} | {check.target} | {result} |"
        )
    return "\n".join(lines)


def tap_version() -> str:
    """Which tap was measured: the commit, and a digest of tap_calltouch/ as it is on disk."""
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    digest = hashlib.sha256()
    for path in sorted((ROOT / "tap_calltouch").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return (
        f"tap at {commit or 'unknown commit'}, tap_calltouch/*.py sha256 {digest.hexdigest()[:12]}"
    )


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    probe = (
        "import sys, importlib.metadata as m; "
        "print(sys.version.split()[0], m.version('singer-sdk'))"
    )
    version = subprocess.run(
        [str(PYTHON), "-c", probe], capture_output=True, text=True, check=False
    ).stdout.split()
    python, sdk = [*version, "?", "?"][:2]
    return (
        f"{os.cpu_count()} x {model}, {platform.system()} {platform.release()}, "
        f"Python {python}, singer-sdk {sdk}"
    )


# --- main --------------------------------------------------------------------------------------


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
    with _workdir(args.logs) as workdir:
        runner = Runner(workdir, keep_logs=args.logs is not None)
        bench = Benchmark(scale, runner, report, max(1, args.repeat))
        try:
            for section in SECTIONS:
                if section in args.sections:
                    print(f"[{section}]", file=sys.stderr, flush=True)
                    getattr(bench, section.replace("-", "_"))()
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
                f"{tap_version()}; sections: {', '.join(args.sections)}; {elapsed:.0f} s in all."
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
