"""The fault matrix, in process: whatever the API or the network does, a run ends with every
record of its range or with an error a person can act on, and with state that loses nothing.

Each test runs whole syncs against the emulator and checks the records, the STATE messages,
the calls the emulator saw, the logs (at DEBUG, so urllib3's lines with URLs are in) and the
exception, and that the token is in none of them. The same scenarios run as real processes in
`test_process.py`, where retries wait as in production; here they wait milliseconds
(tests/conftest.py), and the rate limit is the subject of the tests marked `slow`.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import http.server
import json
import logging
import re
import socket
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from tap_calltouch import answers
from tap_calltouch.client import CalltouchStream
from tap_calltouch.errors import CalltouchAPIError, PointsExhaustedError, is_points_answer
from tap_calltouch.retry import exponential_waits
from tap_calltouch.tap import TapCalltouch
from tests.conftest import FIRST_DAY, REQUEST_STREAMS, TOKEN, Stdout, SyncResult, catalog_selecting
from tests.emulator.dataset import DEFAULT_SITE_ID, add_requests, generate_dataset
from tests.emulator.server import Emulator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pytest_httpserver import HTTPServer

    from tests.emulator.dataset import Record
    from tests.emulator.server import Call

MOSCOW = ZoneInfo("Europe/Moscow")
DAYS = 6
LAST_DAY = FIRST_DAY + dt.timedelta(days=DAYS - 1)
TRIES = CalltouchStream.backoff_tries
# With window_days=2 the range is three windows; the middle one is where faults are aimed.
SECOND_WINDOW = {"dateFrom": "10/03/2026"}
SECOND_WINDOW_NAME = "2026-10-03..2026-10-04"
MADE_CALLS = re.compile(r"Made (\d+) API call\(s\)")


# --- running a sync ------------------------------------------------------------------------------


@dataclass
class Run:
    """One in-process sync: its Singer output and how it ended."""

    result: SyncResult
    error: Exception | None
    tap: TapCalltouch | None = None

    def calls_admitted(self, stream: str = "requests") -> int:
        """The calls a journal let out: counted once past the stop check, before the send."""
        assert self.tap is not None
        return int(self.tap.streams[stream].calls_made)  # type: ignore[attr-defined]

    @property
    def ids(self) -> list[int]:
        return [record["requestId"] for record in self.result.records["requests"]]

    @property
    def bookmark(self) -> str | None:
        """The bookmark of the last STATE, which is what the next run starts from."""
        if not self.result.states:
            return None
        bookmarks = self.result.final_state.get("bookmarks", {})
        value = bookmarks.get("requests", {}).get("replication_key_value")
        return str(value) if value is not None else None


def sync(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    streams: tuple[str, ...] | None = REQUEST_STREAMS,
) -> Run:
    """Run a whole sync, keeping what it wrote to stdout even when it fails.

    Only the requests journal by default, as in `run_tap`; `streams=None` syncs every stream.
    """
    catalog = catalog_selecting(streams) if streams is not None else None
    out = Stdout()
    error: Exception | None = None
    tap: TapCalltouch | None = None
    with contextlib.redirect_stdout(out):
        try:
            tap = TapCalltouch(config=config, state=state, catalog=catalog)
            tap.sync_all()
        except Exception as exc:  # noqa: BLE001 - the test judges the failure
            error = exc
    messages = [json.loads(line) for line in out.getvalue().splitlines() if line]
    return Run(SyncResult(messages), error, tap)


def settings(url: str, **overrides: Any) -> dict[str, Any]:
    """Six days in three 2-day windows, with no look-back so a resume starts at the bookmark."""
    return {
        "api_token": TOKEN,
        "site_id": str(DEFAULT_SITE_ID),
        "start_date": FIRST_DAY.isoformat(),
        "end_date": LAST_DAY.isoformat(),
        "api_url": url,
        "window_days": 2,
        "lookback_days": 0,
        **overrides,
    }


# --- what every scenario checks ------------------------------------------------------------------


def token_forms(token: str = TOKEN) -> set[str]:
    """The token raw, URL-encoded (also with its non-ASCII letters left as they are, as
    werkzeug's `request.url` gives it) and JSON-escaped (`\\/`, `\\uXXXX`, as PHP writes it), and
    every 12-character piece of those (a cut-off token)."""
    encoded = {token, quote(token, safe=""), quote_plus(token)}
    encoded |= {
        "".join(c if not c.isascii() else quote(c, safe=safe) for c in token) for safe in ("", "/")
    }
    escaped = {json.dumps(form)[1:-1] for form in encoded}  # \uXXXX for non-ASCII
    whole = encoded | escaped | {form.replace("/", "\\/") for form in encoded | escaped}
    return whole | {form[i : i + 12] for form in whole for i in range(len(form) - 11)}


def assert_no_token(*texts: str, token: str = TOKEN) -> None:
    for text in texts:
        leaked = sorted(form for form in token_forms(token) if form in text)
        assert not leaked, f"token leaked: {leaked[:3]} in {text[:300]!r}"


def exception_texts(error: BaseException | None) -> list[str]:
    """What a person or a log sees of an error: its text and its printed traceback."""
    if error is None:
        return []
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


def chained_texts(error: BaseException | None) -> list[str]:
    """The texts of every error chained to this one, the suppressed `__context__` included:
    error trackers and custom log formatters walk the chain the printed traceback hides."""
    texts: list[str] = []
    seen: set[int] = set()
    pending = [error]
    while pending:
        exc = pending.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        texts.extend([str(exc), repr(exc)])
        pending.extend([exc.__cause__, exc.__context__])
    return texts


def local_day(epoch_ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, MOSCOW).date()


def day_of(rfc3339: str) -> dt.date:
    return dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).astimezone(MOSCOW).date()


def all_ids(dataset: list[Record]) -> list[int]:
    return sorted(int(record["requestId"]) for record in dataset)


def assert_checkpoints_follow_emitted(run: Run, state: dict[str, Any] | None = None) -> None:
    """Each STATE's bookmark is the newest creation time emitted before it (or the bookmark
    the run started from), never ahead of what was emitted."""
    start = ((state or {}).get("bookmarks", {}).get("requests") or {}).get("replication_key_value")
    newest: str | None = start
    for message in run.result.messages:
        if message["type"] == "RECORD" and message["stream"] == "requests":
            date = message["record"]["date"]
            newest = date if newest is None or date > newest else newest
        elif message["type"] == "STATE":
            bookmark = message["value"].get("bookmarks", {}).get("requests", {})
            value = bookmark.get("replication_key_value")
            if value is not None and bookmark.get("replication_key") == "date":
                assert value == newest


def assert_whole_days_up_to_bookmark(
    run: Run, dataset: list[Record], first_day: dt.date = FIRST_DAY
) -> None:
    """The run emitted complete windows only: exactly the records from its first day through
    the bookmark's day."""
    if run.bookmark is None:
        assert run.ids == []
        return
    last = day_of(run.bookmark)
    wanted = sorted(
        int(r["requestId"]) for r in dataset if first_day <= local_day(r["date"]) <= last
    )
    assert sorted(run.ids) == wanted


def assert_made_calls_logged(logs: str, emulator: Emulator) -> None:
    """The run's own count of calls, in its last summary line, is what the server saw."""
    made = MADE_CALLS.findall(logs)
    assert made, "no 'Made N API call(s)' line"
    assert int(made[-1]) == emulator.count()


def windows_called(emulator: Emulator) -> Counter[tuple[str, ...]]:
    return Counter(
        tuple(call.params.get(key, "") for key in ("dateFrom", "dateTo", "timeFrom", "timeTo"))
        for call in emulator.calls
    )


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def six_days() -> list[Record]:
    return generate_dataset(seed=11, start=FIRST_DAY, days=DAYS, per_day=10)


@pytest.fixture
def dataset(six_days: list[Record]) -> list[Record]:
    return copy.deepcopy(six_days)


@pytest.fixture
def emulator(dataset: list[Record]) -> Iterator[Emulator]:
    with Emulator(dataset=dataset, token=TOKEN) as server:
        yield server


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log line of the run, DEBUG included (urllib3 logs each URL, token and all)."""
    caplog.set_level(logging.DEBUG)
    return caplog


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- transient faults: retried, every record delivered -------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_error_burst_on_one_window_is_retried_to_completion(
    emulator: Emulator, dataset: list[Record], logs: pytest.LogCaptureFixture, status: int
) -> None:
    emulator.inject("status", times=TRIES - 1, status=status, match=SECOND_WINDOW)
    run = sync(settings(emulator.url))
    assert run.error is None
    assert sorted(run.ids) == all_ids(dataset)
    assert emulator.count(status) == TRIES - 1
    assert emulator.count(200) == 3
    assert f"attempt {TRIES - 1} of {TRIES}" in logs.text
    assert_checkpoints_follow_emitted(run)
    assert day_of(run.bookmark or "") == LAST_DAY
    assert_made_calls_logged(logs.text, emulator)
    assert_no_token(logs.text)


def test_connection_resets_are_retried(
    emulator: Emulator, dataset: list[Record], logs: pytest.LogCaptureFixture
) -> None:
    emulator.inject("reset", times=3)
    run = sync(settings(emulator.url))
    assert run.error is None
    assert sorted(run.ids) == all_ids(dataset)
    assert (emulator.count(0), emulator.count(200)) == (3, 3)
    assert "Remote end closed connection" in logs.text
    assert_made_calls_logged(logs.text, emulator)
    assert_no_token(logs.text)


def test_a_server_that_stops_answering_is_cut_off_by_request_timeout(
    emulator: Emulator, dataset: list[Record], logs: pytest.LogCaptureFixture
) -> None:
    emulator.inject("hang", times=2, match=SECOND_WINDOW)  # held until the emulator stops
    run = sync(settings(emulator.url, request_timeout=1))
    assert run.error is None
    assert sorted(run.ids) == all_ids(dataset)
    assert windows_called(emulator)[("10/03/2026", "10/04/2026", "", "")] == 3
    assert logs.text.count("Read timed out. (read timeout=1)") == 2
    assert_made_calls_logged(logs.text, emulator)
    assert_no_token(logs.text)


@pytest.mark.slow
@pytest.mark.parametrize("retry_after", [None, 1.0])
def test_a_server_stricter_than_five_calls_a_second(
    dataset: list[Record], logs: pytest.LogCaptureFixture, retry_after: float | None
) -> None:
    with Emulator(dataset=dataset, token=TOKEN, rate_limit=2, retry_after=retry_after) as server:
        run = sync(settings(server.url, window_days=1))
        calls = list(server.calls)
        assert server.count(429) > 0
        assert server.count(200) == DAYS
        assert_made_calls_logged(logs.text, server)
    assert run.error is None
    assert sorted(run.ids) == all_ids(dataset)
    assert_checkpoints_follow_emitted(run)
    if retry_after is not None:
        for gap in retry_gaps(calls):
            assert gap >= retry_after - 0.05  # Retry-After is a floor for the next try
    assert_no_token(logs.text)


@pytest.mark.parametrize(
    ("journal", "fault", "opts"),
    [
        ("requests", "status", {"status": 503}),
        ("requests", "status", {"status": 429}),
        ("requests", "reset", {}),
        ("calls", "status", {"status": 502}),
    ],
    ids=["requests-503", "requests-429", "requests-reset", "calls-502"],
)
def test_each_retry_carries_the_token_once(
    emulator: Emulator,
    logs: pytest.LogCaptureFixture,
    journal: str,
    fault: str,
    opts: dict[str, Any],
) -> None:
    """A retried call is signed afresh: its query holds one token, not one more per try."""
    emulator.inject(fault, times=2, journal=journal, **opts)
    run = sync(settings(emulator.url), streams=(journal,))
    assert run.error is None
    attempts = Counter((call.path, tuple(sorted(call.params.items()))) for call in emulator.calls)
    assert max(attempts.values()) == 3  # the first call of the journal, tried three times
    assert [call.tokens for call in emulator.calls] == [1] * len(emulator.calls)
    assert_no_token(logs.text)


def retry_gaps(calls: list[Call]) -> list[float]:
    """Seconds from each 429 to the next call of the same window."""
    gaps = []
    for index, call in enumerate(calls):
        if call.status == 429:
            later = [c for c in calls[index + 1 :] if c.params == call.params]
            assert later, "a refused window was never tried again"
            gaps.append(later[0].time - call.time)
    return gaps


# --- bodies that are not a JSON array ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "opts"),
    [("truncated", {}), ("truncated", {"after": "]"}), ("html", {}), ("object", {})],
    ids=["truncated", "truncated-ending-in-bracket", "html", "object"],
)
def test_a_bad_body_once_is_retried(
    emulator: Emulator,
    dataset: list[Record],
    logs: pytest.LogCaptureFixture,
    fault: str,
    opts: dict[str, Any],
) -> None:
    emulator.inject(fault, match=SECOND_WINDOW, **opts)
    run = sync(settings(emulator.url))
    assert run.error is None, run.error
    assert sorted(run.ids) == all_ids(dataset)
    assert emulator.count() == 4  # three windows, the middle one twice
    assert_made_calls_logged(logs.text, emulator)
    assert_no_token(logs.text, *exception_texts(run.error))


@pytest.mark.parametrize("fault", ["truncated", "html", "object"])
def test_a_bad_body_that_persists_fails_naming_the_window_and_the_next_run_resumes(
    emulator: Emulator, dataset: list[Record], logs: pytest.LogCaptureFixture, fault: str
) -> None:
    emulator.inject(fault, times=TRIES, match=SECOND_WINDOW)
    first = sync(settings(emulator.url))
    assert isinstance(first.error, CalltouchAPIError)
    message = str(first.error)
    assert f"requests window {SECOND_WINDOW_NAME} failed after {TRIES} attempts" in message
    assert "not a JSON array" in message
    assert windows_called(emulator)[("10/03/2026", "10/04/2026", "", "")] == TRIES
    assert_checkpoints_follow_emitted(first)
    assert_whole_days_up_to_bookmark(first, dataset)
    assert first.bookmark is not None
    assert day_of(first.bookmark) == FIRST_DAY + dt.timedelta(days=1)

    second = sync(settings(emulator.url), state=first.result.final_state)
    assert second.error is None
    assert_checkpoints_follow_emitted(second, first.result.final_state)
    assert sorted(set(first.ids) | set(second.ids)) == all_ids(dataset)
    assert_no_token(logs.text, *exception_texts(first.error))


# --- rejected credentials: one call, no retry, the setting to check ------------------------------


@pytest.mark.parametrize(
    ("denied_status", "change"),
    [
        (403, {"api_token": "wrong/" + TOKEN[::-1]}),
        (403, {"site_id": "54321"}),
        (401, {"api_token": "wrong/" + TOKEN[::-1]}),
    ],
    ids=["403-token", "403-site", "401-token"],
)
def test_rejected_credentials_stop_after_one_call(
    dataset: list[Record],
    logs: pytest.LogCaptureFixture,
    denied_status: int,
    change: dict[str, str],
) -> None:
    with Emulator(dataset=dataset, token=TOKEN, denied_status=denied_status) as server:
        run = sync(settings(server.url, **change))
        time.sleep(0.3)  # let any call still on its way arrive
        calls = server.count()
        denied = server.count(denied_status)
    assert isinstance(run.error, CalltouchAPIError)
    message = str(run.error)
    assert f"HTTP {denied_status}" in message
    assert "`api_token`" in message
    assert "`site_id`" in message
    assert run.ids == []
    assert (calls, denied) == (1, 1), "a rejected token is known after the first call"
    secret = change.get("api_token", TOKEN)
    assert_no_token(logs.text, *exception_texts(run.error), token=secret)


# --- the daily points budget ---------------------------------------------------------------------


def test_points_exhausted_stops_at_once_and_tomorrow_continues(
    dataset: list[Record], logs: pytest.LogCaptureFixture
) -> None:
    budget = 4
    config = settings("", window_days=1)
    with Emulator(dataset=dataset, token=TOKEN, points_budget=budget) as today:
        first = sync({**config, "api_url": today.url})
        made = first.calls_admitted()
        # A window waiting for the limiter (1 ms here) would call by now. A call let out just
        # before the stop may still be on its way (its thread lost the CPU before it sent): it
        # is counted in `made`, and arrives.
        time.sleep(0.3)
        assert first.calls_admitted() == made, "calls went on after the run stopped"
        assert today.count() == made
        per_window = windows_called(today)
    assert isinstance(first.error, PointsExhaustedError)
    message = str(first.error)
    assert "daily API points are used up" in message
    assert "next run" in message
    assert max(per_window.values()) == 1  # a points refusal is not retried
    assert made <= budget + CalltouchStream.fetch_concurrency
    assert_checkpoints_follow_emitted(first)
    assert_whole_days_up_to_bookmark(first, dataset)

    with Emulator(dataset=dataset, token=TOKEN) as tomorrow:
        second = sync({**config, "api_url": tomorrow.url}, state=first.result.final_state)
        resumed_calls = tomorrow.count()
        first_day_asked = min(
            dt.datetime.strptime(c.params["dateFrom"], "%m/%d/%Y").date()  # noqa: DTZ007
            for c in tomorrow.calls
        )
    assert second.error is None
    assert sorted(set(first.ids) | set(second.ids)) == all_ids(dataset)
    if first.bookmark is not None:  # resumed the day after the last complete window
        saved = first.result.final_state["bookmarks"]["requests"]
        assert first_day_asked == dt.date.fromisoformat(saved["resume_from"])
        assert first_day_asked == day_of(first.bookmark) + dt.timedelta(days=1)
        assert resumed_calls < DAYS
    assert_no_token(logs.text, *exception_texts(first.error))


# --- no server at all ----------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["refused", "dns"])
def test_no_server_is_a_clear_error_in_bounded_time(
    logs: pytest.LogCaptureFixture, where: str
) -> None:
    if where == "refused":
        port = closed_port()
        url, host, cause = f"http://127.0.0.1:{port}", f"port={port}", "Connection refused"
    else:
        url, host, cause = "http://calltouch.invalid", "calltouch.invalid", "Failed to resolve"
    run = sync(settings(url))
    assert isinstance(run.error, CalltouchAPIError)
    message = str(run.error)
    assert f"failed after {TRIES} attempts" in message
    assert message.startswith("requests window 2026-10-01..2026-10-02")
    assert host in message
    assert cause in message
    assert run.ids == []
    assert_no_token(logs.text, *exception_texts(run.error))
    assert_no_token(*chained_texts(run.error))  # requests' own error, URL and all, rides along


def test_the_real_retry_schedule_gives_up_within_a_bounded_time() -> None:
    waits = exponential_waits()
    next(waits)
    schedule = [waits.send(None) for _ in range(TRIES - 1)]
    assert schedule == [0.5, 1, 2, 4, 8, 16, 32]
    # Each wait gets up to 1 s of jitter; a refused or unresolvable host fails at once.
    assert sum(schedule) + (TRIES - 1) <= 71


# --- a window too big for one answer -------------------------------------------------------------


BUSY_DAY = FIRST_DAY + dt.timedelta(days=1)
EDGES = [dt.time(0, 0, 0), dt.time(9, 59, 59), dt.time(10, 0, 0), dt.time(23, 59, 59)]


def test_a_window_too_big_is_split_into_days_then_hours_without_gaps_or_overlaps(
    logs: pytest.LogCaptureFixture,
) -> None:
    dataset = generate_dataset(seed=5, start=FIRST_DAY, days=3, per_day=6)
    add_requests(dataset, 26, BUSY_DAY, seed=3)
    add_requests(dataset, len(EDGES), BUSY_DAY, times=EDGES, seed=4)
    config = settings("", window_days=3, end_date=(FIRST_DAY + dt.timedelta(days=2)).isoformat())
    with Emulator(dataset=dataset, token=TOKEN, max_response_records=20) as server:
        run = sync({**config, "api_url": server.url})
        calls = list(server.calls)
        assert_made_calls_logged(logs.text, server)
    assert run.error is None, run.error
    assert sorted(run.ids) == all_ids(dataset)  # every record exactly once

    answered = [call.params for call in calls if call.status == 200]
    refused = [call.params for call in calls if call.status == 504]
    assert [(p["dateFrom"], p["dateTo"]) for p in refused] == [
        ("10/01/2026", "10/03/2026"),
        ("10/02/2026", "10/02/2026"),
    ]
    whole_days = sorted(p["dateFrom"] for p in answered if "timeFrom" not in p)
    assert whole_days == ["10/01/2026", "10/03/2026"]
    hours = sorted((p["timeFrom"], p["timeTo"]) for p in answered if "timeFrom" in p)
    assert all(p["dateFrom"] == p["dateTo"] == "10/02/2026" for p in answered if "timeFrom" in p)
    assert hours == [(f"{h:02d}:00:00", f"{h:02d}:59:59") for h in range(24)]
    assert len(calls) == 2 + 2 + 24
    assert "fetching it as 3 parts" in logs.text
    assert "fetching it as 24 parts" in logs.text
    assert_checkpoints_follow_emitted(run)
    assert_no_token(logs.text)


def test_a_busy_day_when_clocks_go_back_is_split_without_losing_the_repeated_hour(
    logs: pytest.LogCaptureFixture,
) -> None:
    """On 1 Nov 2026 New York lives 01:00-01:59 twice (EDT, then EST); hour slices sent as local
    times must still ask for both passes, once each."""
    zone, day = "America/New_York", dt.date(2026, 11, 1)
    dataset = generate_dataset(seed=23, start=day, days=1, per_day=4, tz=zone)
    add_requests(dataset, 24, day, seed=5, tz=zone)  # too many for one answer
    add_requests(dataset, 2, day, times=[dt.time(1, 15), dt.time(1, 45)], seed=6, tz=zone)
    second_pass = add_requests(
        dataset, 2, day, times=[dt.time(1, 20), dt.time(1, 50)], seed=7, tz=zone
    )
    for record in second_pass:
        record["date"] += 3_600_000  # created at 01:20 and 01:50 EST, the hour's second pass
    config = settings("", timezone=zone, start_date=day.isoformat(), end_date=day.isoformat())
    with Emulator(dataset=dataset, token=TOKEN, tz=zone, max_response_records=20) as server:
        run = sync({**config, "api_url": server.url, "window_days": 1})
    assert run.error is None, run.error
    assert "is too large for one answer" in logs.text
    missing = sorted(set(all_ids(dataset)) - set(run.ids))
    assert not missing, f"lost {len(missing)} record(s), e.g. created at 01:20 EST"
    assert sorted(run.ids) == all_ids(dataset)


def test_an_hour_too_big_fails_naming_the_hour(logs: pytest.LogCaptureFixture) -> None:
    dataset = generate_dataset(seed=5, start=FIRST_DAY, days=1, per_day=6)
    add_requests(dataset, 25, FIRST_DAY, times=[dt.time(13, m) for m in range(25)], seed=3)
    config = settings("", window_days=1, end_date=FIRST_DAY.isoformat())
    with Emulator(dataset=dataset, token=TOKEN, max_response_records=20) as server:
        run = sync({**config, "api_url": server.url})
    assert isinstance(run.error, CalltouchAPIError)
    assert str(run.error).startswith(
        f"requests window 2026-10-01 13:00-13:59 failed after {TRIES} attempts: HTTP 504"
    )
    assert_no_token(logs.text, *exception_texts(run.error))


# --- a budget of calls per run -------------------------------------------------------------------


def test_call_budget_stops_after_the_window_and_the_next_runs_continue(
    emulator: Emulator, dataset: list[Record], logs: pytest.LogCaptureFixture
) -> None:
    budget = 3
    config = settings(emulator.url, window_days=1, max_api_calls=budget)
    state: dict[str, Any] | None = None
    first_day = FIRST_DAY
    delivered: set[int] = set()
    stops: list[str] = []
    for number in range(1, DAYS + 1):
        emulator.reset_log()
        logs.clear()
        if number == 2:
            emulator.inject("status", status=503)  # a retry is a call, and is counted
        run = sync(config, state=state)
        assert run.error is None
        assert_made_calls_logged(logs.text, emulator)
        assert_checkpoints_follow_emitted(run, state)
        # Stopped cleanly after whole windows; the next run starts at the bookmark's day.
        assert_whole_days_up_to_bookmark(run, dataset, first_day=first_day)
        assert_no_token(logs.text)
        delivered.update(run.ids)
        state = run.result.final_state
        # An unfinished pass resumes the day after its last complete window.
        resume = state["bookmarks"]["requests"].get("resume_from")
        first_day = dt.date.fromisoformat(resume) if resume else first_day
        stop = re.search(r"max_api_calls \(3\) reached: stopped before window (\S+);", logs.text)
        if stop is None:
            break
        # Windows started within the budget; retries (the 503, or a 429 because the previous
        # run's calls still count in the server's last second) finish the window they belong to.
        assert 0 < emulator.count(200) <= budget
        assert not stops or stop.group(1) > stops[-1]  # each run gets further
        stops.append(stop.group(1))
    assert stops  # the budget did stop the first run; how exactly it is spent is the next test's
    assert sorted(delivered) == all_ids(dataset)


def test_call_budget_is_used_in_full_when_answers_take_time(logs: pytest.LogCaptureFixture) -> None:
    """The real API takes about a second to answer; windows in flight meanwhile are already
    signed, and must count once against the budget, not twice."""
    days, budget = 12, 10
    dataset = generate_dataset(seed=19, start=FIRST_DAY, days=days, per_day=3)
    end = (FIRST_DAY + dt.timedelta(days=days - 1)).isoformat()
    with Emulator(dataset=dataset, token=TOKEN, latency=0.5) as server:
        run = sync(settings(server.url, window_days=1, max_api_calls=budget, end_date=end))
        calls = server.count()
    assert run.error is None
    assert f"Made {calls} API call(s) for {days} window(s)" in logs.text
    assert calls == budget, f"max_api_calls={budget} but the run stopped after {calls} call(s)"
    assert "stopped before window 2026-10-11" in logs.text


# --- error texts that echo the call --------------------------------------------------------------

ECHO_TOKENS = [
    "aB3/dE6+gH9=jK2/mN5+pQ8=sT1/vW4+yZ7=",  # every character URL encoding changes
    "Zx9+Yw8/Vu7=Ts6+Rq5/Po4=Nm3+Lk2/Ji1=Hg0+Fe9/Dc8=",
    "Жк7/Лм8+Нп9=Рс0/Тф1+Хц2=Чш3/Щъ4+",  # non-ASCII: JSON writes it as \uXXXX
]


ECHOES = {
    "upper": lambda url: url,
    "lower": lambda url: re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), url),
    "decoded": lambda url: url.replace("%2F", "/").replace("%2B", "+").replace("%3D", "="),
    # An error body in JSON, as PHP's json_encode writes it: `\/` for `/`, `\uXXXX` beyond ASCII.
    "php_json": lambda url: json.dumps(unquote(url))[1:-1].replace("/", "\\/"),
    "php_json_encoded": lambda url: json.dumps(url)[1:-1].replace("/", "\\/"),
}


def echo_at(cut_into_token: int, echo: Callable[[str], str]) -> Callable[[Any], Any]:
    """A handler answering 400 with the call's URL, placed so the 500-character cut falls
    `cut_into_token` characters into the token."""
    from werkzeug.wrappers import Response  # noqa: PLC0415 - only these tests answer by hand

    def handler(request: Any) -> Response:
        url = echo(request.url)
        start = url.index("clientApiId=") + len("clientApiId=")
        padding = "x" * max(0, 500 - len("Bad request: ") - start - cut_into_token)
        return Response(f"Bad request: {padding}{url} {'y' * 600}", status=400)

    return handler


@pytest.mark.parametrize("token", ECHO_TOKENS)
@pytest.mark.parametrize("case", sorted(ECHOES))
def test_an_error_body_echoing_the_call_never_leaks_a_piece_of_the_token(
    httpserver: HTTPServer, logs: pytest.LogCaptureFixture, token: str, case: str
) -> None:
    """The API's error text is shortened for the message; cut before redaction, a token
    straddling the cut kept its first half (22 of 45 characters in the review)."""
    for cut in range(2, len(token), 5):
        httpserver.clear()
        httpserver.expect_request(re.compile(".*")).respond_with_handler(echo_at(cut, ECHOES[case]))
        run = sync(settings(httpserver.url_for("/").rstrip("/"), api_token=token))
        assert isinstance(run.error, CalltouchAPIError)
        assert "HTTP 400" in str(run.error)
        assert "..." in str(run.error), "the echo was long enough to be shortened"
        assert_no_token(*exception_texts(run.error), logs.text, token=token)


# --- which answer is the points answer -----------------------------------------------------------

ENDPOINTS = "Service unavailable: no healthy upstream endpoints"


@pytest.mark.parametrize(
    ("status", "message"),
    [(503, ENDPOINTS), (429, "Too many requests to API endpoints"), (502, "points of presence")],
)
def test_429_and_5xx_are_retried_whatever_their_body_says(
    emulator: Emulator, dataset: list[Record], status: int, message: str
) -> None:
    emulator.inject("status", times=2, status=status, message=message, match=SECOND_WINDOW)
    run = sync(settings(emulator.url))
    assert run.error is None, run.error
    assert sorted(run.ids) == all_ids(dataset)
    assert emulator.count(status) == 2


def test_a_4xx_mentioning_endpoints_is_a_refusal_not_spent_points(emulator: Emulator) -> None:
    emulator.inject("status", status=404, message="Unknown endpoints", match=SECOND_WINDOW)
    run = sync(settings(emulator.url))
    assert isinstance(run.error, CalltouchAPIError)
    assert not isinstance(run.error, PointsExhaustedError)
    assert "refused the call (HTTP 404)" in str(run.error)


def answer(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, body
    return response


@examples(derandomize=True, max_examples=200)
@given(
    status=st.sampled_from([429, *range(500, 600)]),
    text=st.text().map(lambda t: f"{t} points {t}"),
)
def test_no_429_or_5xx_is_taken_for_the_points_answer(status: int, text: str) -> None:
    for body in (text.encode(), json.dumps({"message": text, "error": "POINTS_LIMIT"}).encode()):
        assert not is_points_answer(answer(status, body))


@pytest.mark.parametrize(
    ("status", "body", "points"),
    [
        (403, {"error": "POINTS_LIMIT_EXCEEDED", "message": "Daily API points limit exceeded"}, 1),
        (403, {"message": "Превышен суточный лимит баллов API"}, 1),
        (403, {"data": {"apiErrorData": {"errorMessage": "Not enough points"}}}, 1),
        (403, {"error": "ACCESS_DENIED", "message": "Invalid clientApiId or siteId"}, 0),
        (404, {"message": "Unknown endpoints"}, 0),
        (403, "<html><body>403: see our endpoints and points of contact</body></html>", 0),
    ],
)
def test_the_points_answer_is_the_apis_own_error_naming_points(
    status: int, body: dict[str, Any] | str, points: int
) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body, ensure_ascii=False).encode()
    assert is_points_answer(answer(status, raw)) is bool(points)


def test_the_emulators_points_answer_is_the_points_answer(dataset: list[Record]) -> None:
    with Emulator(dataset=dataset, token=TOKEN, points_budget=0) as server:
        spent = requests.get(
            server.url + "/calls-service/RestAPI/requests/",
            params={
                "clientApiId": TOKEN,
                "siteId": DEFAULT_SITE_ID,
                "dateFrom": "10/01/2026",
                "dateTo": "10/01/2026",
            },
            timeout=10,
        )
    assert spent.status_code == 403
    assert is_points_answer(spent)


def test_an_error_answer_broken_on_its_way_is_retried_before_it_is_judged(
    dataset: list[Record],
) -> None:
    with Emulator(dataset=dataset, token=TOKEN, points_budget=0) as server:
        server.inject("cut")  # the first 403's body stops halfway
        run = sync(settings(server.url))
        calls = server.count()
    assert isinstance(run.error, PointsExhaustedError), run.error
    assert calls == 2


class _Redirecting(http.server.BaseHTTPRequestHandler):
    """Answers every call with a 302 to `location`, the query (and the token in it) kept."""

    location = ""

    def do_GET(self) -> None:
        query = urlsplit(self.path).query
        self.send_response(HTTPStatus.FOUND)
        self.send_header("Location", f"{self.location}?{query}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        """Quiet: the test reads the emulator's call log, not this server's."""


@contextlib.contextmanager
def redirecting_to(location: str) -> Iterator[str]:
    """A loopback server that sends every call on to `location`; yields its URL."""
    handler = type("Handler", (_Redirecting,), {"location": location})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("where", ["another host", "its own path", "ftp"])
def test_a_redirect_is_not_followed_so_the_token_goes_nowhere_else(
    emulator: Emulator, logs: pytest.LogCaptureFixture, where: str
) -> None:
    """The token travels in the query, which a redirect keeps: following one hands it to
    whatever host the `Location` names. A 3xx ends the site as a refused call, one call made,
    naming `api_url`, with no traceback of requests' (a loop, a scheme it cannot send)."""
    target = {"another host": f"{emulator.url}/elsewhere", "ftp": "ftp://127.0.0.1/x"}
    with redirecting_to(target.get(where, "/loop")) as url:
        run = sync(settings(url))
    assert emulator.calls == []  # the other host never saw the token
    assert isinstance(run.error, CalltouchAPIError)
    assert "HTTP 302" in str(run.error)
    assert "api_url" in str(run.error)
    assert run.result.records["requests"] == []
    assert_no_token(logs.text, *exception_texts(run.error))


POINTS_BODY = {"error": "POINTS_LIMIT_EXCEEDED", "message": "Daily API points limit exceeded"}
NESTED_ERROR = {"data": {"apiErrorData": {"errorMessage": "Сайт не найден"}}}


@pytest.mark.parametrize(
    ("body", "said"),
    [(POINTS_BODY, "Daily API points limit exceeded"), (NESTED_ERROR, "Сайт не найден")],
)
def test_a_200_carrying_the_apis_error_says_what_the_api_said(
    emulator: Emulator, body: dict[str, Any], said: str
) -> None:
    """The API's error object in a 200 (as clients saw `data.apiErrorData` "elsewhere") is the
    API speaking: its text reaches the message, not "`records` is not a list"; and the points
    answer stops at once, as it does under a 4xx, instead of being retried eight times."""
    emulator.inject("object", times=CalltouchStream.backoff_tries, body=body, match=SECOND_WINDOW)
    run = sync(settings(emulator.url))
    assert isinstance(run.error, CalltouchAPIError)
    assert said in str(run.error)
    points = body is POINTS_BODY
    assert isinstance(run.error, PointsExhaustedError) is points
    second = windows_called(emulator)[(SECOND_WINDOW["dateFrom"], "10/04/2026", "", "")]
    assert second == (1 if points else CalltouchStream.backoff_tries)


def test_the_apis_error_text_in_a_200_is_masked_before_it_is_cut(emulator: Emulator) -> None:
    """A long error text echoing the token where the quote is cut: masked whole, not its tail."""
    said = f" bad clientApiId={TOKEN}"
    pad = answers.SAID_LENGTH - len(said) + len(TOKEN) // 2  # the cut falls inside the token
    emulator.inject(
        "object",
        times=CalltouchStream.backoff_tries,
        match=SECOND_WINDOW,
        body={"message": "x" * pad + said},
    )
    run = sync(settings(emulator.url))
    assert isinstance(run.error, CalltouchAPIError)
    assert "API said: xxx" in str(run.error)
    assert_no_token(*exception_texts(run.error))


@pytest.mark.parametrize("stray", [1, "x", None, []], ids=["int", "str", "null", "list"])
@pytest.mark.parametrize("journal", ["requests", "calls"])
def test_an_answer_holding_a_record_that_is_no_object_is_retried_then_named(
    emulator: Emulator, stray: object, journal: str
) -> None:
    """Not a crash in shaping: a bad body, fetched again, then the run ends naming it."""
    body: object = [stray]
    match = SECOND_WINDOW  # the requests journal's second window; the calls journal has one
    if journal == "calls":
        body, match = {"records": [stray], "pageTotal": 1, "recordsTotal": 1}, {}
    tries = CalltouchStream.backoff_tries
    emulator.inject("object", times=tries, body=body, journal=journal, match=match)
    run = sync(settings(emulator.url), streams=(journal,))
    assert isinstance(run.error, CalltouchAPIError), run.error
    assert "not an object" in str(run.error)
    if journal == "requests":
        assert windows_called(emulator)[(match["dateFrom"], "10/04/2026", "", "")] == tries
    else:
        assert len(emulator.calls) == tries


@pytest.mark.parametrize(
    ("pages", "records"),
    [(10**12, 1), (3, 2), (2, 0)],
    ids=["absurd", "more-than-records", "empty"],
)
def test_a_page_counting_more_pages_than_its_records_could_fill_is_retried_then_named(
    emulator: Emulator, pages: int, records: int
) -> None:
    """Every page but the last holds a record at least, so such a `pageTotal` is a broken
    answer: fetched again, then the run ends naming it, and no page past the first is asked
    for (a trillion of them would not fit in memory)."""
    body = {"records": [], "pageTotal": pages, "recordsTotal": records}
    tries = CalltouchStream.backoff_tries
    emulator.inject("object", times=tries, body=body, journal="calls", match={})
    run = sync(settings(emulator.url), streams=("calls",))
    assert isinstance(run.error, CalltouchAPIError), run.error
    assert f"`pageTotal` {pages}" in str(run.error)
    assert {call.params.get("page") for call in emulator.calls} == {"1"}
    assert len(emulator.calls) == tries
