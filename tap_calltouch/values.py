"""Field values settled on one JSON type: ids, sums, texts, flags and values of no fixed type.

The API sends ids and sums as integers or strings, flags as booleans or "True"/"false", and
some fields as a value or a list of values. These pure functions settle each once. No SDK, no I/O.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

Record = dict[str, Any]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_INT64_DIGITS = len(str(_INT64_MAX))


def as_int(value: Any) -> Any:  # noqa: ANN401
    """An id as an integer when it is one, whether the API sent 145507 or "145507".

    Only within the signed 64-bit range, which every loader can store: an id beyond it stays
    (or becomes) its exact decimal text.
    """
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] == "-" else text
        # ASCII only: str.isdigit() also takes "²", which int() refuses; the length check keeps
        # int() from reading (or refusing) thousands of digits.
        if digits.isdigit() and digits.isascii() and len(digits) <= _INT64_DIGITS:
            number = int(text)
            if _INT64_MIN <= number <= _INT64_MAX:
                return number
    return value


def as_decimal_text(value: Any) -> str | None:  # noqa: ANN401
    """A money amount as exact decimal text ("2800.0000"), whether it came as string or number."""
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    return str(value)


def as_text(value: Any) -> str | None:  # noqa: ANN401
    """An opaque visitor id (cookie value) as text, whether it came as number or string."""
    if isinstance(value, str):
        return value
    return None if value is None or isinstance(value, bool) else str(value)


def as_value_text(value: Any) -> str | None:  # noqa: ANN401
    """A value as text: a string as sent, anything else as its compact JSON text."""
    if value is None or isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, which orjson refuses
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def as_values(value: Any) -> list[Any] | None:  # noqa: ANN401
    """A list of values of no fixed type without its nulls; a lone value as a list of one."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return [item for item in items if item is not None]


_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})


def as_bool(value: Any) -> bool | None:  # noqa: ANN401
    """A flag as a boolean, whether it came as true, "True", "false" or 0/1; else None."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return bool(value) if value in {0, 1} else None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
    return None


def dicts_in(value: Any) -> list[Record]:  # noqa: ANN401
    """The dict elements of an API array that may be absent, null or hold junk."""
    if not value or not isinstance(value, list):  # absent, null or empty, as most are
        return []
    return [item for item in value if isinstance(item, dict)]


# `as_int`, `as_text` and `as_bool` over a block's keys, in place, called only for the values they
# would change (most are already of their type): a call per field of every record costs more
# than the rest of its shaping. An absent key stays absent.


def ints(block: Record, keys: tuple[str, ...]) -> None:
    """`as_int` over `keys` of `block`."""
    for key in keys:
        value = block.get(key)  # absent or null: as_int leaves both
        if value is not None and not (type(value) is int and _INT64_MIN <= value <= _INT64_MAX):
            block[key] = as_int(value)


def texts(block: Record, keys: tuple[str, ...]) -> None:
    """`as_text` over `keys` of `block`."""
    for key in keys:
        value = block.get(key)
        if value is not None and type(value) is not str:
            block[key] = as_text(value)


def flags(block: Record, keys: tuple[str, ...]) -> None:
    """`as_bool` over `keys` of `block`."""
    for key in keys:
        value = block.get(key)
        if value is not None and type(value) is not bool:
            block[key] = as_bool(value)
