"""The end of a run in which some sites stopped: `site_runs` records each site's outcome, and
`fail_on_stopped_sites` decides whether the run fails or goes on to exit 0 (so a job's dbt step
rebuilds every other site's reports, then its check fails on the stopped ones)."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import TYPE_CHECKING

import pytest

from tap_calltouch.errors import SitesFailedError
from tap_calltouch.shards import shard_of
from tests.emulator.server import Emulator
from tests.test_faults import assert_no_token, sync
from tests.test_sites import LONE, MANY, agency, assert_once, config, token_of

if TYPE_CHECKING:
    from tests.emulator.sites import Site


def tokens(sites: list[Site]) -> dict[str, set[int]]:
    by_token: dict[str, set[int]] = defaultdict(set)
    for site_id, token in token_of(sites).items():
        by_token[token].add(site_id)
    return by_token


def outcomes(records: list[dict[str, object]]) -> dict[object, object]:
    return {row["siteId"]: row["reason"] if row["stopped"] else None for row in records}


@pytest.mark.parametrize("fail", [True, False])
def test_a_revoked_site_is_recorded_in_site_runs_and_fails_the_run_only_when_asked(
    fail: bool,  # noqa: FBT001
    caplog: pytest.LogCaptureFixture,
) -> None:
    sites = agency(3, requests_per_day=2, calls_per_day=3)
    revoked, healthy = sites[0], sites[1:]  # LONE's only site; MANY's two
    with Emulator(sites=sites, tokens=tokens(sites)) as emulator:
        emulator.revoke(LONE)
        with caplog.at_level(logging.ERROR):
            run = sync(config(emulator.url, sites, fail_on_stopped_sites=fail), streams=None)
    assert_once(run.result, healthy)
    rows = run.result.records["site_runs"]
    assert len(rows) == len(sites)
    assert len({row["startedAt"] for row in rows}) == 1
    seen = outcomes(rows)
    assert [seen[site.site_id] for site in healthy] == [None, None]
    assert "rejected the credentials" in str(seen[revoked.site_id])
    assert {row["siteId"]: row["name"] for row in rows} == {
        site.site_id: f"Brand {k}" for k, site in enumerate(sites, 1)
    }
    # site_runs is the run's last stream: its rows follow every journal's.
    streams = [m["stream"] for m in run.result.messages if m["type"] == "RECORD"]
    assert streams[-len(sites) :] == ["site_runs"] * len(sites)
    if fail:
        assert isinstance(run.error, SitesFailedError)
        assert str(run.error).startswith("1 of 3 site(s) stopped")
    else:
        assert run.error is None
        logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any(f"site {revoked.site_id} (Brand 1)" in line for line in logged)
        assert any("fail_on_stopped_sites is false" in line for line in logged)
    for token in (LONE, MANY):
        assert_no_token(*(str(row["reason"]) for row in rows), token=token)


@pytest.mark.parametrize("fail", [True, False])
def test_a_run_whose_every_site_stopped_fails_whatever_the_setting(fail: bool) -> None:  # noqa: FBT001
    # It read nothing: a wrong token list, or `meltano config test`, which a RECORD of
    # `site_runs` would call valid. (A shard is one share of a list: see below.)
    sites = agency(2, requests_per_day=2, calls_per_day=2)
    with Emulator(sites=sites, tokens=tokens(sites)) as emulator:
        emulator.revoke(LONE)
        emulator.revoke(MANY)
        run = sync(config(emulator.url, sites, fail_on_stopped_sites=fail), streams=None)
    assert isinstance(run.error, SitesFailedError)
    assert str(run.error).startswith("2 of 2 site(s) stopped")
    assert not run.result.records["requests"]
    assert not run.result.records["site_runs"]


@pytest.mark.parametrize("streams", [("requests", "calls"), ("requests", "calls", "sites")])
def test_without_site_runs_selected_a_stopped_site_fails_the_run_whatever_the_setting(
    streams: tuple[str, ...],
) -> None:
    # Nothing would record the stopped site for a check downstream (dbt's `no_site_stopped`
    # reads a missing table as no rows): exiting 0 would pass the job for complete.
    sites = agency(2, requests_per_day=2, calls_per_day=2)
    with Emulator(sites=sites, tokens=tokens(sites)) as emulator:
        emulator.revoke(LONE)
        run = sync(config(emulator.url, sites), streams=streams)
        lenient = sync(config(emulator.url, sites, fail_on_stopped_sites=False), streams=streams)
    assert isinstance(run.error, SitesFailedError)
    assert "site_runs" not in run.result.records
    assert isinstance(lenient.error, SitesFailedError)
    assert str(lenient.error).startswith("1 of 2 site(s) stopped")
    assert "`site_runs` is not selected" in str(lenient.error)
    assert {r["siteId"] for r in lenient.result.records["calls"]} == {sites[1].site_id}


@pytest.mark.parametrize("fail", [True, False])
def test_a_shard_whose_only_site_stops_ends_as_any_share_of_the_list(fail: bool) -> None:  # noqa: FBT001
    sites = agency(4, requests_per_day=2, calls_per_day=2)
    lost = sites[0]  # LONE's
    count = next(
        n
        for n in range(2, 64)
        if [s for s in sites if shard_of(s.site_id, n) == shard_of(lost.site_id, n)] == [lost]
    )
    shard = f"{shard_of(lost.site_id, count)}/{count}"
    with Emulator(sites=sites, tokens=tokens(sites)) as emulator:
        emulator.revoke(LONE)
        settings = config(emulator.url, sites, shard=shard, fail_on_stopped_sites=fail)
        run = sync(settings, streams=None)
    if fail:  # every site of the run stopped: it ends at once, as with any list
        assert isinstance(run.error, SitesFailedError)
        assert str(run.error).startswith("1 of 1 site(s) stopped")
    else:
        assert run.error is None
        (row,) = run.result.records["site_runs"]
        assert (row["siteId"], row["stopped"]) == (lost.site_id, True)
