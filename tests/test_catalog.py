"""What the catalog and stream maps promise, kept for records: deselection, schema overrides
and filters apply to the stream they name, and to nothing else."""

from __future__ import annotations

from typing import Any

from tap_calltouch.tap import TapCalltouch
from tests.conftest import run_tap

CHILDREN = ("orders", "comments", "map_visits", "request_tags")


def catalog_of(config: dict[str, Any]) -> dict[str, Any]:
    return TapCalltouch(config=config).catalog_dict


def entry(catalog: dict[str, Any], stream: str) -> dict[str, Any]:
    return next(e for e in catalog["streams"] if e["tap_stream_id"] == stream)


def deselect(catalog: dict[str, Any], stream: str, *path: str) -> None:
    breadcrumb = [part for name in path for part in ("properties", name)]
    for item in entry(catalog, stream)["metadata"]:
        if item["breadcrumb"] == breadcrumb:
            item["metadata"]["selected"] = False
            return
    msg = f"no metadata for {stream} {path}"
    raise AssertionError(msg)


def test_deselecting_a_child_property_leaves_the_parent_whole(config: dict[str, Any]) -> None:
    catalog = catalog_of(config)
    deselect(catalog, "orders", "session", "ip")
    result = run_tap(config, catalog=catalog)
    order_sessions = [o["session"] for o in result.records["orders"] if o.get("session")]
    assert order_sessions
    assert all("ip" not in session for session in order_sessions)
    nested = [
        order["session"]
        for request in result.records["requests"]
        for order in request.get("orders") or []
        if order.get("session")
    ]
    assert len(nested) == len(order_sessions)
    assert all("ip" in session for session in nested), "the parent's deals lost their ip"


def test_deselecting_a_parent_property_leaves_the_children_whole(config: dict[str, Any]) -> None:
    catalog = catalog_of(config)
    deselect(catalog, "requests", "orders")
    result = run_tap(config, catalog=catalog)
    assert all("orders" not in request for request in result.records["requests"])
    assert result.records["orders"]
    assert all("ip" in o["session"] for o in result.records["orders"] if o.get("session"))


def test_a_filter_on_requests_filters_their_child_rows(config: dict[str, Any]) -> None:
    everything = run_tap(config)
    kept = sorted(r["requestId"] for r in everything.records["requests"])[::3]
    assert 0 < len(kept) < len(everything.records["requests"])
    maps = {"requests": {"__filter__": f"requestId in {kept}"}}
    some = run_tap({**config, "stream_maps": maps})
    assert sorted(r["requestId"] for r in some.records["requests"]) == kept
    for child in CHILDREN:
        expected = [r for r in everything.records[child] if r["requestId"] in kept]
        assert expected, child
        assert sorted(map(repr, some.records[child])) == sorted(map(repr, expected)), child
    none = run_tap({**config, "stream_maps": {"requests": {"__filter__": "requestId < 0"}}})
    assert {
        stream: len(none.records[stream]) for stream in ("requests", *CHILDREN)
    } == dict.fromkeys(("requests", *CHILDREN), 0)


def test_records_follow_a_schema_override_from_the_catalog(config: dict[str, Any]) -> None:
    catalog = catalog_of(config)
    requests_schema = entry(catalog, "requests")["schema"]
    del requests_schema["properties"]["client"]
    requests_schema["properties"]["siteId"] = {"type": ["string", "null"]}
    requests_schema["properties"]["session"]["properties"]["sessionId"] = {"type": ["string"]}
    orders_schema = entry(catalog, "orders")["schema"]
    orders_schema["properties"]["orderId"] = {"type": ["string", "null"]}
    del orders_schema["properties"]["session"]
    result = run_tap(config, catalog=catalog)
    requests = result.records["requests"]
    assert requests
    assert all("client" not in r for r in requests)
    assert all(isinstance(r["siteId"], str) and r["siteId"].isdigit() for r in requests)
    sessions = [r["session"] for r in requests if r.get("session")]
    assert sessions
    assert all(isinstance(s["sessionId"], str) for s in sessions if s.get("sessionId") is not None)
    orders = result.records["orders"]
    assert orders
    assert all(isinstance(o["orderId"], str) and "session" not in o for o in orders)
    # The override of `orders` does not reach the deals nested in `requests`, and vice versa.
    nested = [o for r in requests for o in r.get("orders") or []]
    assert nested
    assert all(isinstance(o["orderId"], int) for o in nested)
    assert any("session" in o for o in nested)


def test_a_field_the_catalog_declares_goes_to_its_column_not_to_undeclared(
    dataset: list[dict[str, Any]], config: dict[str, Any]
) -> None:
    with_orders = [record for record in dataset if record["orders"]][:3]
    assert with_orders
    for record in with_orders:
        record["leadScore"] = 87
        record["orders"][0]["discountPercent"] = 5
    catalog = catalog_of(config)
    requests_schema = entry(catalog, "requests")["schema"]
    requests_schema["properties"]["leadScore"] = {"type": ["integer", "null"]}
    nested_order = requests_schema["properties"]["orders"]["items"]["properties"]
    nested_order["discountPercent"] = {"type": ["integer", "null"]}
    order = requests_schema["properties"]["order"]["properties"]  # the deal, one of `orders`
    order["discountPercent"] = {"type": ["integer", "null"]}
    requests = run_tap(config, catalog=catalog).records["requests"]
    carrying = [r for r in requests if r.get("leadScore") is not None]
    assert len(carrying) == len(with_orders)
    assert all(r["leadScore"] == 87 and r["orders"][0]["discountPercent"] == 5 for r in carrying)
    held = [r["_undeclared"] for r in requests if r.get("_undeclared")]
    assert not held  # declared: not held twice
