"""The shard plugins the Dagster code location declares: one extractor per shard, each with the
tap's `shard` setting, so N of them read every site once (the code location itself runs in
tests/integration/test_dagster.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tap_calltouch.shards import parse_shard, shard_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "orchestrate"))
from calltouch_orchestrate import shards


@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_each_shard_is_an_extractor_of_its_own_inheriting_the_tap(count: int) -> None:
    plugins = yaml.safe_load(shards.shards_yaml(count))["plugins"]["extractors"]
    names = [plugin["name"] for plugin in plugins]
    assert len(set(names)) == count
    assert all(plugin["inherit_from"] == "tap-calltouch" for plugin in plugins)
    settings = [parse_shard(plugin["config"]["shard"]) for plugin in plugins]
    assert [(s.number, s.count) for s in settings] == [(k, count) for k in range(1, count + 1)]
    assert {plugin["config"]["rate_limit_store"] for plugin in plugins} == {
        "$CALLTOUCH_RATE_LIMIT_STORE"
    }
    states = {shards.state_id(key, "target-postgres", "prod") for key in shards.shard_keys(count)}
    assert len(states) == count  # each shard its own state


def test_the_file_is_rewritten_only_when_the_count_changes(tmp_path: Path) -> None:
    path = shards.write_shards_file(tmp_path, 3)
    stamp = path.stat().st_mtime_ns
    assert shards.write_shards_file(tmp_path, 3).stat().st_mtime_ns == stamp
    shards.write_shards_file(tmp_path, 4)
    assert "shard-4-of-4" in path.read_text(encoding="utf-8")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind


def test_meltano_yml_includes_the_file_the_code_location_writes() -> None:
    root = Path(__file__).resolve().parents[1]
    project = yaml.safe_load((root / "meltano.yml").read_text(encoding="utf-8"))
    assert any(
        (root / shards.SHARDS_FILE).match(pattern.removeprefix("./"))
        for pattern in project["include_paths"]
    )


def test_no_shards_is_refused() -> None:
    with pytest.raises(ValueError, match="CALLTOUCH_SHARDS"):
        shards.shard_keys(0)


def partition(site: int, bookmark: str, **more: str) -> dict[str, Any]:
    return {
        "context": {"siteId": site},
        "replication_key": "dateTime",
        "replication_key_value": bookmark,
        **more,
    }


def state_of(*partitions: dict[str, Any], stream: str = "requests") -> dict[str, Any]:
    return {"bookmarks": {stream: {"partitions": list(partitions)}}}


def sites_of(state: dict[str, Any], stream: str = "requests") -> dict[int, str]:
    return {
        p["context"]["siteId"]: p["replication_key_value"]
        for p in state["bookmarks"][stream]["partitions"]
    }


SITES = list(range(1001, 1013))


def test_the_code_location_hashes_sites_to_shards_as_the_tap_does() -> None:
    for count in (1, 2, 3, 4, 7):
        assert [shards.shard_of(site, count) for site in SITES] == [
            shard_of(site, count) for site in SITES
        ]


@pytest.mark.parametrize(("before", "after"), [(2, 3), (3, 2), (2, 4), (1, 5), (4, 1)])
def test_a_new_shard_count_carries_every_site_bookmark(before: int, after: int) -> None:
    old = [
        state_of(
            *(
                partition(site, f"2026-03-{site % 28 + 1:02d}T10:00:00+00:00")
                for site in SITES
                if shard_of(site, before) == k
            )
        )
        for k in range(1, before + 1)
    ]
    everywhere = {site: f"2026-03-{site % 28 + 1:02d}T10:00:00+00:00" for site in SITES}
    new = {key: shards.carried_state(key, None, old) for key in shards.shard_keys(after)}
    carried: dict[int, str] = {}
    for key, state in new.items():
        assert state is not None, key
        mine = sites_of(state)
        number = int(key.split("-of-")[0])
        assert all(shard_of(site, after) == number for site in mine), key
        carried |= mine
    assert carried == everywhere
    # Once carried, a shard's own state is whole: nothing more to carry.
    for key, state in new.items():
        assert shards.carried_state(key, state, old) is None


def test_the_furthest_bookmark_wins_and_other_streams_and_keys_are_kept() -> None:
    site = next(s for s in SITES if shard_of(s, 2) == 1)
    stale = state_of(partition(site, "2026-03-01T00:00:00+00:00"))
    stale["bookmarks"]["calls"] = {"partitions": [partition(site, "2026-03-02T00:00:00+00:00")]}
    fresher = state_of(partition(site, "2026-03-20T00:00:00+00:00", complete_through="2026-03-19"))
    unsharded = state_of(partition(site, "2026-03-10T00:00:00+00:00"))
    state = shards.carried_state("1-of-2", stale, [unsharded, fresher])
    assert state is not None
    (requests,) = state["bookmarks"]["requests"]["partitions"]
    assert requests["replication_key_value"] == "2026-03-20T00:00:00+00:00"
    assert requests["complete_through"] == "2026-03-19"
    assert sites_of(state, "calls") == {site: "2026-03-02T00:00:00+00:00"}
    # A shard whose own bookmark is already the furthest keeps its state as it is.
    assert shards.carried_state("1-of-2", state, [stale, unsharded]) is None


def test_a_site_no_state_knows_is_left_to_its_start_date() -> None:
    assert shards.carried_state("1-of-3", None, []) is None
    other = next(s for s in SITES if shard_of(s, 3) == 2)
    assert shards.carried_state("1-of-3", None, [state_of(partition(other, "2026-03-01"))]) is None


def test_each_meltano_command_names_the_environment() -> None:
    run = shards.run_command("meltano", "2-of-3", "target-postgres", "prod")
    assert run == [
        "meltano",
        "--environment=prod",
        "run",
        "tap-calltouch-shard-2-of-3",
        "target-postgres",
    ]
    assert shards.reports_command("meltano", "dbt-postgres", "prod") == [
        "meltano",
        "--environment=prod",
        "run",
        "dbt-postgres:run",
        "dbt-postgres:test",
    ]
    assert shards.dbt_utility("target-clickhouse") == "dbt-clickhouse"
