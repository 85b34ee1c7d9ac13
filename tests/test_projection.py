"""Schema projection: obsolete fields are dropped at every level, declared ones kept."""

from __future__ import annotations

import copy

from tap_calltouch.projection import (
    UNDECLARED,
    Naming,
    compile_plan,
    keep_undeclared,
    project,
    split_undeclared,
    undeclared_names,
    with_declared,
)
from tap_calltouch.schemas import CALL, REQUEST

PLAN = compile_plan(REQUEST.to_dict())
SESSION = {"type": "object", "properties": {"sessionId": {}, "attrs": {"type": "object"}}}
SMALL = {
    "properties": {
        "requestId": {},
        "session": SESSION,
        "orders": {"type": "array", "items": {"properties": {"orderId": {}, "session": SESSION}}},
        "client": {
            "properties": {
                "fio": {},
                "phones": {"type": "array", "items": {"properties": {"phoneNumber": {}}}},
            }
        },
    }
}


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


# --- fields the schema does not declare are kept, by path -----------------------------------------

RAW = {
    "requestId": 1,
    "customFields": [{"field": "ИНН", "value": "7700"}],  # a block the schema lacks
    "newScore": 0,
    "gone": None,
    "session": {"sessionId": 2, "channel": "ads", "attrs": {"free": 1}},
    "orders": [
        {"orderId": 3, "discount": "5.00", "session": {"sessionId": 2, "x": [1]}},
        {"orderId": 4},
        {"orderId": 5, "discount": "7.50"},
    ],
    "client": {"fio": "Коля", "phones": [{"phoneNumber": "7999", "kind": "mobile"}]},
}


def test_undeclared_fields_come_out_with_their_paths() -> None:
    record = copy.deepcopy(RAW)
    found = split_undeclared(record, compile_plan(SMALL))
    assert found == {
        "customFields": [{"field": "ИНН", "value": "7700"}],
        "newScore": 0,
        "gone": None,
        "session.channel": "ads",
        "orders[0].discount": "5.00",
        "orders[0].session.x": [1],
        "orders[2].discount": "7.50",
        "client.phones[0].kind": "mobile",
    }
    assert record == {
        "requestId": 1,
        "session": {"sessionId": 2, "attrs": {"free": 1}},
        "orders": [{"orderId": 3, "session": {"sessionId": 2}}, {"orderId": 4}, {"orderId": 5}],
        "client": {"fio": "Коля", "phones": [{"phoneNumber": "7999"}]},
    }


def test_keep_undeclared_puts_every_value_in_one_column_and_drops_nulls() -> None:
    record = copy.deepcopy(RAW)
    kept = keep_undeclared(record, compile_plan(SMALL))
    assert "gone" not in kept  # a null holds nothing
    assert record[UNDECLARED] == kept
    assert kept["orders[2].discount"] == "7.50"
    assert undeclared_names(kept) == [
        "client.phones[].kind",
        "customFields",
        "newScore",
        "orders[].discount",
        "orders[].session.x",
        "session.channel",
    ]


def test_a_record_the_schema_declares_whole_gets_no_column() -> None:
    record = {"requestId": 1, "session": {"sessionId": 2}, "orders": [{"orderId": 3}]}
    assert keep_undeclared(record, compile_plan(SMALL)) == {}
    assert UNDECLARED not in record
    assert keep_undeclared({"requestId": 1, "gone": None}, compile_plan(SMALL)) == {}


def test_the_column_is_declared_free_form_in_both_journals() -> None:
    for key, schema in (("requestId", REQUEST.to_dict()), ("callId", CALL.to_dict())):
        column = schema["properties"][UNDECLARED]
        assert set(column["type"]) == {"object", "null"}
        assert "properties" not in column  # one JSON column, never opened up by flattening
        record = {key: 1, UNDECLARED: {"a.b[0]": 1}}
        keep_undeclared(record, compile_plan(schema))
        assert record[UNDECLARED] == {"a.b[0]": 1}  # kept as it is, not taken out again


def test_each_field_is_named_once_per_run() -> None:
    naming = Naming("requests")
    first = naming.note(["leadScore", "orders[0].discount", "orders[1].discount"])
    assert first is not None
    assert first.startswith("requests: ")
    assert "leadScore, orders[].discount;" in first
    assert naming.note(["orders[5].discount", "leadScore"]) is None  # met before
    second = naming.note(["leadScore", "aiSummary"])
    assert second is not None
    assert "aiSummary;" in second
    assert "leadScore" not in second
    assert (
        naming.summary()
        == "; fields kept in `_undeclared`: aiSummary, leadScore, orders[].discount"
    )


def test_fields_keyed_by_data_are_named_up_to_a_limit() -> None:
    naming = Naming("calls", limit=3)
    warnings = [naming.note([f"byId.{n}"]) for n in range(50)]
    said = [w for w in warnings if w]
    assert len(said) == 3
    assert naming.summary() == (
        "; fields kept in `_undeclared`: byId.0, byId.1, byId.2 and 3+ more"
    )
    assert len(naming.unnamed) == 3  # counting stops too: memory stays bounded
    assert Naming("calls").summary() == ""


def test_keys_holding_dots_or_brackets_get_paths_no_other_field_has() -> None:
    record = {
        "requestId": 1,
        "orders": [{"orderId": 3, "discount": 5}],
        "orders[0].discount": 7,  # a top-level key spelled like the path of a nested one
        "session": {"sessionId": 2, "utm.source": "ya"},
        "client": {"fio": "Коля", "phones": [{"phoneNumber": "7999", "kind]": "m"}]},
    }
    kept = keep_undeclared(record, compile_plan(SMALL))
    assert kept == {
        "orders[0].discount": 5,
        '["orders[0].discount"]': 7,
        'session["utm.source"]': "ya",
        'client.phones[0]["kind]"]': "m",
    }


def test_fields_found_beside_a_column_already_there_are_added_to_it() -> None:
    record = {"requestId": 1, UNDECLARED: {"x": 1}, "newScore": 2}
    assert keep_undeclared(record, PLAN) == {"newScore": 2}  # the journal declares the column
    assert record[UNDECLARED] == {"x": 1, "newScore": 2}  # the earlier value is not overwritten


def test_a_catalog_adds_fields_to_the_split_but_never_reshapes_a_block() -> None:
    catalog = {
        "properties": {
            "session": {"type": "array", "items": {"type": "string"}},  # retyped: not a block
            "leadScore": {"type": "integer"},
            "orders": {"items": {"properties": {"discount": {}}}},
        }
    }
    record = {
        "requestId": 1,
        "leadScore": 87,
        "session": {"sessionId": 2, "channel": "ads"},
        "orders": [{"orderId": 3, "discount": 5, "coupon": "X"}],
    }
    kept = keep_undeclared(record, compile_plan(with_declared(SMALL, catalog)))
    assert kept == {"session.channel": "ads", "orders[0].coupon": "X"}
    assert record["leadScore"] == 87
    assert record["orders"] == [{"orderId": 3, "discount": 5}]
