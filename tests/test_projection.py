"""Schema projection: obsolete fields are dropped at every level, declared ones kept."""

from __future__ import annotations

from tap_calltouch.projection import compile_plan, project
from tap_calltouch.schemas import REQUEST

PLAN = compile_plan(REQUEST.to_dict())


def test_unknown_fields_dropped_at_every_level() -> None:
    record = {
        "requestId": 1,
        "callbackPhone": "obsolete",
        "session": {"sessionId": 2, "legacy": True, "attrs": {"param1": "v1", "free": 1}},
        "orders": [{"orderId": 3, "old": 1, "session": {"sessionId": 2, "x": 0}}],
        "client": {"fio": "Коля", "phones": [{"phoneNumber": "7999", "junk": 1}]},
        "mapVisits": None,
    }
    assert project(record, PLAN) == {
        "requestId": 1,
        "session": {"sessionId": 2, "attrs": {"param1": "v1", "free": 1}},
        "orders": [{"orderId": 3, "session": {"sessionId": 2}}],
        "client": {"fio": "Коля", "phones": [{"phoneNumber": "7999"}]},
        "mapVisits": None,
    }


def test_declared_record_is_left_alone() -> None:
    record = {"requestId": 1, "comments": [{"commentId": 4, "comment": "Текст\n"}]}
    assert project(record, PLAN) == {
        "requestId": 1,
        "comments": [{"commentId": 4, "comment": "Текст\n"}],
    }


def test_free_form_objects_keep_their_keys() -> None:
    # session.attrs carries whatever third-party parameters the account sent.
    plan = compile_plan({"properties": {"attrs": {"type": ["object", "null"]}}})
    assert project({"attrs": {"a": 1}, "b": 2}, plan) == {"attrs": {"a": 1}}
