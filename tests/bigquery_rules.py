"""BigQuery's typing rules for newline-delimited JSON loads, as its documentation states them.

A load job checks each row against the table schema: a REPEATED field takes a JSON array (null
reads as an empty one) whose elements are never null; a RECORD takes an object, checked field
by field; a NULLABLE field takes null, a REQUIRED one never; an array in a field that is not
REPEATED, or an object in one that is not RECORD or JSON, fails the row. Scalars: INT64 a JSON
integer within +-(2^53 - 1) (a wider one is read as a double and corrupted: it must come as text)
or the text of one in the 64-bit range, FLOAT64 a number or numeric text, BOOL true,
false or their text, STRING text, TIMESTAMP `YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]]` with an
optional zone (`Z`, `±HH[:MM]`, ` UTC`), DATE `YYYY-MM-DD`, JSON any value. A key the schema
lacks is dropped without a word (the loader sets `ignore_unknown_values`): reported here too,
as it would be data lost. Column names: letters, digits and underscores, not starting with a
digit, unique within a record ignoring case. `fields` are `SchemaField.to_api_repr()` dicts.
"""

from __future__ import annotations

import re
from typing import Any

_INT64 = (-(2**63), 2**63 - 1)
_EXACT_JSON_INTEGER = 2**53 - 1  # the widest integer a JSON number carries exactly (a double)
_TIMESTAMP = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{1,2}(:\d{1,2}(\.\d{1,6})?)?"
    r"( ?(Z|UTC|[+-]\d{1,2}(:?\d{2})?))?"
)
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,299}")
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*|[+-]?(NaN|Infinity|inf)")


def schema_problems(fields: list[dict[str, Any]], where: str = "") -> list[str]:
    """What makes a table schema invalid: bad or case-duplicate column names."""
    problems: list[str] = []
    seen: set[str] = set()
    for field in fields:
        name = field["name"]
        if not _NAME.fullmatch(name):
            problems.append(f"{where}{name}: not a valid column name")
        if name.lower() in seen:
            problems.append(f"{where}{name}: a second column of that name, ignoring case")
        seen.add(name.lower())
        if field.get("type", "").upper() in {"RECORD", "STRUCT"}:
            problems.extend(schema_problems(field.get("fields", []), f"{where}{name}."))
    return problems


def row_problems(fields: list[dict[str, Any]], row: dict[str, Any], where: str = "") -> list[str]:
    """Why BigQuery would reject (or partly drop) `row` under `fields`; [] when it loads."""
    by_name = {field["name"].lower(): field for field in fields}
    problems: list[str] = []
    for key, value in row.items():
        field = by_name.get(key.lower())
        if field is None:
            problems.append(f"{where}{key}: no such column, the value would be dropped")
        else:
            problems.extend(_field_problems(field, value, f"{where}{key}"))
    present = {key.lower() for key in row}
    problems.extend(
        f"{where}{field['name']}: REQUIRED, and missing"
        for name, field in by_name.items()
        if field.get("mode") == "REQUIRED" and name not in present
    )
    return problems


def _field_problems(field: dict[str, Any], value: Any, where: str) -> list[str]:
    mode = (field.get("mode") or "NULLABLE").upper()
    if mode == "REPEATED":
        if value is None:
            return []
        if not isinstance(value, list):
            return [f"{where}: REPEATED needs an array, got {_kind(value)}"]
        problems: list[str] = []
        for index, item in enumerate(value):
            if item is None:
                problems.append(f"{where}[{index}]: null element in an array")
            else:
                problems.extend(_value_problems(field, item, f"{where}[{index}]"))
        return problems
    if value is None:
        return [f"{where}: REQUIRED, got null"] if mode == "REQUIRED" else []
    return _value_problems(field, value, where)


def _value_problems(field: dict[str, Any], value: Any, where: str) -> list[str]:  # noqa: PLR0911
    kind = field["type"].upper()
    if kind == "JSON":
        return []
    if isinstance(value, list):
        return [f"{where}: an array for a field that is not REPEATED ({kind})"]
    if kind in {"RECORD", "STRUCT"}:
        if not isinstance(value, dict):
            return [f"{where}: RECORD needs an object, got {_kind(value)}"]
        return row_problems(field.get("fields", []), value, f"{where}.")
    if isinstance(value, dict):
        return [f"{where}: an object for a {kind} field"]
    if _wide_json_integer(kind, value):
        return [f"{where}: {value!r} is no {kind} (a JSON number beyond 2^53: send it as text)"]
    if _scalar_fits(kind, value):
        return []
    return [f"{where}: {value!r} is no {kind}"]


def _scalar_fits(kind: str, value: Any) -> bool:  # noqa: PLR0911
    if kind in {"INTEGER", "INT64"}:
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            value = int(value)
        return isinstance(value, int) and not isinstance(value, bool) and _in_int64(value)
    if kind in {"FLOAT", "FLOAT64"}:
        if isinstance(value, str):
            return bool(_NUMBER.fullmatch(value))
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in {"BOOLEAN", "BOOL"}:
        return isinstance(value, bool) or (
            isinstance(value, str) and value.strip().lower() in {"true", "false"}
        )
    if kind == "STRING":
        return isinstance(value, str)
    if kind == "TIMESTAMP":
        return isinstance(value, str) and bool(_TIMESTAMP.fullmatch(value.strip()))
    if kind == "DATE":
        return isinstance(value, str) and bool(_DATE.fullmatch(value.strip()))
    return False  # a type the tap's schemas should never translate to: reported


def _wide_json_integer(kind: str, value: Any) -> bool:
    """An INT64 sent as a JSON number a double cannot hold exactly."""
    return (
        kind in {"INTEGER", "INT64"}
        and isinstance(value, int)
        and not isinstance(value, bool)
        and _in_int64(value)
        and abs(value) > _EXACT_JSON_INTEGER
    )


def _in_int64(value: int) -> bool:
    return _INT64[0] <= value <= _INT64[1]


def _kind(value: Any) -> str:
    return "an object" if isinstance(value, dict) else f"{type(value).__name__} {value!r}"
