"""The calls journal end to end against the emulator: pages, children, types, increments,
windows that change while they are paged, and faults on one page."""

from __future__ import annotations

import copy
import datetime as dt
import logging
import math
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import hypothesis
import jsonschema
import pytest
from hypothesis import strategies as st

from tap_calltouch.errors import CalltouchAPIError
from tests.conftest import FIRST_DAY, REQUEST_STREAMS, TOKEN, SyncResult, run_tap
from tests.emulator.calls_dataset import CALL_SESSION_TIME, CALL_TIME, generate_calls, new_calls
from tests.emulator.dataset import DEFAULT_SITE_ID, generate_dataset
from tests.emulator.server import REQUEST_TIME, Emulator
from tests.test_faults import MOSCOW, Run, assert_no_token, exception_texts, sync
from tests.test_process import run_tap_process

if TYPE_CHECKING:
    from pathlib import Path

DAYS = 8
LAST_DAY = FIRST_DAY + dt.timedelta(days=DAYS - 1)
CALL_STREAMS = ("calls", "call_orders", "call_comments", "call_map_visits", "call_tags")
PAGE = 40


def dmy(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def expected_call_rows(calls: list[dict[str, Any]]) -> dict[str, set[Any]]:
    """Primary keys each calls stream should deliver, from the emulator's own records."""
    keys: dict[str, set[Any]] = {name: set() for name in CALL_STREAMS}
    for call in calls:
        cid = int(call["callId"])
        keys["calls"].add(cid)
        keys["call_orders"].update((cid, int(o["orderId"])) for o in call.get("orders") or [])
        keys["call_comments"].update(int(c["commentId"]) for c in call.get("comments") or [])
        keys["call_map_visits"].update(
            (cid, int(v["sessionId"])) for v in call.get("mapVisits") or []
        )
        for tag in call.get("callTags") or []:
            for names in tag["names"]:
                keys["call_tags"].update(
                    (cid, name.strip()) for name in names.split(",") if name.strip()
                )
    return keys


def delivered_call_rows(records: dict[str, list[dict[str, Any]]]) -> dict[str, list[Any]]:
    return {
        "calls": [r["callId"] for r in records["calls"]],
        "call_orders": [(r["callId"], r["orderId"]) for r in records["call_orders"]],
        "call_comments": [r["commentId"] for r in records["call_comments"]],
        "call_map_visits": [(r["callId"], r["sessionId"]) for r in records["call_map_visits"]],
        "call_tags": [(r["callId"], r["name"]) for r in records["call_tags"]],
    }


def assert_exactly_once(result_records: dict[str, list[Any]], calls: list[dict[str, Any]]) -> None:
    expected = expected_call_rows(calls)
    delivered = delivered_call_rows(result_records)
    for stream in CALL_STREAMS:
        assert expected[stream], stream
        assert sorted(delivered[stream]) == sorted(expected[stream]), stream


def calls_journal(emulator: Emulator) -> list[Any]:
    return [call for call in emulator.calls if call.journal == "calls"]


@pytest.fixture(scope="module")
def base_calls() -> list[dict[str, Any]]:
    return generate_calls(seed=5, start=FIRST_DAY, days=DAYS, per_day=60)


@pytest.fixture
def calls(base_calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(call) for call in base_calls]


@pytest.fixture
def server(calls: list[dict[str, Any]]) -> Any:
    requests = generate_dataset(seed=3, start=FIRST_DAY, days=DAYS, per_day=10)
    with Emulator(dataset=requests, calls=calls, token=TOKEN) as emulator:
        yield emulator


def run_all(config: dict[str, Any], state: dict[str, Any] | None = None) -> SyncResult:
    """Both journals and every child stream."""
    return run_tap(config, state, streams=None)


def sync_all(config: dict[str, Any]) -> Run:
    return sync(config, streams=None)


def settings(url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "api_token": TOKEN,
        "site_id": str(DEFAULT_SITE_ID),
        "start_date": FIRST_DAY.isoformat(),
        "end_date": LAST_DAY.isoformat(),
        "api_url": url,
        "calls_window_days": 4,
        "page_size": PAGE,
        "lookback_days": 0,
        **overrides,
    }


@pytest.mark.slow
def test_every_call_and_child_row_arrives_once_with_requests_under_the_rate(
    server: Emulator, calls: list[dict[str, Any]]
) -> None:
    result = run_all(settings(server.url))
    assert_exactly_once(result.records, calls)
    assert len(result.records["requests"]) == len(server.dataset)
    # Both journals share the limiter: at most five calls in any second, and no 429.
    assert server.peak_rate() <= 5
    assert server.count(429) == 0
    pages = [call.page for call in calls_journal(server)]
    per_window = Counter(call.params["dateFrom"] for call in calls_journal(server))
    for first in (FIRST_DAY, FIRST_DAY + dt.timedelta(days=4)):
        in_window = sum(
            first
            <= dt.datetime.fromtimestamp(c[CALL_TIME], server.zone).date()
            <= first + dt.timedelta(days=3)
            for c in calls
        )
        assert per_window[dmy(first)] == math.ceil(in_window / PAGE)
    assert pages.count(1) == 2
    assert all(call.params["limit"] == str(PAGE) for call in calls_journal(server))
    assert all("siteId" not in call.params for call in calls_journal(server))


def test_one_schema_per_stream_and_state_per_window(server: Emulator) -> None:
    result = run_all(settings(server.url))
    assert all(result.schemas[name] == 1 for name in CALL_STREAMS)
    bookmark = result.final_state["bookmarks"]["calls"]
    assert bookmark["replication_key"] == "date"
    assert "resume_from" not in bookmark


def test_fields_have_one_json_type_each(server: Emulator) -> None:
    result = run_all(settings(server.url))
    types: dict[str, set[str]] = defaultdict(set)
    for record in result.records["calls"]:
        for key, value in record.items():
            if value is not None:
                types[key].add(type(value).__name__)
    mixed = {key: kinds for key, kinds in types.items() if len(kinds) > 1}
    assert mixed == {}
    for flag in ("successful", "uniqueCall", "targetCall", "uniqTargetCall", "callbackCall"):
        assert types[flag] == {"bool"}, flag
    assert types["callId"] == types["duration"] == types["sessionId"] == {"int"}
    callers = {r["callerNumber"] for r in result.records["calls"]}
    assert "Anonymous" in callers
    dates = [r["date"] for r in result.records["calls"]]
    assert all(d.endswith("Z") for d in dates)
    orders = result.records["call_orders"]
    assert all(isinstance(o["plannedAmount"], str) for o in orders if o["plannedAmount"])
    assert all(o["createdDate"].endswith("Z") for o in orders if o["createdDate"])
    cyrillic = [t["name"] for t in result.records["call_tags"]]
    assert any(any("а" <= ch <= "я" for ch in name.lower()) for name in cyrillic)


def test_the_second_run_reads_from_the_bookmark_less_the_lookback(server: Emulator) -> None:
    first = run_all(settings(server.url))
    server.reset_log()
    run_all(settings(server.url, lookback_days=2), state=first.final_state)
    newest = dt.datetime.fromisoformat(
        first.final_state["bookmarks"]["calls"]["replication_key_value"].replace("Z", "+00:00")
    ).astimezone(server.zone)
    froms = {c.params["dateFrom"] for c in calls_journal(server) if c.status == 200}
    assert min(froms, key=lambda d: d[6:] + d[3:5] + d[:2]) == dmy(
        newest.date() - dt.timedelta(days=2)
    )


def test_calls_arriving_while_a_window_is_paged_are_neither_lost_nor_doubled(
    server: Emulator, calls: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    arriving = new_calls(calls, 5, LAST_DAY, times=[dt.time(23, 59, s) for s in range(50, 55)])
    server.arrive_after(page=2, calls=arriving, date_from=dmy(LAST_DAY - dt.timedelta(days=3)))
    result = run_all(settings(server.url))
    assert_exactly_once(result.records, server.call_records)
    assert "changed while its pages were read" in caplog.text


def test_a_call_removed_while_a_window_is_paged_does_not_hide_another(
    server: Emulator, calls: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    newest_first = sorted(calls, key=lambda c: c[CALL_TIME], reverse=True)
    gone = newest_first[2]["callId"]
    server.arrive_after(page=1, remove=[gone], date_from=dmy(LAST_DAY - dt.timedelta(days=3)))
    result = run_all(settings(server.url))
    delivered = [r["callId"] for r in result.records["calls"]]
    remaining = [int(c["callId"]) for c in server.call_records]
    assert len(delivered) == len(set(delivered))
    assert set(remaining) <= set(delivered), "a call slid onto a page already read"
    assert "reading it again" in caplog.text


def test_a_flag_off_empties_its_child_stream_and_is_not_asked_for(server: Emulator) -> None:
    result = run_all(settings(server.url, with_call_tags=False, with_orders=False))
    assert result.records["call_tags"] == []
    assert result.records["call_orders"] == []
    assert result.records["call_comments"]
    params = calls_journal(server)[0].params
    assert "withCallTags" not in params
    assert "withOrders" not in params
    assert params["withComments"] == "true"


def test_call_filters_and_binding_reach_the_api(server: Emulator) -> None:
    run_all(settings(server.url, calls_unique_only=True, calls_target_only=True, attribution=0))
    params = calls_journal(server)[0].params
    assert params["uniqueOnly"] == params["targetOnly"] == "true"
    assert "callbackOnly" not in params
    assert params["attribution"] == "0"
    run = sync_all(settings(server.url, calls_bind_to="session"))
    assert isinstance(run.error, CalltouchAPIError)
    assert "`calls_bind_to: session`" in str(run.error)


def test_a_deselected_journal_costs_no_call(server: Emulator) -> None:
    result = run_tap(settings(server.url), streams=REQUEST_STREAMS)
    assert calls_journal(server) == []
    assert result.records["requests"]
    assert all(not result.records[name] for name in CALL_STREAMS)


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("status", {"status": 503}),
        ("status", {"status": 429, "retry_after": 0.1}),
        ("reset", {}),
        ("truncated", {}),
        ("html", {}),
        ("object", {"body": '{"page": 3, "records": null}'}),
    ],
)
def test_a_fault_on_one_page_is_retried(
    server: Emulator,
    calls: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    kind: str,
    options: dict[str, Any],
) -> None:
    caplog.set_level(logging.DEBUG)
    server.inject(kind, times=2, journal="calls", page=3, **options)
    result = run_all(settings(server.url))
    assert_exactly_once(result.records, calls)
    assert_no_token(caplog.text)


def test_a_bad_page_that_persists_fails_naming_window_and_page(
    server: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.inject("html", times=100, journal="calls", page=3, dateFrom=dmy(FIRST_DAY))
    run = sync_all(settings(server.url))
    assert isinstance(run.error, CalltouchAPIError)
    assert f"calls window {FIRST_DAY}..{FIRST_DAY + dt.timedelta(days=3)}, page 3 of" in str(
        run.error
    )
    # Pages 1 and 2 went out, but no STATE moved past a window that was not complete.
    assert run.result.records["calls"]
    bookmarks = [state.get("bookmarks", {}).get("calls", {}) for state in run.result.states]
    assert all("replication_key_value" not in bookmark for bookmark in bookmarks)
    assert_no_token(caplog.text, *exception_texts(run.error))


@pytest.mark.slow
def test_a_realistic_month_of_both_journals_arrives_once_within_the_limit(
    tmp_path: Path,
) -> None:
    """30 days, ~1,000 calls and ~300 requests a day, default settings; then an increment.

    The tap runs as its own process, as in production: an emulator sharing this process's GIL
    with the tap would stamp arrivals late and see bunching no network shows.
    """
    days = 30
    calls = generate_calls(seed=41, start=FIRST_DAY, days=days, per_day=1000)
    requests = generate_dataset(seed=41, start=FIRST_DAY, days=days, per_day=300)
    last = FIRST_DAY + dt.timedelta(days=days - 1)
    with Emulator(dataset=requests, calls=calls, token=TOKEN) as emulator:
        config = {
            "api_token": TOKEN,
            "site_id": str(DEFAULT_SITE_ID),
            "start_date": FIRST_DAY.isoformat(),
            "end_date": last.isoformat(),
            "api_url": emulator.url,
        }
        first = run_tap_process(tmp_path / "1", config, emulator=emulator, streams=None)
        assert first.returncode == 0, first.stderr[-2000:]
        assert emulator.peak_rate() <= 5
        assert emulator.count(429) == 0
        state = first.states[-1]
        emulator.reset_log()
        second = run_tap_process(
            tmp_path / "2", config, emulator=emulator, state=state, streams=None
        )
        assert second.returncode == 0, second.stderr[-2000:]
    records: dict[str, list[Any]] = defaultdict(list)
    for message in first.messages:
        if message["type"] == "RECORD":
            records[message["stream"]].append(message["record"])
    assert_exactly_once(records, calls)
    assert sorted(r["requestId"] for r in records["requests"]) == sorted(
        int(r["requestId"]) for r in requests
    )
    for journal, fmt in (("calls", "%d/%m/%Y"), ("requests", "%m/%d/%Y")):
        newest = state["bookmarks"][journal]["replication_key_value"]
        day = dt.datetime.fromisoformat(newest.replace("Z", "+00:00")).astimezone(MOSCOW).date()
        asked = {
            dt.datetime.strptime(c.params["dateFrom"], fmt).date()  # noqa: DTZ007
            for c in second.calls
            if c.journal == journal
        }
        assert min(asked) == day - dt.timedelta(days=7), journal  # the default look-back


# --- times: the 12-hour session clock, the repeated hour, records without a creation time --------


def rfc3339(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_sessions_reach_the_warehouse_as_they_happened(
    server: Emulator, calls: list[dict[str, Any]]
) -> None:
    """Every session less than 12 h before its call lands at its true time; older ones null.

    The emulator prints `sessionDate` on the API's 12-hour clock; its private session time is
    the truth. Read as 24-hour, every afternoon session was 12 hours early.
    """
    result = run_tap(settings(server.url), streams=("calls",))
    truth = {int(call["callId"]): call for call in calls}
    delivered = result.records["calls"]
    assert len(delivered) == len(truth)
    afternoon = 0
    for record in delivered:
        call = truth[record["callId"]]
        assert record["sessionDateStr"] == call["sessionDate"]
        session = call[CALL_SESSION_TIME]
        if session is None:
            assert record["sessionDate"] is None
        elif call[CALL_TIME] - session >= 12 * 3600:  # its text fits one reading 12 h later,
            assert record["sessionDate"] in {None, rfc3339(session + 12 * 3600)}  # or none
        else:
            assert record["sessionDate"] == rfc3339(session)
            afternoon += dt.datetime.fromtimestamp(session, MOSCOW).hour >= 12
    assert afternoon > len(delivered) // 4


BERLIN_AUTUMN = dt.date(2026, 10, 25)  # Berlin's clocks go back from 03:00 to 02:00


def test_calls_in_the_hour_the_clocks_repeat_keep_their_time() -> None:
    """Calls in both passes of 02:00-03:00 get the UTC time of their `timestamp`."""
    calls = generate_calls(seed=9, start=BERLIN_AUTUMN, days=1, per_day=200, tz="Europe/Berlin")
    twice = [dt.time(2, 15), dt.time(2, 15, fold=1), dt.time(2, 45), dt.time(2, 45, fold=1)]
    calls += new_calls(calls, len(twice), BERLIN_AUTUMN, times=twice, tz="Europe/Berlin")
    second_pass = [
        c for c in calls if dt.datetime.fromtimestamp(c[CALL_TIME], ZoneInfo("Europe/Berlin")).fold
    ]
    assert len(second_pass) > len(twice) // 2
    day = BERLIN_AUTUMN.isoformat()
    with Emulator(dataset=[], calls=calls, token=TOKEN, tz="Europe/Berlin") as emulator:
        result = run_tap(
            settings(emulator.url, start_date=day, end_date=day, timezone="Europe/Berlin"),
            streams=("calls",),
        )
    dates = {r["callId"]: r["date"] for r in result.records["calls"]}
    assert dates == {int(c["callId"]): rfc3339(c[CALL_TIME]) for c in calls}


# A call or request whose creation time drifted, or which has none: how each drift is applied.
CALL_DRIFTS: dict[str, Any] = {
    "date as epoch ms": lambda c: c.update(date=c[CALL_TIME] * 1000),
    "date as ms text": lambda c: c.update(date=str(c[CALL_TIME] * 1000)),
    "hour without its zero": lambda c: c.update(date=c["date"].replace(" 0", " ", 1)),
    "date null": lambda c: c.update(date=None),
    "no date": lambda c: c.pop("date"),
    "timestamp null": lambda c: c.update(timestamp=None),
    "no timestamp": lambda c: c.pop("timestamp"),
    "timestamp as text": lambda c: c.update(timestamp=str(c["timestamp"])),
    "timestamp in ms": lambda c: c.update(timestamp=c[CALL_TIME] * 1000),
    "garbled session": lambda c: c.update(sessionDate="31/02/2026 99:00:00"),
    "session as number": lambda c: c.update(sessionDate=c[CALL_TIME]),
    "no time at all": lambda c: c.update(date=None, timestamp=None),
    "garbage times": lambda c: c.update(date="вчера", timestamp="-"),
}
REQUEST_DRIFTS: dict[str, Any] = {
    "date null": lambda r: r.update(date=None),
    "date as local text": lambda r: r.update(date=r["dateStr"]),
    "hour without its zero": lambda r: r.update(date=None, dateStr=r["dateStr"].replace(" 0", " ")),
    "no time at all": lambda r: r.update(date=None, dateStr=None),
}
UNDATED = "no time at all", "garbage times"


@pytest.fixture(scope="module")
def drift_base() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    calls = generate_calls(seed=21, start=FIRST_DAY, days=2, per_day=25)
    requests = generate_dataset(seed=21, start=FIRST_DAY, days=2, per_day=10)
    for request in requests:
        request[REQUEST_TIME] = request["date"]  # the emulator selects on it, whatever `date` is
    return calls, requests


def date_time(value: object) -> bool:
    """RFC 3339 as the tap writes it, checked without jsonschema's optional format packages."""
    if not isinstance(value, str):
        return True
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


RFC3339 = jsonschema.FormatChecker(formats=())
RFC3339.checks("date-time")(date_time)


@hypothesis.given(
    call_drifts=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(sorted(CALL_DRIFTS)))),
    request_drifts=st.lists(
        st.tuples(st.integers(0, 10**6), st.sampled_from(sorted(REQUEST_DRIFTS))), max_size=6
    ),
)
@hypothesis.example(  # one of each drift on the first day's calls, two records with no time
    call_drifts=list(enumerate(sorted(CALL_DRIFTS))),
    request_drifts=[(0, "no time at all"), (1, "date null"), (2, "hour without its zero")],
)
@hypothesis.settings(
    max_examples=6,
    deadline=None,
    derandomize=True,  # seeded: the same examples every run
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
def test_every_record_fits_its_schema_whatever_its_times(
    drift_base: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    call_drifts: list[tuple[int, str]],
    request_drifts: list[tuple[int, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Drifted creation times are read; a record with none is reported, not sent; STATE holds."""
    calls, requests = copy.deepcopy(drift_base)
    undated: dict[str, set[int]] = {"calls": set(), "requests": set()}
    for records, drifts, stream, key, kinds in (
        (calls, call_drifts, "calls", "callId", CALL_DRIFTS),
        (requests, request_drifts, "requests", "requestId", REQUEST_DRIFTS),
    ):
        drifted = {index % len(records): kind for index, kind in reversed(drifts)}
        for index, kind in drifted.items():  # one drift per record, the first drawn for it
            record = records[index]
            kinds[kind](record)
            if kind in UNDATED:
                undated[stream].add(int(record[key]))
    caplog.clear()
    with (
        caplog.at_level(logging.INFO),
        Emulator(dataset=requests, calls=calls, token=TOKEN) as emulator,
    ):
        result = run_tap(settings(emulator.url, end_date=FIRST_DAY.isoformat()), streams=None)
    schemas: dict[str, dict[str, Any]] = {}
    for message in result.messages:
        if message["type"] == "SCHEMA":
            schemas[message["stream"]] = message["schema"]
        elif message["type"] == "RECORD":
            schema = schemas[message["stream"]]
            jsonschema.validate(message["record"], schema, format_checker=RFC3339)
    for stream, records, key in (("calls", calls, "callId"), ("requests", requests, "requestId")):
        day_one = {
            int(r[key])
            for r in records
            if dt.datetime.fromtimestamp(
                r[CALL_TIME] if stream == "calls" else r[REQUEST_TIME] // 1000, MOSCOW
            ).date()
            == FIRST_DAY
        }
        sent = sorted(r[key] for r in result.records[stream])
        assert sent == sorted(day_one - undated[stream]), (stream, undated)
        for missing in day_one & undated[stream]:
            assert f"{stream} {key}={missing} of site {DEFAULT_SITE_ID}" in caplog.text
        if day_one & undated[stream]:  # and the run's summary line counts them
            count = len(day_one & undated[stream])
            assert f"{stream} emitted; {count} without a creation time not emitted" in caplog.text
        bookmark = result.final_state["bookmarks"][stream]["replication_key_value"]
        assert bookmark == max(r["date"] for r in result.records[stream]), stream


def test_a_run_failing_midway_has_written_the_records_it_read_and_no_state_for_them() -> None:
    """A refusal on the second page of the first window: the first page's records went out
    (a target loads what it gets), while no STATE covers them, so the next run reads them again."""
    calls = generate_calls(seed=5, start=FIRST_DAY, days=4, per_day=60)
    with Emulator(dataset=[], calls=calls, token=TOKEN) as emulator:
        emulator.inject("status", status=403, journal="calls", page=2)
        settings = {
            "api_token": TOKEN,
            "site_id": str(DEFAULT_SITE_ID),
            "start_date": FIRST_DAY.isoformat(),
            "end_date": (FIRST_DAY + dt.timedelta(days=3)).isoformat(),
            "api_url": emulator.url,
            "page_size": PAGE,
        }
        run = sync(settings, streams=("calls", "call_tags"))
    assert isinstance(run.error, CalltouchAPIError)
    assert len(run.result.records["calls"]) == PAGE
    assert run.result.records["call_tags"]
    bookmarks = [state.get("bookmarks", {}).get("calls", {}) for state in run.result.states]
    assert not any("replication_key_value" in bookmark for bookmark in bookmarks)
