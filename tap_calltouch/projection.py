"""Schema projection: take out the fields a schema does not declare, at every level.

Calltouch adds fields over time (`customFields` appeared in call records in 2023-24), and a
field the schema does not know yet must not be lost: `keep_undeclared` moves every undeclared
key of a record, with its path, into one free-form column, `_undeclared`.

Walking each record against the SDK's conformance rules costs more than the rest of the tap
together, so a plan is compiled from the schema once, and each object loses its unknown keys
with one set difference; a walk builds a path only for a key it takes out. Pure functions: no
SDK, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    Cast = Callable[[Any], Any]
    #: Keys taken out of one object or array: (path relative to it, value), or None for none.
    Found = list[tuple[str, Any]] | None
    Walk = Callable[[Any], Found]

#: The column of a record that holds its undeclared fields: {path: value}, e.g.
#: {"customFields": [...], "orders[0].discount": 5}. Absent when there are none.
UNDECLARED = "_undeclared"


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


def with_declared(schema: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`schema` declaring, besides its own properties, those `extra` adds at any level.

    A field a catalog declares (a Meltano `schema:` override) is then the catalog's column,
    not an undeclared one; `schema` keeps every field of its own, so blocks stay complete.
    """
    if "items" in schema:  # an array's items; a catalog's retyping leaves the shape ours
        return {**schema, "items": with_declared(schema["items"], extra.get("items") or {})}
    own, more = schema.get("properties"), extra.get("properties")
    if not own or not more:
        return schema
    merged = {name: with_declared(sub, more.get(name) or {}) for name, sub in own.items()}
    return {**schema, "properties": {**more, **merged}}


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
    _walk(value, plan)
    return value


def split_undeclared(value: Any, plan: Plan) -> dict[str, Any]:  # noqa: ANN401
    """Remove undeclared keys from `value` in place; returns them, {path: value}.

    A path is the key's, from the top of `value`: `customFields`, `session.newKey`,
    `orders[0].discount` (an array's item by its index); a key holding `.`, `[` or `]` is
    quoted, `session["a.b"]`, so that no two fields share a path.
    """
    return dict(_walk(value, plan) or ())


def keep_undeclared(
    record: dict[str, Any], plan: Plan, obsolete: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Move `record`'s undeclared fields into its `_undeclared` column; returns them.

    Dropped instead: a null, which holds nothing (the API sends some fields null in every
    record, as the singular `order` of calls), and the fields named in `obsolete` (by
    `field_name`), which the API still sends and its documentation says to ignore.
    """
    found = plan.walk_object(record)
    if not found:
        return {}
    kept = {
        path: value
        for path, value in found
        if value is not None and (path if "[" not in path else field_name(path)) not in obsolete
    }
    if kept:
        # A column already there (kept by an earlier pass) gains the new paths, none lost.
        record[UNDECLARED] = {**record[UNDECLARED], **kept} if record.get(UNDECLARED) else kept
    return kept


def _walk(value: Any, plan: Plan) -> Found:  # noqa: ANN401
    if isinstance(value, dict):
        return plan.walk_object(value)
    if isinstance(value, list):
        return plan.walk_items(value)
    return None


def field_name(path: str) -> str:
    """A path without its items' indices: `orders[0].discount` is `orders[].discount`."""
    return _INDEX.sub("[]", path)


def undeclared_names(paths: Iterable[str]) -> list[str]:
    """The distinct fields of some paths, sorted: how a warning names them."""
    return sorted({field_name(path) for path in paths})


@dataclass
class Naming:
    """The undeclared fields a stream met in a run, each named once, at most `limit` of them.

    A field keyed by data (an id as a key) would otherwise make a warning per record and a
    summary without end; past `limit` names, the rest are only counted.
    """

    stream: str
    limit: int = 20
    #: Whether the column reaches the output: a catalog may deselect it, or predate it.
    kept: bool = True
    named: set[str] = field(default_factory=set)
    unnamed: set[str] = field(default_factory=set)

    def note(self, paths: Iterable[str]) -> str | None:
        """The warning naming the fields of `paths` not met before, or None."""
        new = [name for name in undeclared_names(paths) if name not in self.named]
        if not new or len(self.unnamed) >= self.limit:
            return None
        room = self.limit - len(self.named)
        if room <= 0:
            self.unnamed.update(new)
            return None
        self.named.update(new[:room])
        self.unnamed.update(new[room:])
        more = f" and more ({self.limit} named at most)" if len(new) > room else ""
        return (
            f"{self.stream}: the API sent field(s) this tap's schema does not declare: "
            f"{', '.join(new[:room])}{more}; {self._fate}"
        )

    @property
    def _fate(self) -> str:
        if self.kept:
            return (
                f"they are kept in the `{UNDECLARED}` column (JSON, by path) "
                "until the schema declares them"
            )
        return (
            f"they are DROPPED: the catalog does not select the `{UNDECLARED}` column "
            "(select it, or rediscover a catalog that predates it, to keep them)"
        )

    def summary(self) -> str:
        """The fields kept this run, for the stream's summary line; empty when none."""
        if not self.named:
            return ""
        more = f" and {len(self.unnamed)}+ more" if self.unnamed else ""
        fate = f"kept in `{UNDECLARED}`" if self.kept else "undeclared and dropped"
        return f"; fields {fate}: {', '.join(sorted(self.named))}{more}"


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

    def walk_and_cast(value: dict[str, Any]) -> Found:
        found = walk(value)
        for key, cast in casts:  # scalars only: no child holds a cast key
            if key in value:
                value[key] = cast(value[key])
        return found

    return walk_and_cast


def _pruning(keys: frozenset[str], children: tuple[tuple[str, Walk, Walk], ...]) -> Walk:
    covers = keys.issuperset

    def walk(value: dict[str, Any]) -> Found:
        found: Found = None
        if not covers(value):  # the common case, no unknown key, allocates nothing
            found = [(_step(key), value.pop(key)) for key in value.keys() - keys]
        get = value.get
        for key, walk_object, walk_items in children:
            nested = get(key)
            if not nested:  # absent, null or empty, as many blocks are: nothing to walk
                continue
            if isinstance(nested, dict):
                below = walk_object(nested)
                if below:
                    found = found or []
                    found.extend((_join(key, path), v) for path, v in below)
            elif isinstance(nested, list):
                below = walk_items(nested)
                if below:
                    found = found or []
                    found.extend((f"{key}{path}", v) for path, v in below)
        return found

    return walk


def _items_of(plan: Plan) -> Walk:
    """The walk of an array's objects; paths it returns start with the item: `[2].key`."""
    keys = plan.keys
    if plan.children or plan.casts:
        walk_object = plan.walk_object

        def walk(items: list[Any]) -> Found:
            found: Found = None
            for index, item in enumerate(items):
                if isinstance(item, dict):
                    below = walk_object(item)
                    if below:
                        found = found or []  # extended, not copied: a long array stays linear
                        found.extend((_join(f"[{index}]", p), v) for p, v in below)
            return found

        return walk
    if keys is None:
        return _keep
    covers = keys.issuperset

    def walk_leaves(items: list[Any]) -> Found:  # phones, tags, comments...: no call per item
        found: Found = None
        for index, item in enumerate(items):
            if isinstance(item, dict) and not covers(item):
                found = found or []
                found.extend(
                    (_join(f"[{index}]", _step(key)), item.pop(key)) for key in item.keys() - keys
                )
        return found

    return walk_leaves


def _step(key: str) -> str:
    """A key as a step of a path: quoted where it holds what a path is made of."""
    return f"[{orjson.dumps(key).decode()}]" if _SPECIAL.search(key) else key


def _join(parent: str, path: str) -> str:
    """The path of `path` inside `parent`: `a.b`, or `a["x.y"]` / `a[0]` for a bracket step."""
    return f"{parent}{path}" if path.startswith("[") else f"{parent}.{path}"


def _keep(_: Any) -> Found:  # noqa: ANN401
    """A free-form value's walk: nothing to remove."""
    return None


_INDEX = re.compile(r"\[\d+\]")
_SPECIAL = re.compile(r"[.\[\]]")


@dataclass
class Undeclared:
    """A stream's undeclared fields in one run: moved into `_undeclared`, each warned of once.

    `plan` is the built-in schema's with the catalog's declared fields added (`with_declared`),
    so a field the catalog declares goes to its column.
    """

    plan: Plan
    naming: Naming
    warn: Callable[[str], None]
    obsolete: frozenset[str] = frozenset()

    def keep(self, record: dict[str, Any]) -> None:
        """Move `record`'s undeclared fields into its `_undeclared` column; warn of new ones."""
        if keep_undeclared(record, self.plan, self.obsolete):
            warning = self.naming.note(record[UNDECLARED])
            if warning:
                self.warn(warning)
