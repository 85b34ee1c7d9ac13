"""Shards of a sites list: each site in exactly one shard, kept there when the list changes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_calltouch.shards import Shard, parse_shard, shard_of, share
from tap_calltouch.sites import Site
from tests.conftest import TOKEN, run_tap
from tests.emulator.server import Emulator
from tests.emulator.sites import generate_sites, tokens_for

SITE_IDS = st.lists(st.integers(min_value=1, max_value=10**9), unique=True, max_size=60)
COUNTS = st.integers(min_value=1, max_value=12)
FIRST_DAY = dt.date(2026, 10, 1)


def sites_with(ids: list[int]) -> list[Site]:
    return [Site(site_id, TOKEN) for site_id in ids]


@given(SITE_IDS, COUNTS)
def test_the_shards_of_a_list_read_every_site_exactly_once(ids: list[int], count: int) -> None:
    sites = sites_with(ids)
    shares = [share(sites, Shard(number, count)) for number in range(1, count + 1)]
    read = [site.site_id for part in shares for site in part]
    assert sorted(read) == sorted(ids)
    for part in shares:  # each shard keeps the list's order
        assert [s.site_id for s in part] == [i for i in ids if i in {s.site_id for s in part}]


@given(SITE_IDS, SITE_IDS, COUNTS)
def test_a_site_keeps_its_shard_when_others_are_added_or_removed(
    before: list[int], added: list[int], count: int
) -> None:
    after = [i for i in before[::2] + added if i not in before[1::2]]
    after = list(dict.fromkeys(after))

    def shard_map(ids: list[int]) -> dict[int, int]:
        sites = sites_with(ids)
        return {
            site.site_id: number
            for number in range(1, count + 1)
            for site in share(sites, Shard(number, count))
        }

    old, new = shard_map(before), shard_map(after)
    assert all(old[i] == new[i] for i in old.keys() & new.keys())


def test_the_rule_is_a_fixed_hash_not_python_s_salted_one() -> None:
    # sha256 of the decimal id: the same in every process, whatever PYTHONHASHSEED says.
    import hashlib  # noqa: PLC0415

    for site_id in (1, 12345, 987654321):
        digest = hashlib.sha256(str(site_id).encode()).digest()
        assert shard_of(site_id, 7) == int.from_bytes(digest[:8], "big") % 7 + 1


def test_without_a_shard_every_site_is_read() -> None:
    sites = sites_with([3, 1, 2])
    assert share(sites, None) == sites


@pytest.mark.parametrize(
    ("text", "shard"), [("1/1", Shard(1, 1)), ("2/3", Shard(2, 3)), (" 3 / 3 ", Shard(3, 3))]
)
def test_a_shard_is_k_of_n(text: str, shard: Shard) -> None:
    assert parse_shard(text) == shard
    assert str(shard) == f"{shard.number}/{shard.count}"


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "1-3", "a/b", "", "2", "-1/3", "1/3/5"])
def test_a_bad_shard_names_the_setting(text: str) -> None:
    with pytest.raises(ValueError, match=r"^shard: "):
        parse_shard(text)


# --- a run of one shard -----------------------------------------------------------------------


def shard_config(emulator: Emulator, sites: list[Any], shard: str) -> dict[str, Any]:
    return {
        "sites": [{"site_id": str(site.site_id), "api_token": TOKEN} for site in sites],
        "start_date": FIRST_DAY.isoformat(),
        "end_date": (FIRST_DAY + dt.timedelta(days=2)).isoformat(),
        "api_url": emulator.url,
        "window_days": 3,
        "shard": shard,
    }


def test_a_shard_run_reads_only_its_sites_and_keeps_state_for_them_alone() -> None:
    sites = generate_sites(6, seed=5, start=FIRST_DAY, days=3, requests_per_day=4, calls_per_day=2)
    with Emulator(sites=sites, tokens=tokens_for(sites, [TOKEN]), rate_limit=None) as emulator:
        result = run_tap(shard_config(emulator, sites, "2/3"))
        mine = {site.site_id for site in sites if shard_of(site.site_id, 3) == 2}
        assert mine, "the seed should give shard 2 of 3 at least one of six sites"
        assert {int(s) for s in (c.site for c in emulator.calls)} == mine
    read = {record["siteId"] for record in result.records["requests"]}
    expected = {r["requestId"] for s in sites if s.site_id in mine for r in s.requests}
    assert read == mine
    assert {r["requestId"] for r in result.records["requests"]} == expected
    partitions = result.final_state["bookmarks"]["requests"]["partitions"]
    assert {p["context"]["siteId"] for p in partitions} == mine


def test_a_shard_with_no_sites_ends_cleanly_without_a_call() -> None:
    sites = generate_sites(2, seed=5, start=FIRST_DAY, days=3, requests_per_day=4, calls_per_day=2)
    shards = {shard_of(site.site_id, 5) for site in sites}
    empty = min(set(range(1, 6)) - shards)
    with Emulator(sites=sites, tokens=tokens_for(sites, [TOKEN]), rate_limit=None) as emulator:
        result = run_tap(shard_config(emulator, sites, f"{empty}/5"), streams=None)
        assert emulator.count() == 0
    assert not result.records
