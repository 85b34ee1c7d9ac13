"""The emulator's calls journal: it must behave like the calls API that clients describe."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import math
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import requests

from tests.emulator.calls_dataset import (
    CALL_SESSION_TIME,
    CALL_TIME,
    add_call_comment,
    add_call_order,
    add_call_tag,
    add_calls,
    find_call,
    generate_calls,
    new_calls,
)
from tests.emulator.calls_journal import KEY_FLAGS, UNNAMED_FLAGS, calls_path, is_true
from tests.emulator.dataset import generate_dataset
from tests.emulator.server import API_PATH, Emulator, PageServed

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.emulator.dataset import Record

TOKEN = "k9Qe.Zt1/LmN+4pXr/8sWqTjH2vB0cYdU7aF3gK5oE6iR"  # noqa: S105 - made up; "/" and "+" on purpose
SITE_ID = 12345
MSK = ZoneInfo("Europe/Moscow")
START = dt.date(2026, 3, 1)
DAYS = 6
LAST = START + dt.timedelta(days=DAYS - 1)
EDGE_DAY = dt.date(2026, 3, 2)  # holds a call at 23:59:59; the next day one at 00:00:00
ALL_FLAGS = tuple(KEY_FLAGS)
FIELDS = {
    *("callId", "date", "timestamp", "sessionDate", "duration", "waitingConnect"),
    *("callerNumber", "phoneNumber", "redirectNumber"),
    *("successful", "uniqueCall", "targetCall", "uniqTargetCall", "callbackCall"),
    *("callphase", "statusDetails", "source", "medium", "keyword"),
    *("utmSource", "utmMedium", "utmCampaign", "utmContent", "utmTerm"),
    *("city", "url", "callUrl", "ref", "hostname"),
    *("sessionId", "ctCallerId", "ctClientId", "ctGlobalId", "clientId", "yaClientId"),
    *("sipCallId", "callReferenceId", "callClientUniqueId"),
    *("userAgent", "ip", "device", "os", "browser"),
    *("manager", "siteId", "siteName", "subPoolName", "attribution"),
    *("callTags", "comments", "mapVisits", "orders", "yandexDirect", "googleAdWords", "dcm"),
    *("callbackInfo", "attrs", "customFields", "order", "phrases", "phonesInText"),
    "additionalTags",
}
BLOCKS = ("callbackInfo", "attrs", "phrases", "phonesInText")  # null in every captured answer
OFFLINE_NULLS = (  # captured offline calls: no session, so none of these
    *("sessionId", "sessionDate", "url", "ref", "ip", "userAgent", "device", "os", "browser"),
    "ctClientId",
)
HTTP = requests.Session()
HTTP.trust_env = False  # no proxy from the environment: traffic stays on 127.0.0.1


def dmy(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def span(first: dt.date = START, last: dt.date = LAST) -> dict[str, str]:
    return {"dateFrom": dmy(first), "dateTo": dmy(last)}


def local_day(record: Record) -> dt.date:
    return dt.datetime.fromtimestamp(record[CALL_TIME], MSK).date()


def public(record: Record) -> Record:
    return {key: value for key, value in record.items() if not key.startswith("_")}


def get(
    emulator: Emulator,
    params: dict[str, Any] | None = None,
    *,
    site: int | str = SITE_ID,
    timeout: float = 10,
) -> requests.Response:
    query = {"clientApiId": TOKEN, **(params or {})}
    return HTTP.get(emulator.url + calls_path(site), params=query, timeout=timeout)


def page(emulator: Emulator, number: int, limit: int, **params: Any) -> dict[str, Any]:
    answer = get(emulator, {**span(), **params, "page": number, "limit": limit})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def all_pages(emulator: Emulator, limit: int, **params: Any) -> list[Record]:
    """Page 1..pageTotal as clients do, pageTotal read from the first page."""
    first = page(emulator, 1, limit, **params)
    records = list(first["records"])
    for number in range(2, first["pageTotal"] + 1):
        records += page(emulator, number, limit, **params)["records"]
    return records


def call_ids(records: list[Record]) -> list[int]:
    return [int(record["callId"]) for record in records]


def expected_ids(dataset: list[Record], test: Any = lambda _: True) -> list[int]:
    """The ids in range passing `test`, newest first, as the API orders them."""
    chosen = [r for r in dataset if START <= local_day(r) <= LAST and test(r)]
    chosen.sort(key=lambda r: (r[CALL_TIME], int(r["callId"])), reverse=True)
    return call_ids(chosen)


@pytest.fixture(scope="module")
def dataset() -> list[Record]:
    records = generate_calls(seed=11, start=START, days=DAYS, per_day=40)
    add_calls(records, 1, EDGE_DAY, times=[dt.time(23, 59, 59)])
    add_calls(records, 1, EDGE_DAY + dt.timedelta(days=1), times=[dt.time(0, 0, 0)], seed=1)
    return records


@pytest.fixture
def emulator(dataset: list[Record]) -> Iterator[Emulator]:
    with Emulator(
        dataset=[], calls=dataset, token=TOKEN, site_id=SITE_ID, rate_limit=None
    ) as running:
        yield running


@pytest.fixture
def own(dataset: list[Record]) -> Iterator[Emulator]:
    """An emulator over this test's own copy of the calls, to change them."""
    records = copy.deepcopy(dataset)
    with Emulator(dataset=[], calls=records, token=TOKEN, rate_limit=None) as running:
        yield running


# --- the dataset ---------------------------------------------------------------------------------


def test_calls_are_deterministic_and_vary_with_the_seed() -> None:
    first = generate_calls(seed=3, start=START, days=2, per_day=50)
    assert first == generate_calls(seed=3, start=START, days=2, per_day=50)
    assert first != generate_calls(seed=4, start=START, days=2, per_day=50)


def test_requests_dataset_is_unchanged_by_the_calls() -> None:
    records = generate_dataset(seed=3, start=START, days=2, per_day=20)
    for record in records:  # the session's time came later, copied from its visit
        session = record["session"]
        assert all(order["session"] is session for order in record["orders"])
        if session is not None:
            assert session.pop("sessionDate") == record["mapVisits"][-1]["sessionDate"]
    digest = hashlib.sha256(orjson.dumps(records)).hexdigest()
    assert digest.startswith("afa2a7dd1fe609c5")  # as before the calls journal came


def test_thirty_days_of_a_thousand_calls_are_about_thirty_thousand() -> None:
    records = generate_calls(seed=1, start=START, days=30, per_day=1000)
    assert 28_000 < len(records) < 32_000


def test_every_field_is_there_and_dates_are_local() -> None:
    records = generate_calls(seed=2, start=START, days=3, per_day=100)
    stamp = re.compile(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d")
    for record in records:
        assert set(public(record)) == FIELDS, FIELDS ^ set(public(record))
        local = dt.datetime.fromtimestamp(record["timestamp"], MSK)
        assert record["date"] == local.strftime("%d/%m/%Y %H:%M:%S")
        assert record["siteId"] == 12345
        assert record["order"] is None
        if record["mapVisits"]:
            assert stamp.fullmatch(record["sessionDate"])
            session = dt.datetime.fromtimestamp(record[CALL_SESSION_TIME], MSK)
            # The call's session on Java's 12-hour clock (C's %I), its visit on 24 hours.
            assert record["sessionDate"] == session.strftime("%d/%m/%Y %I:%M:%S")
            assert record["mapVisits"][-1]["sessionDate"] == session.strftime("%d/%m/%Y %H:%M:%S")
            assert int(record["sessionId"]) == record["mapVisits"][-1]["sessionId"]
        else:
            assert all(record[key] is None for key in OFFLINE_NULLS)
            assert record["medium"] == record["utmMedium"] == "offline"
            number = record["phoneNumber"]
            assert number == record["source"] == record["utmSource"] == record["utmCampaign"]
            assert record["subPoolName"] == number
            assert record["yandexDirect"] is None
            assert record["orders"] == []
    assert len({int(r["callId"]) for r in records}) == len(records)
    assert call_ids(records) == sorted(call_ids(records))  # ids grow with time


def test_what_captured_answers_show_is_served() -> None:
    """The facts of `calltouch-calls-api.md`, "What captured answers show", each present."""
    records = generate_calls(seed=7, start=START, days=10, per_day=200)
    sessions = [r for r in records if r["sessionDate"] is not None]
    hours = {int(r["sessionDate"][11:13]) for r in sessions}
    assert hours == set(range(1, 13))  # 12-hour clock: 01..12, hour 0 printed as 12
    assert {int(r["date"][11:13]) for r in records} == set(range(24))  # calls on 24 hours
    ages = [r[CALL_TIME] - r[CALL_SESSION_TIME] for r in sessions]
    assert min(ages) >= 0
    assert sum(age < 12 * 3600 for age in ages) / len(ages) > 0.9  # mostly within 12 hours
    assert any(age >= 12 * 3600 for age in ages)  # a few a day before: no reading fits
    assert any(int(r["duration"]) < 0 and is_true(r["successful"]) for r in records)
    sip = [r for r in records if r["redirectNumber"].startswith("sip:")]
    assert sip
    assert all(re.fullmatch(rf"sip:{r['phoneNumber']}@[\d.]+", r["redirectNumber"]) for r in sip)
    offline = [r for r in records if r["medium"] == "offline"]
    assert 0.10 < len(offline) / len(records) < 0.20
    for record in offline:
        assert re.fullmatch(rf"{record['timestamp']}\.\d+", record["callReferenceId"])
    uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    assert all(uuid.fullmatch(r["callReferenceId"]) for r in sessions)
    ids = [r["ctClientId"] for r in sessions]
    assert all(isinstance(i, int) and len(str(i)) == 19 for i in ids)
    assert all(i < 2**63 for i in ids)  # an int64 id, as the API sends it
    assert any(i > 2**53 for i in ids)  # beyond what a double holds exactly
    assert all(r[key] is None for r in records for key in ("phrases", "phonesInText"))
    assert any(r["waitingConnect"] is None for r in records)
    assert any(r["statusDetails"] is None for r in records)
    assert all(r["additionalTags"] == [] for r in records)
    assert {"AUTO-PN", "AUTO-CT", "WEB-API"} <= {t["type"] for r in records for t in r["callTags"]}


def test_drift_variants_are_present_in_a_realistic_share() -> None:
    records = generate_calls(seed=5, start=START, days=10, per_day=300)
    count = len(records)

    def share(test: Any) -> float:
        return sum(1 for r in records if test(r)) / count

    for key in ("callId", "duration"):
        assert 0.03 < share(lambda r, k=key: isinstance(r[k], str)) < 0.10, key
        assert all(str(r[key]).removeprefix("-").isdigit() for r in records)  # -30 captured
    assert 0.10 < share(lambda r: r["mapVisits"] == []) < 0.20
    sessions = {type(r["sessionId"]).__name__ for r in records}
    assert {"int", "str", "NoneType"} <= sessions
    for key in ("successful", "uniqueCall", "targetCall", "uniqTargetCall", "callbackCall"):
        values = {r[key] for r in records}
        assert {True, False} <= values, key
        assert values - {True, False} <= {"true", "True", "false"}, key
        assert 0.02 < share(lambda r, k=key: isinstance(r[k], str)) < 0.10, key
    assert {"true", "True", "false"} <= {r["targetCall"] for r in records} | {
        r["successful"] for r in records
    }
    assert any(not is_true(r["uniqueCall"]) and is_true(r["targetCall"]) for r in records)
    assert all(
        is_true(r["uniqTargetCall"]) == (is_true(r["uniqueCall"]) and is_true(r["targetCall"]))
        for r in records
    )
    direct = [r["yandexDirect"] for r in records if r["yandexDirect"]]
    assert any(isinstance(d["campaignId"], str) for d in direct)
    assert any(isinstance(d["campaignId"], int) for d in direct)
    assert any(r["googleAdWords"] for r in records)
    callers = {r["callerNumber"] for r in records}
    assert {"Anonymous", "undefined"} <= callers
    orders = [o for r in records for o in r["orders"]]
    dates = [o["createdDate"] for o in orders]
    assert any(isinstance(d, int) and d > 10**12 for d in dates)
    assert any(
        isinstance(d, str) and re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", d) for d in dates
    )
    assert any(o["completedDate"] is None for o in orders)
    amounts = [o["plannedAmount"] for o in orders]
    assert any(isinstance(a, str) and re.fullmatch(r"\d+\.00", a) for a in amounts)
    assert any(isinstance(a, (int, float)) for a in amounts)
    tags = [t for r in records for t in r["callTags"]]
    assert {t["type"] for t in tags} == {"MANUAL", "AUTO-PR", "AUTO-PN", "AUTO-CT", "WEB-API"}
    assert any("," in name and re.search("[а-я]", name) for t in tags for name in t["names"])
    comments = [c for r in records for c in r["comments"]]
    assert any(c["comment"].endswith("\n") for c in comments)
    assert len({c["commentId"] for c in comments}) == len(comments)
    assert any(r["callbackInfo"] for r in records if is_true(r["callbackCall"]))


def test_helpers_change_the_calls_between_runs(dataset: list[Record]) -> None:
    records = copy.deepcopy(dataset)
    target = next(r for r in records if r["mapVisits"] and not r["orders"])
    order = add_call_order(records, str(target["callId"]), planned=1500, completed="1500.00")
    assert target["orders"] == [order]
    assert order["completedDate"] == order["createdDate"]
    assert order["orderId"] > max(o["orderId"] for r in dataset for o in r["orders"])
    open_order = add_call_order(records, target["callId"])
    assert (open_order["completedDate"], open_order["plannedAmount"]) == (None, "2800.00")
    add_call_tag(records, target["callId"], "Перезвонить")
    note = add_call_comment(records, target["callId"], "Клиент доволен\n")
    added = add_calls(records, 3, LAST + dt.timedelta(days=1))
    assert min(call_ids(added)) > max(call_ids(dataset))
    assert find_call(records, str(int(added[0]["callId"]))) is added[0]
    with pytest.raises(KeyError):
        find_call(records, 1)
    assert new_calls(records, 2, LAST)[0]["callId"] not in call_ids(records)
    with Emulator(dataset=[], calls=records, token=TOKEN, rate_limit=None) as emulator:
        day = dmy(LAST + dt.timedelta(days=1))
        served = get(emulator, {"dateFrom": day, "dateTo": day}).json()
        assert sorted(call_ids(served)) == call_ids(added)
        flags = {"withOrders": "true", "withCallTags": "true", "withComments": "true"}
        target_day = dmy(local_day(target))
        served = get(emulator, {"dateFrom": target_day, "dateTo": target_day, **flags}).json()
        mine = next(r for r in served if r["callId"] == target["callId"])
        assert [o["orderId"] for o in mine["orders"]] == [order["orderId"], open_order["orderId"]]
        assert mine["callTags"][-1] == {"category": "", "type": "MANUAL", "names": ["Перезвонить"]}
        assert mine["comments"][-1] == note


# --- paging --------------------------------------------------------------------------------------


def test_pages_hold_every_call_once_newest_first(emulator: Emulator, dataset: list[Record]) -> None:
    expected = expected_ids(dataset)
    limit = 37
    first = page(emulator, 1, limit)
    assert first["page"] == 1
    assert first["pageSize"] == limit
    assert first["recordsTotal"] == len(expected)
    assert first["pageTotal"] == math.ceil(len(expected) / limit) > 3
    served = all_pages(emulator, limit)
    assert call_ids(served) == expected
    stamps = [record["timestamp"] for record in served]
    assert stamps == sorted(stamps, reverse=True)
    last = page(emulator, first["pageTotal"], limit)
    assert 0 < len(last["records"]) <= limit
    beyond = page(emulator, first["pageTotal"] + 1, limit)
    assert beyond["records"] == []
    assert (beyond["pageTotal"], beyond["recordsTotal"]) == (first["pageTotal"], len(expected))
    whole = page(emulator, 1, 1000)
    assert whole["pageTotal"] == 1
    assert call_ids(whole["records"]) == expected


def test_page_without_limit_is_up_to_a_thousand(emulator: Emulator) -> None:
    answer = get(emulator, {**span(), "page": 1}).json()
    assert answer["pageSize"] == 1000
    assert answer["pageTotal"] == 1


def test_empty_range_says_zero_pages_or_one(dataset: list[Record]) -> None:
    empty = span(dt.date(2025, 1, 1), dt.date(2025, 1, 31))
    for pages in (0, 1):
        with Emulator(
            dataset=[], calls=dataset, token=TOKEN, rate_limit=None, empty_page_total=pages
        ) as emulator:
            answer = get(emulator, {**empty, "page": 1, "limit": 100}).json()
            assert answer == {
                "page": 1,
                "pageTotal": pages,
                "pageSize": 100,
                "recordsTotal": 0,
                "records": [],
            }
            one_day = {"dateFrom": empty["dateFrom"], "dateTo": empty["dateFrom"]}
            assert get(emulator, one_day).json() == []


def test_one_day_without_page_is_a_bare_array(emulator: Emulator, dataset: list[Record]) -> None:
    day = START + dt.timedelta(days=2)
    answer = get(emulator, span(day, day))
    assert answer.status_code == 200
    served = answer.json()
    assert isinstance(served, list)
    expected = [i for i in expected_ids(dataset) if local_day(find_call(dataset, i)) == day]
    assert call_ids(served) == expected
    paged = get(emulator, {**span(day, day), "page": 1, "limit": 1000}).json()
    assert call_ids(paged["records"]) == expected


def test_day_boundaries_are_moscow_days(emulator: Emulator, dataset: list[Record]) -> None:
    late = next(r for r in dataset if r["date"] == EDGE_DAY.strftime("%d/%m/%Y 23:59:59"))
    next_day = EDGE_DAY + dt.timedelta(days=1)
    early = next(r for r in dataset if r["date"] == next_day.strftime("%d/%m/%Y 00:00:00"))
    assert dt.datetime.fromtimestamp(late["timestamp"], dt.timezone.utc).hour == 20
    edge = call_ids(get(emulator, span(EDGE_DAY, EDGE_DAY)).json())
    after = call_ids(get(emulator, span(next_day, next_day)).json())
    assert edge[0] == int(late["callId"])  # the newest of its day
    assert after[-1] == int(early["callId"])  # the oldest of its day
    assert int(late["callId"]) not in after
    assert int(early["callId"]) not in edge


# --- parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "dateFrom"),
        ({"dateFrom": "01/03/2026"}, "dateTo"),
        ({"dateFrom": "03/13/2026", "dateTo": "14/03/2026"}, "dateFrom"),  # mm/dd/yyyy: month 13
        ({"dateFrom": "01/03/2026", "dateTo": "01/13/2026", "page": 1}, "dateTo"),
        ({"dateFrom": "31/02/2026", "dateTo": "31/03/2026", "page": 1}, "dateFrom"),
        ({"dateFrom": "30/02/2026", "dateTo": "30/02/2026"}, "dateFrom"),
        ({"dateFrom": "2026-03-01", "dateTo": "01/03/2026"}, "dateFrom"),
        ({"dateFrom": "1/3/2026", "dateTo": "01/03/2026"}, "dateFrom"),
        ({"dateFrom": "02/03/2026", "dateTo": "01/03/2026", "page": 1}, "dateFrom"),
        ({**span(), "page": 1, "limit": 1001}, "limit"),
        ({**span(), "page": 1, "limit": 0}, "limit"),
        ({**span(), "page": 1, "limit": "ten"}, "limit"),
        ({**span(), "page": 0}, "page"),
        ({**span(), "page": -1}, "page"),
        (span(), "page"),  # several days need paging
        ({**span(), "page": 1, "bindTo": "request"}, "bindTo"),
        ({**span(), "page": 1, "attribution": "2"}, "attribution"),
        ({**span(), "page": 1, "uniqueOnly": "yes"}, "uniqueOnly"),
    ],
)
def test_bad_parameters_are_400s_naming_them(
    emulator: Emulator, params: dict[str, Any], named: str
) -> None:
    answer = get(emulator, params)
    assert answer.status_code == 400
    assert answer.json()["error"] == "BAD_REQUEST"
    assert f"'{named}'" in answer.json()["message"]


def test_a_long_range_can_be_capped(dataset: list[Record]) -> None:
    with Emulator(
        dataset=[], calls=dataset, token=TOKEN, rate_limit=None, calls_max_days=92
    ) as emulator:
        ok = span(dt.date(2026, 1, 1), dt.date(2026, 4, 2))
        assert get(emulator, {**ok, "page": 1}).status_code == 200
        long = span(dt.date(2026, 1, 1), dt.date(2026, 4, 3))
        answer = get(emulator, {**long, "page": 1})
        assert answer.status_code == 400
        assert "'dateTo'" in answer.json()["message"]


def test_access_is_checked_against_the_site_in_the_path(emulator: Emulator) -> None:
    one_day = span(START, START)
    assert get(emulator, one_day).status_code == 200
    assert get(emulator, {**one_day, "siteId": 999}).status_code == 200  # the path decides
    for answer in (
        get(emulator, one_day, site=999),
        get(emulator, one_day, site="abc"),
        get(emulator, {**one_day, "clientApiId": "wrong"}),
        get(emulator, {**one_day, "clientApiId": None}),
    ):
        assert answer.status_code == 403
        assert answer.json() == {
            "error": "ACCESS_DENIED",
            "message": "Invalid clientApiId or siteId",
        }
    trailing = HTTP.get(
        emulator.url + calls_path(SITE_ID) + "/",
        params={"clientApiId": TOKEN, **one_day},
        timeout=10,
    )
    assert trailing.status_code == 200
    unknown = HTTP.get(emulator.url + f"/calls-service/RestAPI/{SITE_ID}/calls-diary/", timeout=10)
    assert unknown.status_code == 404
    assert unknown.headers["Content-Type"].startswith("text/html")


# --- shaping and filters -------------------------------------------------------------------------


def test_blocks_are_null_unless_asked_and_orders_empty(
    emulator: Emulator, dataset: list[Record]
) -> None:
    one_day = span(START, START)
    plain = get(emulator, one_day).json()
    assert plain
    for record in plain:
        assert set(record) == FIELDS  # every key in every record, as captured
        assert not any(key.startswith("_") for key in record)
        assert all(record[key] is None for key in (*KEY_FLAGS.values(), *BLOCKS) if key != "orders")
        assert record["orders"] == []
        assert record["additionalTags"] == []
    stored = {int(r["callId"]): public(r) for r in dataset}
    for flag, key in KEY_FLAGS.items():
        served = get(emulator, {**one_day, flag: "true"}).json()
        assert all(r[key] == stored[int(r["callId"])][key] for r in served)
        others = set(KEY_FLAGS.values()) - {key, "orders"}
        assert all(r[other] is None for r in served for other in others)
        for off in ("1", "false"):
            assert all(r[key] in (None, []) for r in get(emulator, {**one_day, flag: off}).json())
    asked = {**dict.fromkeys(ALL_FLAGS, "true"), **dict.fromkeys(UNNAMED_FLAGS, "true")}
    full = get(emulator, {**one_day, **asked}).json()
    for record in full:
        assert record == stored[int(record["callId"])]


def test_only_filters_read_drifted_booleans(emulator: Emulator, dataset: list[Record]) -> None:
    cases = {
        "uniqueOnly": "uniqueCall",
        "targetOnly": "targetCall",
        "uniqTargetOnly": "uniqTargetCall",
        "callbackOnly": "callbackCall",
    }
    for param, key in cases.items():
        expected = expected_ids(dataset, lambda r, k=key: is_true(r[k]))
        assert expected, param
        assert call_ids(all_pages(emulator, 500, **{param: "true"})) == expected, param
        assert call_ids(all_pages(emulator, 500, **{param: "false"})) == expected_ids(dataset)
    both = expected_ids(dataset, lambda r: is_true(r["uniqueCall"]) and is_true(r["targetCall"]))
    served = all_pages(emulator, 500, uniqueOnly="true", targetOnly="true")
    assert call_ids(served) == both


def test_bind_to_session_selects_by_session_date(emulator: Emulator, dataset: list[Record]) -> None:
    day = START + dt.timedelta(days=3)

    def session_day(record: Record) -> dt.date | None:
        stamp = record[CALL_SESSION_TIME]
        return None if stamp is None else dt.datetime.fromtimestamp(stamp, MSK).date()

    by_session = {int(r["callId"]) for r in dataset if session_day(r) == day}
    served = get(emulator, {**span(day, day), "bindTo": "session"}).json()
    assert set(call_ids(served)) == by_session
    assert set(call_ids(get(emulator, {**span(day, day), "bindTo": "call"}).json())) != by_session
    assert all(r["sessionDate"] is not None for r in served)


def test_attribution_is_echoed(emulator: Emulator, dataset: list[Record]) -> None:
    served = get(emulator, {**span(START, START), "attribution": "0"}).json()
    assert {r["attribution"] for r in served} == {0}
    assert {r["attribution"] for r in dataset} == {1}


# --- limits shared with the requests journal -----------------------------------------------------


def test_rate_limit_counts_both_journals_together(dataset: list[Record]) -> None:
    requests_dataset = generate_dataset(seed=1, start=START, days=1, per_day=5)
    with Emulator(dataset=requests_dataset, calls=dataset, token=TOKEN) as emulator:
        one_day = span(START, START)
        leads = {"clientApiId": TOKEN, "siteId": SITE_ID, "dateFrom": "03/01/2026"}
        leads["dateTo"] = leads["dateFrom"]
        statuses = []
        for turn in range(6):
            if turn % 2:
                statuses.append(get(emulator, {**one_day, "page": turn, "limit": 10}).status_code)
            else:
                statuses.append(
                    HTTP.get(emulator.url + API_PATH, params=leads, timeout=10).status_code
                )
        assert statuses == [200, 200, 200, 200, 200, 429]
        assert emulator.peak_rate() == 6
        assert (emulator.count(journal="calls"), emulator.count(journal="requests")) == (3, 3)
        assert emulator.count(429, journal="calls") == 1
        calls_log = [call for call in emulator.calls if call.journal == "calls"]
        assert [call.page for call in calls_log] == [1, 3, 5]
        assert {call.path for call in calls_log} == {calls_path(SITE_ID)}
        assert all("clientApiId" not in call.params for call in emulator.calls)
        time.sleep(1.0)
        assert get(emulator, one_day).status_code == 200


def test_points_budget_counts_both_journals_together(dataset: list[Record]) -> None:
    with Emulator(
        dataset=[], calls=dataset, token=TOKEN, rate_limit=None, points_budget=2
    ) as emulator:
        leads = {"clientApiId": TOKEN, "siteId": SITE_ID, "dateFrom": "03/01/2026"}
        leads["dateTo"] = leads["dateFrom"]
        assert HTTP.get(emulator.url + API_PATH, params=leads, timeout=10).status_code == 200
        assert get(emulator, span(START, START)).status_code == 200
        spent = get(emulator, span(START, START))
        assert spent.status_code == 403
        assert spent.json()["error"] == "POINTS_LIMIT_EXCEEDED"
        assert HTTP.get(emulator.url + API_PATH, params=leads, timeout=10).status_code == 403


def test_too_large_an_answer_is_a_504(dataset: list[Record]) -> None:
    with Emulator(
        dataset=[], calls=dataset, token=TOKEN, rate_limit=None, max_response_records=10
    ) as emulator:
        assert get(emulator, span(START, START)).status_code == 504
        assert get(emulator, {**span(), "page": 1, "limit": 10}).status_code == 200


# --- faults aimed at one page --------------------------------------------------------------------


def test_a_fault_can_hit_one_page_of_one_window(emulator: Emulator) -> None:
    other = START + dt.timedelta(days=1)
    emulator.inject("status", status=503, journal="calls", page=2, dateFrom=dmy(START))
    assert page(emulator, 1, 20)["page"] == 1
    assert get(emulator, {**span(other, LAST), "page": 2, "limit": 20}).status_code == 200
    assert get(emulator, {**span(), "page": 2, "limit": 20}).status_code == 503
    assert get(emulator, {**span(), "page": 2, "limit": 20}).status_code == 200
    assert [call.status for call in emulator.calls] == [200, 200, 503, 200]


def test_faults_keep_to_their_journal(dataset: list[Record]) -> None:
    with Emulator(dataset=[], calls=dataset, token=TOKEN, rate_limit=None) as emulator:
        leads = {"clientApiId": TOKEN, "siteId": SITE_ID, "dateFrom": "03/01/2026"}
        leads["dateTo"] = leads["dateFrom"]
        emulator.inject("status", status=502, journal="requests")
        emulator.inject("reset", journal="calls", match={"limit": 20})
        assert get(emulator, {**span(), "page": 1, "limit": 10}).status_code == 200
        with pytest.raises(requests.ConnectionError):
            get(emulator, {**span(), "page": 1, "limit": 20})
        assert HTTP.get(emulator.url + API_PATH, params=leads, timeout=10).status_code == 502
        emulator.inject("status", status=500)  # no journal: the next call of either
        assert get(emulator, span(START, START)).status_code == 500
        with pytest.raises(ValueError, match="unknown journal"):
            emulator.inject("status", journal="deals")


def test_truncated_page_ends_like_an_array(emulator: Emulator) -> None:
    whole = get(emulator, {**span(), "page": 1, "limit": 50}).content
    emulator.inject("truncated", after="]", journal="calls", page=1)
    cut = get(emulator, {**span(), "page": 1, "limit": 50}).content
    assert whole.startswith(cut)
    assert cut.endswith(b"]")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(cut)


# --- calls that arrive or vanish during a sync ---------------------------------------------------


def test_calls_arriving_after_page_two_push_records_down(own: Emulator) -> None:
    before = expected_ids(own.call_records)
    arriving = new_calls(
        own.call_records, 3, LAST, times=[dt.time(23, 59, s) for s in (57, 58, 59)]
    )
    assert all(int(r["callId"]) not in before for r in arriving)
    own.arrive_after(page=2, calls=arriving)
    limit = 25
    served = call_ids(all_pages(own, limit))
    assert len(before) % limit < limit - 3  # so the last page takes the 3 pushed down
    assert len(served) == len(before) + 3
    assert set(served) == set(before)  # the newcomers went onto page 1, already read
    seen_twice = {i for i in served if served.count(i) > 1}
    assert seen_twice == set(before[2 * limit - 3 : 2 * limit])
    assert served[2 * limit : 2 * limit + 3] == before[2 * limit - 3 : 2 * limit]
    again = page(own, 1, limit)
    assert call_ids(again["records"])[:3] == sorted(call_ids(arriving), reverse=True)
    assert again["recordsTotal"] == len(before) + 3


def test_a_call_removed_after_page_one_is_skipped_past(own: Emulator) -> None:
    before = expected_ids(own.call_records)
    limit = 20
    gone = before[3]
    own.arrive_after(page=1, remove=[str(gone)], date_from=dmy(START))
    served = call_ids(all_pages(own, limit))
    assert gone in served  # it was on page 1, already served
    missed = set(before) - set(served)
    assert missed == {before[limit]}  # the first call of page 2 slid onto page 1
    with pytest.raises(KeyError):
        find_call(own.call_records, gone)


def test_on_page_hooks_see_each_answer_until_done(own: Emulator) -> None:
    seen: list[PageServed] = []

    def watch(served: PageServed) -> bool:
        seen.append(served)
        return served.page == 2

    own.on_page(watch)
    all_pages(own, 40)
    get(own, span(START, START))
    assert [s.page for s in seen] == [1, 2]
    first = seen[0]
    assert (first.site_id, first.page_total) == (str(SITE_ID), math.ceil(first.records_total / 40))
    assert first.call_ids == expected_ids(own.call_records)[:40]
    assert "clientApiId" not in first.params
    bare: list[PageServed] = []
    own.on_page(bare.append)  # returns None: stays
    get(own, span(START, START))
    get(own, span(START, START))
    assert [(s.page, s.page_total) for s in bare] == [(None, None), (None, None)]


# --- the command line ----------------------------------------------------------------------------


def test_command_line_serves_calls_too() -> None:
    command = [
        *(sys.executable, "-m", "tests.emulator", "--port", "0", "--days", "2", "--per-day", "5"),
        *("--calls-per-day", "7", "--start", "2026-03-01", "--token", TOKEN),
        *("--site-id", str(SITE_ID), "--seed", "1", "--empty-page-total", "1"),
    ]
    root = Path(__file__).resolve().parents[1]
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as process:  # noqa: S603
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        url = line.removeprefix("EMULATOR_URL=")
        query: dict[str, str | int] = {
            "clientApiId": TOKEN,
            "dateFrom": "01/03/2026",
            "dateTo": "02/03/2026",
            "page": 1,
            "limit": 1000,
        }
        answer = HTTP.get(url + calls_path(SITE_ID), params=query, timeout=10).json()
        assert 10 <= answer["recordsTotal"] <= 16
        empty = {**query, "dateFrom": "01/01/2026", "dateTo": "01/01/2026"}
        assert (
            HTTP.get(url + calls_path(SITE_ID), params=empty, timeout=10).json()["pageTotal"] == 1
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_a_berlin_site_serves_both_passes_of_the_repeated_hour() -> None:
    """`date` is `timestamp` plus the site's offset of that instant: +2 h, then +1 h from 03:00."""
    berlin = ZoneInfo("Europe/Berlin")
    autumn = dt.date(2026, 10, 25)  # the clocks go back from 03:00 CEST to 02:00 CET
    records = generate_calls(seed=3, start=autumn, days=1, per_day=400, tz="Europe/Berlin")
    offsets = set()
    for record in records:
        wall = dt.datetime.strptime(record["date"], "%d/%m/%Y %H:%M:%S")  # noqa: DTZ007
        utc = dt.datetime.fromtimestamp(record["timestamp"], dt.timezone.utc).replace(tzinfo=None)
        offset = wall - utc
        assert offset == dt.datetime.fromtimestamp(record["timestamp"], berlin).utcoffset()
        if wall.hour == 2:
            offsets.add(offset)
    assert offsets == {dt.timedelta(hours=2), dt.timedelta(hours=1)}  # both passes have calls
