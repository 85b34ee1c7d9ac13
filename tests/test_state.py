"""What state a run reads and leaves: budgeted passes that always progress, session-date
selection that cannot outrun its bookmark, and saved state of unexpected shapes."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest

from tap_calltouch.bookmarks import (
    StateError,
    read_bookmark,
    read_complete_through,
    read_resume_day,
)
from tap_calltouch.errors import CalltouchAPIError
from tap_calltouch.tap import TapCalltouch
from tests.conftest import FIRST_DAY, REQUEST_STREAMS, TOKEN, SyncResult, catalog_selecting, run_tap
from tests.emulator.calls_dataset import add_calls, generate_calls
from tests.emulator.dataset import DEFAULT_SITE_ID, SESSION_TIME, add_requests, generate_dataset
from tests.emulator.server import Emulator
from tests.emulator.sites import Site, generate_sites
from tests.test_faults import MOSCOW, day_of, local_day, sync

if TYPE_CHECKING:
    from collections.abc import Iterator


def request_ids(dataset: list[dict[str, Any]]) -> list[int]:
    return sorted(int(record["requestId"]) for record in dataset)


def bookmark(state: dict[str, Any]) -> dict[str, Any]:
    return dict(state["bookmarks"]["requests"])


def full_table_catalog() -> dict[str, Any]:
    catalog = catalog_selecting(REQUEST_STREAMS)
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == "requests":
            entry["replication_method"] = "FULL_TABLE"
            for item in entry["metadata"]:
                if item["breadcrumb"] == []:
                    item["metadata"]["forced-replication-method"] = "FULL_TABLE"
    return catalog


# --- a call budget: repeated runs catch up ------------------------------------------------------


def test_budgeted_runs_progress_past_a_lookback_longer_than_their_budget() -> None:
    """Budget 1 call, look-back 14 days, 7-day windows: before the fix every run re-read the
    same look-back window and the bookmark never moved."""
    days = 28
    dataset = generate_dataset(seed=23, start=FIRST_DAY, days=days, per_day=4)
    last_day = FIRST_DAY + dt.timedelta(days=days - 1)
    with Emulator(dataset=dataset, token=TOKEN) as server:
        base = {
            "api_token": TOKEN,
            "site_id": str(DEFAULT_SITE_ID),
            "start_date": FIRST_DAY.isoformat(),
            "api_url": server.url,
        }
        # A complete run through day 14: its bookmark is on day 14.
        first = run_tap({**base, "end_date": (FIRST_DAY + dt.timedelta(days=13)).isoformat()})
        state = first.final_state
        config = {
            **base,
            "end_date": last_day.isoformat(),
            "window_days": 7,
            "lookback_days": 14,
            "max_api_calls": 1,
        }
        delivered: set[int] = set()
        first_days: list[str] = []
        for _ in range(4):
            server.reset_log()
            result = run_tap(config, state=state)
            assert server.count(200) == 1
            first_days.append(server.calls[0].params["dateFrom"])
            delivered.update(r["requestId"] for r in result.records["requests"])
            state = result.final_state
    # Each run read the next window: 10/01, 10/08, 10/15, 10/22, and the last one caught up.
    assert first_days == sorted(set(first_days)), first_days
    assert len(set(first_days)) == 4
    assert sorted(delivered) == request_ids(dataset)
    assert "resume_from" not in bookmark(state), "the pass is complete"


def test_a_complete_pass_leaves_no_resume_day_and_the_next_one_uses_the_lookback(
    config: dict[str, Any], emulator: Emulator
) -> None:
    first = run_tap(config)
    assert "resume_from" not in bookmark(first.final_state)
    emulator.reset_log()
    run_tap({**config, "lookback_days": 4}, state=first.final_state)
    newest = day_of(bookmark(first.final_state)["replication_key_value"])
    assert emulator.calls[0].params["dateFrom"] == (newest - dt.timedelta(days=4)).strftime(
        "%m/%d/%Y"
    )


# --- selecting by session date ---------------------------------------------------------------


def test_session_binding_is_refused_for_an_incremental_sync_before_any_call(
    config: dict[str, Any], emulator: Emulator
) -> None:
    run = sync({**config, "bind_to": "session"})
    assert isinstance(run.error, CalltouchAPIError)
    assert "`bind_to: session`" in str(run.error)
    assert "FULL_TABLE" in str(run.error)
    assert emulator.count() == 0
    assert run.result.records["requests"] == []


@pytest.mark.parametrize("setting", ["bind_to", "calls_bind_to"])
def test_session_binding_is_refused_before_any_call_whichever_journal_syncs_first(
    config: dict[str, Any], emulator: Emulator, setting: str
) -> None:
    """Both journals: the one bound wrongly used to fail only in its turn, after the other
    journal had synced whole."""
    run = sync({**config, setting: "session"}, streams=None)
    assert isinstance(run.error, CalltouchAPIError)
    assert f"`{setting}: session`" in str(run.error)
    assert emulator.count() == 0
    assert set(run.result.records) <= {"sites"}  # no journal's record: the sites list alone


def test_session_binding_as_full_table_reads_the_whole_range_every_run(
    config: dict[str, Any], emulator: Emulator, dataset: list[dict[str, Any]]
) -> None:
    config = {**config, "bind_to": "session"}
    catalog = full_table_catalog()
    first = run_tap(config, catalog=catalog)
    emulator.reset_log()
    second = run_tap(config, state=first.final_state, catalog=catalog)
    assert emulator.count(200) == 4, "a full-table run ignores the bookmark"
    assert all(call.params["bindTo"] == "session" for call in emulator.calls)
    # Selected by session date, so the range holds what the emulator's sessions say.
    first_day, last_day = FIRST_DAY, FIRST_DAY + dt.timedelta(days=9)
    expected = sorted(
        int(r["requestId"]) for r in dataset if first_day <= local_day(r[SESSION_TIME]) <= last_day
    )
    assert sorted(r["requestId"] for r in second.records["requests"]) == expected


# --- saved state of other shapes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("saved", "expected"),
    [
        ({"replication_key": "date", "replication_key_value": "2026-10-05T10:00:00Z"}, "iso"),
        ({"replication_key_value": "2026-10-05T10:00:00.000Z"}, "iso"),
        ({"replication_key_value": 1791194400000}, "epoch"),
        ({"replication_key_value": "1791194400000"}, "epoch"),
        ({"replication_key_value": 1791194400}, "epoch"),
        ({"replication_key_value": "2026-10-05T10:00:00"}, "iso"),
    ],
)
def test_bookmarks_of_other_shapes_are_read(saved: dict[str, Any], expected: str) -> None:
    instant = read_bookmark(saved, stream="requests", replication_key="date")
    assert instant is not None
    if expected == "iso":
        assert instant == dt.datetime(2026, 10, 5, 10, tzinfo=dt.timezone.utc)
    else:
        assert instant == dt.datetime.fromtimestamp(1791194400, dt.timezone.utc)


@pytest.mark.parametrize(
    ("saved", "names"),
    [
        ({"replication_key_value": "yesterday"}, "'yesterday'"),
        ({"replication_key_value": True}, "True"),
        ({"replication_key": "dateStr", "replication_key_value": "2026-10-05"}, "'dateStr'"),
    ],
)
def test_unreadable_bookmarks_are_refused_naming_the_stream(
    saved: dict[str, Any], names: str
) -> None:
    with pytest.raises(StateError) as caught:
        read_bookmark(saved, stream="requests", replication_key="date")
    assert "'requests'" in str(caught.value)
    assert names in str(caught.value)
    assert read_bookmark({}, stream="requests", replication_key="date") is None


def test_resume_day_is_read_or_refused() -> None:
    assert read_resume_day({"resume_from": "2026-10-08"}, stream="requests") == dt.date(2026, 10, 8)
    assert read_resume_day({}, stream="requests") is None
    with pytest.raises(StateError, match="resume_from"):
        read_resume_day({"resume_from": "08/10/2026"}, stream="requests")


def test_a_state_without_replication_key_resumes_instead_of_starting_over(
    config: dict[str, Any], emulator: Emulator
) -> None:
    first = run_tap(config)
    saved = bookmark(first.final_state)
    emulator.reset_log()
    state = {"bookmarks": {"requests": {"replication_key_value": saved["replication_key_value"]}}}
    run_tap({**config, "lookback_days": 0}, state=state)
    assert emulator.count(200) == 1, "only the bookmark's window, not the whole range again"


def test_a_garbage_state_fails_clearly_before_any_call(
    config: dict[str, Any], emulator: Emulator
) -> None:
    state = {"bookmarks": {"requests": {"replication_key_value": "not a time"}}}
    run = sync(config, state=state)
    assert isinstance(run.error, StateError)
    assert "replication_key_value 'not a time'" in str(run.error)
    assert emulator.count() == 0


def test_a_later_journals_garbage_state_fails_before_the_first_call_of_the_run() -> None:
    """`calls` syncs before `requests`: its calls and records must not go out first."""
    days = 6
    dataset = generate_dataset(seed=3, start=FIRST_DAY, days=days, per_day=3)
    calls = generate_calls(seed=3, start=FIRST_DAY, days=days, per_day=3)
    with Emulator(dataset=dataset, calls=calls, token=TOKEN) as server:
        config = {
            "api_token": TOKEN,
            "site_id": str(DEFAULT_SITE_ID),
            "start_date": FIRST_DAY.isoformat(),
            "end_date": (FIRST_DAY + dt.timedelta(days=days - 1)).isoformat(),
            "api_url": server.url,
        }
        state = {"bookmarks": {"requests": {"replication_key_value": "not a time"}}}
        run = sync(config, state=state, streams=("requests", "calls"))
        made = server.count()
    assert isinstance(run.error, StateError), run.error
    assert "'requests'" in str(run.error)
    assert made == 0, f"{made} call(s) went out before the unreadable state was refused"
    assert not run.result.records


# --- a budget shared by sites and journals; today read again; journals with no records --------

MOSCOW_NOON = dt.time(12, tzinfo=MOSCOW)


@contextlib.contextmanager
def clock_at(day: dt.date, time: dt.time = MOSCOW_NOON) -> Iterator[None]:
    """Run the tap as if it were `time` (aware) on `day`."""
    now = dt.datetime.combine(day, time)
    with mock.patch.object(TapCalltouch, "clock", staticmethod(lambda: now)):
        yield


def agency_config(url: str, sites: list[Site], **changes: Any) -> dict[str, Any]:
    return {
        "api_token": TOKEN,
        "sites": [{"site_id": str(s.site_id), "timezone": s.tz} for s in sites],
        "start_date": FIRST_DAY.isoformat(),
        "api_url": url,
        **changes,
    }


def keys(result: SyncResult, stream: str, key: str) -> set[tuple[int, int]]:
    return {(int(r["siteId"]), int(r[key])) for r in result.records[stream]}


def test_a_budget_below_the_number_of_sites_reads_every_site_in_turn() -> None:
    """4 sites, 2 windows each, 2 calls a run: before the fix the last two sites never got a
    call (every run began its turns at the first site)."""
    days, budget = 4, 2
    sites = generate_sites(
        4, seed=3, start=FIRST_DAY, days=days, requests_per_day=3, calls_per_day=0
    )
    want = {(s.site_id, int(r["requestId"])) for s in sites for r in s.requests}
    windows = len(sites) * 2
    with (
        Emulator(sites=sites, tokens={TOKEN: {s.site_id for s in sites}}) as server,
        clock_at(FIRST_DAY + dt.timedelta(days=days + 3)),
    ):
        config = agency_config(
            server.url,
            sites,
            end_date=(FIRST_DAY + dt.timedelta(days=days - 1)).isoformat(),
            window_days=days // 2,
            max_api_calls=budget,
        )
        state: dict[str, Any] | None = None
        got: set[tuple[int, int]] = set()
        read: list[set[str | None]] = []
        for _ in range(windows // budget):
            server.reset_log()
            result = run_tap(config, state=state)
            assert server.count(200) <= budget  # points: a 429 retried is not one
            read.append({call.site for call in server.calls})
            got |= keys(result, "requests", "requestId")
            state = result.final_state
    assert read[0] | read[1] == {str(s.site_id) for s in sites}, read
    assert got == want


def test_a_budget_is_shared_by_both_journals() -> None:
    """3 sites, both journals, 3 calls a run: before the fix the journal synced second got
    nothing, run after run (0 of the requests)."""
    days, budget = 4, 3
    sites = generate_sites(
        3, seed=5, start=FIRST_DAY, days=days, requests_per_day=4, calls_per_day=4
    )
    requests = {(s.site_id, int(r["requestId"])) for s in sites for r in s.requests}
    calls = {(s.site_id, int(c["callId"])) for s in sites for c in s.calls}
    with (
        Emulator(sites=sites, tokens={TOKEN: {s.site_id for s in sites}}) as server,
        clock_at(FIRST_DAY + dt.timedelta(days=days + 3)),
    ):
        config = agency_config(
            server.url,
            sites,
            end_date=(FIRST_DAY + dt.timedelta(days=days - 1)).isoformat(),
            window_days=days,
            calls_window_days=days,
            max_api_calls=budget,
        )
        state: dict[str, Any] | None = None
        got_requests: set[tuple[int, int]] = set()
        got_calls: set[tuple[int, int]] = set()
        for _ in range(2 * len(sites) // budget):  # one window per site and journal
            server.reset_log()
            result = run_tap(config, state=state, streams=None)
            assert server.count(200) <= budget  # points: a 429 retried is not one
            got_requests |= keys(result, "requests", "requestId")
            got_calls |= keys(result, "calls", "callId")
            state = result.final_state
    assert got_requests == requests
    assert got_calls == calls


def test_a_pass_cut_short_never_resumes_past_today() -> None:
    """`end_date` ahead of today and a budget: before the fix `resume_from` went past today, and
    what today brought after the run was never read (look-back 0)."""
    today = FIRST_DAY + dt.timedelta(days=4)
    dataset = generate_dataset(seed=11, start=FIRST_DAY, days=4, per_day=5)
    add_requests(dataset, 3, today, times=[dt.time(h) for h in (8, 9, 11)])
    with Emulator(dataset=dataset, token=TOKEN) as server:
        config = {
            "api_token": TOKEN,
            "site_id": str(DEFAULT_SITE_ID),
            "start_date": FIRST_DAY.isoformat(),
            "end_date": (FIRST_DAY + dt.timedelta(days=20)).isoformat(),
            "api_url": server.url,
            "window_days": 2,
            "lookback_days": 0,
            "max_api_calls": 3,  # the third window holds today and the day after
        }
        got: set[int] = set()
        with clock_at(today):
            first = run_tap(config)
        got |= {r["requestId"] for r in first.records["requests"]}
        state = first.final_state
        for saved in first.states:
            resume = saved["bookmarks"]["requests"].get("resume_from")
            assert resume is None or dt.date.fromisoformat(resume) <= today, resume
        # The afternoon of today, and the next morning, after the first run.
        add_requests(dataset, 2, today, times=[dt.time(15), dt.time(23, 30)], seed=1)
        add_requests(
            dataset, 2, today + dt.timedelta(days=1), times=[dt.time(7), dt.time(8)], seed=2
        )
        with clock_at(today + dt.timedelta(days=1), dt.time(9, tzinfo=MOSCOW)):
            for _ in range(3):
                result = run_tap(config, state=state)
                got |= {r["requestId"] for r in result.records["requests"]}
                state = result.final_state
    assert sorted(got) == request_ids(dataset)


def test_a_journal_without_records_moves_on_from_the_day_its_pass_completed() -> None:
    """A calls-only site: before the fix its requests journal never got a bookmark and every run
    read it again from start_date."""
    days, lookback = 30, 3
    calls = generate_calls(seed=2, start=FIRST_DAY, days=days, per_day=2)
    first_run = FIRST_DAY + dt.timedelta(days=days)
    with Emulator(dataset=[], calls=calls, token=TOKEN) as server:
        config = {
            "api_token": TOKEN,
            "site_id": str(DEFAULT_SITE_ID),
            "start_date": FIRST_DAY.isoformat(),
            "api_url": server.url,
            "window_days": 7,
            "lookback_days": lookback,
        }
        with clock_at(first_run):
            first = run_tap(config, streams=None)
        server.reset_log()
        with clock_at(first_run + dt.timedelta(days=1)):
            run_tap(config, state=first.final_state, streams=None)
    asked = [call for call in server.calls if call.journal == "requests"]
    # The first run read through today; yesterday was its last whole day.
    restart = first_run - dt.timedelta(days=1 + lookback)
    assert [call.params["dateFrom"] for call in asked] == [restart.strftime("%m/%d/%Y")]


def test_complete_through_is_read_tolerantly() -> None:
    assert read_complete_through({"complete_through": "2026-10-08"}, stream="calls") == dt.date(
        2026, 10, 8
    )
    assert read_complete_through({}, stream="calls") is None
    with pytest.raises(StateError, match="complete_through"):
        read_complete_through({"complete_through": "yesterday"}, stream="calls")


def test_a_journal_that_read_part_of_today_lets_one_that_read_nothing_go_first() -> None:
    """Found by the simulation: both journals behind by today alone, 1 call a run. Before the
    fix they tied, the journal synced first won every tie and re-read today, and the other
    was never read while the day lasted."""
    today = FIRST_DAY
    hours = [dt.time(h) for h in (8, 9, 10)]
    requests = add_requests([], 3, today, times=hours)
    calls = add_calls([], 3, today, times=hours)
    with Emulator(dataset=requests, calls=calls, token=TOKEN) as server, clock_at(today):
        config = {
            "api_token": TOKEN,
            "site_id": str(DEFAULT_SITE_ID),
            "start_date": today.isoformat(),
            "api_url": server.url,
            "max_api_calls": 1,
        }
        state: dict[str, Any] | None = None
        got: dict[str, set[int]] = {"requests": set(), "calls": set()}
        for _ in range(2):
            result = run_tap(config, state=state, streams=None)
            for stream, key in (("requests", "requestId"), ("calls", "callId")):
                got[stream] |= {int(r[key]) for r in result.records[stream]}
            state = result.final_state
    assert got["requests"] == {int(r["requestId"]) for r in requests}
    assert got["calls"] == {int(c["callId"]) for c in calls}


def test_a_journal_never_read_goes_before_one_that_read_an_empty_today() -> None:
    """Found by the simulation: no records yet, 1 call a run. Before the fix the journal that
    had read an empty today tied with the one never read, and won every tie."""
    today = FIRST_DAY
    with Emulator(dataset=[], calls=[], token=TOKEN) as server, clock_at(today):
        config = {
            "api_token": TOKEN,
            "site_id": str(DEFAULT_SITE_ID),
            "start_date": today.isoformat(),
            "api_url": server.url,
            "max_api_calls": 1,
        }
        state: dict[str, Any] | None = None
        for _ in range(2):
            state = run_tap(config, state=state, streams=None).final_state
        asked = {call.journal for call in server.calls}
    assert asked == {"requests", "calls"}


def test_the_pages_of_a_window_do_not_eat_for_ever_the_call_owed_to_the_other_journal() -> None:
    """Found by the simulation: 2 calls a run, a calls window of 2 pages. The calls journal
    syncs first; its pages must not spend, run after run, the call owed to requests."""
    today = FIRST_DAY
    requests = add_requests([], 1, today, times=[dt.time(8)])
    calls = add_calls([], 3, today, times=[dt.time(h) for h in (8, 9, 10)])
    with Emulator(dataset=requests, calls=calls, token=TOKEN) as server, clock_at(today):
        config = {
            "api_token": TOKEN,
            "site_id": str(DEFAULT_SITE_ID),
            "start_date": today.isoformat(),
            "api_url": server.url,
            "page_size": 2,
            "max_api_calls": 2,
        }
        state: dict[str, Any] | None = None
        got: set[int] = set()
        for _ in range(2):
            result = run_tap(config, state=state, streams=None)
            got |= {int(r["requestId"]) for r in result.records["requests"]}
            state = result.final_state
    assert got == {int(r["requestId"]) for r in requests}


def test_a_pass_under_way_goes_before_a_complete_one_that_read_as_far() -> None:
    """Found by the simulation: calls complete through yesterday, requests' pass to resume
    today, 2 calls a run, the calls window 2 pages. Before the fix calls ranked as behind
    (or tied) and its pages spent both calls of every run: requests never finished."""
    yesterday = FIRST_DAY
    calls = add_calls([], 3, yesterday, times=[dt.time(h) for h in (10, 12, 14)])
    with (
        Emulator(dataset=[], calls=calls, token=TOKEN) as server,
        clock_at(yesterday + dt.timedelta(days=1), dt.time(4, tzinfo=MOSCOW)),
    ):
        config = {
            "api_token": TOKEN,
            "site_id": str(DEFAULT_SITE_ID),
            "start_date": yesterday.isoformat(),
            "api_url": server.url,
            "window_days": 1,
            "calls_window_days": 3,
            "page_size": 2,
            "lookback_days": 1,
            "max_api_calls": 2,
        }
        state: dict[str, Any] | None = None
        for _ in range(4):
            state = run_tap(config, state=state, streams=None).final_state
        asked = {call.params["dateFrom"] for call in server.calls if call.journal == "requests"}
    assert asked == {
        day.strftime("%m/%d/%Y") for day in (yesterday, yesterday + dt.timedelta(days=1))
    }
    assert "resume_from" not in state["bookmarks"]["requests"]
