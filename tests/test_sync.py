"""Whole syncs against the emulator: completeness, increments, rate, faults, rejection."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import signal
import threading
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tap_calltouch.journal import JournalStream
from tap_calltouch.prefetch import StoppedError
from tap_calltouch.stopping import Interrupted
from tap_calltouch.tap import TapCalltouch
from tests.conftest import DAYS, FIRST_DAY, TOKEN, run_tap
from tests.emulator.calls_dataset import generate_calls
from tests.emulator.dataset import DEFAULT_SITE_ID, add_order, add_tag, generate_dataset
from tests.emulator.server import Emulator

MOSCOW = ZoneInfo("Europe/Moscow")
STREAMS = ("requests", "orders", "comments", "map_visits", "request_tags")


def local_day(epoch_ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, MOSCOW).date()


def expected_rows(dataset: list[dict[str, Any]]) -> dict[str, set[Any]]:
    """Primary keys each stream should deliver, worked out from the emulator's own records."""
    keys: dict[str, set[Any]] = {name: set() for name in STREAMS}
    for record in dataset:
        rid = int(record["requestId"])
        keys["requests"].add(rid)
        keys["orders"].update(int(order["orderId"]) for order in record["orders"])
        keys["comments"].update(int(comment["commentId"]) for comment in record["comments"])
        keys["map_visits"].update((rid, int(v["sessionId"])) for v in record["mapVisits"])
        for tag in record["RequestTags"]:
            for names in tag["names"]:
                keys["request_tags"].update(
                    (rid, name.strip()) for name in names.split(",") if name.strip()
                )
    return keys


def delivered_rows(records: dict[str, list[dict[str, Any]]]) -> dict[str, list[Any]]:
    return {
        "requests": [r["requestId"] for r in records["requests"]],
        "orders": [r["orderId"] for r in records["orders"]],
        "comments": [r["commentId"] for r in records["comments"]],
        "map_visits": [(r["requestId"], r["sessionId"]) for r in records["map_visits"]],
        "request_tags": [(r["requestId"], r["name"]) for r in records["request_tags"]],
    }


def test_full_sync_delivers_every_record_once(
    config: dict[str, Any],
    emulator: Emulator,
    dataset: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    result = run_tap(config)
    expected = expected_rows(dataset)
    delivered = delivered_rows(result.records)
    for stream in STREAMS:
        assert len(expected[stream]) > 0, stream
        assert sorted(delivered[stream]) == sorted(expected[stream]), stream
    assert emulator.count() == 4  # 10 days in 3-day windows
    assert emulator.count(429) == 0
    assert "Made 4 API call(s) for 4 window(s)" in caplog.text  # the tap counts what it sends


def test_one_schema_per_stream_and_state_per_window(config: dict[str, Any]) -> None:
    result = run_tap(config)
    assert dict(result.schemas) == dict.fromkeys(STREAMS, 1)
    # One STATE per window plus the SDK's opening and closing ones, never one per record.
    assert len(result.states) <= 4 + 3
    assert set(result.final_state["bookmarks"]) <= set(STREAMS)


def test_child_rows_go_out_right_before_their_parent(config: dict[str, Any]) -> None:
    """Each parent's rows come just before its RECORD, with no SCHEMA or STATE between."""
    result = run_tap(config)
    children: list[dict[str, Any]] = []  # the rows before the next parent
    most_streams = 0
    for message in result.messages:
        if message["type"] != "RECORD":
            assert children == []
        elif message["stream"] != "requests":
            children.append(message)
        else:
            parent = message["record"]["requestId"]
            assert all(row["record"]["requestId"] == parent for row in children)
            most_streams = max(most_streams, len({row["stream"] for row in children}) + 1)
            children = []
    assert children == []
    assert most_streams > 2  # some parent had rows in several child streams


def test_bookmark_is_newest_emitted_creation_time(
    config: dict[str, Any], dataset: list[dict[str, Any]]
) -> None:
    result = run_tap(config)
    newest = max(record["date"] for record in dataset)
    expected = dt.datetime.fromtimestamp(newest / 1000, dt.timezone.utc)
    bookmark = result.final_state["bookmarks"]["requests"]["replication_key_value"]
    assert dt.datetime.fromisoformat(bookmark.replace("Z", "+00:00")) == expected


def test_state_after_each_window_never_passes_emitted_data(config: dict[str, Any]) -> None:
    result = run_tap(config)
    emitted_so_far: list[str] = []
    for message in result.messages:
        if message["type"] == "RECORD" and message["stream"] == "requests":
            emitted_so_far.append(message["record"]["date"])
        if message["type"] == "STATE":
            bookmark = message["value"]["bookmarks"].get("requests", {})
            value = bookmark.get("replication_key_value")
            if value is not None:
                assert value == max(emitted_so_far)


def test_records_carry_converted_times_and_cyrillic_text(config: dict[str, Any]) -> None:
    result = run_tap(config)
    request = result.records["requests"][0]
    assert request["date"].endswith("Z")
    assert dt.datetime.fromisoformat(request["date"].replace("Z", "+00:00")).tzinfo is not None
    texts = [c["comment"] for c in result.records["comments"]]
    assert any(t.endswith("\n") for t in texts)
    assert any(any("а" <= ch <= "я" for ch in t) for t in texts)


def test_incremental_run_resumes_from_bookmark_minus_lookback(
    config: dict[str, Any], emulator: Emulator, dataset: list[dict[str, Any]]
) -> None:
    first = run_tap(config)
    emulator.reset_log()
    config = {**config, "window_days": 1, "lookback_days": 2}
    second = run_tap(config, state=first.final_state)
    newest_day = local_day(max(record["date"] for record in dataset))
    last_day = FIRST_DAY + dt.timedelta(days=DAYS - 1)
    expected_days = (last_day - (newest_day - dt.timedelta(days=2))).days + 1
    # Answered calls: a run that starts within a second of the last may meet one 429 first.
    assert emulator.count(200) == expected_days
    first_asked = min(
        dt.datetime.strptime(c.params["dateFrom"], "%m/%d/%Y").replace(tzinfo=MOSCOW).date()
        for c in emulator.calls
    )
    assert first_asked == newest_day - dt.timedelta(days=2)
    assert {local_day_of(r["date"]) for r in second.records["requests"]} <= {
        newest_day - dt.timedelta(days=n) for n in range(3)
    }


def local_day_of(rfc3339: str) -> dt.date:
    return dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).astimezone(MOSCOW).date()


def test_lookback_catches_late_deals_and_tags(
    config: dict[str, Any], dataset: list[dict[str, Any]]
) -> None:
    first = run_tap(config)
    newest_day = local_day(max(record["date"] for record in dataset))
    recent = next(r for r in dataset if local_day(r["date"]) == newest_day - dt.timedelta(days=1))
    order = add_order(dataset, recent["requestId"], amount="990.0000")
    add_tag(dataset, recent["requestId"], "Поздний,Перезвонить")
    second = run_tap({**config, "lookback_days": 3}, state=first.final_state)
    assert order["orderId"] in {row["orderId"] for row in second.records["orders"]}
    tags = {(row["requestId"], row["name"]) for row in second.records["request_tags"]}
    assert {(recent["requestId"], "Поздний"), (recent["requestId"], "Перезвонить")} <= tags


@pytest.mark.slow
def test_rate_stays_under_five_per_second_without_429(
    config: dict[str, Any], emulator: Emulator
) -> None:
    run_tap({**config, "window_days": 1, "lookback_days": 0})
    assert emulator.count() == DAYS
    assert emulator.count(429) == 0
    assert emulator.peak_rate() <= 5


@pytest.mark.slow
def test_lower_rate_setting_is_honoured(config: dict[str, Any], emulator: Emulator) -> None:
    run_tap({**config, "window_days": 1, "requests_per_second": 2})
    assert emulator.count() == DAYS
    assert emulator.peak_rate() <= 2


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_recovers_from_error_bursts(
    config: dict[str, Any], emulator: Emulator, dataset: list[dict[str, Any]], status: int
) -> None:
    emulator.inject("status", times=3, status=status, retry_after=0.1)
    result = run_tap(config)
    assert sorted(delivered_rows(result.records)["requests"]) == sorted(
        expected_rows(dataset)["requests"]
    )
    assert emulator.count(status) == 3
    assert emulator.count(200) == 4


@pytest.mark.parametrize("fault", ["truncated", "html", "object", "reset"])
def test_retries_bad_bodies_and_resets(
    config: dict[str, Any], emulator: Emulator, dataset: list[dict[str, Any]], fault: str
) -> None:
    emulator.inject(fault, times=1)
    result = run_tap(config)
    assert len(result.records["requests"]) == len(dataset)
    assert emulator.count() == 5  # four windows, one of them twice


def test_rejected_token_fails_at_once(
    config: dict[str, Any], emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong/" + TOKEN[::-1]
    with pytest.raises(Exception, match="api_token") as info:
        run_tap({**config, "api_token": wrong, "window_days": 10})
    assert emulator.count() == 1
    assert emulator.count(403) == 1
    assert wrong not in str(info.value)
    assert wrong not in caplog.text


def test_token_never_logged_even_when_retrying(
    config: dict[str, Any], emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emulator.inject("reset", times=1)
    emulator.inject("status", times=1, status=503)
    run_tap(config)
    assert "Retrying" in caplog.text
    assert "clientApiId" in caplog.text  # urllib3's debug lines with URLs were captured...
    assert TOKEN not in caplog.text  # ...and masked
    assert "tEsT" not in caplog.text


def test_a_journal_that_syncs_after_a_signal_makes_no_call() -> None:
    """A signal stops the run's calls for good: a journal whose sync begins after it, before
    the main thread has stopped the run, readies no call of its own."""
    requests = generate_dataset(seed=3, start=FIRST_DAY, days=2, per_day=2)
    calls = generate_calls(seed=5, start=FIRST_DAY, days=2, per_day=2)
    with Emulator(dataset=requests, calls=calls, token=TOKEN) as emulator:
        tap = TapCalltouch(
            config={
                "api_token": TOKEN,
                "site_id": str(DEFAULT_SITE_ID),
                "start_date": FIRST_DAY.isoformat(),
                "end_date": (FIRST_DAY + dt.timedelta(days=1)).isoformat(),
                "api_url": emulator.url,
            }
        )
        stream = tap.streams["calls"]
        assert isinstance(stream, JournalStream)
        tap.on_signal(signal.SIGTERM, None)
        out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # the writer writes bytes
        with contextlib.redirect_stdout(out), pytest.raises((StoppedError, Interrupted)):
            list(stream.get_records(None))
        assert emulator.calls == []


@pytest.mark.slow
def test_a_dry_run_asks_no_window_twice() -> None:
    """`--test` ends the first journal after one record, its calls in flight; the next journal
    then syncs, and no call of the first goes out after it ended: each window is asked once."""
    days = 6
    requests = generate_dataset(seed=3, start=FIRST_DAY, days=days, per_day=5)
    calls = generate_calls(seed=5, start=FIRST_DAY, days=days, per_day=10)
    with Emulator(dataset=requests, calls=calls, token=TOKEN) as emulator:
        config: dict[str, Any] = {
            "api_token": TOKEN,
            "site_id": str(DEFAULT_SITE_ID),
            "start_date": FIRST_DAY.isoformat(),
            "end_date": (FIRST_DAY + dt.timedelta(days=days - 1)).isoformat(),
            "api_url": emulator.url,
            "window_days": 1,
            "calls_window_days": days,  # the first journal (calls) is one window of pages
            "page_size": 20,
        }
        out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # the writer writes bytes
        with contextlib.redirect_stdout(out):
            tap = TapCalltouch(config=config)
            assert tap.run_sync_dry_run(dry_run_record_limit=1)
        for thread in threading.enumerate():  # the fetch threads left have made their calls
            if thread.name == "calltouch-fetch":
                thread.join(10.0)
        asked = Counter(
            (call.journal, call.params.get("dateFrom"), call.page) for call in emulator.calls
        )
    assert {journal for journal, *_ in asked} == {"calls", "requests"}
    assert {part: n for part, n in asked.items() if n > 1} == {}
