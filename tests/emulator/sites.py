"""Many sites (cabinets) in one emulator: what each serves, and a generator of n of them.

A `Site` is one Calltouch site: its id, its requests and calls (kept by reference, so a test
edits them between runs), its time zone and its daily points budget. Which tokens may read
which sites is the emulator's `tokens` mapping (a login's token may serve several sites).

`generate_sites` makes n sites whose records share no ids, in either journal: each site's
requests and each site's calls own a block of every id sequence (`Records.first_ids`), and the
helpers that add records later (`add_requests`, `add_calls`, `add_order`, `add_call_comment`,
...) continue inside that block. Pass them the site's `tz` when it is not Moscow.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from tests.emulator import calls_dataset, dataset
from tests.emulator.calls_dataset import generate_calls
from tests.emulator.dataset import DEFAULT_SITE_ID, DEFAULT_TZ, generate_dataset

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping, Sequence

    from tests.emulator.dataset import Record

# Regional accounts keep their local time: the API's dates are the account's wall clock.
# Europe/Berlin keeps DST (Russia has none now), so the hour the clocks repeat is served too.
ZONES = ("Europe/Moscow", "Asia/Yekaterinburg", "Asia/Novosibirsk", "Europe/Berlin")

# One id space per kind for both journals, cut into blocks: site i's requests own block 2i,
# its calls block 2i + 1. The starts are the single-site ones, so ids look the same.
_BASES = {
    kind: min(ids[kind] for ids in (dataset.FIRST_IDS, calls_dataset.FIRST_IDS) if kind in ids)
    for kind in {*dataset.FIRST_IDS, *calls_dataset.FIRST_IDS}
}
_MOST_PER_RECORD = 3  # visits, comments (requests: up to 3) and deals (up to 2) per record
_HEADROOM = 10  # a block holds ten times what is generated, for records added later


@dataclasses.dataclass(eq=False)
class Site:
    """One site the emulator serves; its lists are served live, by reference.

    `points_budget` is the site's successful calls per day over both journals (None: no
    limit). `requests` and `calls` are what the requests journal (`siteId` parameter) and the
    calls journal (`/{siteId}/calls-diary/calls`) serve for it; `tz` is the zone its dates are
    read and written in.
    """

    site_id: int
    requests: list[Record] = dataclasses.field(default_factory=list)
    calls: list[Record] = dataclasses.field(default_factory=list)
    tz: str = DEFAULT_TZ
    points_budget: int | None = None

    @property
    def zone(self) -> ZoneInfo:
        """The site's zone, read from `tz` each time, so a test may change it."""
        return ZoneInfo(self.tz)


def generate_sites(  # noqa: PLR0913 - the shape of an agency's account, all keyword-only
    n: int,
    *,
    seed: int,
    start: dt.date,
    days: int,
    requests_per_day: int,
    calls_per_day: int,
    zones: Sequence[str] = ZONES,
    first_site_id: int = DEFAULT_SITE_ID,
    points_budget: int | None = None,
) -> list[Site]:
    """Make `n` sites, ids `first_site_id`, +1, ...; zones taken from `zones` in turn.

    Each site draws from its own seed, so the same arguments give the same sites, and site k
    is the same whatever `n` is. No requestId, callId, sessionId, clientId, commentId or
    orderId repeats across sites or journals; every record's `siteId` is its site's.
    """
    if n < 1 or not zones:
        msg = "generate_sites needs n >= 1 and at least one zone"
        raise ValueError(msg)
    block = _block_size(days, max(requests_per_day, calls_per_day))
    sites = []
    for index in range(n):
        site_id, tz = first_site_id + index, zones[index % len(zones)]
        site_seed = seed * 100_003 + index
        requests = generate_dataset(
            seed=site_seed,
            start=start,
            days=days,
            per_day=requests_per_day,
            tz=tz,
            site_id=site_id,
            first_ids=_block(dataset.FIRST_IDS, 2 * index, block),
        )
        calls = generate_calls(
            seed=site_seed,
            start=start,
            days=days,
            per_day=calls_per_day,
            tz=tz,
            site_id=site_id,
            first_ids=_block(calls_dataset.FIRST_IDS, 2 * index + 1, block),
        )
        name = f"{calls_dataset.SITE_NAME} {index + 1}"
        for call in calls:
            call["siteName"] = name
        sites.append(Site(site_id, requests, calls, tz, points_budget))
    return sites


def tokens_for(sites: Sequence[Site], names: Sequence[str]) -> dict[str, set[int]]:
    """Share the sites among the tokens `names` in contiguous runs, as an agency's logins do."""
    if not names:
        msg = "tokens_for needs at least one token"
        raise ValueError(msg)
    per_token = math.ceil(len(sites) / len(names))
    return {
        name: {site.site_id for site in sites[k * per_token : (k + 1) * per_token]}
        for k, name in enumerate(names)
    }


def _block_size(days: int, per_day: int) -> int:
    """A power of ten above what one journal of one site can draw, with room to add more."""
    most = (math.floor(1.1 * per_day) + 1) * max(days, 1) * _MOST_PER_RECORD * _HEADROOM
    return max(100_000, int(10 ** math.ceil(math.log10(most))))


def _block(kinds: Mapping[str, int], index: int, size: int) -> dict[str, int]:
    """Where each of a journal's id sequences starts in block `index`."""
    return {kind: _BASES[kind] + index * size for kind in kinds}
