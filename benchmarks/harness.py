"""The shared harness: how a program is run and measured, and what every scenario shares.

Every figure comes from outside the process: CPU (user+sys) and peak RSS from `os.wait4`, wall
time around it, RECORD/SCHEMA/STATE lines counted from its stdout, API calls from the emulator.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from benchmarks.datasets import (
    BENCH,
    FIRST_DAY,
    JOURNAL_STREAMS,
    ROOT,
    RUN_PYTHON,
    SITE_ID,
    STREAMS,
    TAP,
    TOKEN,
    WINDOW_SETTING,
    WINDOW_SETTINGS,
)
from benchmarks.emulators import EmulatorProcess, ServerLog

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from benchmarks.datasets import Scale
    from benchmarks.report import Report

RUN_TIMEOUT = 900.0
LINE_HEAD = re.compile(rb'\{"type": ?"([A-Z_]+)"(?:, ?"stream": ?"([^"]+)")?')
MADE_CALLS = re.compile(r"Made (\d+) API call")


@dataclass(frozen=True)
class Scenario:
    """One section of the report: its `--only` name and the function that measures it.

    A new scenario is a module of `benchmarks/scenarios/` with a `SCENARIO` and its place in
    `benchmarks.scenarios.SCENARIOS`; `default=False` leaves it out unless asked for.
    """

    name: str
    run: Callable[[Benchmark], None]
    default: bool = True


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
    argv = [str(RUN_PYTHON), str(BENCH / "bare_loop.py")]
    if journal != "requests":
        argv += ["--journal", journal]
    return Program(label, argv, journal=journal)


def plain_program() -> Program:
    return Program("plain SDK tap", [str(RUN_PYTHON), str(BENCH / "plain_sdk_tap.py")])


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
            **dict.fromkeys(WINDOW_SETTINGS[journal], window_days),
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
            windows=math.ceil(days / window_days) * len(WINDOW_SETTINGS[program.journal]),
            window_days=window_days,
            is_tap=program.is_tap,
            streams=program.streams,
        )
        stderr_path = self.workdir / f"{section}-{self._serial:02d}-{slug(program.label)}.log"
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
            if wrap and argv[0] == str(RUN_PYTHON):  # the wrapper is the interpreter
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


def precompile() -> str:
    """Compile the tap's bytecode, as `pip install` does for an installed package; say so.

    An editable install under `PYTHONDONTWRITEBYTECODE=1` (as on the developers' machine) would
    compile `tap_calltouch` again at every run, ~0.1 s that no installed tap pays; site-packages
    already hold their bytecode. Python reads bytecode that exists whatever that setting says.
    """
    subprocess.run(
        [str(RUN_PYTHON), "-m", "compileall", "-q", str(ROOT / "tap_calltouch")],
        check=True,
        cwd=ROOT,
    )
    shown = ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")
    settings = ", ".join(f"{name}={os.environ.get(name, 'unset')}" for name in shown)
    return f"tap_calltouch bytecode compiled first; {settings}"


def slug(text: str) -> str:
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
                    made = int(found[1])  # one line per journal
                    run.self_reported_calls = (run.self_reported_calls or 0) + made


class Benchmark:
    """What the scenarios share: the scale, the runner, the report, one emulator per dataset."""

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
        programs: Sequence[Program],
        emulator: EmulatorProcess,
        *,
        days: int,
        window_days: int,
        section: str = "cpu",
        page_size: int | None = None,
    ) -> list[Run]:
        """Each program's run with the least CPU out of `--repeat` rounds.

        A round runs every program once, in turn: a shared machine's speed drifts over minutes,
        and programs compared within each round meet the same drift, where runs in blocks (the
        tap's N, then the floor's N) can meet a slow phase apart.
        """
        rounds = [
            [
                self.runner.run(
                    program,
                    emulator,
                    days=days,
                    window_days=window_days,
                    section=section,
                    page_size=page_size,
                )
                for program in programs
            ]
            for _ in range(self.repeat)
        ]
        each = zip(*rounds, strict=True)
        return [min(runs, key=lambda run: run.cpu if run.ok else math.inf) for runs in each]


def tap_default_window_days(setting: str = "window_days") -> int:
    """The tap's own default `window_days` (or `calls_window_days`), from `--about`."""
    about = subprocess.run(
        [str(TAP), "--about", "--format=json"], capture_output=True, check=True, cwd=ROOT
    )
    settings = json.loads(about.stdout)["settings"]["properties"]
    return int(settings[setting]["default"])
