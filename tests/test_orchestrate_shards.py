"""The shard plugins the Dagster code location declares: one extractor per shard, each with the
tap's `shard` setting, so N of them read every site once (the code location itself runs in
tests/integration/test_dagster.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from tap_calltouch.shards import parse_shard

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
    states = {shards.state_id(key, "target-postgres") for key in shards.shard_keys(count)}
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
