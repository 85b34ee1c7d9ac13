"""The fault matrix as real runs of `tap-calltouch --config ... --state ...`, logging at DEBUG.

What a scheduler sees at 3 a.m. is the process: its exit code, its stderr, its stdout. Each
scenario runs the installed command against its own emulator with the SDK's most verbose
logging (`TAP_CALLTOUCH_LOGLEVEL=DEBUG`, which also lets the metrics through), and every test
checks that the token is on neither stream. Nothing is patched: calls are paced and retries
wait as in production, and the scenarios that retry check each logged wait against the real
schedule. This is the proof that production timing works; the in-process tests wait milliseconds.

The scenarios run all at once, since the slow ones (eight tries against no server) spend their
minute asleep in backoff; each test then judges one finished run.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import FIRST_DAY, REQUEST_STREAMS, TOKEN, catalog_selecting
from tests.emulator.dataset import add_requests, generate_dataset
from tests.emulator.server import Emulator
from tests.test_bad_settings import BAD_SETTINGS, bad_config
from tests.test_faults import (
    all_ids,
    assert_no_token,
    day_of,
    local_day,
    settings,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.emulator.dataset import Record
    from tests.emulator.server import Call

# Real processes, nothing patched: retries and pacing as in production (the matrix's slowest
# scenarios sleep a minute in backoff).
pytestmark = pytest.mark.slow

TAP = os.path.join(os.path.dirname(sys.executable), "tap-calltouch")  # noqa: PTH118, PTH120
DAYS = 6
LAST_DAY = FIRST_DAY + dt.timedelta(days=DAYS - 1)
#: Seconds after which a run is killed: a guard against a hung test, not a bound on the tap.
GUARD = 300
PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # noqa: PTH100, PTH120
ENV = {
    **{key: value for key, value in os.environ.items() if key.lower() not in PROXY_VARIABLES},
    "NO_PROXY": "*",  # every call of these tests goes to 127.0.0.1 or nowhere
    "TAP_CALLTOUCH_LOGLEVEL": "DEBUG",
    # The command imports this checkout's package, not whichever one the venv was installed from.
    "PYTHONPATH": os.pathsep.join(filter(None, [CHECKOUT, os.environ.get("PYTHONPATH")])),
}


# --- running the command -------------------------------------------------------------------------


@dataclass
class Outcome:
    """A finished run: exit code, both streams (stderr lines with arrival times), calls seen."""

    returncode: int
    stdout: str
    stderr_lines: list[tuple[float, str]]
    calls: list[Call]
    killed: bool

    @property
    def stderr(self) -> str:
        return "".join(line for _, line in self.stderr_lines)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def ids(self) -> list[int]:
        return [
            m["record"]["requestId"]
            for m in self.messages
            if m["type"] == "RECORD" and m["stream"] == "requests"
        ]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def bookmark(self) -> str | None:
        for state in reversed(self.states):
            value = state.get("bookmarks", {}).get("requests", {}).get("replication_key_value")
            if value is not None:
                return str(value)
        return None

    def count(self, status: int | None = None) -> int:
        return sum(1 for call in self.calls if status is None or call.status == status)

    def first_line_with(self, text: str) -> float:
        return next(when for when, line in self.stderr_lines if text in line)


def start_tap(
    directory: Path,
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    streams: tuple[str, ...] | None = REQUEST_STREAMS,
) -> subprocess.Popen[str]:
    """Start `tap-calltouch --config c.json [--state s.json]` with DEBUG logging.

    Only the requests journal by default, as these scenarios count its calls; `streams=None`
    syncs every stream.
    """
    directory.mkdir(parents=True, exist_ok=True)
    config_file = directory / "config.json"
    config_file.write_text(json.dumps(config))
    command = [TAP, "--config", str(config_file)]
    if streams is not None:
        catalog_file = directory / "catalog.json"
        catalog_file.write_text(json.dumps(catalog_selecting(streams)))
        command += ["--catalog", str(catalog_file)]
    if state is not None:
        state_file = directory / "state.json"
        state_file.write_text(json.dumps(state))
        command += ["--state", str(state_file)]
    return subprocess.Popen(  # noqa: S603 - our own executable, arguments we wrote
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def collect_stderr(process: subprocess.Popen[str], lines: list[tuple[float, str]]) -> None:
    assert process.stderr is not None
    lines.extend((time.monotonic(), line) for line in process.stderr)


def collect_stdout(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    """Hand each line on as it comes, then "" at the end."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)
    lines.put("")


def run_tap_process(  # noqa: PLR0913 - keyword-only options
    directory: Path,
    config: dict[str, Any],
    *,
    emulator: Emulator | None = None,
    state: dict[str, Any] | None = None,
    deadline: float = GUARD,
    streams: tuple[str, ...] | None = REQUEST_STREAMS,
) -> Outcome:
    """Run the command to the end (or kill it at `deadline`), keeping everything it said."""
    process = start_tap(directory, config, state, streams)
    lines: list[tuple[float, str]] = []
    out: queue.Queue[str] = queue.Queue()
    readers = [
        threading.Thread(target=collect_stderr, args=(process, lines), daemon=True),
        threading.Thread(target=collect_stdout, args=(process, out), daemon=True),
    ]
    for reader in readers:
        reader.start()
    killed = False
    try:
        process.wait(timeout=deadline)
    except subprocess.TimeoutExpired:
        killed = True
        process.kill()
        process.wait()
    for reader in readers:
        reader.join(timeout=5)
    calls = list(emulator.calls) if emulator is not None else []
    stdout = "".join(iter(out.get_nowait, ""))
    return Outcome(process.returncode, stdout, lines, calls, killed)


# --- the scenarios -------------------------------------------------------------------------------


@dataclass
class Scenario:
    """One run: the emulator it meets (None: no server at `url`), its faults, the settings."""

    name: str
    check: Callable[[Outcome, list[Record]], None]
    settings: dict[str, Any] = field(default_factory=dict)
    server: dict[str, Any] | None = field(default_factory=dict)
    faults: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    url: str = ""
    deadline: float = GUARD
    bad_setting: tuple[str, Any, dict[str, Any]] | None = None  # (setting, value, other settings)


def completes(outcome: Outcome, dataset: list[Record]) -> None:
    assert outcome.returncode == 0, outcome.stderr[-2000:]
    assert sorted(outcome.ids) == all_ids(dataset)
    assert day_of(outcome.bookmark or "") == max(local_day(r["date"]) for r in dataset)
    made = re.findall(r"Made (\d+) API call\(s\)", outcome.stderr)
    assert made
    assert int(made[-1]) == outcome.count()


def fails_with(*texts: str) -> Callable[[Outcome, list[Record]], None]:
    def check(outcome: Outcome, _dataset: list[Record]) -> None:
        assert outcome.returncode == 1
        assert not outcome.killed
        errors = [line for _, line in outcome.stderr_lines if "| ERROR" in line]
        for text in texts:
            assert any(text in line for line in errors), (text, errors)

    return check


def check_bursts(outcome: Outcome, dataset: list[Record]) -> None:
    completes(outcome, dataset)
    for status in (500, 502, 503):
        assert outcome.count(status) == 1
        assert f"Retrying after HTTP {status}" in outcome.stderr


def check_resets(outcome: Outcome, dataset: list[Record]) -> None:
    completes(outcome, dataset)
    assert outcome.count(0) == 2
    assert "Remote end closed connection without response" in outcome.stderr


def check_hang(outcome: Outcome, dataset: list[Record]) -> None:
    completes(outcome, dataset)
    assert outcome.count(0) == 1
    assert "Read timed out. (read timeout=1)" in outcome.stderr
    assert not outcome.killed  # the server would have held the call until the test gave up


def check_strict_rate(outcome: Outcome, dataset: list[Record]) -> None:
    completes(outcome, dataset)
    assert outcome.count(429) > 0
    assert "Retrying after HTTP 429" in outcome.stderr


def check_bad_bodies_once(outcome: Outcome, dataset: list[Record]) -> None:
    completes(outcome, dataset)
    assert outcome.stderr.count("the body is not a JSON array") == 3


def check_bad_body_persists(outcome: Outcome, dataset: list[Record]) -> None:
    fails_with(
        "requests window 2026-10-03..2026-10-04 failed after 8 attempts: "
        "HTTP 200 but the body is not a JSON array (text/html"
    )(outcome, dataset)
    assert day_of(outcome.bookmark or "") == FIRST_DAY + dt.timedelta(days=1)
    first_window = [r for r in dataset if local_day(r["date"]) <= FIRST_DAY + dt.timedelta(days=1)]
    assert sorted(outcome.ids) == all_ids(first_window)
    assert sum(call.params["dateFrom"] == SECOND_WINDOW["dateFrom"] for call in outcome.calls) == 8
    assert_production_waits(outcome)


def check_rejected(status: int) -> Callable[[Outcome, list[Record]], None]:
    def check(outcome: Outcome, dataset: list[Record]) -> None:
        fails_with(
            f"Calltouch rejected the credentials (HTTP {status}): "
            "check the `api_token` and `site_id` settings"
        )(outcome, dataset)
        assert outcome.ids == []
        assert outcome.count(status) >= 1
        assert outcome.count() == outcome.count(status)  # nothing retried, nothing else tried
        assert "Retrying after" not in outcome.stderr

    return check


def check_points(outcome: Outcome, dataset: list[Record]) -> None:
    fails_with(
        "Calltouch's daily API points are used up (HTTP 403",
        "the state holds the last complete window",
    )(outcome, dataset)
    assert "Retrying after" not in outcome.stderr  # a points refusal is final
    # Whatever went out went out in whole windows, and the last STATE says how far.
    last = day_of(outcome.bookmark) if outcome.bookmark else FIRST_DAY - dt.timedelta(days=1)
    assert sorted(outcome.ids) == all_ids([r for r in dataset if local_day(r["date"]) <= last])


def check_stops_at_once(outcome: Outcome, dataset: list[Record]) -> None:
    """A fatal error ends the process at once, though another window is mid-retry: its hung
    call is neither timed out nor retried, and no call follows the error."""
    failed_at = outcome.first_line_with("daily API points are used up")
    later_calls = [call for call in outcome.calls if call.time > failed_at + 0.5]
    later_lines = [
        line
        for when, line in outcome.stderr_lines
        if when > failed_at and ("Read timed out" in line or "Retrying after" in line)
    ]
    ended = "was killed by the test" if outcome.killed else "exited"
    story = f"after its fatal error the process {ended}, made {len(later_calls)} more call(s)"
    assert not later_calls, story
    assert not later_lines, f"{story} and logged {later_lines}"
    fails_with("daily API points are used up")(outcome, dataset)


def check_no_server(cause: str) -> Callable[[Outcome, list[Record]], None]:
    def check(outcome: Outcome, dataset: list[Record]) -> None:
        fails_with("requests window 2026-10-01..2026-10-02 failed after 8 attempts", cause)(
            outcome, dataset
        )
        assert outcome.ids == []
        assert_production_waits(outcome)

    return check


def assert_production_waits(outcome: Outcome) -> None:
    """Every retry waited as production does: 0.5 s doubling, plus the SDK's up to 1 s of jitter.

    Read from the tap's own log of each wait, so the schedule is checked without a clock.
    """
    waits = re.findall(r"\(attempt (\d) of 8\), waiting (\d+\.\d) s", outcome.stderr)
    assert {int(attempt) for attempt, _ in waits} == set(range(1, 8)), waits
    for attempt, wait in waits:
        base = 0.5 * 2 ** (int(attempt) - 1)
        assert base - 0.05 <= float(wait) <= base + 1.05, (attempt, wait)


def check_split(outcome: Outcome, dataset: list[Record]) -> None:
    completes(outcome, dataset)
    assert outcome.count(504) == 2
    assert "fetching it as 24 parts" in outcome.stderr


def check_call_budget(outcome: Outcome, dataset: list[Record]) -> None:
    # Whether both calls of the budget get used is test_faults' business (it can race here).
    assert outcome.returncode == 0
    assert 1 <= outcome.count() <= 2
    assert f"Made {outcome.count()} API call(s) for 6 window(s)" in outcome.stderr
    stop = re.search(r"max_api_calls \(2\) reached: stopped before window (\S+);", outcome.stderr)
    assert stop is not None
    last = dt.date.fromisoformat(stop.group(1)) - dt.timedelta(days=1)
    assert day_of(outcome.bookmark or "") == last
    assert sorted(outcome.ids) == all_ids([r for r in dataset if local_day(r["date"]) <= last])


def check_bad_setting(setting: str) -> Callable[[Outcome, list[Record]], None]:
    def check(outcome: Outcome, _dataset: list[Record]) -> None:
        assert outcome.returncode != 0
        assert not outcome.killed
        assert outcome.calls == []
        errors = [line for _, line in outcome.stderr_lines if "| ERROR" in line]
        assert any(setting in line for line in errors), errors
        assert outcome.messages == []

    return check


SECOND_WINDOW = {"dateFrom": "10/03/2026"}
WRONG_TOKEN = "wrong/" + TOKEN[::-1]

SCENARIOS = [
    # The slow ones first: they sleep through eight tries' backoff.
    Scenario(
        "refused", check_no_server("Connection refused"), server=None
    ),  # url set at run time: a closed port
    Scenario(
        "dns",
        check_no_server("Failed to resolve 'calltouch.invalid'"),
        server=None,
        url="http://calltouch.invalid",
    ),
    Scenario(
        "html-persists",
        check_bad_body_persists,
        faults=[("html", 8, {"match": SECOND_WINDOW})],
    ),
    Scenario(
        "points-while-another-window-retries",
        check_stops_at_once,
        settings={"window_days": 1, "request_timeout": 2},
        server={"points_budget": 0},
        faults=[("hang", 8, {"match": {"dateFrom": "10/03/2026"}, "seconds": 30})],
        deadline=60,
    ),
    Scenario(
        "errors-500-502-503",
        check_bursts,
        faults=[("status", 1, {"status": s}) for s in (503, 502, 500)],
    ),
    Scenario("resets", check_resets, faults=[("reset", 2, {})]),
    Scenario(
        "no-answer",
        check_hang,
        settings={"request_timeout": 1},
        faults=[("hang", 1, {"match": SECOND_WINDOW})],
    ),
    Scenario(
        "429-without-retry-after",
        check_strict_rate,
        settings={"window_days": 1},
        server={"rate_limit": 2},
    ),
    Scenario(
        "429-with-retry-after",
        check_strict_rate,
        settings={"window_days": 1},
        server={"rate_limit": 2, "retry_after": 1},
    ),
    Scenario(
        "bad-bodies-once",
        check_bad_bodies_once,
        faults=[("truncated", 1, {}), ("html", 1, {}), ("object", 1, {})],
    ),
    Scenario("403", check_rejected(403), settings={"api_token": WRONG_TOKEN}),
    Scenario(
        "401",
        check_rejected(401),
        settings={"api_token": WRONG_TOKEN},
        server={"denied_status": 401},
    ),
    Scenario(
        "points",
        check_points,
        settings={"window_days": 1},
        server={"points_budget": 2},
    ),
    Scenario(
        "too-big-504",
        check_split,
        settings={"window_days": 3, "end_date": (FIRST_DAY + dt.timedelta(days=2)).isoformat()},
        server={"max_response_records": 20},
    ),
    Scenario(
        "max-api-calls",
        check_call_budget,
        settings={"window_days": 1, "max_api_calls": 2},
    ),
]
BAD_SETTING_SCENARIOS = [
    Scenario(f"setting-{setting}", check_bad_setting(setting), bad_setting=(setting, *values[0]))
    for setting, values in BAD_SETTINGS.items()
]


def run_scenario(scenario: Scenario, dataset: list[Record], directory: Path) -> Outcome:
    if scenario.bad_setting is not None:
        setting, value, extra = scenario.bad_setting
        with Emulator(dataset=dataset, token=TOKEN) as server:
            config = bad_config(server.url, setting, value, extra)
            return run_tap_process(directory, config, emulator=server, deadline=scenario.deadline)
    if scenario.server is None:
        # A port bound and never listened on refuses every connection, and no server started
        # meanwhile (another scenario's emulator) can be given it: the run lasts a minute.
        with socket.socket() as refusing:
            refusing.bind(("127.0.0.1", 0))
            url = scenario.url or f"http://127.0.0.1:{refusing.getsockname()[1]}"
            config = settings(url, **scenario.settings)
            return run_tap_process(directory, config, deadline=scenario.deadline)
    serving = big_day(dataset) if "max_response_records" in scenario.server else dataset
    with Emulator(dataset=serving, token=TOKEN, **scenario.server) as server:
        for kind, times, opts in scenario.faults:
            server.inject(kind, times=times, **opts)
        config = settings(server.url, **scenario.settings)
        return run_tap_process(directory, config, emulator=server, deadline=scenario.deadline)


def big_day(dataset: list[Record]) -> list[Record]:
    """The dataset's first three days, the second one too big for one answer."""
    days = [r for r in dataset if local_day(r["date"]) <= FIRST_DAY + dt.timedelta(days=2)]
    add_requests(days, 24, FIRST_DAY + dt.timedelta(days=1), seed=9)
    return days


@pytest.fixture(scope="module")
def dataset() -> list[Record]:
    return generate_dataset(seed=13, start=FIRST_DAY, days=DAYS, per_day=8)


@pytest.fixture(scope="module")
def outcomes(dataset: list[Record], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every scenario's run, all started together; a few at a time start the command."""
    root = tmp_path_factory.mktemp("process")
    scenarios = SCENARIOS + BAD_SETTING_SCENARIOS
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        futures = {
            scenario.name: pool.submit(run_scenario, scenario, dataset, root / scenario.name)
            for scenario in scenarios
        }
        return {name: future.result() for name, future in futures.items()}


def expected_for(name: str, dataset: list[Record]) -> list[Record]:
    return big_day(dataset) if name == "too-big-504" else dataset


# --- the tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.name)
def test_fault_scenario_as_a_process(
    scenario: Scenario, outcomes: dict[str, Outcome], dataset: list[Record]
) -> None:
    outcome = outcomes[scenario.name]
    assert_no_token(outcome.stderr, outcome.stdout)
    assert "| DEBUG" in outcome.stderr  # the most verbose level really was on
    if scenario.server is not None:
        assert "clientApiId=***" in outcome.stderr  # urllib3's URL lines, masked
    if outcome.returncode == 0:
        assert "METRIC: " in outcome.stderr  # metrics were logged, and checked
    scenario.check(outcome, expected_for(scenario.name, dataset))


@pytest.mark.parametrize("scenario", BAD_SETTING_SCENARIOS, ids=lambda scenario: scenario.name)
def test_bad_setting_through_the_command_line(
    scenario: Scenario, outcomes: dict[str, Outcome], dataset: list[Record]
) -> None:
    outcome = outcomes[scenario.name]
    assert_no_token(outcome.stderr, outcome.stdout)
    scenario.check(outcome, dataset)


# --- kill -9 in the middle of a backfill, then resume --------------------------------------------


def test_kill_9_mid_backfill_then_resume_from_the_last_state(tmp_path: Path) -> None:
    days = 10
    dataset = generate_dataset(seed=17, start=FIRST_DAY, days=days, per_day=6)
    config = {
        **settings("", window_days=1, requests_per_second=2),
        "end_date": (FIRST_DAY + dt.timedelta(days=days - 1)).isoformat(),
    }
    with Emulator(dataset=dataset, token=TOKEN, latency=0.3) as server:
        process = start_tap(tmp_path / "killed", {**config, "api_url": server.url})
        stderr_lines: list[tuple[float, str]] = []
        threading.Thread(target=collect_stderr, args=(process, stderr_lines), daemon=True).start()
        stdout: queue.Queue[str] = queue.Queue()
        threading.Thread(target=collect_stdout, args=(process, stdout), daemon=True).start()
        lines: list[str] = []
        bookmarked_states = 0
        try:
            while bookmarked_states < 3:
                line = stdout.get(timeout=20)
                assert line, "the run ended before it could be killed"
                lines.append(line)
                message = json.loads(line)
                bookmarks = message.get("value", {}).get("bookmarks", {})
                if bookmarks.get("requests", {}).get("replication_key_value"):
                    bookmarked_states += 1
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
        time.sleep(0.2)  # let the reader take the last stderr lines
        killed_stderr = "".join(line for _, line in stderr_lines)
        killed_calls = server.count()
        server.reset_log()

        first = [json.loads(line) for line in lines]
        last_state = next(m["value"] for m in reversed(first) if m["type"] == "STATE")
        resumed = run_tap_process(
            tmp_path / "resumed",
            {**config, "api_url": server.url},
            emulator=server,
            state=last_state,
        )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    first_ids = {
        m["record"]["requestId"]
        for m in first
        if m["type"] == "RECORD" and m["stream"] == "requests"
    }
    assert 0 < killed_calls < days
    assert sorted(first_ids | set(resumed.ids)) == all_ids(dataset)
    assert resumed.count() < days  # a fresh run asks for every day
    saved = last_state["bookmarks"]["requests"]
    asked = [dt.datetime.strptime(c.params["dateFrom"], "%m/%d/%Y").date() for c in resumed.calls]  # noqa: DTZ007
    # Resumed the day after the last complete window, which holds the bookmark.
    assert min(asked) == dt.date.fromisoformat(saved["resume_from"])
    assert day_of(saved["replication_key_value"]) < min(asked)
    assert_no_token(killed_stderr, resumed.stderr, resumed.stdout, "".join(lines))
