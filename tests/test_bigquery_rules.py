"""The checker of BigQuery's NDJSON typing rules that the BigQuery loader test relies on."""

from __future__ import annotations

from tests.bigquery_rules import row_problems, schema_problems

FIELDS = [
    {"name": "id", "type": "INTEGER", "mode": "REQUIRED"},
    {"name": "tags", "type": "STRING", "mode": "REPEATED"},
    {"name": "any", "type": "JSON", "mode": "REPEATED"},
    {"name": "when", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "ok", "type": "BOOLEAN", "mode": "NULLABLE"},
    {"name": "share", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "doc", "type": "JSON", "mode": "NULLABLE"},
    {
        "name": "custom",
        "type": "RECORD",
        "mode": "REPEATED",
        "fields": [{"name": "value", "type": "STRING", "mode": "NULLABLE"}],
    },
]


def test_a_row_of_the_right_shapes_loads() -> None:
    row = {
        "id": "42",
        "tags": ["a", "b"],
        "any": [1, {"a": 1}],
        "when": "2023-09-16T08:38:22.123Z",
        "ok": "True",
        "share": 0.5,
        "doc": {"x": [1, None]},
        "custom": [{"value": "7"}],
    }
    assert row_problems(FIELDS, row) == []
    assert row_problems(FIELDS, {"id": 1, "tags": None, "when": "2026-12-07 00:53:24"}) == []


def test_a_scalar_in_a_repeated_field_and_other_misfits_are_rejected() -> None:
    row = {
        "id": None,
        "tags": "a",
        "any": 5,
        "when": "16/09/2023 11:38:22",
        "ok": 1,
        "share": True,
        "custom": [{"value": 7}, None, {"other": "x"}],
        "stray": 1,
    }
    assert row_problems(FIELDS, row) == [
        "id: REQUIRED, got null",
        "tags: REPEATED needs an array, got str 'a'",
        "any: REPEATED needs an array, got int 5",
        "when: '16/09/2023 11:38:22' is no TIMESTAMP",
        "ok: 1 is no BOOLEAN",
        "share: True is no FLOAT",
        "custom[0].value: 7 is no STRING",
        "custom[1]: null element in an array",
        "custom[2].other: no such column, the value would be dropped",
        "stray: no such column, the value would be dropped",
    ]
    assert row_problems(FIELDS, {"id": 2**63}) == [f"id: {2**63} is no INTEGER"]
    assert row_problems(FIELDS, {"id": 1, "ok": [True]}) == [
        "ok: an array for a field that is not REPEATED (BOOLEAN)"
    ]
    assert row_problems(FIELDS, {"tags": []}) == ["id: REQUIRED, and missing"]


def test_column_names_must_be_valid_and_unique_ignoring_case() -> None:
    fields = [
        {"name": "ctClientId", "type": "STRING"},
        {"name": "ctclientid", "type": "STRING"},
        {"name": "1st", "type": "STRING"},
        {"name": "s", "type": "RECORD", "fields": [{"name": "a-b", "type": "STRING"}]},
    ]
    assert schema_problems(fields) == [
        "ctclientid: a second column of that name, ignoring case",
        "1st: not a valid column name",
        "s.a-b: not a valid column name",
    ]


def test_an_int64_beyond_2_53_loads_only_as_text() -> None:
    # BigQuery's data types page: an integer outside [-2^53+1, 2^53-1] loaded through the API
    # into INT64 must be passed as a string, or it is corrupted (read as a double).
    fields = [{"name": "id", "type": "INTEGER", "mode": "NULLABLE"}]
    assert row_problems(fields, {"id": 2**53 - 1}) == []
    assert row_problems(fields, {"id": -(2**53) + 1}) == []
    assert row_problems(fields, {"id": str(2**53)}) == []
    assert row_problems(fields, {"id": 2**53}) == [
        f"id: {2**53} is no INTEGER (a JSON number beyond 2^53: send it as text)"
    ]
