"""Schema projection: drop the fields a schema does not declare, at every level.

The API keeps obsolete fields in its answers and tells clients to ignore them. Walking each
record against the SDK's conformance rules costs more than the rest of the tap together, so
a plan is compiled from the schema once, and each object loses its unknown keys with one set
difference. Pure functions: no SDK, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Plan:
    """What an object may hold: its keys, and the plans of keys that hold objects or arrays."""

    keys: frozenset[str] | None  # None: a free-form object, kept as it is
    children: dict[str, Plan] = field(default_factory=dict)


def compile_plan(schema: dict[str, Any]) -> Plan:
    """The projection plan of an object schema (or of the items of an array schema)."""
    if "items" in schema:
        return compile_plan(schema["items"])
    properties = schema.get("properties")
    if not properties:
        return Plan(keys=None)
    children = {
        name: compile_plan(sub)
        for name, sub in properties.items()
        if "properties" in sub or "properties" in sub.get("items", {})
    }
    return Plan(keys=frozenset(properties), children=children)


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
    for key, child in plan.children.items():
        nested = value.get(key)
        if isinstance(nested, dict):
            _project_object(nested, child)
        elif isinstance(nested, list):
            _project_items(nested, child)


def _project_items(items: list[Any], plan: Plan) -> None:
    if plan.children:
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
