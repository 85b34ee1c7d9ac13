"""Child rows: each child stream's rows, cut from its parent once the parent is shaped.

Each child stream declares which list of its parent it reads and under which key the parent's
id goes; a tag list's comma-joined names become one row per tag. No SDK, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from tap_calltouch.values import Record, dicts_in


def split_tag_names(names: Any) -> list[str]:  # noqa: ANN401
    """Individual tags from `RequestTags[].names`, where one entry may hold "a,b"."""
    if not isinstance(names, list):
        names = [names] if isinstance(names, str) else []
    return [tag for name in names if isinstance(name, str) for tag in _split(name)]


def _split(joined: str) -> list[str]:
    return [part.strip() for part in joined.split(",") if part.strip()]


@dataclass(frozen=True)
class ChildRows:
    """Rows from the parent's list `field`, each with the parent's id and its `siteId`.

    An item whose `key` (its own id) is not an integer is no row: its primary key would be
    null, which upserting loaders refuse; `split` counts it. With `unique`, the first item of
    each `key` wins (a visit listed twice).
    """

    field: str
    parent_key: str
    key: str
    unique: bool = False

    def __call__(self, parent: Record) -> list[Record]:
        """The rows of `parent`."""
        return self.split(parent)[0]

    def split(self, parent: Record) -> tuple[list[Record], int]:
        """The rows of `parent`, and how many of its items were left out for want of an id."""
        items = parent.get(self.field)
        if not items or not isinstance(items, list):  # most parents have none of a kind
            return [], 0
        key = self.key
        # An id: no bool, no text. Junk that is no object is no item.
        kept = [item for item in items if isinstance(item, dict) and type(item.get(key)) is int]
        left_out = 0 if len(kept) == len(items) else len(dicts_in(items)) - len(kept)
        keys = {self.parent_key: parent.get(self.parent_key), "siteId": parent.get("siteId")}
        if self.unique:
            firsts: dict[int, Record] = {}
            for item in kept:
                firsts.setdefault(item[key], item)
            kept = list(firsts.values())
        return [{**item, **keys} for item in kept], left_out


@dataclass(frozen=True)
class TagRows:
    """One row per tag after splitting comma-joined names; the first mention of a name wins."""

    field: str
    parent_key: str
    key: ClassVar[str] = "name"

    def __call__(self, parent: Record) -> list[Record]:
        """The rows of `parent`."""
        entries = dicts_in(parent.get(self.field))
        if not entries:  # most parents have no tags
            return []
        parent_key, parent_id = self.parent_key, parent.get(self.parent_key)
        site_id = parent.get("siteId")
        unique: dict[str, Record] = {}
        for entry in entries:
            for name in split_tag_names(entry.get("names")):
                if name not in unique:
                    unique[name] = {
                        parent_key: parent_id,
                        "siteId": site_id,
                        "name": name,
                        "type": entry.get("type"),
                        "category": entry.get("category"),
                    }
        return list(unique.values())

    def split(self, parent: Record) -> tuple[list[Record], int]:
        """The rows of `parent`; a tag always has its key, its name."""
        return self(parent), 0


order_rows = ChildRows("orders", "requestId", "orderId")
comment_rows = ChildRows("comments", "requestId", "commentId")
map_visit_rows = ChildRows("mapVisits", "requestId", "sessionId", unique=True)
request_tag_rows = TagRows("RequestTags", "requestId")
call_order_rows = ChildRows("orders", "callId", "orderId")
call_comment_rows = ChildRows("comments", "callId", "commentId")
call_map_visit_rows = ChildRows("mapVisits", "callId", "sessionId", unique=True)
call_tag_rows = TagRows("callTags", "callId")
