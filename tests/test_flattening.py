"""Whole syncs with the SDK's flattening on: every RECORD must fit the SCHEMA sent before it."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from tests.conftest import run_tap

STREAMS = ("requests", "orders", "comments", "map_visits", "request_tags")


def violations(messages: list[dict[str, Any]]) -> list[str]:
    """Each way a RECORD breaks the last SCHEMA of its stream, or has a key it does not declare.

    The schemas leave additionalProperties open, so a key the schema lacks passes jsonschema;
    a loader would still find no column for it, so it is checked apart.
    """
    validators: dict[str, jsonschema.Draft7Validator] = {}
    found: list[str] = []
    for message in messages:
        if message["type"] == "SCHEMA":
            validators[message["stream"]] = jsonschema.Draft7Validator(message["schema"])
        elif message["type"] == "RECORD":
            validator = validators[message["stream"]]  # a RECORD before its SCHEMA fails here
            record = message["record"]
            where = f"{message['stream']}: "
            found.extend(where + error.message for error in validator.iter_errors(record))
            undeclared = record.keys() - validator.schema["properties"].keys()
            found.extend(f"{where}{key!r} not in the schema" for key in sorted(undeclared))
    return found


def last_schemas(messages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["stream"]: m["schema"] for m in messages if m["type"] == "SCHEMA"}


@pytest.fixture
def varied_dataset(dataset: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The dataset with scalars where the vendor leaves a field's type open (`isMarked`...), and
    fields the schema does not declare (kept in `_undeclared`), at the top and in `orders[]`."""
    orders = [order for record in dataset for order in record["orders"]]
    for n, order in enumerate(orders[:12]):
        order["isMarked"] = n % 2 == 0
        order["offered"] = n
        order["loyalty"] = {"tier": "gold", "points": n}
    for record in dataset[:5]:
        record["leadScore"] = {"value": 7, "model": "v2"}
    return dataset


@pytest.mark.parametrize("depth", [1, 2, 3, 10])
def test_flattened_records_fit_their_schema(
    config: dict[str, Any], varied_dataset: list[dict[str, Any]], depth: int
) -> None:
    config = {**config, "flattening_enabled": True, "flattening_max_depth": depth}
    result = run_tap(config)
    found = violations(result.messages)
    assert not found, f"{len(found)} violation(s), first: {found[:5]}"
    assert {stream for stream in STREAMS if result.records[stream]} == set(STREAMS)
    kept = [r["_undeclared"] for r in result.records["requests"] if r.get("_undeclared")]
    assert len(kept) >= 5
    assert all(isinstance(value, str) for value in kept)  # one JSON-text column, not opened
    assert sum("leadScore" in json.loads(value) for value in kept) == 5
    assert len(result.records["requests"]) == len(varied_dataset)

    schemas = last_schemas(result.messages)
    requests = schemas["requests"]["properties"]
    # Objects became columns, the free-form `attrs` one JSON-text column, arrays JSON text.
    assert "session" not in requests
    assert "session__source" in requests
    assert requests["session__attrs"]["type"] == ["string", "null"]
    assert requests["orders"]["type"] == ["string", "null"]
    attrs = [r["session__attrs"] for r in result.records["requests"] if r.get("session__attrs")]
    assert attrs
    assert all(isinstance(json.loads(text), dict) for text in attrs)
    marks = {r["isMarked"] for r in result.records["orders"]}
    assert {"true", "false", None} <= marks  # JSON text, as the schema's string column says


def test_unflattened_records_fit_their_schema(config: dict[str, Any]) -> None:
    result = run_tap(config)
    found = violations(result.messages)
    assert not found, f"{len(found)} violation(s), first: {found[:5]}"
    assert "session__source" not in last_schemas(result.messages)["requests"]["properties"]


@pytest.mark.parametrize("depth", [1, 3])
def test_flattened_keys_respect_max_key_length(config: dict[str, Any], depth: int) -> None:
    longest = 24  # the longest name is 30 long; below 21 the SDK's abbreviations collide
    config = {
        **config,
        "flattening_enabled": True,
        "flattening_max_depth": depth,
        "flattening_max_key_length": longest,
    }
    result = run_tap(config)
    found = violations(result.messages)
    assert not found, f"{len(found)} violation(s), first: {found[:5]}"
    for stream, schema in last_schemas(result.messages).items():
        too_long = [key for key in schema["properties"] if len(key) > longest]
        assert too_long == [], stream
    names = last_schemas(result.messages)["requests"]["properties"]
    assert any("__" in key for key in names)
    if depth == 3:
        assert "ord__ses__utmCampaign" in names  # order__session__utmCampaign, abbreviated
