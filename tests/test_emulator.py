"""The emulator itself: it must behave like the documented Calltouch requests API."""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import datetime as dt
import logging
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
from werkzeug.wrappers import Response

from tests.emulator.dataset import (
    SESSION_TIME,
    add_order,
    add_requests,
    add_tag,
    find_request,
    generate_dataset,
)
from tests.emulator.responses import garbled
from tests.emulator.server import API_PATH, Emulator

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.emulator.dataset import Record

TOKEN = "k9Qe.Zt1/LmN+4pXr/8sWqTjH2vB0cYdU7aF3gK5oE6iR"  # noqa: S105 - made up; "/" and "+" on purpose
SITE_ID = 12345
MSK = ZoneInfo("Europe/Moscow")
START = dt.date(2026, 3, 1)
DAYS = 14
EDGE_DAY = dt.date(2026, 3, 2)  # holds a request at 23:59:59; the next day one at 00:00:00
ALL_FLAGS = (
    "withMapVisits",
    "withRequestTags",
    "withYandexDirect",
    "withGoogleAdwords",
    "withAttrs",
    "withWidgetInfo",
    "withCustomFields",
    "withDcm",
)
HTTP = requests.Session()
HTTP.trust_env = False  # no proxy from the environment: traffic stays on 127.0.0.1


def mdy(day: dt.date) -> str:
    return day.strftime("%m/%d/%Y")


def local(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, MSK)


def public(record: Record) -> Record:
    return {key: value for key, value in record.items() if not key.startswith("_")}


def get(
    emulator: Emulator,
    params: dict[str, Any] | None = None,
    *,
    path: str = API_PATH,
    timeout: float = 10,
) -> requests.Response:
    query = {"clientApiId": TOKEN, "siteId": SITE_ID, **(params or {})}
    return HTTP.get(emulator.url + path, params=query, timeout=timeout)


def ids(response: requests.Response) -> set[int]:
    assert response.status_code == 200, response.text
    return {record["requestId"] for record in response.json()}


def one_day(day: dt.date) -> dict[str, str]:
    return {"dateFrom": mdy(day), "dateTo": mdy(day)}


@pytest.fixture(scope="module")
def dataset() -> list[Record]:
    records = generate_dataset(seed=7, start=START, days=DAYS, per_day=20)
    add_requests(records, 1, EDGE_DAY, times=[dt.time(23, 59, 59)])
    add_requests(records, 1, EDGE_DAY + dt.timedelta(days=1), times=[dt.time(0, 0, 0)], seed=1)
    return records


@pytest.fixture
def emulator(dataset: list[Record]) -> Iterator[Emulator]:
    with Emulator(dataset=dataset, token=TOKEN, site_id=SITE_ID, rate_limit=None) as running:
        yield running


# --- the dataset ---------------------------------------------------------------------------------


def test_dataset_is_deterministic_and_varies_with_the_seed() -> None:
    first = generate_dataset(seed=3, start=START, days=3, per_day=50)
    assert first == generate_dataset(seed=3, start=START, days=3, per_day=50)
    assert first != generate_dataset(seed=4, start=START, days=3, per_day=50)


def test_dataset_spreads_about_per_day_over_each_local_day() -> None:
    records = generate_dataset(seed=1, start=START, days=10, per_day=100)
    per_day: dict[dt.date, int] = {}
    for record in records:
        created = local(record["date"])
        assert record["dateStr"] == created.strftime("%d/%m/%Y %H:%M:%S")
        per_day[created.date()] = per_day.get(created.date(), 0) + 1
    assert sorted(per_day) == [START + dt.timedelta(days=n) for n in range(10)]
    assert all(89 <= count <= 111 for count in per_day.values())
    hours = {local(record["date"]).hour for record in records}
    assert hours == set(range(24))


def test_dataset_shape_and_drift() -> None:
    records = generate_dataset(seed=2, start=START, days=10, per_day=200)
    count = len(records)
    without_session = [r for r in records if r["session"] is None]
    assert 0.10 < len(without_session) / count < 0.20
    assert all(r["orders"] == [] and r["order"] is None for r in without_session)
    assert all(r["mapVisits"] == [] and r["ctClientId"] is None for r in without_session)
    for record in records:
        assert "callbackPhone" in record  # obsolete field the tap must ignore
        assert record["order"] == (record["orders"][0] if record["orders"] else None)
        if record["session"] is not None:
            assert 1 <= len(record["mapVisits"]) <= 3
            assert record["mapVisits"][-1]["sessionId"] == record["session"]["sessionId"]
            for visit in record["mapVisits"]:
                assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", visit["sessionDate"])
        for order in record["orders"]:
            assert order["dateCreated"] > record["date"]
    int_numbers = sum(isinstance(r["requestNumber"], int) for r in records)
    assert 0.02 < int_numbers / count < 0.08
    sums = [order["sum"] for r in records for order in r["orders"]]
    assert any(isinstance(s, float) for s in sums)
    assert all(re.fullmatch(r"\d+\.0000", s) for s in sums if isinstance(s, str))
    comments = [c for r in records for c in r["comments"]]
    assert any(c["comment"].endswith("\n") for c in comments)
    assert len({c["commentId"] for c in comments}) == len(comments)
    orders = [o["orderId"] for r in records for o in r["orders"]]
    assert len(set(orders)) == len(orders)
    assert len({r["requestId"] for r in records}) == count
    assert any("," in name for r in records for tag in r["RequestTags"] for name in tag["names"])
    assert any(r["session"]["utmSource"] == "<не указано>" for r in records if r["session"])
    assert any(r["yandexDirect"] for r in records)
    assert any(r["googleAdWords"] for r in records)
    assert any(r["widgetInfo"] for r in records)
    assert any(r["dcm"] for r in records)
    size = sum(len(orjson.dumps(public(r))) for r in records) / count
    assert 3000 < size < 3800


def test_helpers_change_the_data_between_runs(dataset: list[Record]) -> None:
    records = copy.deepcopy(dataset)
    target = next(r for r in records if r["session"] is not None and not r["orders"])
    order = add_order(records, target["requestId"], amount="1500.0000", status="PAID")
    assert target["orders"] == [order]
    assert target["order"] is order
    assert order["orderId"] > max(o["orderId"] for r in dataset for o in r["orders"])
    add_tag(records, target["requestId"], "Перезвонить")
    assert target["RequestTags"][-1]["names"] == ["Перезвонить"]
    new_day = START + dt.timedelta(days=DAYS)
    added = add_requests(records, 3, new_day)
    assert [local(r["date"]).date() for r in added] == [new_day] * 3
    assert min(r["requestId"] for r in added) > max(r["requestId"] for r in dataset)
    with Emulator(dataset=records, token=TOKEN, rate_limit=None) as emulator:
        assert ids(get(emulator, one_day(new_day))) == {r["requestId"] for r in added}
        served = get(emulator, {"requestId": target["requestId"], "withRequestTags": "true"})
        assert served.json()[0]["order"]["status"] == "PAID"
        assert served.json()[0]["RequestTags"][-1]["names"] == ["Перезвонить"]
    with pytest.raises(KeyError):
        find_request(records, 1)


# --- dates and times in the account's zone -------------------------------------------------------


def test_day_boundaries_are_moscow_days(emulator: Emulator, dataset: list[Record]) -> None:
    late = next(r for r in dataset if r["dateStr"] == EDGE_DAY.strftime("%d/%m/%Y 23:59:59"))
    next_day = EDGE_DAY + dt.timedelta(days=1)
    early = next(r for r in dataset if r["dateStr"] == next_day.strftime("%d/%m/%Y 00:00:00"))
    late_utc = dt.datetime.fromtimestamp(late["date"] / 1000, dt.timezone.utc)
    assert late_utc.strftime("%H:%M:%S") == "20:59:59"
    assert late["requestId"] in ids(get(emulator, one_day(EDGE_DAY)))
    assert late["requestId"] not in ids(get(emulator, one_day(next_day)))
    assert early["requestId"] in ids(get(emulator, one_day(next_day)))
    assert early["requestId"] not in ids(get(emulator, one_day(EDGE_DAY)))


def test_each_day_returns_exactly_its_local_records(
    emulator: Emulator, dataset: list[Record]
) -> None:
    for offset in range(DAYS):
        day = START + dt.timedelta(days=offset)
        expected = {r["requestId"] for r in dataset if local(r["date"]).date() == day}
        assert ids(get(emulator, one_day(day))) == expected
    whole = {"dateFrom": mdy(START), "dateTo": mdy(START + dt.timedelta(days=DAYS - 1))}
    assert len(get(emulator, whole).json()) == len(dataset)


def test_times_narrow_the_first_and_last_day(emulator: Emulator, dataset: list[Record]) -> None:
    first, last = dt.date(2026, 3, 3), dt.date(2026, 3, 5)
    low = dt.datetime(2026, 3, 3, 12, 0, 0, tzinfo=MSK)
    high = dt.datetime(2026, 3, 5, 6, 0, 0, 999_000, tzinfo=MSK)
    expected = {r["requestId"] for r in dataset if low <= local(r["date"]) <= high}
    query = {
        "dateFrom": mdy(first),
        "timeFrom": "12:00:00",
        "dateTo": mdy(last),
        "timeTo": "06:00:00",
    }
    served = ids(get(emulator, query))
    assert served == expected
    assert served < ids(get(emulator, {"dateFrom": mdy(first), "dateTo": mdy(last)}))


def test_bind_to_session_filters_on_the_session_date(
    emulator: Emulator, dataset: list[Record]
) -> None:
    day = dt.date(2026, 3, 4)
    by_session = {r["requestId"] for r in dataset if local(r[SESSION_TIME]).date() == day}
    assert ids(get(emulator, {**one_day(day), "bindTo": "session"})) == by_session
    assert ids(get(emulator, {**one_day(day), "bindTo": "request"})) != by_session


# --- filters -------------------------------------------------------------------------------------


def test_id_filters_need_no_dates(emulator: Emulator, dataset: list[Record]) -> None:
    wanted = [r["requestId"] for r in dataset[:3]]
    assert ids(get(emulator, {"requestId": ",".join(map(str, wanted))})) == set(wanted)
    numbered = [r for r in dataset if isinstance(r["requestNumber"], int)][:1]
    numbered += [r for r in dataset if str(r["requestNumber"]).startswith("site-")][:1]
    query = {"requestNumber": ",".join(str(r["requestNumber"]) for r in numbered)}
    assert ids(get(emulator, query)) == {r["requestId"] for r in numbered}


def test_content_filters(emulator: Emulator, dataset: list[Record]) -> None:
    span = {"dateFrom": mdy(START), "dateTo": mdy(START + dt.timedelta(days=DAYS - 1))}

    def served(params: dict[str, str]) -> set[int]:
        return ids(get(emulator, {**span, **params}))

    def expect(test: Any) -> set[int]:
        return {r["requestId"] for r in dataset if test(r)}

    def phone_of(record: Record) -> str:
        return str(record["client"]["phones"][0]["phoneNumber"])

    def emails_of(record: Record) -> list[str]:
        return [contact["contactValue"] for contact in record["client"]["contacts"]]

    def session_of(record: Record) -> Record:
        return record["session"] or {"keywords": "", "city": ""}

    city = next(r for r in dataset if r["session"])["session"]["city"]
    phone = phone_of(dataset[0])
    email = next(r for r in dataset if r["client"]["contacts"])["client"]["contacts"][0]
    manager = "Петров Алексей Викторович"
    cases: list[tuple[dict[str, str], Any]] = [
        ({"subject": "Заявка"}, lambda r: r["subject"].startswith("Заявка")),
        ({"keywords": "окна"}, lambda r: "окна" in session_of(r)["keywords"]),
        ({"city": city}, lambda r: session_of(r)["city"] == city),
        ({"source": "yandex", "medium": "cpc"}, lambda r: r["yandexDirect"] is not None),
        ({"manager": manager}, lambda r: r["manager"] == manager),
        ({"ani.value": phone}, lambda r: phone_of(r) == phone),
        ({"ani.value": phone[:5], "ani.filterMode": "startwith"},
         lambda r: phone_of(r).startswith(phone[:5])),
        ({"ani.value": phone[5:], "ani.filterMode": "contains"},
         lambda r: phone[5:] in phone_of(r)),
        ({"email.value": email["contactValue"]}, lambda r: email["contactValue"] in emails_of(r)),
        ({"email.value": "@mail.ru", "email.filterMode": "contains"},
         lambda r: any("@mail.ru" in value for value in emails_of(r))),
    ]  # fmt: skip
    for params, test in cases:
        expected = expect(test)
        assert expected, params
        assert served(params) == expected, params
    assert served({"ani.value": phone[:5]}) == set()  # exact is the default mode


# --- shaping by flags ----------------------------------------------------------------------------


def test_all_flags_give_the_full_record(emulator: Emulator, dataset: list[Record]) -> None:
    stored = {r["requestId"]: public(r) for r in dataset}
    served = get(emulator, {**one_day(START), **dict.fromkeys(ALL_FLAGS, "true")}).json()
    assert served
    for record in served:
        assert record == stored[record["requestId"]]


def test_without_flags_optional_blocks_are_absent_or_null(
    emulator: Emulator, dataset: list[Record]
) -> None:
    with_attrs = next(r for r in dataset if r["session"] and r["session"]["attrs"])
    served = get(emulator, {"requestId": with_attrs["requestId"], "withMapVisits": "1"}).json()[0]
    for key in ("mapVisits", "RequestTags", "yandexDirect", "googleAdWords", "widgetInfo"):
        assert key not in served
    assert "customFields" not in served
    assert served["dcm"] is None
    assert served["session"]["attrs"] is None
    assert not any(key.startswith("_") for key in served)
    attrs = get(emulator, {"requestId": with_attrs["requestId"], "withAttrs": "true"}).json()[0]
    assert attrs["session"]["attrs"] == with_attrs["session"]["attrs"]


def test_attribution_is_echoed_into_sessions(emulator: Emulator, dataset: list[Record]) -> None:
    with_order = next(r for r in dataset if r["orders"])
    served = get(emulator, {"requestId": with_order["requestId"], "attribution": "0"}).json()[0]
    assert served["session"]["attribution"] == 0
    assert served["order"]["session"]["attribution"] == 0
    assert with_order["session"]["attribution"] == 1  # the stored record is untouched


def test_records_come_unsorted_in_a_repeatable_order(emulator: Emulator) -> None:
    query = {"dateFrom": mdy(START), "dateTo": mdy(START + dt.timedelta(days=3))}
    dates = [record["date"] for record in get(emulator, query).json()]
    assert dates != sorted(dates)
    assert dates == [record["date"] for record in get(emulator, query).json()]


# --- errors --------------------------------------------------------------------------------------


def test_access_is_checked(emulator: Emulator) -> None:
    assert get(emulator, one_day(START)).status_code == 200
    for params in ({"clientApiId": "wrong"}, {"siteId": 1}, {"clientApiId": None}):
        answer = get(emulator, {**one_day(START), **params})
        assert answer.status_code == 403
        assert answer.json()["error"] == "ACCESS_DENIED"
    encoded_twice = TOKEN.replace("/", "%2F").replace("+", "%2B")
    assert get(emulator, {**one_day(START), "clientApiId": encoded_twice}).status_code == 403


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "dateFrom"),
        ({"dateFrom": "03/01/2026"}, "dateTo"),
        ({"dateFrom": "13/03/2026", "dateTo": "03/14/2026"}, "dateFrom"),  # dd/mm/yyyy
        ({"dateFrom": "2026-03-01", "dateTo": "03/01/2026"}, "dateFrom"),
        ({"dateFrom": "3/1/2026", "dateTo": "03/01/2026"}, "dateFrom"),
        ({"dateFrom": "03/02/2026", "dateTo": "03/01/2026"}, "dateFrom"),
        ({**one_day(START), "timeFrom": "9:00"}, "timeFrom"),
        ({**one_day(START), "timeTo": "24:00:00"}, "timeTo"),
        ({**one_day(START), "bindTo": "call"}, "bindTo"),
        ({**one_day(START), "ani.value": "7", "ani.filterMode": "regex"}, "ani.filterMode"),
        ({**one_day(START), "email.filterMode": "like"}, "email.filterMode"),
        ({**one_day(START), "attribution": "2"}, "attribution"),
        ({"requestId": "12,abc"}, "requestId"),
    ],
)
def test_bad_parameters_are_400s_naming_them(
    emulator: Emulator, params: dict[str, str], named: str
) -> None:
    answer = get(emulator, params)
    assert answer.status_code == 400
    assert f"'{named}'" in answer.json()["message"]


def test_paths(emulator: Emulator) -> None:
    assert get(emulator, one_day(START), path=API_PATH.rstrip("/")).status_code == 200
    unknown = get(emulator, one_day(START), path="/calls-service/RestAPI/leads/")
    assert unknown.status_code == 404
    assert unknown.headers["Content-Type"].startswith("text/html")
    assert unknown.text.startswith("<!DOCTYPE html>")


# --- limits --------------------------------------------------------------------------------------


def test_rate_limit_answers_429_beyond_five_a_second(dataset: list[Record]) -> None:
    with Emulator(dataset=dataset, token=TOKEN, rate_limit=5, retry_after=1) as emulator:
        query = {"requestId": dataset[0]["requestId"]}
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda _: get(emulator, query), range(12)))
        assert sorted(a.status_code for a in answers) == [200] * 5 + [429] * 7
        assert {a.headers["Retry-After"] for a in answers if a.status_code == 429} == {"1"}
        assert emulator.peak_rate() == 12
        time.sleep(1.0)
        assert get(emulator, query).status_code == 200
        assert (emulator.count(200), emulator.count(429), emulator.count()) == (6, 7, 13)


def test_points_budget_then_a_distinct_403(dataset: list[Record]) -> None:
    with Emulator(dataset=dataset, token=TOKEN, rate_limit=None, points_budget=2) as emulator:
        assert [get(emulator, one_day(START)).status_code for _ in range(2)] == [200, 200]
        spent = get(emulator, one_day(START))
        assert spent.status_code == 403
        assert spent.json() == {
            "error": "POINTS_LIMIT_EXCEEDED",
            "message": "Daily API points limit exceeded",
        }


def test_too_large_a_window_is_a_504(dataset: list[Record]) -> None:
    with Emulator(
        dataset=dataset, token=TOKEN, rate_limit=None, max_response_records=10
    ) as emulator:
        assert get(emulator, one_day(START)).status_code == 504
        assert get(emulator, {"requestId": dataset[0]["requestId"]}).status_code == 200


def test_latency_delays_every_answer(dataset: list[Record]) -> None:
    with Emulator(dataset=dataset, token=TOKEN, rate_limit=None, latency=0.5) as emulator:
        query = {"requestId": dataset[0]["requestId"]}
        with pytest.raises(requests.Timeout):
            get(emulator, query, timeout=0.1)  # a client that waits less gets nothing
        assert get(emulator, query).status_code == 200
        with pytest.raises(requests.Timeout):
            get(emulator, one_day(START), timeout=0.1)  # every answer, not just the first


# --- injected faults -----------------------------------------------------------------------------


def test_status_fault(emulator: Emulator) -> None:
    emulator.inject("status", times=2, status=503, retry_after=2)
    emulator.inject("status", status=502)
    first, second, third = (get(emulator, one_day(START)) for _ in range(3))
    assert (first.status_code, first.headers["Retry-After"]) == (503, "2")
    assert second.status_code == 503
    assert third.status_code == 502
    assert "Retry-After" not in third.headers
    assert get(emulator, one_day(START)).status_code == 200


def test_reset_fault_drops_the_connection(emulator: Emulator) -> None:
    emulator.inject("reset")
    with pytest.raises(requests.ConnectionError):
        get(emulator, one_day(START))
    assert get(emulator, one_day(START)).status_code == 200
    assert [call.status for call in emulator.calls] == [0, 200]


def test_slow_fault(emulator: Emulator) -> None:
    emulator.inject("slow", delay=0.3)
    with pytest.raises(requests.Timeout):
        get(emulator, one_day(START), timeout=0.1)
    emulator.inject("slow", delay=0.2)
    assert get(emulator, one_day(START)).status_code == 200  # late, but whole


def test_truncated_html_and_object_faults(emulator: Emulator) -> None:
    whole = get(emulator, one_day(START)).content
    emulator.inject("truncated")
    emulator.inject("html")
    emulator.inject("object")
    truncated, html, obj = (get(emulator, one_day(START)) for _ in range(3))
    assert truncated.status_code == 200
    assert truncated.content == whole[: len(whole) // 2]
    with pytest.raises(requests.JSONDecodeError):
        truncated.json()
    assert html.status_code == 200
    assert html.headers["Content-Type"].startswith("text/html")
    assert obj.status_code == 200
    assert isinstance(obj.json(), dict)
    with pytest.raises(ValueError, match="unknown fault"):
        emulator.inject("timeout")


def test_hang_fault_answers_nothing_until_released(dataset: list[Record]) -> None:
    with Emulator(dataset=dataset, token=TOKEN, rate_limit=None) as emulator:
        emulator.inject("hang", seconds=0.5)
        with pytest.raises(requests.Timeout):
            get(emulator, one_day(START), timeout=0.2)
        assert get(emulator, one_day(START)).status_code == 200
        emulator.inject("hang")  # held until the emulator stops
        with pytest.raises(requests.Timeout):
            get(emulator, one_day(START), timeout=0.2)
    assert [call.status for call in emulator.calls] == [0, 200, 0]


def test_faults_can_wait_for_a_matching_call(emulator: Emulator) -> None:
    later = START + dt.timedelta(days=1)
    emulator.inject("status", times=2, status=502, match={"dateFrom": mdy(later)})
    assert get(emulator, one_day(START)).status_code == 200
    assert get(emulator, one_day(later)).status_code == 502
    assert get(emulator, one_day(START)).status_code == 200
    assert get(emulator, one_day(later)).status_code == 502
    assert get(emulator, one_day(later)).status_code == 200


def test_truncated_fault_can_end_like_an_array(emulator: Emulator) -> None:
    whole = get(emulator, one_day(START)).content
    emulator.inject("truncated", after="]")
    cut = get(emulator, one_day(START)).content
    assert cut.endswith(b"]")
    assert whole.startswith(cut)
    assert len(cut) <= len(whole) // 2
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(cut)


def test_a_wrong_token_can_be_a_401(dataset: list[Record]) -> None:
    with Emulator(dataset=dataset, token=TOKEN, rate_limit=None, denied_status=401) as emulator:
        answer = get(emulator, {**one_day(START), "clientApiId": "wrong"})
        assert answer.status_code == 401
        assert answer.json()["error"] == "ACCESS_DENIED"
        assert get(emulator, one_day(START)).status_code == 200


# --- the call log, logging and the command line --------------------------------------------------


def test_call_log_leaves_the_token_out(emulator: Emulator) -> None:
    get(emulator, one_day(START))
    get(emulator, {"clientApiId": "wrong"})
    assert [call.status for call in emulator.calls] == [200, 403]
    assert emulator.calls[0].path == API_PATH
    assert emulator.calls[0].params == {"siteId": str(SITE_ID), **one_day(START)}
    assert (emulator.count(), emulator.count(403)) == (2, 1)
    emulator.reset_log()
    assert emulator.calls == []


def test_token_is_never_logged(
    emulator: Emulator, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    emulator.inject("reset")
    for params in ({"requestId": "x"}, one_day(START), one_day(START)):
        with contextlib.suppress(requests.ConnectionError):
            get(emulator, params)
    get(emulator, one_day(START), path="/nowhere")
    out, err = capfd.readouterr()
    assert TOKEN not in caplog.text + out + err


def test_command_line_serves_until_sigterm() -> None:
    command = [
        *(sys.executable, "-m", "tests.emulator", "--port", "0", "--days", "2", "--per-day", "5"),
        *("--start", "2026-03-01", "--token", TOKEN, "--site-id", str(SITE_ID), "--seed", "1"),
    ]
    root = Path(__file__).resolve().parents[1]
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as process:  # noqa: S603
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert re.fullmatch(r"EMULATOR_URL=http://127\.0\.0\.1:\d+", line)
        url = line.removeprefix("EMULATOR_URL=")
        query: dict[str, str | int] = {
            "clientApiId": TOKEN,
            "siteId": SITE_ID,
            "dateFrom": "03/01/2026",
            "dateTo": "03/02/2026",
        }
        answer = HTTP.get(url + API_PATH, params=query, timeout=10)
        assert answer.status_code == 200
        assert 8 <= len(answer.json()) <= 12
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


@pytest.mark.parametrize(
    "body",
    [b'[{"a":"x","b":"y"}]', b'{"records":[],"pageTotal":0,"recordsTotal":0}', b"[1,2]", b"[]"],
)
def test_garbled_puts_one_byte_that_is_no_utf8_into_a_string_of_any_body(body: bytes) -> None:
    garbled_body = garbled(Response(body)).get_data()
    if b'"' not in body:
        assert garbled_body == body  # nothing to garble: sent as it is
        return
    assert garbled_body.replace(b"\xff", b"", 1) == body
    at = garbled_body.index(b"\xff")
    assert garbled_body[:at].count(b'"') % 2 == 1  # inside a string
