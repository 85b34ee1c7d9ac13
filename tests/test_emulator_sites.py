"""The emulator serving many sites under a few tokens, as an agency's Calltouch account does."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.emulator.calls_dataset import CALL_TIME, add_call_comment, add_call_order, add_calls
from tests.emulator.calls_journal import calls_path
from tests.emulator.dataset import add_order, add_requests, generate_dataset
from tests.emulator.server import API_PATH, Emulator
from tests.emulator.sites import ZONES, Site, generate_sites, tokens_for

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from tests.emulator.dataset import Record

TOKEN_A = "agency/A+tok.1"  # noqa: S105 - made up; "/" and "+" on purpose
TOKEN_B = "agency/B+tok.2"  # noqa: S105 - made up
START = dt.date(2026, 3, 1)
DAYS = 4
DAY = START + dt.timedelta(days=1)
DENIED = {"error": "ACCESS_DENIED", "message": "Invalid clientApiId or siteId"}
NO_POINTS = {"error": "POINTS_LIMIT_EXCEEDED", "message": "Daily API points limit exceeded"}
HTTP = requests.Session()
HTTP.trust_env = False  # no proxy from the environment: traffic stays on 127.0.0.1


def make_sites(n: int = 4, **shape: Any) -> list[Site]:
    return generate_sites(
        n,
        **{
            "seed": 5,
            "start": START,
            "days": DAYS,
            "requests_per_day": 12,
            "calls_per_day": 20,
            **shape,
        },
    )


@pytest.fixture(scope="module")
def sites() -> list[Site]:
    return make_sites()


@pytest.fixture
def emulator(sites: list[Site]) -> Iterator[Emulator]:
    """Four sites: A reads the first two, B the last two."""
    tokens = tokens_for(sites, [TOKEN_A, TOKEN_B])
    with Emulator(sites=sites, tokens=tokens, rate_limit=None) as running:
        yield running


def leads(
    emulator: Emulator, site: int | str, token: str | None = TOKEN_A, day: dt.date = DAY
) -> requests.Response:
    """One day of the requests journal: the site in the `siteId` parameter, mm/dd/yyyy."""
    query = {"clientApiId": token, "siteId": site, "dateFrom": f"{day:%m/%d/%Y}"}
    query["dateTo"] = query["dateFrom"]
    return HTTP.get(emulator.url + API_PATH, params=query, timeout=10)


def calls(
    emulator: Emulator, site: int | str, token: str | None = TOKEN_A, day: dt.date = DAY
) -> requests.Response:
    """One day of the calls journal: the site in the path, dd/mm/yyyy."""
    query = {"clientApiId": token, "dateFrom": f"{day:%d/%m/%Y}"}
    query["dateTo"] = query["dateFrom"]
    return HTTP.get(emulator.url + calls_path(site), params=query, timeout=10)


def both(emulator: Emulator, site: int | str, token: str | None) -> list[requests.Response]:
    return [leads(emulator, site, token), calls(emulator, site, token)]


def ids_of(records: Iterable[Record], kind: str) -> list[int]:
    """Every id of one kind the records hold, nested ones included."""
    found: list[int] = []
    for record in records:
        if kind in {"request", "call"}:
            found.extend([int(record[f"{kind}Id"])] if f"{kind}Id" in record else [])
        elif kind == "client":
            found.extend([record["client"]["clientId"]] if "client" in record else [])
        elif kind == "session":
            found.extend(int(visit["sessionId"]) for visit in record.get("mapVisits") or [])
        else:
            found.extend(item[f"{kind}Id"] for item in record.get(f"{kind}s") or [])
    return found


def all_ids(sites: list[Site], kind: str) -> list[int]:
    return [i for site in sites for i in ids_of([*site.requests, *site.calls], kind)]


# --- generated sites -----------------------------------------------------------------------------


def test_generated_sites_have_their_own_ids_zones_and_records(sites: list[Site]) -> None:
    assert [site.site_id for site in sites] == [12345, 12346, 12347, 12348]
    assert [site.tz for site in sites] == list(ZONES)
    assert len({site.site_id for site in sites}) == len(sites)
    for site in sites:
        assert site.requests
        assert site.calls
        assert {record["siteId"] for record in [*site.requests, *site.calls]} == {site.site_id}
        assert {call["siteName"] for call in site.calls} == {f"Окна Демо {sites.index(site) + 1}"}


@pytest.mark.parametrize("kind", ["request", "call", "session", "client", "comment", "order"])
def test_no_id_repeats_across_sites_or_journals(sites: list[Site], kind: str) -> None:
    found = all_ids(sites, kind)
    assert found, kind
    repeated = [i for i, n in Counter(found).items() if n > 1]
    assert not repeated, (kind, repeated[:5])


def test_generation_is_repeatable_and_site_k_does_not_depend_on_n(sites: list[Site]) -> None:
    again = make_sites()
    assert [(s.site_id, s.tz, s.requests, s.calls) for s in again] == [
        (s.site_id, s.tz, s.requests, s.calls) for s in sites
    ]
    two = make_sites(2)
    assert [s.calls for s in two] == [s.calls for s in sites[:2]]
    assert make_sites(1, seed=6)[0].calls != sites[0].calls


def test_records_added_later_stay_in_their_site_block() -> None:
    sites = make_sites(3, days=1, requests_per_day=2, calls_per_day=2)
    first, small = sites[0], sites[1]
    for record in [*first.requests, *first.calls, *small.requests, *small.calls]:
        record["orders"].clear()
        record["comments"].clear()
    # The first site's blocks start where a single site's ids do; a site with no deals or
    # comments yet must not start there too.
    taken = [
        add_order(first.requests, first.requests[0]["requestId"])["orderId"],
        add_call_order(first.calls, first.calls[0]["callId"], tz=first.tz)["orderId"],
        add_call_comment(first.calls, first.calls[0]["callId"], "первый")["commentId"],
    ]
    given = [
        add_order(small.requests, small.requests[0]["requestId"])["orderId"],
        add_call_order(small.calls, small.calls[0]["callId"], tz=small.tz)["orderId"],
        add_call_comment(small.calls, small.calls[0]["callId"], "перезвонить")["commentId"],
    ]
    assert not set(taken) & set(given)
    assert given == [
        small.requests.first_ids["order"],  # type: ignore[attr-defined]
        small.calls.first_ids["order"],  # type: ignore[attr-defined]
        small.calls.first_ids["comment"],  # type: ignore[attr-defined]
    ]
    add_calls(small.calls, 3, START, tz=small.tz)
    add_requests(small.requests, 2, START, tz=small.tz)
    for kind in ("request", "call", "session", "client", "comment", "order"):
        found = all_ids(sites, kind)
        assert len(found) == len(set(found)), kind
    assert {r["siteId"] for r in [*small.requests, *small.calls]} == {small.site_id}


def test_an_agency_of_a_hundred_sites_is_generated() -> None:
    many = generate_sites(100, seed=1, start=START, days=3, requests_per_day=10, calls_per_day=30)
    assert len(many) == 100


def test_tokens_for_shares_sites_in_runs(sites: list[Site]) -> None:
    assert tokens_for(sites, ["a", "b"]) == {"a": {12345, 12346}, "b": {12347, 12348}}
    assert tokens_for(sites, ["a", "b", "c"]) == {
        "a": {12345, 12346},
        "b": {12347, 12348},
        "c": set(),
    }
    assert tokens_for(sites, ["only"]) == {"only": {12345, 12346, 12347, 12348}}


# --- access --------------------------------------------------------------------------------------


def test_a_token_reads_only_its_sites_in_both_journals(
    emulator: Emulator, sites: list[Site]
) -> None:
    served = {TOKEN_A: {12345, 12346}, TOKEN_B: {12347, 12348}}
    for token, site in itertools.product(served, sites):
        for answer in both(emulator, site.site_id, token):
            if site.site_id in served[token]:
                assert answer.status_code == 200, (token, site.site_id, answer.text)
            else:
                assert (answer.status_code, answer.json()) == (403, DENIED), (token, site.site_id)
    for site in (99999, "012345", "abc"):
        for answer in both(emulator, site, TOKEN_A):
            assert (answer.status_code, answer.json()) == (403, DENIED), site
    for token in ("wrong", None):
        for answer in both(emulator, 12345, token):
            assert (answer.status_code, answer.json()) == (403, DENIED), token


def test_a_site_outside_the_token_can_be_a_401(sites: list[Site]) -> None:
    tokens = {TOKEN_A: {12345}}
    with Emulator(sites=sites, tokens=tokens, rate_limit=None, denied_status=401) as emulator:
        assert [a.status_code for a in both(emulator, 12345, TOKEN_A)] == [200, 200]
        for answer in both(emulator, 12346, TOKEN_A):
            assert (answer.status_code, answer.json()) == (401, DENIED)


def test_revoke_refuses_every_site_of_a_token_until_restored(emulator: Emulator) -> None:
    emulator.revoke(TOKEN_A)
    for site in (12345, 12346):
        for answer in both(emulator, site, TOKEN_A):
            assert (answer.status_code, answer.json()) == (403, DENIED)
    assert [a.status_code for a in both(emulator, 12347, TOKEN_B)] == [200, 200]
    emulator.restore(TOKEN_A)
    assert [a.status_code for a in both(emulator, 12346, TOKEN_A)] == [200, 200]
    emulator.revoke(TOKEN_B, status=401)
    assert [a.status_code for a in both(emulator, 12348, TOKEN_B)] == [401, 401]
    emulator.restore(TOKEN_B)
    assert [a.status_code for a in both(emulator, 12348, TOKEN_B)] == [200, 200]
    with pytest.raises(KeyError):
        emulator.revoke("never-issued")


def test_revoke_also_follows_the_single_site_denied_status() -> None:
    records = generate_dataset(seed=1, start=START, days=2, per_day=5)
    with Emulator(dataset=records, token=TOKEN_A, rate_limit=None, denied_status=401) as emulator:
        assert leads(emulator, 12345).status_code == 200
        emulator.revoke(TOKEN_A)
        assert (leads(emulator, 12345).status_code, leads(emulator, 12345).json()) == (401, DENIED)
        emulator.restore(TOKEN_A)
        assert leads(emulator, 12345).status_code == 200


# --- points --------------------------------------------------------------------------------------


def test_one_site_runs_out_of_points_while_the_others_answer(emulator: Emulator) -> None:
    emulator.exhaust(12346)
    for answer in both(emulator, 12346, TOKEN_A):
        assert (answer.status_code, answer.json()) == (403, NO_POINTS)
    assert [a.status_code for a in both(emulator, 12345, TOKEN_A)] == [200, 200]
    assert [a.status_code for a in both(emulator, 12347, TOKEN_B)] == [200, 200]
    assert emulator.points_spent(12346) == 0
    assert emulator.points_spent(12345) == 2
    emulator.refill(12346)
    assert [a.status_code for a in both(emulator, 12346, TOKEN_A)] == [200, 200]


def test_each_site_has_its_own_budget_over_both_journals() -> None:
    small, large = make_sites(2, days=2)
    small.points_budget = 3
    tokens = {TOKEN_A: {small.site_id, large.site_id}}
    with Emulator(sites=[small, large], tokens=tokens, rate_limit=None) as emulator:
        statuses = [a.status_code for _ in range(2) for a in both(emulator, small.site_id, TOKEN_A)]
        assert statuses == [200, 200, 200, 403]
        assert calls(emulator, small.site_id).json() == NO_POINTS
        assert [a.status_code for a in both(emulator, large.site_id, TOKEN_A)] == [200, 200]
        assert emulator.points_spent(small.site_id) == 3
        emulator.refill()
        assert leads(emulator, small.site_id).status_code == 200


# --- the rate limit stays one per IP -------------------------------------------------------------


def test_six_calls_in_a_second_over_several_sites_hit_the_limit(sites: list[Site]) -> None:
    tokens = tokens_for(sites, [TOKEN_A, TOKEN_B])
    with Emulator(sites=sites, tokens=tokens, rate_limit=5, retry_after=1) as emulator:
        plan = [
            (leads, 12345, TOKEN_A),
            (calls, 12346, TOKEN_A),
            (leads, 12347, TOKEN_B),
            (calls, 12348, TOKEN_B),
            (calls, 12345, TOKEN_A),
            (leads, 12348, TOKEN_B),
        ]
        statuses = [journal(emulator, site, token).status_code for journal, site, token in plan]
        assert statuses == [200] * 5 + [429]
        assert emulator.peak_rate() == 6
        assert emulator.count(429) == 1
        assert emulator.count(429, site=12348, journal="requests") == 1
        time.sleep(1.0)
        assert leads(emulator, 12348, TOKEN_B).status_code == 200


# --- per-site data and zones ---------------------------------------------------------------------


def local_day(record: Record, zone: ZoneInfo, *, call: bool) -> dt.date:
    seconds = record[CALL_TIME] if call else record["date"] / 1000
    return dt.datetime.fromtimestamp(seconds, zone).date()


def test_each_site_serves_its_records_with_dates_in_its_zone(
    emulator: Emulator, sites: list[Site]
) -> None:
    moscow = ZoneInfo("Europe/Moscow")
    for site in sites:
        token = TOKEN_A if site.site_id in {12345, 12346} else TOKEN_B
        zone = ZoneInfo(site.tz)
        served_leads = leads(emulator, site.site_id, token).json()
        assert {r["requestId"] for r in served_leads} == {
            r["requestId"] for r in site.requests if local_day(r, zone, call=False) == DAY
        }
        served_calls = calls(emulator, site.site_id, token).json()
        assert [int(c["callId"]) for c in served_calls] == sorted(
            (int(c["callId"]) for c in site.calls if local_day(c, zone, call=True) == DAY),
            key=lambda i: -next(c[CALL_TIME] for c in site.calls if int(c["callId"]) == i),
        )
        for record in served_calls:
            assert record["date"].startswith(f"{DAY:%d/%m/%Y} ")  # its own wall clock
            assert record["siteId"] == site.site_id
        for record in served_leads:
            assert record["dateStr"].startswith(f"{DAY:%d/%m/%Y} ")
        if site.tz in {"Asia/Novosibirsk", "Asia/Yekaterinburg"}:
            by_moscow = {
                int(c["callId"]) for c in site.calls if local_day(c, moscow, call=True) == DAY
            }
            assert {int(c["callId"]) for c in served_calls} != by_moscow


def test_data_is_served_by_reference(emulator: Emulator, sites: list[Site]) -> None:
    site = sites[2]
    before = {int(c["callId"]) for c in calls(emulator, site.site_id, TOKEN_B).json()}
    added = add_calls(site.calls, 2, DAY, times=[dt.time(12, 0), dt.time(12, 1)], tz=site.tz)
    try:
        after = {int(c["callId"]) for c in calls(emulator, site.site_id, TOKEN_B).json()}
        assert after == before | {int(c["callId"]) for c in added}
        assert not after & {int(c["callId"]) for c in calls(emulator, 12348, TOKEN_B).json()}
    finally:
        del site.calls[-2:]


def test_arrive_after_changes_the_served_site_only(emulator: Emulator, sites: list[Site]) -> None:
    first, second = sites[0], sites[1]
    kept = [list(first.calls), list(second.calls)]
    gone = int(second.calls[0]["callId"])
    emulator.arrive_after(1, remove=[gone], site=second.site_id)
    query = {"clientApiId": TOKEN_A, "dateFrom": f"{START:%d/%m/%Y}", "page": 1, "limit": 5}
    query["dateTo"] = f"{START + dt.timedelta(days=DAYS - 1):%d/%m/%Y}"
    try:
        assert HTTP.get(emulator.url + calls_path(first.site_id), params=query, timeout=10).ok
        assert len(first.calls) == len(kept[0])
        assert len(second.calls) == len(kept[1])
        assert HTTP.get(emulator.url + calls_path(second.site_id), params=query, timeout=10).ok
        assert gone not in {int(c["callId"]) for c in second.calls}
        assert first.calls == kept[0]
    finally:
        first.calls[:], second.calls[:] = kept


# --- the call log --------------------------------------------------------------------------------


def test_the_call_log_knows_each_calls_site(emulator: Emulator) -> None:
    leads(emulator, 12345)
    calls(emulator, 12345)
    calls(emulator, 12346)
    calls(emulator, 12347)  # not A's
    leads(emulator, 12348, TOKEN_B)
    HTTP.get(emulator.url + API_PATH, params={"clientApiId": TOKEN_A}, timeout=10)  # no site
    assert [call.site for call in emulator.calls] == [
        "12345",
        "12345",
        "12346",
        "12347",
        "12348",
        None,
    ]
    assert emulator.count(site=12345) == 2
    assert emulator.count(site="12345", journal="calls") == 1
    assert emulator.count(403, site=12347) == 1
    assert emulator.count(200, site=12347) == 0
    assert emulator.count(200, journal="calls") == 2
    assert emulator.count(403) == 2
    assert emulator.count() == 6


# --- constructing ---------------------------------------------------------------------------------


def test_the_single_site_view_is_the_first_site(emulator: Emulator, sites: list[Site]) -> None:
    assert emulator.site_id == 12345
    assert emulator.token == TOKEN_A
    assert emulator.dataset is sites[0].requests
    assert emulator.call_records is sites[0].calls
    assert emulator.zone == ZoneInfo("Europe/Moscow")
    assert set(emulator.sites) == {12345, 12346, 12347, 12348}


def test_one_site_arguments_mean_one_site_and_one_token() -> None:
    records: list[Record] = []
    emulator = Emulator(dataset=records, token=TOKEN_A, site_id=7, tz="Asia/Novosibirsk")
    (site,) = emulator.sites.values()
    assert (site.site_id, site.tz, site.requests, site.calls) == (7, "Asia/Novosibirsk", [], [])
    assert site.requests is records
    assert emulator.tokens == {TOKEN_A: {7}}


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"dataset": []},
        {"sites": [Site(1)]},
        {"sites": [Site(1)], "tokens": {"t": {1}}, "token": "t"},
        {"sites": [Site(1)], "tokens": {"t": {1}}, "points_budget": 5},
        {"sites": [Site(1), Site(1)], "tokens": {"t": {1}}},
        {"sites": [Site(1)], "tokens": {"t": {1, 2}}},
        {"dataset": [], "token": "t", "tokens": {"t": {1}}},
    ],
)
def test_unclear_arguments_are_refused(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        Emulator(**arguments)


# --- the command line ----------------------------------------------------------------------------


def test_command_line_serves_many_sites_and_says_which() -> None:
    command = [
        *(sys.executable, "-m", "tests.emulator", "--port", "0", "--days", "2", "--per-day", "3"),
        *("--calls-per-day", "4", "--start", "2026-03-01", "--token", "tk", "--site-id", "500"),
        *("--sites", "5", "--tokens", "2"),
    ]
    root = Path(__file__).resolve().parents[1]
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as process:  # noqa: S603
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert re.fullmatch(r"EMULATOR_URL=http://127\.0\.0\.1:\d+", first)
        lines = [process.stdout.readline().strip() for _ in range(1 + 2 + 5)]
        assert lines[:3] == [
            "EMULATOR_SITES=500,501,502,503,504",
            "EMULATOR_TOKEN=tk-1 SITES=500,501,502",
            "EMULATOR_TOKEN=tk-2 SITES=503,504",
        ]
        assert re.fullmatch(
            r"EMULATOR_SITE=502 TZ=Asia/Novosibirsk REQUESTS=\d+ CALLS=\d+", lines[5]
        )
        url = first.removeprefix("EMULATOR_URL=")
        query = {"clientApiId": "tk-2", "dateFrom": "01/03/2026", "dateTo": "01/03/2026"}
        assert HTTP.get(url + calls_path(504), params=query, timeout=10).status_code == 200
        assert HTTP.get(url + calls_path(500), params=query, timeout=10).status_code == 403
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
