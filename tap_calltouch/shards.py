"""Shards: N runs with the same `sites`, each reading its own share, together every site once.

A site's shard is a hash of its id, not its place in the list: a site keeps its shard when
others are added or removed, so each shard's state stays its own. Pure functions, no SDK.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tap_calltouch.sites import Site

SETTING = "shard"
_FORM = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclasses.dataclass(frozen=True)
class Shard:
    """Shard `number` of `count` (1-based)."""

    number: int
    count: int

    def __str__(self) -> str:
        """`2/3`, as the setting writes it."""
        return f"{self.number}/{self.count}"


def parse_shard(text: str) -> Shard:
    """`"K/N"` with 1 <= K <= N; ValueError, with a message naming the setting, otherwise."""
    match = _FORM.fullmatch(text)
    if match is None:
        msg = f"{SETTING}: {text!r} is not of the form K/N (e.g. 2/3: the second of three shards)"
        raise ValueError(msg)
    shard = Shard(int(match[1]), int(match[2]))
    if not 1 <= shard.number <= shard.count:
        msg = f"{SETTING}: {text!r} must have 1 <= K <= N"
        raise ValueError(msg)
    return shard


def shard_problems(config: dict[str, Any]) -> list[str]:
    """What is wrong with `shard`, if it is set."""
    value = config.get(SETTING)
    if value is None:
        return []
    try:
        parse_shard(str(value))
    except ValueError as error:
        return [str(error)]
    return []


def shard_of(site_id: int, count: int) -> int:
    """The shard (1..count) a site belongs to: the same in every process and Python version."""
    digest = hashlib.sha256(str(site_id).encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def share(sites: Iterable[Site], shard: Shard | None) -> list[Site]:
    """The sites of `shard`, in the order given; all of them without a shard."""
    if shard is None:
        return list(sites)
    return [site for site in sites if shard_of(site.site_id, shard.count) == shard.number]


def shard_in(config: dict[str, Any]) -> Shard | None:
    """The shard a valid config names, if any."""
    value = config.get(SETTING)
    return None if value is None else parse_shard(str(value))
