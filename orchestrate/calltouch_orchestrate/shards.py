"""Shards of `sites` as Meltano sees them: plugin names, their file, each one's `meltano run`.

Pure functions of the settings, no Dagster.

Meltano keeps one catalog file per extractor name (`.meltano/run/<name>/tap.properties.json`),
so two runs of one extractor at once overwrite each other's (Meltano issue 8763). Each shard is
therefore a plugin of its own, `tap-calltouch-shard-K-of-N`, inheriting everything from
`tap-calltouch` but `shard: K/N` and the shared `rate_limit_store`: its own catalog, and its
own state id, `<environment>:tap-calltouch-shard-K-of-N-to-<loader>`.

That id changes with N, so before each shard's run its state is made from every state of the
environment and loader (`carried_state`): each of its sites starts from the furthest bookmark
any shard count, or the unsharded pipeline, left for it. Changing N re-reads no site.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

EXTRACTOR = "tap-calltouch"
SHARDS_FILE = Path("orchestrate") / "calltouch-shards.meltano.yml"  # in meltano.yml's include_paths
STORE_VARIABLE = "CALLTOUCH_RATE_LIMIT_STORE"  # the URL the shard plugins pass on


def shard_keys(count: int) -> list[str]:
    """Dagster partition keys, `1-of-N` .. `N-of-N`."""
    if count < 1:
        msg = f"CALLTOUCH_SHARDS must be at least 1, got {count}"
        raise ValueError(msg)
    return [f"{number}-of-{count}" for number in range(1, count + 1)]


def shard_setting(key: str) -> str:
    """The tap's `shard` setting for a partition key: `2-of-3` -> `2/3`."""
    number, _, count = key.partition("-of-")
    return f"{int(number)}/{int(count)}"


def plugin_name(key: str) -> str:
    """The shard's own extractor, e.g. `tap-calltouch-shard-2-of-3`."""
    return f"{EXTRACTOR}-shard-{key}"


def state_id(key: str, loader: str, environment: str) -> str:
    """The state id Meltano gives the shard's pipeline."""
    return f"{environment}:{plugin_name(key)}-to-{loader}"


def state_pattern(loader: str, environment: str) -> str:
    """`meltano state list --pattern` of every pipeline of the tap into `loader`, sharded or not."""
    return f"{environment}:{EXTRACTOR}*-to-{loader}"


def legacy_pattern(loader: str, environment: str) -> str:
    """`meltano state list --pattern` of the shards run in the project's default environment.

    Where Meltano kept their states before the code location named an environment.
    """
    return f"{environment}:{EXTRACTOR}-shard-*-to-{loader}"


def shard_of(site_id: int, count: int) -> int:
    """The shard (1..count) of a site: the tap's own hash (tap_calltouch.shards.shard_of)."""
    digest = hashlib.sha256(str(site_id).encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def _site_of(partition: dict[str, Any]) -> int | None:
    """The site id a partition's context names (a number, or digits), else None."""
    site = (partition.get("context") or {}).get("siteId")
    if isinstance(site, str) and site.isdigit():
        return int(site)
    return site if isinstance(site, int) and not isinstance(site, bool) else None


def _furthest(partition: dict[str, Any]) -> tuple[str, str]:
    """How far a site's partition has read: its bookmark, then its last complete day.

    The tap writes both as ISO 8601 text in one form, so text order is time order.
    """
    return (
        str(partition.get("replication_key_value") or ""),
        str(partition.get("complete_through") or ""),
    )


def carried_state(
    key: str, own: dict[str, Any] | None, others: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The shard's Singer state, each of its sites at its furthest bookmark; None: `own` is.

    `own` is the shard's current state (None without one); `others` the Singer states of every
    other pipeline of the environment and loader: shards of another count, and the unsharded
    `tap-calltouch`. Only partitions of this shard's sites are taken; a site none of them
    knows starts from `start_date`.
    """
    number, count = (int(part) for part in key.split("-of-"))
    merged = copy.deepcopy(own) if own else {}
    bookmarks = merged.setdefault("bookmarks", {})
    for state in [own or {}, *others]:
        for stream, entry in (state.get("bookmarks") or {}).items():
            for partition in (entry or {}).get("partitions") or []:
                site = _site_of(partition)
                if site is None or shard_of(site, count) != number:
                    continue
                mine = bookmarks.setdefault(stream, {}).setdefault("partitions", [])
                held = [p for p in mine if _site_of(p) == site]
                if not held:
                    mine.append(copy.deepcopy(partition))
                elif _furthest(partition) > _furthest(held[0]):
                    mine[mine.index(held[0])] = copy.deepcopy(partition)
    return None if merged == (own or {"bookmarks": {}}) else merged


def shards_yaml(count: int) -> str:
    """The Meltano file declaring one inheriting extractor per shard (JSON is valid YAML)."""
    plugins = [
        {
            "name": plugin_name(key),
            "inherit_from": EXTRACTOR,
            "config": {"shard": shard_setting(key), "rate_limit_store": f"${STORE_VARIABLE}"},
        }
        for key in shard_keys(count)
    ]
    header = "# Written by the Dagster code location in orchestrate/: one extractor per shard.\n"
    return header + json.dumps({"plugins": {"extractors": plugins}}, indent=2) + "\n"


def write_shards_file(project: Path, count: int) -> Path:
    """Declare the shard plugins in the project, replacing the file only when it changes.

    Written whole under a temporary name and renamed, so a `meltano run` reading it at the same
    moment sees the old file or the new one, never half of one.
    """
    path = project / SHARDS_FILE
    text = shards_yaml(count)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
    return path


def run_command(meltano: str, key: str, loader: str, environment: str) -> list[str]:
    """`meltano run` for one shard: its own extractor into the loader, in the environment."""
    return [meltano, f"--environment={environment}", "run", plugin_name(key), loader]


def dbt_utility(loader: str) -> str:
    """The project's dbt utility for a loader: target-postgres -> dbt-postgres."""
    return "dbt-" + loader.removeprefix("target-")


def reports_command(meltano: str, dbt: str, environment: str) -> list[str]:
    """Build, then test, the models from what every shard loaded (as the project's jobs do)."""
    return [meltano, f"--environment={environment}", "run", f"{dbt}:run", f"{dbt}:test"]
