"""Shards of `sites` as Meltano sees them: plugin names, their file, each one's `meltano run`.

Pure functions of the settings, no Dagster.

Meltano keeps one catalog file per extractor name (`.meltano/run/<name>/tap.properties.json`),
so two runs of one extractor at once overwrite each other's (Meltano issue 8763). Each shard is
therefore a plugin of its own, `tap-calltouch-shard-K-of-N`, inheriting everything from
`tap-calltouch` but `shard: K/N` and the shared `rate_limit_store`: its own catalog, and its
own state id, `<environment>:tap-calltouch-shard-K-of-N-to-<loader>`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

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


def state_id(key: str, loader: str, environment: str = "dev") -> str:
    """The state id Meltano gives the shard's pipeline."""
    return f"{environment}:{plugin_name(key)}-to-{loader}"


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


def run_command(meltano: str, key: str, loader: str) -> list[str]:
    """`meltano run` for one shard: its own extractor into the loader."""
    return [meltano, "run", plugin_name(key), loader]
