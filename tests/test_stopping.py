"""Stopping a real `tap-calltouch` process while calls hang: at once, with the right exit code.

A scheduler (Meltano, Airflow, systemd) stops a run with SIGTERM, a person with Ctrl-C
(SIGINT), and waits a few seconds before SIGKILL. Each test starts the command against an
emulator that holds some calls without a word (the default `request_timeout` of 120 s applies)
and tells another to come back in 30 s, lets a few windows out, stops the run (a signal, or a
fatal 403 from the server) and checks that the process exited by itself with its exit code
before any of those calls ended or was retried, that stdout is whole Singer lines whose last
STATE is the last window fully emitted, and that the token is on neither stream. The test gives
up on a process after `GIVE_UP` seconds, long after a stopped run should have gone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import FIRST_DAY, TOKEN
from tests.emulator.dataset import add_requests, generate_dataset
from tests.emulator.server import Emulator
from tests.test_faults import all_ids, assert_no_token, day_of, local_day, settings
from tests.test_process import collect_stderr, collect_stdout, start_tap

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.emulator.dataset import Record

# Real processes stopped mid-run, nothing patched: production's pacing, backoff and timeouts.
pytestmark = pytest.mark.slow

DAYS = 10
#: When the test kills a process still running after it was stopped: a guard against a hung
#: test, not a bound on the tap (a stopped run that waited for its calls took 120 s).
GIVE_UP = 60.0
#: Window 4 hangs until the emulator stops; windows 1-3 are the last ones that can complete.
HANGING_DAY = "10/04/2026"
LAST_COMPLETE_DAY = FIRST_DAY + dt.timedelta(days=2)
#: Window 6 is told to come back in 30 s, so its fetch thread sleeps in backoff meanwhile.
BACKING_OFF_DAY = "10/06/2026"


@dataclass
class Stopped:
    """How a run ended after it was stopped: exit code and output."""

    returncode: int | None  # None: still running when the test gave up and killed it
    stdout: str
    stderr: str

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines()]

    @property
    def bookmark_day(self) -> dt.date | None:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"] or [{}]
        value = states[-1].get("bookmarks", {}).get("requests", {}).get("replication_key_value")
        return day_of(value) if value else None

    @property
    def ids(self) -> list[int]:
        records = (m for m in self.messages if m["type"] == "RECORD")
        return sorted(m["record"]["requestId"] for m in records if m["stream"] == "requests")


@pytest.fixture(scope="module")
def dataset() -> list[Record]:
    return generate_dataset(seed=23, start=FIRST_DAY, days=DAYS, per_day=6)


def config(url: str) -> dict[str, Any]:
    """Ten one-day windows, the default `request_timeout` (120 s) and backoff."""
    return {
        **settings(url, window_days=1),
        "end_date": (FIRST_DAY + dt.timedelta(days=DAYS - 1)).isoformat(),
    }


def run_and_stop(
    directory: Path,
    server: Emulator,
    *,
    ready: Callable[[list[str], str], bool],
    signum: int | None,
) -> Stopped:
    """Start the command; once `ready(stdout lines, stderr)`, send `signum` (None: wait for the
    first ERROR line). The process is killed if it still runs `GIVE_UP` seconds after that."""
    process = start_tap(directory, config(server.url))
    stderr_lines: list[tuple[float, str]] = []
    out: queue.Queue[str] = queue.Queue()
    threading.Thread(target=collect_stderr, args=(process, stderr_lines), daemon=True).start()
    threading.Thread(target=collect_stdout, args=(process, out), daemon=True).start()
    lines: list[str] = []
    stopped = False
    started = time.monotonic()
    try:
        while not stopped:
            assert time.monotonic() - started < GIVE_UP, "the run never reached its stopping point"
            try:
                line = out.get(timeout=0.05)
            except queue.Empty:
                line = None
            if line == "":
                out.put("")  # the end; leave it for the final drain
                break
            if line is not None:
                lines.append(line)
            stderr = "".join(text for _, text in list(stderr_lines))
            if signum is None:
                errors = [when for when, text in list(stderr_lines) if "| ERROR" in text]
                stopped = bool(errors)
            elif ready(lines, stderr):
                stopped = True
                process.send_signal(signum)
        returncode: int | None = None
        with contextlib.suppress(subprocess.TimeoutExpired):
            returncode = process.wait(timeout=GIVE_UP)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    time.sleep(0.2)  # let the readers take the last lines
    lines.extend(iter(out.get_nowait, ""))
    stderr = "".join(text for _, text in stderr_lines)
    return Stopped(returncode, "".join(lines), stderr)


def state_at(day: dt.date, server: Emulator) -> Callable[[list[str], str], bool]:
    """Ready once a STATE whose bookmark is on `day` went out, a call hangs, a thread backs off."""

    def ready(lines: list[str], stderr: str) -> bool:
        if "Retrying after HTTP 503" not in stderr or server.count(0) == 0:
            return False
        for line in lines:
            message = json.loads(line)
            if message["type"] != "STATE":
                continue
            value = message["value"].get("bookmarks", {}).get("requests", {})
            if value.get("replication_key_value") and day_of(value["replication_key_value"]) == day:
                return True
        return False

    return ready


def assert_whole_lines_up_to(stopped: Stopped, dataset: list[Record], last: dt.date) -> None:
    """stdout is whole JSON lines; the last STATE and the records emitted end at `last`."""
    assert stopped.stdout.endswith("\n")
    assert stopped.messages  # every line parses
    assert stopped.bookmark_day == last
    assert stopped.ids == all_ids([r for r in dataset if local_day(r["date"]) <= last])
    assert_no_token(stopped.stderr, stopped.stdout)


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
    ids=["SIGTERM", "SIGINT"],
)
def test_a_signal_stops_the_run_at_once_while_calls_hang_and_a_thread_backs_off(
    signum: int, code: int, dataset: list[Record], tmp_path: Path
) -> None:
    with Emulator(dataset=dataset, token=TOKEN) as server:
        server.inject("hang", match={"dateFrom": HANGING_DAY})
        server.inject("status", status=503, retry_after=30, match={"dateFrom": BACKING_OFF_DAY})
        stopped = run_and_stop(
            tmp_path, server, ready=state_at(LAST_COMPLETE_DAY, server), signum=signum
        )
        backed_off = sum(call.params.get("dateFrom") == BACKING_OFF_DAY for call in server.calls)
    assert stopped.returncode == code, f"exit code {stopped.returncode}"
    assert backed_off == 1, "the run waited out the 30 s backoff and tried again"
    assert_whole_lines_up_to(stopped, dataset, LAST_COMPLETE_DAY)
    name = signal.Signals(signum).name
    assert f"Stopped by {name}" in stopped.stderr


def test_a_fatal_error_ends_the_run_at_once_while_later_windows_hang(
    dataset: list[Record], tmp_path: Path
) -> None:
    with Emulator(dataset=dataset, token=TOKEN) as server:
        # Window 3 is refused once it comes back from a 503, by when windows 4-7 are hanging.
        server.inject("status", status=503, retry_after=1, match={"dateFrom": "10/03/2026"})
        server.inject("status", status=403, match={"dateFrom": "10/03/2026"})
        for day in range(4, 8):
            server.inject("hang", match={"dateFrom": f"10/{day:02d}/2026"})
        stopped = run_and_stop(tmp_path, server, ready=lambda *_: False, signum=None)
        hung = server.count(0)
    assert hung >= 1  # a call was hanging when the run failed
    assert stopped.returncode == 1, f"exit code {stopped.returncode}"
    after_error = stopped.stderr[stopped.stderr.index("| ERROR") :]
    assert "Retrying after" not in after_error, after_error
    assert "Calltouch rejected the credentials (HTTP 403)" in stopped.stderr
    assert_whole_lines_up_to(stopped, dataset, FIRST_DAY + dt.timedelta(days=1))


def main_thread_waits_on_a_pipe(pid: int) -> bool:
    """Whether the process's main thread is blocked writing to a full pipe (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/wchan") as wchan:  # noqa: PTH123
            return "pipe_write" in wchan.read()
    except OSError:
        return False


def test_a_signal_while_stdout_is_full_waits_for_the_whole_line(tmp_path: Path) -> None:
    """A target that reads slowly: the signal finds the tap inside a blocked write.

    The line being written is finished once the reader drains the pipe, then the run stops;
    the SDK's handler instead wrote a STATE from inside that write and exited 0.
    """
    # Far more output than a pipe holds (SCHEMA messages alone are tens of kB), so the tap
    # blocks writing after a few windows; the big sixth day makes sure it cannot finish first.
    dataset = generate_dataset(seed=29, start=FIRST_DAY, days=DAYS, per_day=3)
    add_requests(dataset, 400, FIRST_DAY + dt.timedelta(days=5), seed=29)
    with Emulator(dataset=dataset, token=TOKEN) as server:
        process = start_tap(tmp_path, config(server.url))
        stderr_lines: list[tuple[float, str]] = []
        threading.Thread(target=collect_stderr, args=(process, stderr_lines), daemon=True).start()
        try:
            deadline = time.monotonic() + GIVE_UP
            while not main_thread_waits_on_a_pipe(process.pid):
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("could not see the tap blocked on a full stdout pipe")
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert process.poll() is None  # still finishing its line: nobody reads yet
            assert process.stdout is not None
            stdout = process.stdout.read()  # the reader catches up; the tap ends its line and goes
            returncode = process.wait(timeout=GIVE_UP)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    time.sleep(0.2)  # let the reader take the last stderr lines
    stopped = Stopped(returncode, stdout, "".join(text for _, text in stderr_lines))
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    assert stopped.stdout.endswith("\n")
    last = stopped.bookmark_day  # every line parses
    assert last is not None
    assert last < FIRST_DAY + dt.timedelta(days=5)  # stopped before the big day
    emitted = set(stopped.ids)
    assert emitted >= {r["requestId"] for r in dataset if local_day(r["date"]) <= last}
    assert "Stopped by SIGTERM" in stopped.stderr
    assert_no_token(stopped.stderr, stopped.stdout)
