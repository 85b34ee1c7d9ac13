"""Child streams' primary keys are never null: an item without its id is left out and counted."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from tests.captured import account, vary
from tests.conftest import TOKEN, run_tap
from tests.emulator.server import Emulator

if TYPE_CHECKING:
    import pytest

KEYS = {
    "orders": ("requestId", "orderId"),
    "comments": ("requestId", "commentId"),
    "map_visits": ("requestId", "sessionId"),
    "request_tags": ("requestId", "name"),
    "call_orders": ("callId", "orderId"),
    "call_comments": ("callId", "commentId"),
    "call_map_visits": ("callId", "sessionId"),
    "call_tags": ("callId", "name"),
}


def test_keys_are_declared_never_null_and_items_without_them_are_warned_of(
    caplog: pytest.LogCaptureFixture,
) -> None:
    served = account(captured=False)
    vary(served)  # one deal, comment and visit of each journal without its id
    tokens = {TOKEN: set(served.sites)}
    with (
        Emulator(sites=served.sites.values(), tokens=tokens) as api,
        caplog.at_level(logging.WARNING),
    ):
        result = run_tap(served.config(api.url, TOKEN), streams=None)
    schemas: dict[str, dict[str, Any]] = {
        m["stream"]: m for m in result.messages if m["type"] == "SCHEMA"
    }
    for stream, keys in KEYS.items():
        schema = schemas[stream]["schema"]
        for key in keys:
            assert key in schema["required"], (stream, key)
            assert "null" not in schema["properties"][key]["type"], (stream, key)
        assert schemas[stream]["key_properties"][-1] == keys[1]
        rows = result.records[stream]
        assert rows, stream
        assert all(isinstance(row[key], (int, str)) for row in rows for key in keys), stream
    warned = {r.getMessage() for r in caplog.records if "not emitted" in r.getMessage()}
    for stream, key in (
        ("orders", "orderId"),
        ("comments", "commentId"),
        ("map_visits", "sessionId"),
        ("call_orders", "orderId"),
        ("call_comments", "commentId"),
        ("call_map_visits", "sessionId"),
    ):
        assert f"1 {stream} item(s) without an integer `{key}` not emitted" in " ".join(warned), (
            warned
        )
    # The parent keeps the item in its own column.
    deals = [o for r in result.records["requests"] for o in r["orders"] or []]
    assert [o["orderNumber"] for o in deals if o.get("orderId") is None] == ["no id"]
