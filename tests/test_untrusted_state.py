"""Saved days no pass can have written by today: a `resume_from` after today, a
`complete_through` from today on (an older version's state, a hand edit, a zone changed since).

Obeyed, such a day made every run read nothing until it came, and then skip every day before
it. They must be read as absent (the run starts from the bookmark less the look-back, never
after today), and no STATE the run writes may hold them: once their day came they would
take effect.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import TYPE_CHECKING, Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pyrate_limiter import InMemoryBucket, Limiter, Rate

from tap_calltouch import tap as tap_module
from tap_calltouch.bookmarks import drop_untrusted_days
from tap_calltouch.tap import TapCalltouch
from tap_calltouch.windows import cut_windows, local_day, progress, sync_days
from tests.conftest import TOKEN, SyncResult, run_tap
from tests.emulator.dataset import DEFAULT_SITE_ID, generate_dataset
from tests.emulator.server import Emulator
from tests.emulator.sites import Site, generate_sites

if TYPE_CHECKING:
    from collections.abc import Iterator

UTC = dt.timezone.utc
ONE_DAY = dt.timedelta(days=1)
# Far east and far west of each other, so the same instant is a different day in each.
ZONE_NAMES = [
    "Europe/Moscow",
    "Asia/Vladivostok",
    "Asia/Kamchatka",
    "Europe/Kaliningrad",
    "America/New_York",
    "Pacific/Honolulu",
    "Pacific/Kiritimati",
    "UTC",
]
ZONES = st.sampled_from(ZONE_NAMES)
NOW = st.datetimes(
    min_value=dt.datetime(2024, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=dt.datetime(2030, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
OFFSET = st.one_of(st.none(), st.integers(min_value=-30, max_value=30))  # days from today


@contextlib.contextmanager
def clock(now: dt.datetime) -> Iterator[None]:
    """Run the tap as if it were `now` (aware)."""
    with mock.patch.object(TapCalltouch, "clock", staticmethod(lambda: now)):
        yield


@contextlib.contextmanager
def quick_limiter() -> Iterator[None]:
    """Calls 5 ms apart, against an emulator without a rate limit: these tests count days."""
    with (
        mock.patch.object(tap_module, "spacing_ms", return_value=5),
        mock.patch.object(
            tap_module,
            "build_limiter",
            side_effect=lambda *_args: Limiter(InMemoryBucket([Rate(1, 5)])),
        ),
    ):
        yield


def day(offset: int | None, today: dt.date) -> dt.date | None:
    return None if offset is None else today + dt.timedelta(days=offset)


def first_day_owed(  # noqa: PLR0913 - the parts of one saved state
    *,
    start: dt.date,
    today: dt.date,
    tz: ZoneInfo,
    bookmark: dt.datetime | None,
    lookback: int,
    resume_from: dt.date | None,
    complete_through: dt.date | None,
) -> dt.date:
    """The first day a run owes a read, by what a saved state can truthfully say by today.

    A pass cut short says where it stopped (`resume_from`, at most today); a complete one the
    last day it read whole (`complete_through`, before today). Anything else stands at the
    bookmark (never after today) less the look-back; and today is always owed.
    """
    if resume_from is not None and resume_from <= today:
        return max(start, resume_from)
    stands = [min(local_day(bookmark, tz), today)] if bookmark is not None else []
    if complete_through is not None and complete_through < today:
        stands.append(complete_through)
    if not stands:
        return start
    return max(start, max(stands) - dt.timedelta(days=lookback))


# --- the pure rules --------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(
    zone=ZONES,
    now=NOW,
    start_offset=st.integers(min_value=-60, max_value=2),
    bookmark_offset=OFFSET,
    bookmark_hour=st.integers(min_value=0, max_value=23),
    resume_offset=OFFSET,
    complete_offset=OFFSET,
    lookback=st.integers(min_value=0, max_value=30),
)
@example(  # the report: bookmark 03-09, resume_from 03-24 saved, today 03-11, look-back 7
    zone="Europe/Moscow",
    now=dt.datetime(2026, 3, 11, 9, tzinfo=UTC),
    start_offset=-60,
    bookmark_offset=-2,
    bookmark_hour=12,
    resume_offset=13,
    complete_offset=None,
    lookback=7,
)
def test_no_saved_state_makes_a_run_skip_a_day_or_rank_ahead_of_today(  # noqa: PLR0913
    *,
    zone: str,
    now: dt.datetime,
    start_offset: int,
    bookmark_offset: int | None,
    bookmark_hour: int,
    resume_offset: int | None,
    complete_offset: int | None,
    lookback: int,
) -> None:
    tz = ZoneInfo(zone)
    today = local_day(now, tz)
    start_day = today + dt.timedelta(days=start_offset)
    start = dt.datetime.combine(start_day, dt.time(), tz)
    bookmark_day = day(bookmark_offset, today)
    bookmark = (
        None
        if bookmark_day is None
        else dt.datetime.combine(bookmark_day, dt.time(bookmark_hour), tz).astimezone(UTC)
    )
    resume_from, complete_through = day(resume_offset, today), day(complete_offset, today)
    saved = {"bookmark": bookmark, "resume_from": resume_from, "complete_through": complete_through}

    first, last = sync_days(start=start, end=now, now=now, tz=tz, lookback_days=lookback, **saved)

    owed = first_day_owed(start=start_day, today=today, tz=tz, lookback=lookback, **saved)
    assert last == today
    assert first <= owed, f"days {first} back to {owed} would be skipped"
    if start_day <= today:
        assert first <= today, "today is always read"
        assert cut_windows(first, last, 14)[-1].last_day == today
    # A value no pass can have written reads as if absent, for planning and for ranking.
    without = {
        **saved,
        "resume_from": resume_from if resume_from is None or resume_from <= today else None,
        "complete_through": (
            complete_through if complete_through is None or complete_through < today else None
        ),
    }
    assert (first, last) == sync_days(
        start=start, end=now, now=now, tz=tz, lookback_days=lookback, **without
    )
    ahead, rank = progress(start=start, now=now, tz=tz, **saved)
    assert (ahead, rank) == progress(start=start, now=now, tz=tz, **without)
    assert ahead <= max(0, start_offset), "no journal ranks as having read past today"


def test_only_untrusted_days_are_dropped_and_said() -> None:
    today = dt.date(2026, 3, 11)
    saved = {"replication_key_value": "2026-03-09T09:00:00Z", "resume_from": "2026-03-24"}
    assert drop_untrusted_days(saved, today=today) == ["resume_from 2026-03-24"]
    assert saved == {"replication_key_value": "2026-03-09T09:00:00Z"}
    kept = {"resume_from": "2026-03-11", "complete_through": "2026-03-10"}
    assert drop_untrusted_days(kept, today=today) == []
    assert kept == {"resume_from": "2026-03-11", "complete_through": "2026-03-10"}
    future = {"complete_through": "2026-03-11", "resume_from": "not a date"}
    assert drop_untrusted_days(future, today=today) == ["complete_through 2026-03-11"]
    assert future == {"resume_from": "not a date"}, "left for the stream to report"


# --- whole syncs --------------------------------------------------------------------------------


def days_asked(server: Emulator, site_id: int) -> set[dt.date]:
    """Every local day the requests journal was asked for, for one site."""
    asked: set[dt.date] = set()
    for call in server.calls:
        if call.journal != "requests" or call.site != str(site_id) or call.status != 200:
            continue
        first = dt.datetime.strptime(call.params["dateFrom"], "%m/%d/%Y").date()  # noqa: DTZ007
        last = dt.datetime.strptime(call.params["dateTo"], "%m/%d/%Y").date()  # noqa: DTZ007
        asked.update(first + dt.timedelta(days=k) for k in range((last - first).days + 1))
    return asked


def site_states(state: dict[str, Any], site_ids: list[int], *, partitioned: bool) -> dict[int, Any]:
    """Each site's saved state of the requests journal, in either layout."""
    stream = state.get("bookmarks", {}).get("requests", {})
    if not partitioned:
        return {site_ids[0]: stream}
    found = {p["context"]["siteId"]: p for p in stream.get("partitions", [])}
    return {site_id: found.get(site_id, {}) for site_id in site_ids}


def assert_no_untrusted_day(
    result: SyncResult, todays: dict[int, dt.date], *, partitioned: bool
) -> None:
    """No STATE of the run, the first one included, holds a day no pass can have written."""
    assert result.states
    for state in result.states:
        for site_id, saved in site_states(state, list(todays), partitioned=partitioned).items():
            today = todays[site_id]
            if saved.get("resume_from"):
                assert dt.date.fromisoformat(saved["resume_from"]) <= today, (site_id, saved)
            if saved.get("complete_through"):
                assert dt.date.fromisoformat(saved["complete_through"]) < today, (site_id, saved)


SAVED_SITE = st.fixed_dictionaries(
    {
        "zone": ZONES,
        "bookmark": OFFSET,
        "bookmark_hour": st.integers(min_value=0, max_value=23),
        "resume_from": OFFSET,
        "complete_through": OFFSET,
    }
)


def test_saved_states_of_every_shape_skip_no_day_and_are_not_written_back() -> None:
    """Single-site and partitioned (`sites`) state, any relation of the saved days to today
    in each site's zone: every day from where the state truthfully stands to today is asked
    for, and no STATE holds a day no pass can have written."""
    site_ids = [DEFAULT_SITE_ID, DEFAULT_SITE_ID + 1]
    served = [Site(site_id, tz="UTC") for site_id in site_ids]
    with (
        Emulator(sites=served, tokens={TOKEN: set(site_ids)}, rate_limit=None) as server,
        quick_limiter(),
    ):

        @settings(max_examples=20, deadline=None)
        @given(
            now=NOW,
            partitioned=st.booleans(),
            saved_sites=st.lists(SAVED_SITE, min_size=2, max_size=2),
            lookback=st.integers(min_value=0, max_value=10),
            window_days=st.integers(min_value=1, max_value=14),
        )
        @example(  # the report's state, a day after the bookmark's
            now=dt.datetime(2026, 3, 11, 9, tzinfo=UTC),
            partitioned=False,
            saved_sites=[
                {
                    "zone": "Europe/Moscow",
                    "bookmark": -2,
                    "bookmark_hour": 12,
                    "resume_from": 13,
                    "complete_through": None,
                },
            ]
            * 2,
            lookback=7,
            window_days=14,
        )
        def check(
            now: dt.datetime,
            partitioned: bool,  # noqa: FBT001 - drawn
            saved_sites: list[dict[str, Any]],
            lookback: int,
            window_days: int,
        ) -> None:
            ids = site_ids if partitioned else site_ids[:1]
            zones = {site_id: ZoneInfo(saved_sites[k]["zone"]) for k, site_id in enumerate(ids)}
            todays = {site_id: local_day(now, zones[site_id]) for site_id in ids}
            start_date = min(todays.values()) - dt.timedelta(days=45)
            states: dict[int, dict[str, Any]] = {}
            saved_days: dict[int, dict[str, Any]] = {}
            for k, site_id in enumerate(ids):
                drawn, today, tz = saved_sites[k], todays[site_id], zones[site_id]
                bookmark_day = day(drawn["bookmark"], today)
                bookmark = None if bookmark_day is None else dt.datetime.combine(
                    bookmark_day, dt.time(drawn["bookmark_hour"]), tz
                ).astimezone(UTC)  # fmt: skip
                resume_from = day(drawn["resume_from"], today)
                complete_through = day(drawn["complete_through"], today)
                saved_days[site_id] = {
                    "bookmark": bookmark,
                    "resume_from": resume_from,
                    "complete_through": complete_through,
                }
                state: dict[str, Any] = {}
                if bookmark is not None:
                    state["replication_key_value"] = bookmark.isoformat().replace("+00:00", "Z")
                    if not partitioned:
                        state["replication_key"] = "date"
                if resume_from is not None:
                    state["resume_from"] = resume_from.isoformat()
                if complete_through is not None:
                    state["complete_through"] = complete_through.isoformat()
                states[site_id] = state
            if partitioned:
                stream_state: dict[str, Any] = {
                    "partitions": [{"context": {"siteId": i}, **states[i]} for i in ids]
                }
                config: dict[str, Any] = {
                    "sites": [{"site_id": str(i), "timezone": zones[i].key} for i in ids]
                }
            else:
                stream_state = states[ids[0]]
                config = {"site_id": str(ids[0]), "timezone": zones[ids[0]].key}
            config |= {
                "api_token": TOKEN,
                "start_date": start_date.isoformat(),
                "api_url": server.url,
                "lookback_days": lookback,
                "window_days": window_days,
            }
            server.reset_log()
            with clock(now):
                result = run_tap(config, state={"bookmarks": {"requests": stream_state}})
            for site_id in ids:
                owed = first_day_owed(
                    start=start_date,
                    today=todays[site_id],
                    tz=zones[site_id],
                    lookback=lookback,
                    **saved_days[site_id],
                )
                wanted = {
                    owed + dt.timedelta(days=k) for k in range((todays[site_id] - owed).days + 1)
                }
                missing = sorted(wanted - days_asked(server, site_id))
                assert not missing, f"site {site_id}: days never asked for: {missing}"
            assert_no_untrusted_day(result, todays, partitioned=partitioned)

        check()


@pytest.mark.parametrize("partitioned", [False, True], ids=["site_id", "sites"])
def test_thirteen_daily_runs_after_a_saved_resume_from_ahead_read_every_day(
    partitioned: bool,  # noqa: FBT001
) -> None:
    """The report: bookmark on 03-09, `resume_from` 03-24 saved by an older version, daily
    runs from 03-11. Before the fix thirteen runs read nothing and exited 0, then the pass
    resumed at 03-24 and the requests of 03-09..03-16 were never read."""
    first_day, bookmark_day, saved_resume = dt.date(2026, 3, 1), dt.date(2026, 3, 9), "2026-03-24"
    runs = [dt.date(2026, 3, 11) + dt.timedelta(days=k) for k in range(15)]  # 03-11 .. 03-25
    zones = ("Europe/Moscow", "Asia/Vladivostok")
    if partitioned:
        sites = generate_sites(
            2, seed=41, start=first_day, days=25, requests_per_day=3, calls_per_day=0, zones=zones
        )
    else:
        dataset = generate_dataset(seed=41, start=first_day, days=25, per_day=3)
        sites = [Site(DEFAULT_SITE_ID, requests=dataset, tz=zones[0])]
    newest_by_09 = {
        site.site_id: max(
            r["date"] for r in site.requests if local_of(r["date"], site.zone) <= bookmark_day
        )
        for site in sites
    }
    bookmarks = {
        site_id: dt.datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")
        for site_id, ms in newest_by_09.items()
    }
    if partitioned:
        state: dict[str, Any] = {
            "bookmarks": {
                "requests": {
                    "partitions": [
                        {
                            "context": {"siteId": site_id},
                            "replication_key_value": value,
                            "resume_from": saved_resume,
                        }
                        for site_id, value in bookmarks.items()
                    ]
                }
            }
        }
        config: dict[str, Any] = {
            "sites": [{"site_id": str(s.site_id), "timezone": s.tz} for s in sites]
        }
    else:
        state = {
            "bookmarks": {
                "requests": {
                    "replication_key": "date",
                    "replication_key_value": bookmarks[DEFAULT_SITE_ID],
                    "resume_from": saved_resume,
                }
            }
        }
        config = {"site_id": str(DEFAULT_SITE_ID), "timezone": zones[0]}
    delivered: set[tuple[int, int]] = set()
    written: list[tuple[SyncResult, dict[int, dt.date]]] = []
    tokens = {TOKEN: {site.site_id for site in sites}}
    with Emulator(sites=sites, tokens=tokens, rate_limit=None) as server, quick_limiter():
        config |= {"api_token": TOKEN, "start_date": first_day.isoformat(), "api_url": server.url}
        for run_day in runs:
            now = dt.datetime.combine(run_day, dt.time(20), ZoneInfo("Europe/Moscow"))
            with clock(now):
                result = run_tap(config, state=state)
            written.append((result, {site.site_id: local_day(now, site.zone) for site in sites}))
            delivered |= {
                (int(r["siteId"]), int(r["requestId"])) for r in result.records["requests"]
            }
            state = result.final_state
    last = dt.datetime.combine(runs[-1], dt.time(20), ZoneInfo("Europe/Moscow"))
    owed = {
        (site.site_id, int(r["requestId"]))
        for site in sites
        for r in site.requests
        if r["date"] > newest_by_09[site.site_id] and r["date"] <= last.timestamp() * 1000
    }
    never_read = sorted(
        local_of(r["date"], site.zone).isoformat()
        for site in sites
        for r in site.requests
        if (site.site_id, int(r["requestId"])) in owed - delivered
    )
    assert not never_read, f"requests of these days were never read: {sorted(set(never_read))}"
    for result, todays in written:
        assert_no_untrusted_day(result, todays, partitioned=partitioned)


def local_of(epoch_ms: int, tz: ZoneInfo) -> dt.date:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, tz).date()
