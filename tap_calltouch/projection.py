"""Schema projection: drop the fields a schema does not declare, at every level.

The API keeps obsolete fields in its answers and tells clients to ignore them. Walking each
record against the SDK's conformance rules costs more than the rest of the tap together, so
a plan is compiled from the schema once, and each object loses its unknown keys with one set
difference. Pure functions: no SDK, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from collections.abc import Callable

    Cast = Callable[[Any], Any]


@dataclass(frozen=True)
class Plan:
    """What an object may hold: its keys, and the plans of keys that hold objects or arrays.

    `casts` convert the keys whose declared type differs from what the tap produces.
    """

    keys: frozenset[str] | None  # None: a free-form object, kept as it is
    children: dict[str, Plan] = field(default_factory=dict)
    casts: dict[str, Cast] = field(default_factory=dict)


def compile_plan(schema: dict[str, Any], reference: dict[str, Any] | None = None) -> Plan:
    """The projection plan of an object schema (or of the items of an array schema).

    With a `reference` (the schema the tap's records are shaped to), scalar properties that
    `schema` types differently (a catalog's override) are converted to the declared type.
    """
    if "items" in schema:
        return compile_plan(schema["items"], (reference or {}).get("items"))
    properties = schema.get("properties")
    if not properties:
        return Plan(keys=None)
    known = (reference or {}).get("properties") or {}
    children = {
        name: compile_plan(sub, known.get(name))
        for name, sub in properties.items()
        if "properties" in sub or "properties" in sub.get("items", {})
    }
    casts: dict[str, Cast] = {}
    if reference is not None:
        for name, sub in properties.items():
            cast = _cast_to(_types(sub))
            if name not in children and cast and _types(sub) != _types(known.get(name, {})):
                casts[name] = cast
    return Plan(keys=frozenset(properties), children=children, casts=casts)


def _types(schema: dict[str, Any]) -> frozenset[str]:
    declared = schema.get("type", ())
    return frozenset([declared] if isinstance(declared, str) else declared) - {"null"}


def _cast_to(types: frozenset[str]) -> Cast | None:
    """The conversion to a single declared scalar type; None where no single one is declared."""
    return _CASTS.get(next(iter(types))) if len(types) == 1 else None


def _to_text(value: Any) -> Any:  # noqa: ANN401 - any JSON value
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _to_number(kind: type[int | float]) -> Cast:
    def cast(value: Any) -> Any:  # noqa: ANN401
        if isinstance(value, str):
            try:
                return kind(value.strip())
            except ValueError:
                return value
        if isinstance(value, bool):
            return kind(value)
        return value

    return cast


def _to_bool(value: Any) -> Any:  # noqa: ANN401
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return bool(value)
    return value


_CASTS: dict[str, Cast] = {
    "string": _to_text,
    "integer": _to_number(int),
    "number": _to_number(float),
    "boolean": _to_bool,
}


def project(value: Any, plan: Plan) -> Any:  # noqa: ANN401 - any JSON value
    """Remove undeclared keys from `value` in place, following `plan`; returns `value`."""
    if isinstance(value, dict):
        _project_object(value, plan)
    elif isinstance(value, list):
        _project_items(value, plan)
    return value


def _project_object(value: dict[str, Any], plan: Plan) -> None:
    keys = plan.keys
    if keys is None:
        return
    if not keys.issuperset(value):  # the common case, no unknown key, allocates nothing
        for key in value.keys() - keys:
            del value[key]
    for key, cast in plan.casts.items():
        if key in value:
            value[key] = cast(value[key])
    get = value.get
    for key, child in plan.children.items():
        nested = get(key)
        if not nested:  # absent, null or empty, as many blocks are: nothing to walk
            continue
        if isinstance(nested, dict):
            _project_object(nested, child)
        elif isinstance(nested, list):
            _project_items(nested, child)


def _project_items(items: list[Any], plan: Plan) -> None:
    if plan.children or plan.casts:
        for item in items:
            if isinstance(item, dict):
                _project_object(item, plan)
        return
    keys = plan.keys  # leaf objects (phones, tags, comments...): no call per item
    if keys is None:
        return
    for item in items:
        if isinstance(item, dict) and not keys.issuperset(item):
            for key in item.keys() - keys:
                del item[key]
