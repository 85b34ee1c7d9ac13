"""The emulator as a child process (`python -m benchmarks.emulator`), and what it saw of a run."""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchmarks.datasets import FIRST_DAY, PYTHON, ROOT, SITE_ID, TOKEN

if TYPE_CHECKING:
    from typing_extensions import Self

RATE_WINDOW = 1.1  # the emulator counts calls over the last second; a little margin


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
