"""Three shard processes of one agency, all at once, against an API that allows 5 calls a second
in total (the per-IP limit, as three processes behind one IP meet it).

Each is the installed command, `tap-calltouch --config ...` with `shard: K/3`, as a scheduler
starts it. Sharing one `rate_limit_store` they read every site whole and once, get no 429, and
never have more than 5 calls arrive in a second; each keeps state for its own sites alone.
Without a store, each process spaces only its own calls, and the same three meet 429s.
tests/integration/test_shared_limit_postgres.py runs the same through a PostgreSQL store.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tap_calltouch.shards import shard_of
from tests.conftest import TOKEN
from tests.emulator.server import Emulator
from tests.emulator.sites import Site, generate_sites, tokens_for
from tests.test_faults import assert_no_token
from tests.test_process import Outcome, run_tap_process

if TYPE_CHECKING:
    from pathlib import Path

# Three processes share 5 calls a second: pacing is the subject.
pytestmark = pytest.mark.slow

SHARDS = 3
FIRST_DAY = dt.date(2026, 9, 1)
DAYS = 12
WINDOW_DAYS = 3  # four windows per journal per site: 72 calls over the nine sites
STREAMS = ("requests", "calls")
DEADLINE = 300  # seconds: a guard against a hung run; one sharing the store needs about 16


def agency() -> list[Site]:
    """Nine sites with a few records a day in each journal, some in other zones."""
    return generate_sites(
        9, seed=16, start=FIRST_DAY, days=DAYS, requests_per_day=4, calls_per_day=6
    )


def shard_settings(url: str, sites: list[Site], shard: int, store: str | None) -> dict[str, Any]:
    settings = {
        "sites": [{"site_id": str(s.site_id), "api_token": TOKEN, "timezone": s.tz} for s in sites],
        "start_date": FIRST_DAY.isoformat(),
        "end_date": (FIRST_DAY + dt.timedelta(days=DAYS - 1)).isoformat(),
        "api_url": url,
        "window_days": WINDOW_DAYS,
        "calls_window_days": WINDOW_DAYS,
        "shard": f"{shard}/{SHARDS}",
    }
    return settings | ({"rate_limit_store": store} if store else {})


@dataclass
class Together:
    """Three shard runs started at once, and what the emulator saw of them."""

    sites: list[Site]
    outcomes: list[Outcome]
    peak: int
    throttled: int
    calls: int
    seconds: float  # first arrival to last

    @property
    def rate(self) -> float:
        """Calls a second over the three together."""
        return (self.calls - 1) / self.seconds


def run_three(directory: Path, store: str | None) -> Together:
    """Shards 1/3..3/3 of one agency, as three processes started together."""
    sites = agency()
    tokens = tokens_for(sites, [TOKEN])
    with Emulator(sites=sites, tokens=tokens, rate_limit=5, rate_limit_per="all") as emulator:

        def shard_run(shard: int) -> Outcome:
            settings = shard_settings(emulator.url, sites, shard, store)
            return run_tap_process(
                directory / f"shard-{shard}", settings, deadline=DEADLINE, streams=STREAMS
            )

        with ThreadPoolExecutor(SHARDS) as pool:
            outcomes = list(pool.map(shard_run, range(1, SHARDS + 1)))
        arrivals = sorted(call.time for call in emulator.calls)
        return Together(
            sites,
            outcomes,
            emulator.peak_rate(),
            emulator.count(429),
            len(arrivals),
            arrivals[-1] - arrivals[0],
        )


def records_by_site(outcome: Outcome) -> dict[str, dict[int, set[int]]]:
    """Per stream, each site's record ids as one run emitted them."""
    key = {"requests": "requestId", "calls": "callId"}
    found: dict[str, dict[int, set[int]]] = {stream: defaultdict(set) for stream in key}
    for message in outcome.messages:
        if message["type"] == "RECORD" and message["stream"] in key:
            record = message["record"]
            found[message["stream"]][record["siteId"]].add(record[key[message["stream"]]])
    return found


def assert_every_site_whole_and_once(together: Together) -> None:
    """Each site came from its own shard alone, with every record; state is per shard."""
    owner = {site.site_id: shard_of(site.site_id, SHARDS) for site in together.sites}
    assert set(owner.values()) == set(range(1, SHARDS + 1)), "a shard of the seed has no site"
    for shard, outcome in enumerate(together.outcomes, 1):
        assert outcome.returncode == 0, outcome.stderr[-3000:]
        assert not outcome.killed
        assert_no_token(outcome.stdout, outcome.stderr)
        mine = {site_id for site_id, number in owner.items() if number == shard}
        found = records_by_site(outcome)
        for stream, key, field in (
            ("requests", "requestId", "requests"),
            ("calls", "callId", "calls"),
        ):
            assert set(found[stream]) == mine, (shard, stream)
            for site in together.sites:
                if site.site_id in mine:
                    want = {int(record[key]) for record in getattr(site, field)}
                    assert found[stream][site.site_id] == want, (shard, stream, site.site_id)
        emitted = sum(len(ids) for stream in found.values() for ids in stream.values())
        ids = [m["record"] for m in outcome.messages if m["type"] == "RECORD"]
        assert len(ids) == emitted, f"shard {shard} emitted a record twice"
        bookmarks = outcome.states[-1]["bookmarks"]
        for stream in STREAMS:
            partitions = bookmarks[stream]["partitions"]
            assert {p["context"]["siteId"] for p in partitions} == mine, (shard, stream)


def test_three_shards_sharing_a_sqlite_store_stay_within_five_calls_a_second(
    tmp_path: Path,
) -> None:
    together = run_three(tmp_path, f"sqlite:///{tmp_path}/limit.db")
    assert_every_site_whole_and_once(together)
    assert together.throttled == 0
    assert together.peak <= 5
    print(f"SQLite store: {together.calls} calls, {together.rate:.2f}/s, peak {together.peak}")  # noqa: T201


def test_the_same_three_without_a_store_meet_429s(tmp_path: Path) -> None:
    together = run_three(tmp_path, None)
    assert together.throttled > 0
    print(f"no store: {together.calls} calls, {together.throttled} answered 429")  # noqa: T201
