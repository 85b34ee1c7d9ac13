"""Many sites in one run: one limiter, one state with an entry per site, and a site that fails
stopping alone, against the emulator serving an agency's sites under a few tokens."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import socket
import time
from collections import defaultdict
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from singer_sdk.exceptions import ConfigValidationError

from tap_calltouch.answers import WHOLE_PARSE_BYTES
from tap_calltouch.client import CalltouchStream
from tap_calltouch.errors import SitesFailedError, UnreachableError
from tap_calltouch.sites import Site as SiteSetting
from tap_calltouch.sites import failure_summary, site_problems, sites_of
from tap_calltouch.tap import TapCalltouch
from tests.conftest import FIRST_DAY, SyncResult
from tests.emulator.calls_dataset import new_calls
from tests.emulator.server import Call, Emulator, PageServed
from tests.emulator.sites import Site, generate_sites
from tests.integration.warehouses import PRIMARY_KEYS as KEYS
from tests.test_calls import CALL_STREAMS
from tests.test_faults import Run, assert_no_token, exception_texts, sync

DAYS = 4
LAST_DAY = FIRST_DAY + dt.timedelta(days=DAYS - 1)
REQUEST_STREAMS = ("requests", "orders", "comments", "map_visits", "request_tags")
JOURNAL_KEYS = {"requests": "requestId", "calls": "callId"}
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


@pytest.mark.slow
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


# --- a fault on one site of many: that site stops alone --------------------------------------

TRIES = CalltouchStream.backoff_tries
FAULTY_NAME = "faulty/tok+9"  # the faulty site's own login, so it can be revoked alone
FAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    # name: (emulator fault, its options); each lasts longer than the tap's tries
    "timeout": ("hang", {"seconds": 3}),
    "reset": ("reset", {}),
    "cut-mid-body": ("cut", {}),
    "truncated": ("truncated", {}),
    "html": ("html", {}),
    "500": ("status", {"status": 500}),
    "503-endpoints": ("status", {"status": 503, "message": "no healthy upstream endpoints"}),
    "429": ("status", {"status": 429, "message": "Too many requests"}),
}
# Where the fault sits: the site's very first call, or page 2 of its second calls window.
TARGETS = {
    "first-call": {"journal": "requests", "dateFrom": FIRST_DAY.strftime("%m/%d/%Y")},
    "later-page": {
        "journal": "calls",
        "dateFrom": (FIRST_DAY + dt.timedelta(days=2)).strftime("%d/%m/%Y"),
        "page": 2,
    },
}
# Each fault on two (site, target) pairs, turning over the three sites and both targets. A
# timeout is waited out in real time: eight tries of the shortest `request_timeout`, 1 s.
MATRIX = [
    pytest.param(fault, k % 3, target, marks=[pytest.mark.slow] if fault == "timeout" else [])
    for k, fault in enumerate(FAULTS)
    for k, target in ((k, "first-call"), (k + 1, "later-page"))
]


def three_sites() -> list[Site]:
    return generate_sites(
        3, seed=29, start=FIRST_DAY, days=DAYS, requests_per_day=4, calls_per_day=8
    )


def matrix_config(url: str, sites: list[Site], faulty: Site) -> dict[str, Any]:
    """Two 2-day windows per journal and site, calls windows of three or more pages."""
    settings = config(url, sites, window_days=2, calls_window_days=2, page_size=5)
    for entry in settings["sites"]:
        entry["api_token"] = FAULTY_NAME if entry["site_id"] == str(faulty.site_id) else MANY
    return settings


def matrix_emulator(sites: list[Site], faulty: Site) -> Emulator:
    others = {site.site_id for site in sites} - {faulty.site_id}
    tokens = {MANY: others, FAULTY_NAME: {faulty.site_id}}
    return Emulator(sites=sites, tokens=tokens, rate_limit=None)


def ids_of(run: Run, journal: str, site: Site) -> set[int]:
    """The ids of a journal's records a run emitted for one site."""
    key = JOURNAL_KEYS[journal]
    return {r[key] for r in run.result.records[journal] if r["siteId"] == site.site_id}


def assert_stopped_alone_then_read_whole(
    first: Run, second: Run, journal: str, faulty: Site, healthy: Site
) -> None:
    """`faulty` stopped in the first run with no window of it saved while `healthy` came whole;
    the second run, from the first's state, brought `faulty` whole."""
    assert isinstance(first.error, SitesFailedError), first.error
    assert_state_follows_emitted(first.result)
    partitions = first.result.final_state["bookmarks"][journal]["partitions"]
    assert all(
        "replication_key_value" not in p
        for p in partitions
        if p["context"]["siteId"] == faulty.site_id
    )
    key = JOURNAL_KEYS[journal]
    assert ids_of(first, journal, healthy) == {int(r[key]) for r in getattr(healthy, journal)}
    assert second.error is None, second.error
    assert ids_of(second, journal, faulty) == {int(r[key]) for r in getattr(faulty, journal)}


def rows_of(result: SyncResult, sites: list[Site]) -> dict[str, list[tuple[Any, ...]]]:
    ids = {site.site_id for site in sites}
    return {
        stream: [row for row in rows if row[0] in ids] for stream, rows in delivered(result).items()
    }


def assert_complete_once(result: SyncResult, sites: list[Site]) -> None:
    """Every row of `sites`, each exactly once (other sites' rows are not looked at)."""
    want, got = expected(sites), rows_of(result, sites)
    for stream in KEYS:
        assert len(got[stream]) == len(set(got[stream])), f"{stream}: a row went out twice"
        assert set(got[stream]) == want[stream], stream


def assert_state_follows_emitted(result: SyncResult, state: dict[str, Any] | None = None) -> None:
    """No site's bookmark in any STATE is past the newest record of that site emitted before
    (or the bookmark the run started from); a site stopped midway keeps an older one."""
    newest: dict[tuple[str, int], str] = {}
    for stream in ("requests", "calls"):
        bookmark = (state or {}).get("bookmarks", {}).get(stream, {})
        for partition in bookmark.get("partitions", []):
            if (value := partition.get("replication_key_value")) is not None:
                newest[stream, partition["context"]["siteId"]] = value
    for message in result.messages:
        if message["type"] == "RECORD" and message["stream"] in ("requests", "calls"):
            key, date = (message["stream"], message["record"]["siteId"]), message["record"]["date"]
            newest[key] = max(newest.get(key, date), date)
        elif message["type"] == "STATE":
            for stream in ("requests", "calls"):
                bookmark = message["value"].get("bookmarks", {}).get(stream, {})
                for partition in bookmark.get("partitions", []):
                    value = partition.get("replication_key_value")
                    site_id = partition["context"]["siteId"]
                    if value is not None:
                        assert value <= newest.get((stream, site_id), ""), (stream, site_id)


def assert_bookmarked_through_the_end(result: SyncResult, sites: list[Site]) -> None:
    """Each of `sites` ends its pass in both journals bookmarked at its newest record emitted."""
    state = result.final_state
    for stream in ("requests", "calls"):
        partitions = {p["context"]["siteId"]: p for p in state["bookmarks"][stream]["partitions"]}
        for site in sites:
            newest = max(r["date"] for r in result.records[stream] if r["siteId"] == site.site_id)
            assert "resume_from" not in partitions[site.site_id], (stream, site.site_id)
            assert partitions[site.site_id]["replication_key_value"] == newest, (stream, site)


def hit(call: Call, site: Site, target: dict[str, Any]) -> bool:
    """Whether a call the emulator saw is the faulty site's call at the fault's target."""
    wanted = {key: str(value) for key, value in target.items() if key != "journal"}
    return (
        call.site == str(site.site_id)
        and call.journal == target["journal"]
        and all(call.params.get(key) == value for key, value in wanted.items())
    )


@pytest.mark.parametrize(("fault", "position", "target"), MATRIX)
def test_a_fault_on_one_site_stops_that_site_alone(
    fault: str,
    position: int,
    target: str,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    if fault == "timeout":  # slow for its timeouts alone: pacing and backoff stay quick
        request.getfixturevalue("quick_time")
    caplog.set_level(logging.DEBUG)  # urllib3 logs each URL at DEBUG
    sites = three_sites()
    faulty = sites[position]
    healthy = [site for site in sites if site is not faulty]
    kind, options = FAULTS[fault]
    with matrix_emulator(sites, faulty) as emulator:
        settings = matrix_config(emulator.url, sites, faulty)
        if fault == "timeout":
            settings["request_timeout"] = 1
        emulator.inject(kind, times=TRIES + 4, site=faulty.site_id, **TARGETS[target], **options)
        first = sync(settings, streams=None)
        tries = sum(hit(call, faulty, TARGETS[target]) for call in emulator.calls)
    # The other sites are complete, exactly once, and their state reached their last record.
    assert_complete_once(first.result, healthy)
    assert_bookmarked_through_the_end(first.result, healthy)
    assert_state_follows_emitted(first.result)
    # The faulty site was retried to the end, then stopped alone, named in the one error.
    assert tries >= TRIES
    assert isinstance(first.error, SitesFailedError), first.error
    message = str(first.error)
    assert message.startswith("1 of 3 site(s) stopped")
    assert f"site {faulty.site_id} (Brand {position + 1}): " in message
    assert f"failed after {TRIES} attempts" in message or "could not be read through" in message
    assert "points" not in message
    for token in (MANY, FAULTY_NAME):
        assert_no_token(*exception_texts(first.error), caplog.text, token=token)
    # Without the fault, the next run brings every site up to date.
    with matrix_emulator(sites, faulty) as emulator:
        settings = matrix_config(emulator.url, sites, faulty)
        second = sync(settings, state=first.result.final_state, streams=None)
    assert second.error is None, second.error
    assert_state_follows_emitted(second.result, first.result.final_state)
    assert_bookmarked_through_the_end(second.result, [faulty])
    both = SyncResult(first.result.messages + second.result.messages)
    want, got = expected(sites), rows_of(both, sites)
    for stream in KEYS:
        assert set(got[stream]) == want[stream], stream


# --- the API down for every site -----------------------------------------------------------------


def test_a_host_refusing_connections_stops_every_site_after_one_calls_tries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3 logs each connection it opens
    sites = three_sites()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    run = sync(matrix_config(closed, sites, sites[1]), streams=None)
    assert isinstance(run.error, UnreachableError), run.error
    message = str(run.error)
    assert message.startswith(f"calls window site {sites[0].site_id} (Brand 1) ")
    assert f"failed after {TRIES} attempts" in message
    assert "Connection refused" in message
    assert "check the `api_url` setting" in message
    # One site's tries, not every site's: each opened a connection and named its site's URL.
    assert caplog.text.count("Starting new HTTP connection") == TRIES
    retried = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert len(retried) == TRIES - 1
    assert all(f"/RestAPI/{sites[0].site_id}/" in message for message in retried), retried
    for token in (MANY, FAULTY_NAME):
        assert_no_token(*exception_texts(run.error), token=token)


def test_answers_breaking_for_every_site_stop_the_run_after_two_sites() -> None:
    sites = three_sites()
    with matrix_emulator(sites, sites[1]) as emulator:
        emulator.inject("reset", times=10_000)  # every call of every site
        run = sync(matrix_config(emulator.url, sites, sites[1]), streams=None)
        time.sleep(0.3)  # let any call still on its way arrive
        called = {call.site for call in emulator.calls}
        calls = emulator.count()
    assert isinstance(run.error, UnreachableError), run.error
    message = str(run.error)
    assert "broke the same way and no call was answered since" in message
    assert "check the `api_url` setting" in message
    # The first site's calls alone, then a few sites' at once: not every window's tries.
    assert len(called) >= 2
    assert calls <= TRIES * (1 + CalltouchStream.fetch_concurrency)
    assert run.result.records["calls"] == []


# --- a site stopping while a changed window is read again ---------------------------------------


def stop_after(emulator: Emulator, site: Site, pages: int, how: str) -> None:
    """Once `site` has been served `pages` calls-journal pages, make its calls fail: its token
    revoked, its points spent, or a fault on every call."""
    served = 0

    def hook(page: PageServed) -> bool:
        nonlocal served
        if page.site_id != str(site.site_id):
            return False
        served += 1
        if served < pages:
            return False
        if how == "revoked":
            emulator.revoke(FAULTY_NAME)
        elif how == "points":
            emulator.exhaust(site.site_id)
        else:
            emulator.inject("status", times=10_000, status=500, site=site.site_id)
        return True

    emulator.on_page(hook)


@pytest.mark.parametrize("how", ["revoked", "points", "500"])
@pytest.mark.parametrize("pages", [3, 4], ids=["before-the-re-read", "during-the-re-read"])
def test_a_site_stopping_while_a_changed_window_is_read_again_stops_alone(
    how: str, pages: int
) -> None:
    sites = three_sites()
    faulty = sites[1]
    healthy = [site for site in sites if site is not faulty]
    settings = matrix_config("", sites, faulty) | {"calls_window_days": DAYS, "page_size": 12}
    last = FIRST_DAY + dt.timedelta(days=DAYS - 1)
    late = [dt.time(23, 59, 50)]
    with matrix_emulator(sites, faulty) as emulator:
        # After page 1, a call arrives: the pages disagree, so the window is read again.
        arriving = new_calls(faulty.calls, 1, last, times=late, seed=3, tz=faulty.tz)
        emulator.arrive_after(page=1, calls=arriving, site=faulty.site_id)
        stop_after(emulator, faulty, pages, how)
        first = sync({**settings, "api_url": emulator.url}, streams=CALL_STREAMS)
    assert isinstance(first.error, SitesFailedError), first.error
    assert str(first.error).startswith("1 of 3 site(s) stopped")
    assert f"site {faulty.site_id} (Brand 2): " in str(first.error)
    assert_state_follows_emitted(first.result)
    partitions = first.result.final_state["bookmarks"]["calls"]["partitions"]
    stopped = next(p for p in partitions if p["context"]["siteId"] == faulty.site_id)
    assert "replication_key_value" not in stopped  # its one window never completed
    calls_of = {s.site_id: {int(c["callId"]) for c in s.calls} for s in sites}
    for site in healthy:
        got = [r["callId"] for r in first.result.records["calls"] if r["siteId"] == site.site_id]
        assert sorted(got) == sorted(calls_of[site.site_id])
    with matrix_emulator(sites, faulty) as emulator:
        second = sync({**settings, "api_url": emulator.url}, first.result.final_state, CALL_STREAMS)
    assert second.error is None, second.error
    got = {r["callId"] for r in second.result.records["calls"] if r["siteId"] == faulty.site_id}
    assert got == calls_of[faulty.site_id]


def test_a_large_answer_breaking_while_streamed_stops_its_site_alone() -> None:
    """An answer too large to parse at once is checked at its edges and streamed later; cut
    after a `]` it passes the check and breaks mid-stream, after some records went out."""
    sites = generate_sites(
        2, seed=31, start=FIRST_DAY, days=DAYS, requests_per_day=80, calls_per_day=1
    )
    faulty, healthy = sites
    with matrix_emulator(sites, faulty) as emulator:
        settings = matrix_config(emulator.url, sites, faulty) | {"window_days": DAYS}
        emulator.inject("truncated", after="]", site=faulty.site_id, journal="requests")
        first = sync(settings, streams=REQUEST_STREAMS)
        state = copy.deepcopy(first.result.final_state)  # the tap changes the state it is given
        second = sync(settings, state=state, streams=REQUEST_STREAMS)
    assert f"site {faulty.site_id} (Brand 1): " in str(first.error)
    assert "could not be read through" in str(first.error)
    assert ids_of(first, "requests", faulty), "some records went out before the body broke"
    assert_stopped_alone_then_read_whole(first, second, "requests", faulty, healthy)


def test_a_large_calls_page_with_a_value_that_cannot_be_read_stops_its_site_alone() -> None:
    """A page over `WHOLE_PARSE_BYTES` is checked for its shape as it comes; a string in it that
    is no UTF-8 breaks it only when its records are read: its site stops, the run goes on, and
    the next run reads the window whole."""
    sites = generate_sites(
        2, seed=37, start=FIRST_DAY, days=DAYS, requests_per_day=1, calls_per_day=200
    )
    faulty, healthy = sites
    settings = {"calls_window_days": DAYS, "page_size": 200}
    with matrix_emulator(sites, faulty) as emulator:
        settings |= {**matrix_config(emulator.url, sites, faulty), **settings}
        emulator.inject("garbled", site=faulty.site_id, journal="calls", page=2)
        first = sync(settings, streams=CALL_STREAMS)
        state = copy.deepcopy(first.result.final_state)
        second = sync(settings, state=state, streams=CALL_STREAMS)
    page_2 = faulty.calls[200:400]  # the calls of page 2, as the API sends them
    assert len(orjson.dumps(page_2)) > WHOLE_PARSE_BYTES  # read as a large page
    assert f"site {faulty.site_id} (Brand 1): " in str(first.error)
    assert "UTF-8" in str(first.error)
    assert_stopped_alone_then_read_whole(first, second, "calls", faulty, healthy)


def test_a_site_stopped_on_a_window_s_last_page_is_not_said_to_have_changed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its last page broke, so fewer records came than `recordsTotal` says: that is the stop,
    not a window that changed while paged, and no second read is announced."""
    sites = generate_sites(
        2, seed=37, start=FIRST_DAY, days=DAYS, requests_per_day=1, calls_per_day=400
    )
    faulty, _ = sites
    settings = {"calls_window_days": 1, "page_size": 200}
    with matrix_emulator(sites, faulty) as emulator:
        settings |= {**matrix_config(emulator.url, sites, faulty), **settings}
        second_day = (FIRST_DAY + dt.timedelta(days=1)).strftime("%d/%m/%Y")
        emulator.inject(
            "garbled", site=faulty.site_id, journal="calls", page=2, dateFrom=second_day
        )
        with caplog.at_level(logging.INFO):
            first = sync(settings, streams=CALL_STREAMS)
    assert isinstance(first.error, SitesFailedError), first.error
    assert "could not be read through" in str(first.error)
    assert "changed while its pages were read" not in caplog.text


def test_a_large_requests_answer_that_is_no_utf8_stops_its_site_quoting_none_of_it() -> None:
    sites = generate_sites(
        2, seed=31, start=FIRST_DAY, days=DAYS, requests_per_day=80, calls_per_day=1
    )
    faulty, healthy = sites
    with matrix_emulator(sites, faulty) as emulator:
        settings = matrix_config(emulator.url, sites, faulty) | {"window_days": DAYS}
        emulator.inject("garbled", site=faulty.site_id, journal="requests")
        first = sync(settings, streams=REQUEST_STREAMS)
    assert isinstance(first.error, SitesFailedError), first.error
    message = str(first.error)
    assert f"site {faulty.site_id} (Brand 1): " in message
    assert "invalid bytes in UTF8 string" in message
    assert "right here" not in message  # yajl's excerpt of the body
    assert "\\x" not in message
    assert_state_follows_emitted(first.result)
    assert ids_of(first, "requests", healthy) == {int(r["requestId"]) for r in healthy.requests}


def test_the_summary_does_not_claim_others_completed_when_every_site_stopped() -> None:
    sites = [SiteSetting(101, "t", name="A"), SiteSetting(102, "t", name="B")]
    one = failure_summary(sites, {101: "why"})
    every = failure_summary(sites, {101: "why", 102: "because"})
    assert one.startswith("1 of 2 site(s) stopped; the others completed")
    assert every.startswith("2 of 2 site(s) stopped; the next run continues each site")
    assert "the others completed" not in every
    assert "  site 102 (B): because" in every.splitlines()


def test_a_site_the_second_journal_stops_still_gets_the_first_journal_whole() -> None:
    """A site the second journal's calls stop (here, refused with 400) stops for the rest of the
    run: the journal synced before keeps every answer of the site, its slow last window too, and
    its pass over the site is whole. Were the site's last window dropped, a lasting fault would
    drop it again in every run, and that site's newest days would never come."""
    days = 4
    sites = generate_sites(
        2, seed=13, start=FIRST_DAY, days=days, requests_per_day=3, calls_per_day=3,
        zones=("Europe/Moscow",),
    )  # fmt: skip
    faulty, other = sites
    tokens = {site.site_id: f"second/tok+{k}" for k, site in enumerate(sites)}
    last_day = FIRST_DAY + dt.timedelta(days=days - 1)
    settings: dict[str, Any] = {
        "sites": [{"site_id": str(s.site_id), "api_token": tokens[s.site_id]} for s in sites],
        "start_date": FIRST_DAY.isoformat(),
        "end_date": last_day.isoformat(),
        "window_days": 1,
        "calls_window_days": 1,
    }
    journal_keys = {"requests": "requestId", "calls": "callId"}
    first, second = (name for name in TapCalltouch(config=settings).streams if name in journal_keys)
    formats = {"requests": "%m/%d/%Y", "calls": "%d/%m/%Y"}
    with Emulator(sites=sites, tokens={t: {sid} for sid, t in tokens.items()}) as emulator:
        emulator.inject(
            "slow", journal=first, site=faulty.site_id, delay=1.5,
            dateFrom=last_day.strftime(formats[first]),
        )  # fmt: skip
        emulator.inject("status", times=100, status=400, journal=second, site=faulty.site_id)
        run = sync({**settings, "api_url": emulator.url}, streams=None)
        log = list(emulator.calls)
    assert log[0].journal == first
    assert isinstance(run.error, SitesFailedError)
    assert str(faulty.site_id) in str(run.error)
    assert str(other.site_id) not in str(run.error)

    def delivered(journal: str) -> set[tuple[int, int]]:
        return {(r["siteId"], r[journal_keys[journal]]) for r in run.result.records[journal]}

    def held(journal: str, of: list[Site]) -> set[tuple[int, int]]:
        return {(s.site_id, int(r[journal_keys[journal]])) for s in of for r in getattr(s, journal)}

    assert delivered(first) == held(first, sites)
    assert delivered(second) == held(second, [other])
    (partition,) = [
        p
        for p in run.result.final_state["bookmarks"][first]["partitions"]
        if p["context"] == {"siteId": faulty.site_id}
    ]
    assert "resume_from" not in partition  # its pass over the first journal is whole
