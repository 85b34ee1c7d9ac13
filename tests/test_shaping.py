"""Record shaping, its times, values and child rows: pure functions over the vendor's example."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from tap_calltouch import child_rows, shaping, timestamps, values

MOSCOW = ZoneInfo("Europe/Moscow")
EXAMPLE = json.loads((Path(__file__).parent / "data" / "vendor_example.json").read_text("utf-8"))


@pytest.fixture
def request_record() -> dict:
    return shaping.shape_request(copy.deepcopy(EXAMPLE), MOSCOW)


def test_epoch_ms_becomes_rfc3339_utc() -> None:
    # The vendor's example: 1554382259240 is 04/04/2019 15:50:59 in Moscow (UTC+3).
    assert timestamps.epoch_ms_to_rfc3339(1554382259240) == "2019-04-04T12:50:59.240Z"
    assert timestamps.epoch_ms_to_rfc3339("1554382259240") == "2019-04-04T12:50:59.240Z"
    assert timestamps.epoch_ms_to_rfc3339(None) is None


def test_local_string_read_in_account_zone() -> None:
    assert timestamps.local_to_rfc3339("04/04/2019 15:50:59", MOSCOW) == "2019-04-04T12:50:59Z"
    assert timestamps.local_to_rfc3339("2019-04-04", MOSCOW) is None


def test_ids_and_sums_settle_on_one_type() -> None:
    assert values.as_int("145507") == 145507
    assert values.as_int(145507) == 145507
    assert values.as_int("abc") == "abc"
    assert values.as_decimal_text(2800) == "2800"
    assert values.as_decimal_text("2800.0000") == "2800.0000"
    assert values.as_decimal_text(None) is None


def test_tags_split_on_commas() -> None:
    assert child_rows.split_tag_names(["Горячий,VIP", " Повтор ", "", "a,,b"]) == [
        "Горячий",
        "VIP",
        "Повтор",
        "a",
        "b",
    ]
    assert child_rows.split_tag_names("x,y") == ["x", "y"]
    assert child_rows.split_tag_names(None) == []


def test_shape_request_converts_times_and_ids(request_record: dict) -> None:
    assert request_record["date"] == "2019-04-04T12:50:59.240Z"
    assert request_record["dateStr"] == EXAMPLE["dateStr"]
    assert request_record["requestId"] == 145507
    assert request_record["orders"][0]["dateCreated"] == "2019-04-04T12:57:00.000Z"
    assert request_record["order"]["dateCreated"] == "2019-04-04T12:57:00.000Z"
    assert request_record["mapVisits"][0]["sessionDate"] == "2019-04-03T13:02:51Z"


def test_number_and_sums_from_drifting_types() -> None:
    raw = copy.deepcopy(EXAMPLE)
    raw["requestId"] = "145507"
    raw["requestNumber"] = 145507
    raw["orders"][0]["sum"] = 2800.5
    shaped = shaping.shape_request(raw, MOSCOW)
    assert shaped["requestId"] == 145507
    assert shaped["requestNumber"] == "145507"
    assert shaped["orders"][0]["sum"] == "2800.5"


def test_child_rows_carry_parent_id(request_record: dict) -> None:
    request_record["siteId"] = 777  # set by the journal from the site it asked for
    orders = child_rows.order_rows(request_record)
    comments = child_rows.comment_rows(request_record)
    visits = child_rows.map_visit_rows(request_record)
    tags = child_rows.request_tag_rows(request_record)
    assert [o["orderId"] for o in orders] == [119901]
    assert [c["commentId"] for c in comments] == [7319]
    assert [v["sessionId"] for v in visits] == [15952760, 16441053]
    assert tags == [
        {
            "requestId": 145507,
            "siteId": 777,
            "name": "Тег заявки",
            "type": "AUTO-CT",
            "category": "",
        }
    ]
    assert {row["requestId"] for row in (*orders, *comments, *visits, *tags)} == {145507}
    assert {row["siteId"] for row in (*orders, *comments, *visits, *tags)} == {777}


def test_child_rows_dedupe_on_their_keys() -> None:
    record = {
        "requestId": 1,
        "mapVisits": [{"sessionId": 5}, {"sessionId": 5}, {"sessionId": 6}],
        "RequestTags": [
            {"type": "AUTO-CT", "category": "", "names": ["a,b"]},
            {"type": "MANUAL", "category": "", "names": ["b", "c"]},
        ],
    }
    assert [v["sessionId"] for v in child_rows.map_visit_rows(record)] == [5, 6]
    assert [(t["name"], t["type"]) for t in child_rows.request_tag_rows(record)] == [
        ("a", "AUTO-CT"),
        ("b", "AUTO-CT"),
        ("c", "MANUAL"),
    ]


def test_missing_or_null_blocks_give_no_rows() -> None:
    record = {"requestId": 1, "orders": None, "comments": [], "session": None}
    shaped = shaping.shape_request(record, MOSCOW)
    assert child_rows.order_rows(shaped) == []
    assert child_rows.comment_rows(shaped) == []
    assert child_rows.map_visit_rows(shaped) == []
    assert child_rows.request_tag_rows(shaped) == []


def test_comment_text_is_kept_verbatim() -> None:
    record = {"requestId": 1, "comments": [{"commentId": "9", "comment": "Перезвонить\n"}]}
    rows = child_rows.comment_rows(shaping.shape_request(record, MOSCOW))
    assert rows == [{"commentId": 9, "comment": "Перезвонить\n", "requestId": 1, "siteId": None}]


def test_visitor_ids_become_text_everywhere() -> None:
    record = {
        "requestId": 1,
        "ctClientId": 1059551105168854976,
        "session": {"sessionId": "7", "ctGlobalId": 42},
        "mapVisits": [{"sessionId": 7, "ctClientId": 5, "ctGlobalId": None}],
    }
    shaped = shaping.shape_request(record, MOSCOW)
    assert shaped["ctClientId"] == "1059551105168854976"
    assert shaped["session"] == {"sessionId": 7, "ctGlobalId": "42"}
    assert shaped["mapVisits"][0]["ctClientId"] == "5"
    assert shaped["mapVisits"][0]["ctGlobalId"] is None


# --- times of calls: the 12-hour session clock, the repeated hour, drifted dates --------------

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
# Zones without DST today, with DST at 02:00 and 03:00, one whose clocks move by 30 minutes,
# and one on a 45-minute offset: every reading the session clock has to tell apart.
SESSION_ZONES = [
    "Europe/Moscow",
    "Asia/Yekaterinburg",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
]
QUARTER = dt.timedelta(minutes=15)  # every zone above offsets by whole quarters of an hour


def java_hh(instant: dt.datetime, zone: ZoneInfo) -> str:
    """The session as the API prints it: Java's `dd/MM/yyyy hh:mm:ss`, C's %I (12 for 0)."""
    return instant.astimezone(zone).strftime("%d/%m/%Y %I:%M:%S")


def read_session(text: str, zone: ZoneInfo, call: dt.datetime) -> dt.datetime | None:
    seconds = timestamps.session_epoch(text, zone, int(call.timestamp()))
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, UTC)


calls = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),  # noqa: DTZ001 - naive bounds, as hypothesis wants
    max_value=dt.datetime(2037, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda instant: instant.replace(microsecond=0))  # the API's times are whole seconds


@given(
    call=calls,
    before=st.integers(min_value=0, max_value=11 * 3600 - 1),
    zone_name=st.sampled_from(SESSION_ZONES),
)
@settings(max_examples=1500, deadline=None, derandomize=True)
@example(  # the captured pairs: 09:58:13 -> "12:37:24" is 00:37:24 (Moscow)
    call=dt.datetime(2023, 12, 11, 6, 58, 13, tzinfo=UTC),
    before=9 * 3600 + 20 * 60 + 49,
    zone_name="Europe/Moscow",
)
@example(  # an evening session before a morning call: the text carries the session's day
    call=dt.datetime(2024, 3, 13, 4, 30, tzinfo=UTC), before=8 * 3600, zone_name="Europe/Moscow"
)
@example(  # a session in the repeated hour of Berlin's autumn, the call after it
    call=dt.datetime(2024, 10, 27, 1, 40, tzinfo=UTC), before=20 * 60, zone_name="Europe/Berlin"
)
def test_a_session_printed_on_the_12_hour_clock_reads_back_as_itself(
    call: dt.datetime, before: int, zone_name: str
) -> None:
    """Any session less than 11 h before its call (12 h less a DST change) reads back exactly.

    Unless the text also denotes a later instant still not after the call: a session in the
    first pass of a repeated hour whose call follows the second. Then the reading is that
    later instant, the latest the text allows; the oracle finds it by brute force.
    """
    zone = ZoneInfo(zone_name)
    session = call - dt.timedelta(seconds=before)
    text = java_hh(session, zone)
    later = [
        session + k * QUARTER
        for k in range(1, 13 * 4)
        if session + k * QUARTER <= call and java_hh(session + k * QUARTER, zone) == text
    ]
    assert read_session(text, zone, call) == max([session, *later])


@given(
    call=calls,
    before=st.integers(min_value=0, max_value=12 * 3600 - 1),
    zone_name=st.sampled_from(["Europe/Moscow", "Asia/Yekaterinburg", "Asia/Kathmandu"]),
)
@settings(max_examples=500, deadline=None, derandomize=True)
def test_without_dst_every_session_within_12_hours_reads_back(
    call: dt.datetime, before: int, zone_name: str
) -> None:
    zone = ZoneInfo(zone_name)
    session = call - dt.timedelta(seconds=before)
    # Moscow's and Yekaterinburg's clocks last changed in 2014 (Kathmandu's in 1986).
    assume(session.year >= 2015)
    assert read_session(java_hh(session, zone), zone, call) == session


@given(
    call=calls,
    before=st.integers(min_value=12 * 3600, max_value=40 * 3600),
    zone_name=st.sampled_from(SESSION_ZONES),
)
@settings(max_examples=500, deadline=None, derandomize=True)
def test_a_session_a_day_before_is_never_placed_by_a_guess(
    call: dt.datetime, before: int, zone_name: str
) -> None:
    """12 h or more before the call the text fits two readings: none goes out as a time.

    Only a reading less than 12 h before the call may come back (the text fits it too).
    """
    zone = ZoneInfo(zone_name)
    session = call - dt.timedelta(seconds=before)
    text = java_hh(session, zone)
    read = read_session(text, zone, call)
    assert read is None or (
        call - dt.timedelta(hours=12) < read <= call and java_hh(read, zone) == text
    )


def test_session_texts_that_fit_no_reading() -> None:
    call = int(dt.datetime(2024, 3, 13, 11, 0, tzinfo=UTC).timestamp())  # 14:00 in Moscow
    assert timestamps.session_epoch("13/03/2024 02:41:42", MOSCOW, call) is not None
    assert timestamps.session_epoch("13/03/2024 02:41:42", MOSCOW, None) is None
    assert timestamps.session_epoch("14/03/2024 01:00:00", MOSCOW, call) is None  # after the call
    assert timestamps.session_epoch(None, MOSCOW, call) is None
    assert timestamps.session_epoch("", MOSCOW, call) is None
    assert timestamps.session_epoch("31/02/2024 02:41:42", MOSCOW, call) is None
    assert timestamps.session_epoch("13/03/2024 25:41:42", MOSCOW, call) is None
    # A 24-hour hour (00, 13..23) is read as it is: the API would then have fixed its clock.
    afternoon = dt.datetime(2024, 3, 13, 13, 30, tzinfo=MOSCOW).timestamp()
    assert timestamps.session_epoch("13/03/2024 13:30:00", MOSCOW, call) == afternoon


def call_record(**fields: object) -> dict:
    return {"callId": 1, "siteId": 5, **fields}


def test_a_call_in_the_repeated_hour_takes_its_time_from_timestamp() -> None:
    # 02:30 of 27/10/2024 happened twice in Berlin; the second pass is 01:30 UTC.
    second_pass = dt.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=BERLIN)
    assert second_pass.utcoffset() == dt.timedelta(hours=1)
    record = call_record(date="27/10/2024 02:30:00", timestamp=int(second_pass.timestamp()))
    shaped = shaping.shape_call(record, BERLIN)
    assert shaped["date"] == second_pass.astimezone(UTC).isoformat().replace("+00:00", "Z")
    # Without a timestamp the wall time is read as its first pass (fold 0), like every other.
    first_pass = second_pass.replace(fold=0).astimezone(UTC)
    alone = shaping.shape_call(call_record(date="27/10/2024 02:30:00"), BERLIN)
    assert alone["date"] == first_pass.isoformat().replace("+00:00", "Z")


def test_a_session_keeps_its_text_and_reads_by_the_call() -> None:
    call = dt.datetime(2023, 12, 11, 9, 58, 13, tzinfo=MOSCOW)
    record = call_record(
        date="11/12/2023 09:58:13",
        timestamp=int(call.timestamp()),
        sessionDate="11/12/2023 12:37:24",
        mapVisits=[{"sessionId": 7, "sessionDate": "11/12/2023 00:37:24"}],
    )
    shaped = shaping.shape_call(record, MOSCOW)
    session = dt.datetime(2023, 12, 11, 0, 37, 24, tzinfo=MOSCOW).astimezone(UTC)
    assert shaped["sessionDate"] == session.isoformat().replace("+00:00", "Z")
    assert shaped["sessionDateStr"] == "11/12/2023 12:37:24"
    visit = shaped["mapVisits"][0]  # visits: 24-hour, as in the requests journal
    assert (visit["sessionDate"], visit["sessionDateStr"]) == (
        shaped["sessionDate"],
        "11/12/2023 00:37:24",
    )
    offline = shaping.shape_call(call_record(date="11/12/2023 09:58:13", sessionDate=None), MOSCOW)
    assert (offline["sessionDate"], offline["sessionDateStr"]) == (None, None)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"date": "03/05/2024 9:05:02"}, "2024-05-03T06:05:02Z"),
        ({"date": "3/5/2024 09:05:02"}, "2024-05-03T06:05:02Z"),
        ({"date": 1714716302000}, "2024-05-03T06:05:02Z"),
        ({"date": "1714716302000"}, "2024-05-03T06:05:02Z"),
        ({"date": None, "timestamp": 1714716302}, "2024-05-03T06:05:02Z"),
        ({"timestamp": "1714716302"}, "2024-05-03T06:05:02Z"),
        ({"date": "garbled", "timestamp": 1714716302000}, "2024-05-03T06:05:02Z"),
        ({"date": None}, None),
        ({}, None),
        ({"date": "03/05/2024"}, None),
        ({"date": True}, None),
        ({"timestamp": 10**30}, None),
    ],
)
def test_a_drifted_call_date_is_read_or_left_none(fields: dict, expected: str | None) -> None:
    # Expected: 09:05:02 in Moscow (UTC+3) is 06:05:02 UTC.
    assert shaping.shape_call(call_record(**fields), MOSCOW)["date"] == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"date": None, "dateStr": "16/09/2023 11:39:19"}, "2023-09-16T08:39:19.000Z"),
        ({"dateStr": "16/09/2023 11:39:19"}, "2023-09-16T08:39:19.000Z"),
        ({"date": "16/09/2023 11:39:19"}, "2023-09-16T08:39:19.000Z"),
        ({"date": 1694853559000, "dateStr": None}, "2023-09-16T08:39:19.000Z"),
        ({"date": None, "dateStr": None}, None),
        ({"date": 10**18}, None),
    ],
)
def test_a_drifted_request_date_is_read_or_left_none(fields: dict, expected: str | None) -> None:
    record = {"requestId": 1, **fields}
    assert shaping.shape_request(record, MOSCOW)["date"] == expected


_UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_FIRST_MS = int((dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc) - _UNIX_EPOCH).total_seconds()) * 1000
_LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def _iso_ms(ms: int) -> str | None:
    """Epoch milliseconds as datetime writes them, or None where it cannot."""
    try:
        instant = _UNIX_EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        return None
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _iso_s(seconds: int) -> str | None:
    try:
        instant = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return instant.isoformat().replace("+00:00", "Z")


@settings(max_examples=500, derandomize=True)
@given(ms=st.integers(-(2**63), 2**63 - 1) | st.integers(_FIRST_MS - 10**9, _LAST_MS + 10**9))
@example(ms=_FIRST_MS)
@example(ms=_FIRST_MS - 1)
@example(ms=_LAST_MS)
@example(ms=_LAST_MS + 1)
@example(ms=-1)
@example(ms=0)
def test_epoch_times_are_written_as_datetime_writes_them(ms: int) -> None:
    assert timestamps.epoch_ms_to_rfc3339(ms) == _iso_ms(ms)
    assert timestamps.epoch_ms_to_rfc3339(str(ms)) == _iso_ms(ms)
    seconds = ms // 1000
    if seconds > 0:  # the calls journal's times: epoch_seconds and session_epoch are positive
        assert timestamps.epoch_s_to_rfc3339(seconds) == _iso_s(seconds)


def test_values_of_no_fixed_type_are_kept_but_never_as_an_array_or_null_item() -> None:
    record = {
        "requestId": 1,
        "customFields": [{"field": "n", "value": 5}, {"field": "l", "value": [1, {"a": "б"}]}],
        "session": {"sessionId": 7, "additionalTags": [True, None, "x", {"k": 1}]},
        "orders": [{"orderId": 3, "offered": [1.5], "isMarked": False, "session": None}],
        "mapVisits": [{"sessionId": 7, "additionalTags": "lone"}],
    }
    shaped = shaping.shape_request(record, MOSCOW)
    assert [f["value"] for f in shaped["customFields"]] == [5, '[1,{"a":"б"}]']
    assert shaped["session"]["additionalTags"] == [True, "x", {"k": 1}]  # nulls left out
    assert (shaped["orders"][0]["offered"], shaped["orders"][0]["isMarked"]) == ("[1.5]", False)
    assert shaped["mapVisits"][0]["additionalTags"] == ["lone"]
    call = shaping.shape_call(
        {"callId": 1, "customFields": [{"value": None}], "phrases": [None, {"t": "алло"}]}, MOSCOW
    )
    assert call["customFields"] == [{"value": None}]
    assert call["phrases"] == [{"t": "алло"}]
    assert values.as_value_text(2**70) == str(2**70)  # beyond what orjson writes


def test_the_captured_requests_session_time_is_57_seconds_before_it() -> None:
    """The captured request: `dateStr` 16/09/2023 11:39:19, `session.sessionDate` 11:38:22."""
    record = {
        "requestId": 78498,
        "date": 1694853559000,
        "dateStr": "16/09/2023 11:39:19",
        "session": {"sessionId": 7505337, "sessionDate": "16/09/2023 11:38:22"},
    }
    shaped = shaping.shape_request(record, MOSCOW)
    assert shaped["session"]["sessionDateStr"] == "16/09/2023 11:38:22"
    assert shaped["session"]["sessionDate"] == "2023-09-16T08:38:22Z"  # Moscow is UTC+3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("16/09/2023 14:10:00", "2023-09-16T11:10:00Z"),  # 14: only a 24-hour clock prints it
        ("10/09/2023 22:00:00", "2023-09-10T19:00:00Z"),  # days before: still its one reading
        ("16/09/2023 00:05:00", "2023-09-15T21:05:00Z"),
        ("16/09/2023 03:00:00", "2023-09-16T12:00:00Z"),  # 15:00 fits before 16:00, 03:00 too:
        ("16/09/2023 12:30:00", "2023-09-16T09:30:00Z"),  # the latest not after the request
        ("16/09/2023 05:00:00", "2023-09-16T02:00:00Z"),  # 17:00 is after it: 05:00
        ("15/09/2023 02:00:00", None),  # 02:00 and 14:00 the day before: both 12 h or more
        ("16/09/2023 17:00:00", "2023-09-16T14:00:00Z"),  # after the request, yet its reading
        ("junk", None),
    ],
)
def test_a_requests_session_time_read_on_either_clock(text: str, expected: str | None) -> None:
    request = {"requestId": 1, "dateStr": "16/09/2023 16:00:00", "session": {"sessionDate": text}}
    assert shaping.shape_request(request, MOSCOW)["session"]["sessionDate"] == expected


def test_a_deals_session_time_is_read_against_its_call() -> None:
    call = {
        "callId": 1,
        "timestamp": 1694869200,  # 16/09/2023 16:00:00 in Moscow
        "order": {"orderId": "5", "session": {"sessionDate": "16/09/2023 03:00:00"}},
    }
    shaped = shaping.shape_call(call, MOSCOW)
    assert shaped["order"]["orderId"] == 5
    assert shaped["order"]["session"]["sessionDate"] == "2023-09-16T12:00:00Z"


def test_child_items_without_an_integer_id_are_left_out_and_counted() -> None:
    record = {
        "requestId": 1,
        "siteId": 2,
        "orders": [{"orderId": 3}, {"orderId": None}, {"orderNumber": "x"}, {"orderId": "abc"}],
        "mapVisits": [{"sessionId": None}, {"sessionId": 5}, {"sessionId": 5}],
    }
    shaped = shaping.shape_request(record, MOSCOW)
    assert child_rows.order_rows.split(shaped) == (
        [{"orderId": 3, "requestId": 1, "siteId": 2}],
        3,
    )
    visits, left_out = child_rows.map_visit_rows.split(shaped)
    assert ([v["sessionId"] for v in visits], left_out) == ([5], 1)
    assert child_rows.request_tag_rows.split({"requestId": 1}) == ([], 0)


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(
    wall=st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2040, 12, 31)),  # noqa: DTZ001
    zone_name=st.sampled_from(SESSION_ZONES),
)
@example(wall=dt.datetime(2024, 3, 31, 2, 30), zone_name="Europe/Berlin")  # noqa: DTZ001 - skipped
@example(wall=dt.datetime(2024, 10, 27, 2, 30), zone_name="Europe/Berlin")  # noqa: DTZ001 - twice
def test_a_local_time_reads_as_its_first_pass_as_datetime_reads_it(
    wall: dt.datetime, zone_name: str
) -> None:
    """On any day, with or without a clock change: fold 0, as `datetime` with a zone reads it."""
    zone = ZoneInfo(zone_name)
    wall = wall.replace(microsecond=0, fold=0)
    expected = int(wall.replace(tzinfo=zone).timestamp())
    assert timestamps.local_epoch(wall.strftime("%d/%m/%Y %H:%M:%S"), zone) == expected


@settings(max_examples=500, deadline=None, derandomize=True)
@given(
    request=st.integers(min_value=946_684_800, max_value=2_145_916_800),  # 2000..2038
    before=st.integers(min_value=0, max_value=11 * 3600),
    millis=st.integers(min_value=0, max_value=999),
)
def test_a_requests_session_is_read_against_the_request_time_sent(
    request: int, before: int, millis: int
) -> None:
    """The session's 12-hour text is placed by the request's own time, to the second."""
    session = dt.datetime.fromtimestamp(request - before, UTC)
    record = {
        "requestId": 1,
        "date": request * 1000 + millis,
        "session": {"sessionDate": java_hh(session, MOSCOW)},
    }
    shaped = shaping.shape_request(record, MOSCOW)
    assert shaped["session"]["sessionDate"] == session.isoformat().replace("+00:00", "Z")
