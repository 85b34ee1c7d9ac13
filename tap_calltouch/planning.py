"""Planning a journal's sync: which days each site reads, in what order, and the budget's shares.

Pure: saved state and settings in, windows out; no SDK, no I/O. `journal.JournalStream` reads
its settings and state and hands them here.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from tap_calltouch.bookmarks import (
    StateError,
    drop_untrusted_days,
    read_bookmark,
    read_complete_through,
    read_resume_day,
)
from tap_calltouch.windows import (
    complete_day,
    cut_windows,
    local_day,
    parse_instant,
    progress,
    sync_days,
    trusted_bookmark,
)

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Container, Iterator, Mapping, Sequence
    from zoneinfo import ZoneInfo

    from tap_calltouch.sites import Site
    from tap_calltouch.windows import Window

    #: How far a site is behind: whole days behind today, then never read, under way, done.
    Behind = tuple[int, int]

DEFAULT_LOOKBACK_DAYS = 7
T = TypeVar("T")


@dataclass(frozen=True)
class Saved:
    """What a site's saved state says for planning."""

    bookmark: dt.datetime | None = None  # the newest creation time emitted
    resume_from: dt.date | None = None  # the first day an unfinished pass has not read
    complete_through: dt.date | None = None  # the last day a complete pass read whole


def saved_partition(
    bookmarks: dict[str, Any], *, stream: str, site_id: int | None
) -> dict[str, Any]:
    """A site's state as saved: its partition, or the stream's own state when `site_id` is None.

    Read, never created: planning a journal writes nothing to the state.
    """
    saved: dict[str, Any] = bookmarks.get(stream, {})
    if site_id is None:
        return saved
    context = {"siteId": site_id}
    for partition in saved.get("partitions") or []:
        if partition.get("context") == context:
            return partition  # type: ignore[no-any-return]
    return {}


def read_saved(
    partition: dict[str, Any], *, stream: str, replication_key: str, incremental: bool
) -> Saved:
    """A saved partition's days; a full-table sync reads only where its pass resumes."""
    resume_from = read_resume_day(partition, stream=stream)
    if not incremental:
        return Saved(resume_from=resume_from)
    return Saved(
        read_bookmark(partition, stream=stream, replication_key=replication_key),
        resume_from,
        read_complete_through(partition, stream=stream),
    )


def site_windows(  # noqa: PLR0913 - all keyword-only, each a separate input of the plan
    saved: Saved,
    *,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    zone: ZoneInfo,
    lookback_days: int,
    window_days: int,
) -> list[Window]:
    """A site's windows, in calendar days of its zone.

    From max(start, the bookmark or `complete_through` less `lookback_days`), or the resume
    day, to `end`; never past today, which has nothing later to read.
    """
    first, last = sync_days(
        start=start,
        end=min(end, now),
        now=now,
        tz=zone,
        bookmark=saved.bookmark,
        lookback_days=lookback_days,
        resume_from=saved.resume_from,
        complete_through=saved.complete_through,
    )
    return cut_windows(first, last, window_days)


def behind(saved: Saved, *, start: dt.datetime, now: dt.datetime, zone: ZoneInfo) -> Behind:
    """How far a journal has read a site (see `windows.progress`); lower is further behind."""
    return progress(
        start=start,
        now=now,
        tz=zone,
        bookmark=saved.bookmark,
        resume_from=saved.resume_from,
        complete_through=saved.complete_through,
    )


def furthest_behind_first(sites: Sequence[T], how_far: Callable[[T], Behind]) -> list[T]:
    """The sites, the one furthest behind first, then in the order given."""
    order = sorted(range(len(sites)), key=lambda k: (how_far(sites[k]), k))
    return [sites[k] for k in order]


def interleaved(
    plans: Sequence[tuple[Site, list[Window]]], stopped: Container[int]
) -> Iterator[tuple[Site, Window]]:
    """Every site's windows, the sites taking turns: each one's first, then each one's second.

    So the calls in flight, and a `max_api_calls` budget, are shared among sites; a site in
    `stopped` (looked at as each turn comes) is skipped from then on.
    """
    for turn in itertools.zip_longest(*(windows for _, windows in plans)):
        for (site, _), window in zip(plans, turn, strict=True):
            if window is not None and site.site_id not in stopped:
                yield site, window


def budget_shares(
    journals: Sequence[tuple[str, Sequence[tuple[Behind, int]]]], budget: int
) -> dict[str, int]:
    """How many of its windows' first calls each journal gets of a `max_api_calls` budget.

    `journals`, in the order they sync: each one's name and, for each of its sites in the order
    configured, how far behind that site is and how many windows it plans. Every journal's
    windows are ranked as one queue, turn by turn (each site's first window, then each site's
    second...), the site and journal furthest behind first, then in sync order; a journal's
    share is its windows among the first `budget`. Inside a journal windows go in that same
    order (`interleaved`), so the window that waited longest, of any journal, always gets its
    call, and repeated budgeted runs bring every site and every journal up to date.
    """
    queue = sorted(
        (turn, how_far, site, rank, name)
        for rank, (name, sites) in enumerate(journals)
        for site, (how_far, windows) in enumerate(sites)
        for turn in range(windows)
    )
    shares = {name: 0 for name, _ in journals}
    for *_, name in queue[:budget]:
        shares[name] += 1
    return shares


@dataclass(frozen=True)
class Planner:
    """One journal's planning in one run: its settings, its state as saved, the run's now.

    `bookmarks` is the run's live state (`bookmarks` of the tap's state): read, and written
    only by `drop_untrusted_days`.
    """

    stream: str
    config: Mapping[str, Any]
    bookmarks: dict[str, Any]
    now: dt.datetime
    replication_key: str
    incremental: bool  # a full-table sync reads neither bookmark nor `complete_through`
    window_days: int

    def saved_state(self, site: Site) -> dict[str, Any]:
        """The site's state as saved; with `site_id` alone, the stream's own state."""
        site_id = None if self.config.get("sites") is None else site.site_id
        return saved_partition(self.bookmarks, stream=self.stream, site_id=site_id)

    def saved(self, site: Site) -> Saved:
        """The site's saved days."""
        return read_saved(
            self.saved_state(site),
            stream=self.stream,
            replication_key=self.replication_key,
            incremental=self.incremental,
        )

    def start(self, site: Site) -> dt.datetime:
        """`start_date` in the site's zone."""
        return parse_instant(str(self.config["start_date"]), site.zone)

    def windows(self, site: Site) -> list[Window]:
        """The site's windows this run: see `site_windows`."""
        end = self.config.get("end_date")
        return site_windows(
            self.saved(site),
            start=self.start(site),
            end=parse_instant(str(end), site.zone) if end else self.now,
            now=self.now,
            zone=site.zone,
            lookback_days=int(self.config.get("lookback_days", DEFAULT_LOOKBACK_DAYS)),
            window_days=self.window_days,
        )

    def behind(self, site: Site) -> Behind:
        """How far the journal has read the site: see `behind`."""
        return behind(self.saved(site), start=self.start(site), now=self.now, zone=site.zone)

    def plans(self, sites: Sequence[Site]) -> list[tuple[Site, list[Window]]]:
        """Each site's windows, the site furthest behind first (then in the order given).

        Sites take turns in this order (`interleaved`), so a `max_api_calls` budget smaller
        than one turn goes to the sites that waited longest, and the next run to the others.
        """
        return [(site, self.windows(site)) for site in furthest_behind_first(sites, self.behind)]

    def needs(self, sites: Sequence[Site]) -> list[tuple[Behind, int]]:
        """For each site, in the order given: how far behind it is, how many windows it plans."""
        return [(self.behind(site), len(self.windows(site))) for site in sites]

    def drop_untrusted_days(self, site: Site) -> list[str]:
        """Take out of the site's saved state the days no pass can have written by today.

        So too a bookmark on a day after today, which no record read can have made: until
        their day came they skipped nothing, but then every day up to them. Returns what went.
        """
        today = local_day(self.now, site.zone)
        saved = self.saved_state(site)
        dropped = drop_untrusted_days(saved, today=today)
        with contextlib.suppress(StateError):  # reported by the sync that reads it
            bookmark = self.saved(site).bookmark
            if bookmark is not None and trusted_bookmark(bookmark, today, site.zone) is None:
                dropped.append(f"bookmark {saved.pop('replication_key_value')}")
        return dropped

    def complete_through(self, site: Site, window: Window) -> dt.date | None:
        """The `complete_through` to save once a complete pass ended with `window`, if any.

        The last whole day read; it never moves back. None (left out) where the bookmark is
        on a later day (records keep coming: the usual daily run), or on that day when the
        pass ended there (an `end_date` in the past), so that state stays small: the bookmark
        then tells the next run as much.
        """
        saved = self.saved(site)
        through = complete_day(window.last_day, self.now, site.zone)
        if saved.complete_through is not None:
            through = max(through, saved.complete_through)
        marked = None if saved.bookmark is None else local_day(saved.bookmark, site.zone)
        if marked is not None and (through < marked or through == marked == window.last_day):
            return None
        return through


def call_limit(
    shares: Mapping[str, int], budget: int, *, journal: str, later: Sequence[str], calls: int
) -> int:
    """The run's call count at which `journal` starts no new window, `calls` made so far.

    Journals sync one after the other (`later` after this one), so it may start windows until
    the calls of the run leave only the shares of the journals after it; and always its own
    share, even when pages of the journals before it took more than theirs (a window once
    started is read to its end), so those pages cannot starve it run after run.
    """
    owed_to_later = sum(shares.get(name, 0) for name in later)
    return max(calls + shares.get(journal, 0), budget - owed_to_later)


def binding_refused(
    config: Mapping[str, Any], *, journal: str, bind_setting: str, incremental: bool
) -> str | None:
    """Why session-date selection cannot go with an incremental sync, if it is asked for.

    Windows would then select by session date while the bookmark is a creation time: a
    record created today from an old session would move the bookmark past windows not yet
    read, and one whose session is older than the look-back would never be read.
    """
    if config.get(bind_setting) != "session" or not incremental:
        return None
    return (
        f"`{bind_setting}: session` selects {journal} by session date, which a "
        "creation-time bookmark cannot follow without losing data. Remove the setting, "
        f"or sync `{journal}` as FULL_TABLE (in meltano.yml: `metadata: {journal}: "
        "replication-method: FULL_TABLE`)."
    )
