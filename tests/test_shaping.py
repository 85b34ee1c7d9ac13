"""Record shaping: pure functions over the vendor's own example record."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tap_calltouch import shaping

MOSCOW = ZoneInfo("Europe/Moscow")
EXAMPLE = json.loads((Path(__file__).parent / "data" / "vendor_example.json").read_text("utf-8"))


@pytest.fixture
def request_record() -> dict:
    return shaping.shape_request(copy.deepcopy(EXAMPLE), MOSCOW)


def test_epoch_ms_becomes_rfc3339_utc() -> None:
    # The vendor's example: 1554382259240 is 04/04/2019 15:50:59 in Moscow (UTC+3).
    assert shaping.epoch_ms_to_rfc3339(1554382259240) == "2019-04-04T12:50:59.240Z"
    assert shaping.epoch_ms_to_rfc3339("1554382259240") == "2019-04-04T12:50:59.240Z"
    assert shaping.epoch_ms_to_rfc3339(None) is None


def test_local_string_read_in_account_zone() -> None:
    assert shaping.local_to_rfc3339("04/04/2019 15:50:59", MOSCOW) == "2019-04-04T12:50:59Z"
    assert shaping.local_to_rfc3339("2019-04-04", MOSCOW) is None


def test_ids_and_sums_settle_on_one_type() -> None:
    assert shaping.as_int("145507") == 145507
    assert shaping.as_int(145507) == 145507
    assert shaping.as_int("abc") == "abc"
    assert shaping.as_decimal_text(2800) == "2800"
    assert shaping.as_decimal_text("2800.0000") == "2800.0000"
    assert shaping.as_decimal_text(None) is None


def test_tags_split_on_commas() -> None:
    assert shaping.split_tag_names(["Горячий,VIP", " Повтор ", "", "a,,b"]) == [
        "Горячий",
        "VIP",
        "Повтор",
        "a",
        "b",
    ]
    assert shaping.split_tag_names("x,y") == ["x", "y"]
    assert shaping.split_tag_names(None) == []


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
    orders = shaping.order_rows(request_record)
    comments = shaping.comment_rows(request_record)
    visits = shaping.map_visit_rows(request_record)
    tags = shaping.request_tag_rows(request_record)
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
    assert [v["sessionId"] for v in shaping.map_visit_rows(record)] == [5, 6]
    assert [(t["name"], t["type"]) for t in shaping.request_tag_rows(record)] == [
        ("a", "AUTO-CT"),
        ("b", "AUTO-CT"),
        ("c", "MANUAL"),
    ]


def test_missing_or_null_blocks_give_no_rows() -> None:
    record = {"requestId": 1, "orders": None, "comments": [], "session": None}
    shaped = shaping.shape_request(record, MOSCOW)
    assert shaping.order_rows(shaped) == []
    assert shaping.comment_rows(shaped) == []
    assert shaping.map_visit_rows(shaped) == []
    assert shaping.request_tag_rows(shaped) == []


def test_comment_text_is_kept_verbatim() -> None:
    record = {"requestId": 1, "comments": [{"commentId": "9", "comment": "Перезвонить\n"}]}
    rows = shaping.comment_rows(shaping.shape_request(record, MOSCOW))
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
