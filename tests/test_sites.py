"""Many sites in one run: one limiter, one state with an entry per site, and a site that fails
stopping alone, against the emulator serving an agency's sites under a few tokens."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from singer_sdk.exceptions import ConfigValidationError

from tap_calltouch.client import SitesFailedError
from tap_calltouch.sites import site_problems, sites_of
from tap_calltouch.tap import TapCalltouch
from tests.conftest import FIRST_DAY, SyncResult
from tests.emulator.server import Emulator
from tests.emulator.sites import Site, generate_sites
from tests.integration.warehouses import PRIMARY_KEYS as KEYS
from tests.test_calls import CALL_STREAMS
from tests.test_faults import assert_no_token, exception_texts, sync

DAYS = 4
LAST_DAY = FIRST_DAY + dt.timedelta(days=DAYS - 1)
REQUEST_STREAMS = ("requests", "orders", "comments", "map_visits", "request_tags")
LONE, MANY, REST = "lone/tok+1", "many/tok+2", "rest/tok+3"  # the agency's three logins


def agency(n: int, **sizes: int) -> list[Site]:
    return generate_sites(n, seed=13, start=FIRST_DAY, days=DAYS, **sizes)


def token_of(sites: list[Site]) -> dict[int, str]:
    """Site 1 alone under LONE, sites 2-10 under MANY, the rest under REST."""
    return {
        site.site_id: LONE if k == 0 else MANY if k < 10 else REST for k, site in enumerate(sites)
    }


def config(url: str, sites: list[Site], **changes: Any) -> dict[str, Any]:
    tokens = token_of(sites)
    return {
        "sites": [
            {"site_id": str(s.site_id), "api_token": tokens[s.site_id], "name": f"Brand {k}"}
            | ({"timezone": s.tz} if s.tz != "Europe/Moscow" else {})
            for k, s in enumerate(sites, 1)
        ],
        "start_date": FIRST_DAY.isoformat(),
        "end_date": LAST_DAY.isoformat(),
        "api_url": url,
        "window_days": DAYS,
        "calls_window_days": DAYS,
        "lookback_days": 1,
        **changes,
    }


def expected(sites: list[Site]) -> dict[str, set[tuple[Any, ...]]]:
    """Each stream's keys with siteId, worked out from the emulator's own records."""
    keys: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for site in sites:
        sid = site.site_id
        for r in site.requests:
            rid = int(r["requestId"])
            keys["requests"].add((sid, rid))
            keys["orders"].update((sid, int(o["orderId"])) for o in r["orders"])
            keys["comments"].update((sid, int(c["commentId"])) for c in r["comments"])
            keys["map_visits"].update((sid, rid, int(v["sessionId"])) for v in r["mapVisits"])
            keys["request_tags"].update(
                (sid, rid, name.strip())
                for tag in r["RequestTags"]
                for names in tag["names"]
                for name in names.split(",")
                if name.strip()
            )
        for c in site.calls:
            cid = int(c["callId"])
            keys["calls"].add((sid, cid))
            keys["call_orders"].update((sid, cid, int(o["orderId"])) for o in c["orders"])
            keys["call_comments"].update((sid, int(m["commentId"])) for m in c["comments"])
            keys["call_map_visits"].update((sid, cid, int(v["sessionId"])) for v in c["mapVisits"])
            keys["call_tags"].update(
                (sid, cid, name.strip())
                for tag in c["callTags"]
                for names in tag["names"]
                for name in names.split(",")
                if name.strip()
            )
    return keys


def delivered(result: SyncResult) -> dict[str, list[tuple[Any, ...]]]:
    return {
        stream: [(r["siteId"], *(r[key] for key in KEYS[stream])) for r in result.records[stream]]
        for stream in KEYS
    }


def assert_once(result: SyncResult, sites: list[Site], *, only: bool = True) -> None:
    """Every row of `sites` exactly once; with `only`, no row of any other site."""
    want, got = expected(sites), delivered(result)
    ids = {site.site_id for site in sites}
    for stream in KEYS:
        rows = got[stream] if only else [row for row in got[stream] if row[0] in ids]
        assert want[stream], stream
        assert len(rows) == len(set(rows)), f"{stream}: a row went out twice"
        assert set(rows) == want[stream], stream


def test_an_agency_run_where_one_token_is_revoked_and_one_site_has_no_points() -> None:
    sites = agency(20, requests_per_day=3, calls_per_day=5)
    revoked, spent = sites[0], sites[14]  # LONE's only site, and one of REST's
    tokens: dict[str, set[int]] = defaultdict(set)
    for site_id, token in token_of(sites).items():
        tokens[token].add(site_id)
    with Emulator(sites=sites, tokens=tokens) as emulator:
        emulator.revoke(LONE)
        emulator.exhaust(spent.site_id)
        settings = config(emulator.url, sites)
        first = sync(settings, streams=None)
        peak, throttled = emulator.peak_rate(), emulator.count(429)
        emulator.restore(LONE)
        emulator.refill()
        emulator.reset_log()
        second = sync(settings, state=first.result.final_state, streams=None)
        second_calls = list(emulator.calls)
    # The 18 healthy sites arrived complete, exactly once, within the limit.
    healthy = [site for site in sites if site not in (revoked, spent)]
    assert_once(first.result, healthy)
    assert {r["siteId"] for r in first.result.records["calls"]} == {s.site_id for s in healthy}
    assert peak <= 5
    assert throttled == 0
    # One error names both stopped sites (id and name) and why; no token in it.
    assert isinstance(first.error, SitesFailedError)
    message = str(first.error)
    assert message.startswith("2 of 20 site(s) stopped")
    assert f"site {revoked.site_id} (Brand 1): " in message
    assert "rejected the credentials" in message
    assert f"site {spent.site_id} (Brand 15): " in message
    assert "daily API points are used up" in message
    for token in (LONE, MANY, REST):
        assert_no_token(*exception_texts(first.error), token=token)
    # The next run completes the two from start_date and re-reads only the others' look-back.
    assert second.error is None
    assert_once(second.result, [revoked, spent], only=False)
    first_day = FIRST_DAY.strftime("%m/%d/%Y")
    for call in second_calls:
        if call.journal != "requests":
            continue
        if int(call.params["siteId"]) in (revoked.site_id, spent.site_id):
            assert call.params["dateFrom"] == first_day
        else:
            assert call.params["dateFrom"] != first_day, "a healthy site started over"


def test_a_hundred_small_sites_keep_a_small_state_one_entry_each() -> None:
    sites = agency(100, requests_per_day=1, calls_per_day=1)
    tokens = {REST: {site.site_id for site in sites}}
    with Emulator(sites=sites, tokens=tokens) as emulator:
        settings = config(emulator.url, sites)
        for entry in settings["sites"]:
            entry["api_token"] = REST
        run = sync(settings, streams=None)
    assert run.error is None
    state = run.result.final_state
    size = len(json.dumps(state, separators=(",", ":")))  # as the tap writes it
    assert size < 20_000, f"{size} bytes"
    for stream in ("requests", "calls"):
        partitions = state["bookmarks"][stream]["partitions"]
        assert sorted(p["context"]["siteId"] for p in partitions) == sorted(
            s.site_id for s in sites
        )
        assert all("resume_from" not in p for p in partitions)
    assert_once(run.result, sites)


@pytest.mark.parametrize(
    ("sites", "top", "says"),
    [
        ([], {"api_token": "t"}, "sites: the list is empty"),
        ([{"site_id": "1"}, {"site_id": "1"}], {"api_token": "t"}, "site_id 1 is listed twice"),
        # Compared as numbers: the API, the records and the state know one site 12345.
        (
            [{"site_id": "12345"}, {"site_id": "012345"}],
            {"api_token": "t"},
            "sites[2] (site 12345): site_id 12345 is listed twice, as sites[1] too",
        ),
        ([{"site_id": "0"}], {"api_token": "t"}, "sites[1]: site_id: a Calltouch site id"),
        ([{"site_id": "000"}], {"api_token": "t"}, "sites[1]: site_id: a Calltouch site id"),
        ([{"site_id": "9" * 20}], {"api_token": "t"}, "sites[1]: site_id: a Calltouch site id"),
        # More than 4300 digits: int() refuses it with an error of its own.
        ([{"site_id": "1" * 5000}], {"api_token": "t"}, "sites[1]: site_id: a Calltouch site id"),
        # Arabic-Indic digits: the schema's \d (Python's) matches them.
        ([{"site_id": "١٢٣"}], {"api_token": "t"}, "sites[1]: site_id: a Calltouch site id"),
        ([{"site_id": "1"}, {"site_id": "2", "api_token": "x"}], {}, "sites[1] (site 1): no"),
        ([{"site_id": "1", "timezone": "Mars/Base"}], {"api_token": "t"}, "'Mars/Base'"),
        ([{"site_id": "1"}], {"api_token": "t", "site_id": "1"}, "either `site_id` or `sites`"),
    ],
)
def test_a_bad_site_list_is_refused_naming_the_site(
    sites: list[dict[str, str]], top: dict[str, str], says: str
) -> None:
    problems = site_problems({**top, "sites": sites})
    assert any(says in problem for problem in problems), problems


@settings(max_examples=200, deadline=None, derandomize=True)
@given(listed=st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 3)), min_size=1, max_size=8))
def test_sites_are_the_same_when_their_numbers_are(listed: list[tuple[int, int]]) -> None:
    """Each id, with some leading zeros: a duplicate is refused iff the numbers repeat, and
    the message names the site by its number and both entries."""
    entries = [{"site_id": "0" * zeros + str(number)} for number, zeros in listed]
    problems = site_problems({"api_token": "t", "sites": entries})
    twice = [p for p in problems if "listed twice" in p]
    numbers = [number for number, _ in listed]
    expected = [
        f"sites[{k}] (site {n}): site_id {n} is listed twice, as sites[{numbers.index(n) + 1}] too"
        for k, n in enumerate(numbers, 1)
        if numbers.index(n) + 1 < k
    ]
    assert [p.split(" (ids are")[0] for p in twice] == expected
    if not expected:
        assert [site.site_id for site in sites_of({"api_token": "t", "sites": entries})] == numbers


def test_a_site_listed_with_and_without_leading_zeros_is_refused_before_any_call() -> None:
    """Before, each was read: every record twice, and the shared window count let
    `resume_from` stay after a complete pass."""
    sites = agency(2, requests_per_day=1, calls_per_day=1)
    with Emulator(sites=sites, tokens={REST: {site.site_id for site in sites}}) as emulator:
        settings = config(emulator.url, sites)
        settings["sites"][1]["site_id"] = "0" + settings["sites"][0]["site_id"]
        with pytest.raises(ConfigValidationError) as info:
            TapCalltouch(config=settings)
        assert emulator.count() == 0
    site = sites[0].site_id
    twice = f"sites[2] (site {site}): site_id {site} is listed twice, as sites[1] too"
    assert info.value.errors == [f"{twice} (ids are compared as numbers: 012345 is 12345)"]


def test_a_site_written_with_leading_zeros_continues_from_its_state() -> None:
    """The state keys each site's entry by its number, so `00` + id is the same site."""
    sites = agency(2, requests_per_day=2, calls_per_day=2)
    tokens = {REST: {site.site_id for site in sites}}
    with Emulator(sites=sites, tokens=tokens) as emulator:
        settings = config(emulator.url, sites)
        for entry in settings["sites"]:
            entry["api_token"] = REST
        first = sync(settings, streams=None)
        emulator.reset_log()
        for entry in settings["sites"]:
            entry["site_id"] = "00" + entry["site_id"]
        second = sync(settings, state=first.result.final_state, streams=None)
        asked = [call for call in emulator.calls if call.journal == "requests"]
    assert first.error is None
    assert second.error is None
    assert {int(call.params["siteId"]) for call in asked} == {site.site_id for site in sites}
    assert all(call.params["siteId"] == str(int(call.params["siteId"])) for call in asked)
    assert all(call.params["dateFrom"] != FIRST_DAY.strftime("%m/%d/%Y") for call in asked)
    partitions = second.result.final_state["bookmarks"]["requests"]["partitions"]
    assert sorted(p["context"]["siteId"] for p in partitions) == [s.site_id for s in sites]
    assert {r["siteId"] for r in second.result.records["requests"]} <= {s.site_id for s in sites}


def test_requests_and_calls_of_each_site_are_asked_with_its_token_and_zone() -> None:
    sites = agency(3, requests_per_day=2, calls_per_day=2)
    tokens: dict[str, set[int]] = defaultdict(set)
    for site_id, token in token_of(sites).items():
        tokens[token].add(site_id)
    with Emulator(sites=sites, tokens=tokens) as emulator:
        run = sync(config(emulator.url, sites), streams=None)
        asked = {(call.journal, call.site) for call in emulator.calls}
    assert run.error is None
    assert asked == {(j, str(s.site_id)) for j in ("requests", "calls") for s in sites}
    zones = {s.site_id: s.tz for s in sites}
    assert len(set(zones.values())) == 3  # the sites keep different local times
    for stream in (*REQUEST_STREAMS, *CALL_STREAMS):
        assert {row["siteId"] for row in run.result.records[stream]} <= set(zones)
