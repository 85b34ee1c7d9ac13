"""Date windows and time zones: which calendar days each API call asks for.

The API reads `dateFrom`/`dateTo` as whole days in the account's time zone, so all range
arithmetic happens on local calendar dates. Pure functions: no SDK, no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from zoneinfo import ZoneInfo

    from tap_calltouch.sites import Site

REQUESTS_DATE_FORMAT = "%m/%d/%Y"  # mm/dd/yyyy: the requests journal
CALLS_DATE_FORMAT = "%d/%m/%Y"  # dd/mm/yyyy: the calls and deals journals
API_TIME_FORMAT = "%H:%M:%S"
HOURS_PER_DAY = 24


@dataclass(frozen=True, order=True)
class Window:
    """An inclusive range of local calendar days, fetched with one API call.

    A single-day window may be narrowed to whole hours `hour`..`last_hour` (one hour when
    `last_hour` is None), sent as `timeFrom`/`timeTo`: the API compares at whole seconds, so
    hh:00:00..hh:59:59 slices of one day meet without gaps or overlaps.
    """

    first_day: dt.date
    last_day: dt.date
    hour: int | None = None
    last_hour: int | None = None

    def params(self, date_format: str = REQUESTS_DATE_FORMAT) -> dict[str, str]:
        """The `dateFrom`/`dateTo` (and `timeFrom`/`timeTo`) query parameters."""
        params = {
            "dateFrom": self.first_day.strftime(date_format),
            "dateTo": self.last_day.strftime(date_format),
        }
        if self.hour is not None:
            params["timeFrom"] = dt.time(self.hour).strftime(API_TIME_FORMAT)
            params["timeTo"] = dt.time(self._until_hour, 59, 59).strftime(API_TIME_FORMAT)
        return params

    @property
    def _until_hour(self) -> int:
        if self.last_hour is not None:
            return self.last_hour
        return self.hour or 0

    def split(self, tz: ZoneInfo) -> list[Window]:
        """Smaller windows covering the same span: days, then hours of a day; [] below that.

        On a day the clocks change, an hour whose last second is skipped or repeated runs on
        into the next one, so that every slice is an unambiguous stretch of local time.
        """
        if self.days > 1:
            return cut_windows(self.first_day, self.last_day, 1)
        if self.hour is not None:
            return []
        slices: list[Window] = []
        start = 0
        for hour in range(HOURS_PER_DAY):
            if hour < HOURS_PER_DAY - 1 and not _unambiguous(self.first_day, hour, tz):
                continue
            last = hour if hour != start else None
            slices.append(Window(self.first_day, self.last_day, start, last))
            start = hour + 1
        return slices

    @property
    def days(self) -> int:
        """How many calendar days the window spans."""
        return (self.last_day - self.first_day).days + 1

    def utc_bounds(self, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        """The UTC instants [start, end) that the window covers in the account's zone."""
        if self.hour is None:
            start = dt.datetime.combine(self.first_day, dt.time(), tz)
            end = dt.datetime.combine(self.last_day + dt.timedelta(days=1), dt.time(), tz)
        else:
            start = dt.datetime.combine(self.first_day, dt.time(self.hour), tz)
            end = dt.datetime.combine(self.first_day, dt.time(self._until_hour, 59, 59), tz)
            end += dt.timedelta(seconds=1)
        return start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc)

    def __str__(self) -> str:
        """ISO dates, as a person reads them in logs and errors."""
        if self.hour is not None:
            return f"{self.first_day.isoformat()} {self.hour:02d}:00-{self._until_hour:02d}:59"
        if self.first_day == self.last_day:
            return self.first_day.isoformat()
        return f"{self.first_day.isoformat()}..{self.last_day.isoformat()}"


@dataclass(frozen=True)
class Part:
    """What one API call asks for: a site's whole window, or one page of it (from 1)."""

    window: Window
    site: Site
    page: int | None = None  # None: the journal is not paged
    pages: int | None = None  # how many pages the window has, once its first page told

    def params(self, date_format: str) -> dict[str, str]:
        """The window's query parameters, and `page` for a page."""
        params = self.window.params(date_format)
        if self.page is not None:
            params["page"] = str(self.page)
        return params

    def following(self, page_total: int) -> list[Part]:
        """The window's other pages, once its first page has told how many there are."""
        if self.page != 1:
            return []
        return [Part(self.window, self.site, page, page_total) for page in range(2, page_total + 1)]

    def is_last(self, page_total: int | None) -> bool:
        """Whether the window is complete once this part is read."""
        if self.page is None:
            return True
        if self.page == 1:
            return (page_total or 0) <= 1
        return self.page == self.pages

    def __str__(self) -> str:
        """The window, which page of it, and which site when there are several."""
        where = f"{self.site} " if self.site.named else ""
        if self.page is None:
            return f"{where}{self.window}"
        of = f" of {self.pages}" if self.pages else ""
        return f"{where}{self.window}, page {self.page}{of}"


def _unambiguous(day: dt.date, hour: int, tz: ZoneInfo) -> bool:
    """Whether hh:59:59 of that day happens exactly once in the zone (not skipped, not repeated)."""
    local = dt.datetime.combine(day, dt.time(hour, 59, 59), tz)
    return local.replace(fold=0).utcoffset() == local.replace(fold=1).utcoffset()


def cut_windows(first_day: dt.date, last_day: dt.date, window_days: int) -> list[Window]:
    """Cut [first_day, last_day] into consecutive windows of at most `window_days` days."""
    if window_days < 1:
        msg = f"window_days must be at least 1, got {window_days}"
        raise ValueError(msg)
    return list(_iter_windows(first_day, last_day, window_days))


def _iter_windows(first_day: dt.date, last_day: dt.date, window_days: int) -> Iterator[Window]:
    step = dt.timedelta(days=window_days)
    one_day = dt.timedelta(days=1)
    start = first_day
    while start <= last_day:
        end = min(start + step - one_day, last_day)
        yield Window(start, end)
        start = end + one_day


def parse_instant(value: str, tz: ZoneInfo) -> dt.datetime:
    """Read an ISO 8601 date or date-time; a date or naive time is in the account's zone."""
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = dt.datetime.combine(dt.date.fromisoformat(value), dt.time())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def local_day(instant: dt.datetime, tz: ZoneInfo) -> dt.date:
    """The calendar day an aware instant falls on in the account's zone."""
    return instant.astimezone(tz).date()


def trusted_days(
    resume_from: dt.date | None, complete_through: dt.date | None, today: dt.date
) -> tuple[dt.date | None, dt.date | None]:
    """The saved days a run may rely on; one no pass could have written is taken as absent.

    A pass stops at today at most (`resume_from` <= today), and reads whole only days wholly
    past (`complete_through` < today). A later value (an older version's, a hand edit, a time
    zone changed since) would make the run skip every day up to it, so the run starts from
    the bookmark less the look-back instead, as if the value were not there.
    """
    if resume_from is not None and resume_from > today:
        resume_from = None
    if complete_through is not None and complete_through >= today:
        complete_through = None
    return resume_from, complete_through


def sync_days(  # noqa: PLR0913 - all keyword-only, each a separate input of the range
    *,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    tz: ZoneInfo,
    bookmark: dt.datetime | None = None,
    lookback_days: int = 0,
    resume_from: dt.date | None = None,
    complete_through: dt.date | None = None,
) -> tuple[dt.date, dt.date]:
    """Local days to fetch: from max(start, where the saved state stands - look-back) to end.

    The state stands at the bookmark, or at `complete_through` (the last day a complete pass
    read whole), whichever is later: a journal with no records still moves on.
    A pass that a call budget cut short resumes at `resume_from` instead: its look-back was
    already re-read, and starting over from the look-back would spend every budgeted run on
    the same days without ever reaching new ones. Saved days after today are not relied on
    (`trusted_days`), and a bookmark after now stands at now: the range never starts after
    today, and re-reads the look-back whatever the bookmark says.
    """
    today = local_day(now, tz)
    resume_from, complete_through = trusted_days(resume_from, complete_through, today)
    first = local_day(start, tz)
    if resume_from is not None:
        return max(first, resume_from), local_day(end, tz)
    lookback = dt.timedelta(days=lookback_days)
    since = first
    if bookmark is not None:  # a bookmark ahead of now (a hand edit) stands at now
        since = max(since, local_day(max(start, min(bookmark, now) - lookback), tz))
    if complete_through is not None:
        since = max(since, complete_through - lookback)
    return max(first, min(since, today)), local_day(end, tz)


def progress(  # noqa: PLR0913 - all keyword-only, each a separate input
    *,
    start: dt.datetime,
    now: dt.datetime,
    tz: ZoneInfo,
    bookmark: dt.datetime | None = None,
    resume_from: dt.date | None = None,
    complete_through: dt.date | None = None,
) -> tuple[int, int]:
    """How far a journal of a site has read; sorting by it puts the least progress first.

    First the first unread day, as days from today in the site's zone (0: only today is left,
    -3: three whole days are), so that sites in other zones compare fairly around midnight.
    That day is where an unfinished pass resumes; else the later of the bookmark's day and
    the day after `complete_through`; else the start; never after today, which every run
    reads, and with saved days after today not relied on (`trusted_days`). Then, on a tie,
    never read (0) before a pass under way (1) before a pass complete (2), which re-reads
    only its look-back.
    Runs sharing a call budget serve the least progress first, so no site or journal waits
    for ever behind the others.
    """
    today = local_day(now, tz)
    resume_from, complete_through = trusted_days(resume_from, complete_through, today)
    start_day = local_day(start, tz)
    if resume_from is not None:
        first, rank = max(start_day, resume_from), 1
    else:
        first = start_day
        rank = 0 if bookmark is None and complete_through is None else 2
        if complete_through is not None:
            first = max(first, complete_through + dt.timedelta(days=1))
        if bookmark is not None:
            first = max(first, local_day(bookmark, tz))
    return (max(start_day, min(first, today)) - today).days, rank


def first_hour(now: dt.datetime, tz: ZoneInfo) -> Window:
    """The first hour of today in the zone: the least one call can ask a journal for."""
    today = local_day(now, tz)
    return Window(today, today, 0)


def complete_day(last_day: dt.date, now: dt.datetime, tz: ZoneInfo) -> dt.date:
    """The last day a pass that read through `last_day` has read whole: never today or later.

    Today's records are still coming in, so a day counts as read only once it is wholly in
    the past in the account's zone.
    """
    return min(last_day, local_day(now, tz) - dt.timedelta(days=1))
