"""Schema projection: drop the fields a schema does not declare, at every level.

The API keeps obsolete fields in its answers and tells clients to ignore them. Walking each
record against the SDK's conformance rules costs more than the rest of the tap together, so
a plan is compiled from the schema once, and each object loses its unknown keys with one set
difference. Pure functions: no SDK, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from collections.abc import Callable

    Cast = Callable[[Any], Any]
    Walk = Callable[[Any], None]


@dataclass(frozen=True)
class Plan:
    """What an object may hold: its keys, and the plans of keys that hold objects or arrays.

    `casts` convert the keys whose declared type differs from what the tap produces.
    """

    keys: frozenset[str] | None  # None: a free-form object, kept as it is
    children: dict[str, Plan] = field(default_factory=dict)
    casts: dict[str, Cast] = field(default_factory=dict)

    @cached_property
    def walk_object(self) -> Walk:
        """Projects one object in place (built once: each record walks many)."""
        return _object_of(self)

    @cached_property
    def walk_items(self) -> Walk:
        """Projects the objects of an array in place."""
        return _items_of(self)


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
        plan.walk_object(value)
    elif isinstance(value, list):
        plan.walk_items(value)
    return value


def _object_of(plan: Plan) -> Walk:
    """The walk of one object along `plan`, built once per plan: each record walks many."""
    keys = plan.keys
    if keys is None:  # free-form: kept as it is
        return _keep
    children = tuple(
        (key, child.walk_object, child.walk_items) for key, child in plan.children.items()
    )
    walk = _pruning(keys, children)
    casts = tuple(plan.casts.items())
    if not casts:
        return walk

    def walk_and_cast(value: dict[str, Any]) -> None:
        walk(value)
        for key, cast in casts:  # scalars only: no child holds a cast key
            if key in value:
                value[key] = cast(value[key])

    return walk_and_cast


def _pruning(keys: frozenset[str], children: tuple[tuple[str, Walk, Walk], ...]) -> Walk:
    covers = keys.issuperset

    def walk(value: dict[str, Any]) -> None:
        if not covers(value):  # the common case, no unknown key, allocates nothing
            for key in value.keys() - keys:
                del value[key]
        get = value.get
        for key, walk_object, walk_items in children:
            nested = get(key)
            if not nested:  # absent, null or empty, as many blocks are: nothing to walk
                continue
            if isinstance(nested, dict):
                walk_object(nested)
            elif isinstance(nested, list):
                walk_items(nested)

    return walk


def _items_of(plan: Plan) -> Walk:
    keys = plan.keys
    if plan.children or plan.casts:
        walk_object = plan.walk_object

        def walk(items: list[Any]) -> None:
            for item in items:
                if isinstance(item, dict):
                    walk_object(item)

        return walk
    if keys is None:
        return _keep
    covers = keys.issuperset

    def walk_leaves(items: list[Any]) -> None:  # phones, tags, comments...: no call per item
        for item in items:
            if isinstance(item, dict) and not covers(item):
                for key in item.keys() - keys:
                    del item[key]

    return walk_leaves


def _keep(_: Any) -> None:  # noqa: ANN401
    """A free-form value's walk: nothing to remove."""
