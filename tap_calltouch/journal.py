"""A Calltouch journal as a stream: windows of days, pages, bookmarks and child rows.

The requests and calls journals differ only in what `streams.py` declares about them (path,
date format, paging, answer envelope, shaping, settings). Everything else is here, once:
planning windows from the bookmark, look-back and resume day; fetching them concurrently in
order under the shared limiter; reading pages consistently; writing child rows from the
parent in hand; and moving the bookmark only past what was emitted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import sys
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL

from tap_calltouch.bookmarks import (
    COMPLETE_KEY,
    RESUME_KEY,
    StateError,
    drop_untrusted_days,
    read_bookmark,
    read_complete_through,
    read_resume_day,
)
from tap_calltouch.children import child_writer
from tap_calltouch.client import CalltouchAPIError, CalltouchStream, SitesFailedError
from tap_calltouch.projection import (
    UNDECLARED,
    Naming,
    Plan,
    compile_plan,
    keep_undeclared,
    with_declared,
)
from tap_calltouch.relay import Relay
from tap_calltouch.schemas import OBSOLETE_FIELDS
from tap_calltouch.sites import failure_summary
from tap_calltouch.windows import (
    Part,
    complete_day,
    cut_windows,
    local_day,
    parse_instant,
    progress,
    sync_days,
    trusted_bookmark,
)

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Iterator
    from zoneinfo import ZoneInfo

    from singer_sdk import Stream
    from singer_sdk.helpers.types import Context, Record

    from tap_calltouch.answers import Answer
    from tap_calltouch.children import ChildWriter
    from tap_calltouch.sites import Site
    from tap_calltouch.windows import Window

DEFAULT_LOOKBACK_DAYS = 7


class JournalStream(CalltouchStream):
    """A journal read in windows of calendar days, incremental on its records' creation time.

    Subclasses declare the rest (see `streams.py`): `name`, `path`, `primary_keys`,
    `schema`, `envelope`, `date_format`, `paged`, `shape`, `base_query`,
    `window_days_setting`, `default_window_days` and `bind_setting`.
    """

    replication_key = "date"
    is_sorted = False  # the API's order is not creation order within a window
    #: Turns one API record into the shape of `schema`, in place (a function of `shaping`).
    shape: ClassVar[staticmethod[[dict[str, Any], ZoneInfo], dict[str, Any]]]
    #: The setting holding this journal's days per window, and its default.
    window_days_setting: ClassVar[str]
    default_window_days: ClassVar[int]
    #: The setting that makes the API select by session date instead of creation date.
    bind_setting: ClassVar[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        """Start with no window progress."""
        super().__init__(*args, **kwargs)
        self._newest_seen: dict[int, str] = {}  # per site
        self._plans: list[tuple[Site, list[Window]]] = []  # this sync's, from `begin_leg`
        self.undated = 0  # records left out for want of a creation time

    # --- which days ----------------------------------------------------------------------------

    @property
    def now(self) -> dt.datetime:
        """When the run started (the tap's `clock`): the same now for every journal and site."""
        started: dt.datetime = self._tap.started  # type: ignore[attr-defined]
        return started

    def plan_windows(self, site: Site) -> list[Window]:
        """A site's windows, in calendar days of its zone, from its bookmark less the look-back.

        From max(start_date, bookmark or `complete_through`, less lookback_days), or
        the site's resume day, to end_date; never past today, which has nothing later to read.
        """
        zone = site.zone
        end_setting = self.config.get("end_date")
        end = parse_instant(str(end_setting), zone) if end_setting else self.now
        first, last = sync_days(
            start=self._start(site),
            end=min(end, self.now),
            now=self.now,
            tz=zone,
            bookmark=self._bookmark(site),
            lookback_days=int(self.config.get("lookback_days", DEFAULT_LOOKBACK_DAYS)),
            resume_from=read_resume_day(self._saved_state(site), stream=self.name),
            complete_through=self._complete_through(site),
        )
        return cut_windows(first, last, self.window_days)

    def _start(self, site: Site) -> dt.datetime:
        return parse_instant(str(self.config["start_date"]), site.zone)

    def progress(self, site: Site) -> tuple[int, int]:
        """How far this journal has read the site: days behind today, then never, going, done."""
        return progress(
            start=self._start(site),
            now=self.now,
            tz=site.zone,
            bookmark=self._bookmark(site),
            resume_from=read_resume_day(self._saved_state(site), stream=self.name),
            complete_through=self._complete_through(site),
        )

    def plans(self) -> list[tuple[Site, list[Window]]]:
        """Each site's windows, the site furthest behind first (then as configured).

        Sites take turns in this order (`_interleaved`), so a `max_api_calls` budget smaller
        than one turn goes to the sites that waited longest, and the next run to the others.
        """
        sites = [site for site in self.sites if site.site_id not in self.site_failures]
        order = sorted(range(len(sites)), key=lambda k: (self.progress(sites[k]), k))
        return [(sites[k], self.plan_windows(sites[k])) for k in order]

    @property
    @override
    def partitions(self) -> None:
        """One sync for all sites: their windows take turns (see `_interleaved`).

        The SDK would otherwise run `get_records` once per site partition found in the state.
        """
        return

    def _site_state(self, site: Site) -> dict[str, Any]:
        """A site's bookmark and resume day: its own small partition, to write.

        With `site_id` alone, the stream's state itself, so bookmarks from before `sites`
        existed keep working.
        """
        if self.config.get("sites") is None:
            return self.stream_state
        return self.get_context_state({"siteId": site.site_id})

    def _saved_state(self, site: Site) -> dict[str, Any]:
        """A site's partition as saved, to read: planning another journal's turn writes nothing."""
        saved = self.tap_state.get("bookmarks", {}).get(self.name, {})
        if self.config.get("sites") is None:
            return saved
        context = {"siteId": site.site_id}
        for partition in saved.get("partitions") or []:
            if partition.get("context") == context:
                return partition  # type: ignore[no-any-return]
        return {}

    def drop_untrusted_days(self) -> None:
        """Take out of each site's saved state the days no pass can have written by today.

        So too a bookmark on a day after today, which no record read can have made. Called as
        the state is loaded, so that no STATE of the run holds them, the first one included;
        until their day came they skipped nothing, but then every day up to them.
        """
        for site in self.sites:
            today = local_day(self.now, site.zone)
            saved = self._saved_state(site)
            dropped_days = drop_untrusted_days(saved, today=today)
            with contextlib.suppress(StateError):  # reported by the sync that reads it
                bookmark = self._bookmark(site)
                if bookmark is not None and trusted_bookmark(bookmark, today, site.zone) is None:
                    dropped_days.append(f"bookmark {saved.pop('replication_key_value')}")
            for dropped in dropped_days:
                self.logger.warning(
                    "%s of %s: saved %s is later than any pass can have reached by today "
                    "(%s); reading from where the rest of the state stands less the look-back",
                    self.name, site, dropped, today,
                )  # fmt: skip

    def _interleaved(self, plans: list[tuple[Site, list[Window]]]) -> Iterator[Part]:
        """First parts of every site's windows, the sites taking turns.

        So the calls in flight, and a `max_api_calls` budget, are shared among sites; a site
        that stops is skipped from then on.
        """
        for turn in itertools.zip_longest(*(windows for _, windows in plans)):
            for (site, _), window in zip(plans, turn, strict=True):
                if window is not None and site.site_id not in self.site_failures:
                    yield self._first_part(window, site)

    def _first_part(self, window: Window, site: Site) -> Part:
        """The first call of a window: its first page, or the whole window if not paged."""
        return Part(window, site, 1) if self.paged else Part(window, site)

    @property
    def window_days(self) -> int:
        """Calendar days per window, from this journal's own setting."""
        return int(self.config.get(self.window_days_setting) or self.default_window_days)

    def _bookmark(self, site: Site) -> dt.datetime | None:
        """A site's saved creation-time bookmark; a full-table sync ignores it."""
        if self.replication_method != REPLICATION_INCREMENTAL:
            return None
        return read_bookmark(
            self._saved_state(site), stream=self.name, replication_key=str(self.replication_key)
        )

    def _complete_through(self, site: Site) -> dt.date | None:
        """The last day a complete pass of the site read whole; a full-table sync ignores it."""
        if self.replication_method != REPLICATION_INCREMENTAL:
            return None
        return read_complete_through(self._saved_state(site), stream=self.name)

    def _check_binding(self) -> None:
        """Refuse session-date selection in an incremental sync, before the first call.

        Windows would then select by session date while the bookmark is a creation time: a
        record created today from an old session would move the bookmark past windows not yet
        read, and one whose session is older than the look-back would never be read.
        """
        if (
            self.config.get(self.bind_setting) == "session"
            and self.replication_method == REPLICATION_INCREMENTAL
        ):
            msg = (
                f"`{self.bind_setting}: session` selects {self.name} by session date, which a "
                "creation-time bookmark cannot follow without losing data. Remove the setting, "
                f"or sync `{self.name}` as FULL_TABLE (in meltano.yml: `metadata: {self.name}: "
                "replication-method: FULL_TABLE`)."
            )
            raise CalltouchAPIError(msg)

    # --- the sync ------------------------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Each window's records, shaped; child rows go out alongside, STATE after each window.

        Windows of all sites take turns under the one limiter; each site's windows still come
        out in order, and a site's STATE moves only past its own complete windows. The run's
        relay may have begun this journal's first windows while the one before it ended.
        """
        relay = self._relay()
        finished = False
        plans: list[tuple[Site, list[Window]]] = []
        emitted = count = done = 0
        pages: PageCheck | None = None
        limit = self.ABORT_AT_RECORD_COUNT  # `--test`: a dry run of this many records
        try:
            relay.ready(self)
            self.take_turn()
            plans = self._planned()
            left = {site.site_id: len(windows) for site, windows in plans}  # windows to complete
            with child_writer(self) as write:
                for part, answers in relay.take(self):
                    site = part.site
                    if site.site_id in self.site_failures:
                        self._check_some_site_left()
                        count, pages = 0, None  # its window stays incomplete: no STATE
                        continue
                    records = self._shaped(part, answers)
                    if self.paged:
                        pages = pages or PageCheck(self.primary_keys[0])
                        records = pages.fresh(records, answers[0].records_total)
                    if limit is not None:
                        records = itertools.islice(records, max(0, limit - emitted - count))
                    count += yield from self._emit(records, write, site)
                    if limit is not None and emitted + count >= limit:
                        return  # the dry run has its records: no STATE for a partial window
                    if not part.is_last(answers[0].page_total if answers else None):
                        continue
                    if pages is not None and not pages.consistent:
                        again = self._read_again(part, pages)
                        count += yield from self._emit(again, write, site)
                    if self._stopped_midway(site):
                        count, pages = 0, None  # its window stays incomplete: no STATE
                        continue
                    emitted += count
                    done += 1
                    left[site.site_id] -= 1
                    self._checkpoint(site, part.window, complete=not left[site.site_id])
                    self.logger.info(
                        "Window %d/%d %s: %d %s (%d so far); state saved",
                        *(done, sum(len(w) for _, w in plans), Part(part.window, site)),
                        *(count, self.name, emitted),
                    )
                    count, pages = 0, None
            finished = True
        finally:
            self._end_sync(relay, plans, emitted, finished=finished)
        if self.site_failures and self._syncs_last():
            report_stopped_sites(self, self.sites, self.site_failures)

    def _end_sync(
        self, relay: Relay, plans: list[tuple[Site, list[Window]]], emitted: int, *, finished: bool
    ) -> None:
        """Stop this journal's calls, and the relay's if the sync did not finish; log the cost."""
        if not finished:
            relay.close()  # the journals after this one do not go on calling meanwhile
        self._stopping.set()  # no call of this journal outlives its sync
        self.held_back = relay.held_back(self)
        self._log_summary(emitted, sum(len(windows) for _, windows in plans))

    def begin_leg(self) -> Iterator[Part]:
        """Plan this journal's windows (each site read gets its partition) and ready its calls.

        Called by the run's relay, which may do so while the journal before this one still
        syncs: the plan reads the saved state, and sees the sites stopped so far.
        """
        self._check_binding()
        self._plans = self.plans()
        self.reserved_calls = self._owed_to_later_journals(self._plans)
        self.start_fetching()
        self._ahead = True  # until `take_turn`: a site its calls stop stops for it alone
        return self._interleaved(self._plans)

    def _relay(self) -> Relay:
        """The run's relay when it is to fetch this journal; else a new one from this journal on.

        Every journal's binding is checked first: one refused would otherwise fail only in its
        turn, after the journals before it synced whole. With `max_api_calls`, the calls a
        journal leaves to later ones are settled as it begins, from the calls made by then
        (`_owed_to_later_journals`), so each journal has a relay of its own and starts when the
        one before it has ended.
        """
        relay: Relay | None = self._tap.relay  # type: ignore[attr-defined]
        if relay is None or not relay.has(self):
            journals = self._journals()
            legs = journals[journals.index(self) :] if self in journals else [self]
            for journal in [*journals, *legs]:  # a setting one of them refuses: before any call
                journal._check_binding()  # noqa: SLF001 - a journal of this run
            if self.config.get("max_api_calls"):
                legs = [self]
            relay = Relay(legs, concurrency=self.fetch_concurrency, check=self.check_stopped)
            self._tap.relay = relay  # type: ignore[attr-defined]
        return relay

    def _syncs_last(self) -> bool:
        """Whether this is the run's last journal to sync and the one to report stopped sites.

        A selected `site_runs` or `sites` stream syncs after every journal and reports them.
        """
        return self._journals()[-1] is self and not reported_later(self)

    def _journals(self) -> list[JournalStream]:
        """The run's selected journals, in the order they sync."""
        return [
            stream
            for stream in self._tap.streams.values()
            if isinstance(stream, JournalStream)
            and (stream.selected or stream.has_selected_descendents)
        ]

    def _owed_to_later_journals(self, plans: list[tuple[Site, list[Window]]]) -> int:
        """First calls of the `max_api_calls` budget left for the journals that sync after this.

        Journals sync one after the other, so the first would otherwise spend the whole budget
        and the last never get a call. All journals' windows are ranked as one queue, turn by
        turn, the (journal, site) furthest behind first; this journal stops where the calls
        left are owed to the windows of later journals ranked before its next one.
        """
        budget = self.config.get("max_api_calls")
        journals = self._journals()
        later = journals[journals.index(self) + 1 :] if self in journals else []
        if not budget or not later:
            return 0
        queue = [
            (turn, journal.progress(site), self.sites.index(site), rank, journal is not self)
            for rank, (journal, journal_plans) in enumerate(
                [(self, plans), *((journal, journal.plans()) for journal in later)]
            )
            for site, windows in journal_plans
            for turn in range(len(windows))
        ]
        left = max(0, int(budget) - self.authenticator.calls)
        return sum(owed for *_, owed in sorted(queue)[:left])

    def _planned(self) -> list[tuple[Site, list[Window]]]:
        """The plans `begin_leg` made, logged; each site read has its partition from now on.

        Partitions are written here, as the journal syncs, not when the relay begins it: STATE
        the journal before it writes meanwhile carries nothing of this one.
        """
        plans = self._plans
        for site, _ in plans:
            self._site_state(site)
        self._log_plan(plans)
        return plans

    def _log_plan(self, plans: list[tuple[Site, list[Window]]]) -> None:
        windows = [window for _, site_windows in plans for window in site_windows]
        span = f"{min(windows).first_day}..{max(windows).last_day}" if windows else "nothing"
        sites = f" of {len(plans)} site(s)" if len(self.sites) > 1 else ""
        self.logger.info(
            "Syncing %s: %d window(s)%s of up to %d day(s): %s",
            *(self.name, len(windows), sites, self.window_days, span),
        )

    def _stopped_midway(self, site: Site) -> bool:
        """Whether a site stopped while its window was read, after its answers came.

        A body broken mid-stream or a failed re-read does that; ends the run if no site is left.
        """
        if site.site_id not in self.site_failures:
            return False
        self._check_some_site_left()
        return True

    def _check_some_site_left(self) -> None:
        """End the run at once when every site has stopped: nothing is left to read.

        Unless stopped sites do not fail the run (a shard's, see `stops_fail`): then the run
        goes on to its end (calling for no stopped site), where `site_runs` records them and
        the report is logged.
        """
        if all(site.site_id in self.site_failures for site in self.sites) and stops_fail(
            self, self.sites, self.site_failures
        ):
            raise self._stopped_sites()

    def _stopped_sites(self) -> SitesFailedError:
        """The one error naming every site that stopped in this run, and why."""
        return SitesFailedError(failure_summary(self.sites, self.site_failures))

    def _emit(
        self, records: Iterable[Record], write_children: ChildWriter, site: Site
    ) -> Generator[Record, None, int]:
        """Hand a site's records to the SDK, child rows first; returns how many went out."""
        count = 0
        for record in records:
            created = record.get(self.replication_key)
            if created is None:  # the schema requires it, and the bookmark could not place it
                self._report_undated(record, site)
                continue
            write_children(record)
            count += 1
            yield record
            self._note_emitted(site, created)
        return count

    def _report_undated(self, record: Record, site: Site) -> None:
        """Name a record that has no usable creation time; it is counted, not sent broken.

        Neither held back nor past the bookmark: the window completes as if it were absent,
        and a later read (the look-back) sends it once the API gives it a time.
        """
        self.undated += 1
        key = self.primary_keys[0]
        self.logger.warning(
            "%s %s=%s of %s has no usable creation time; not emitted",
            *(self.name, key, record.get(key), site),
        )

    def _read_again(self, part: Part, pages: PageCheck) -> Iterator[Record]:
        """Read a window whose pages disagreed once more, emitting only records not yet seen.

        Calls arriving while a window is paged push records down a page (seen twice, emitted
        once); a call removed pulls one up past a page already read (missed): a second read
        finds it.
        """
        window = Part(part.window, part.site)
        self.logger.warning(
            "Window %s changed while its pages were read (%s); reading it again", window, pages
        )
        again = pages.again()
        first = self._first_part(part.window, part.site)
        for page, answers in self.fetch_in_order([first]):
            if page.site.site_id in self.site_failures:
                return  # the site stopped during the re-read: the window stays incomplete
            yield from again.fresh(self._shaped(page, answers), answers[0].records_total)
        if not again.steady:
            self.logger.warning(
                "Window %s was still changing on the second read (%s); the next run's "
                "look-back reads it again",
                window,
                again,
            )

    def _shaped(self, part: Part, answers: list[Answer]) -> Iterator[Record]:
        """A part's records, normalised, the fields the schema does not declare in `_undeclared`.

        Projected with the built-in schema, so child rows are cut from complete blocks
        whatever the catalog says about the parent.
        """
        zone, plan, shape, site_id = part.site.zone, self._projection, self.shape, part.site.site_id
        for answer in answers:
            for raw in self.parse_answer(answer, part):
                record = shape(raw, zone)
                record["siteId"] = site_id  # the site asked for, whatever the record says
                if keep_undeclared(record, plan, OBSOLETE_FIELDS):
                    self._name_undeclared(record[UNDECLARED])
                yield record

    @cached_property
    def undeclared(self) -> Naming:
        """The undeclared fields this run met in this stream's records, each warned of once."""
        column = ("properties", UNDECLARED)
        declared = UNDECLARED in self.effective_schema.get("properties", {})
        return Naming(self.name, kept=declared and self.mask.get(column, True))

    def _name_undeclared(self, fields: dict[str, Any]) -> None:
        warning = self.undeclared.note(fields)
        if warning:
            self.logger.warning(warning)

    @cached_property
    def _projection(self) -> Plan:
        """The schema projection plan, compiled once per run rather than per window."""
        return compile_plan(with_declared(self.schema, self.effective_schema))

    def _log_summary(self, total: int, windows: int) -> None:
        """Say what the run cost and, if the call budget stopped it, where the next run resumes."""
        self.logger.info(
            "Made %d API call(s) for %d window(s); %d %s emitted%s%s",
            *(self.calls_made, windows, total, self.name),
            f"; {self.undated} without a creation time not emitted" if self.undated else "",
            self.undeclared.summary(),
        )
        if self.held_back is not None:
            self.logger.warning(
                "max_api_calls (%s) reached: stopped before window %s; "
                "the next run continues from there",
                self.config.get("max_api_calls"),
                Part(self.held_back.window, self.held_back.site),
            )

    # --- state ---------------------------------------------------------------------------------

    def _note_emitted(self, site: Site, value: str | None) -> None:
        """Remember a site's newest creation time emitted; RFC 3339 UTC strings sort as times."""
        newest = self._newest_seen.get(site.site_id)
        if value and (newest is None or value > newest):
            self._newest_seen[site.site_id] = value

    @override
    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        """Per-record progress markers are not needed: the bookmark moves per window."""

    def _checkpoint(self, site: Site, window: Window, *, complete: bool) -> None:
        """Advance a site's bookmark to the newest record emitted so far and write STATE.

        Called once a window is fully emitted: every record up to the bookmark has gone out,
        so a crash after this point loses at most the window in progress. `resume_from`, the
        day after the window (never after today: windows end there), lets a pass that is cut
        short continue where it stopped rather than from the look-back again. A `complete`
        pass drops it and records `complete_through`, the last day it read that is wholly in
        the past, so a journal with no records moves on too.
        """
        state = self._site_state(site)
        newest = self._newest_seen.get(site.site_id)
        current = self._bookmark(site)
        if newest and (current is None or parse_instant(newest, dt.timezone.utc) > current):  # type: ignore[arg-type]
            if self.config.get("sites") is None:  # a site's partition keeps only the value,
                state["replication_key"] = self.replication_key  # so state stays small
            state["replication_key_value"] = newest
        if not complete:
            state[RESUME_KEY] = (window.last_day + dt.timedelta(days=1)).isoformat()
        else:
            state.pop(RESUME_KEY, None)
            if self.replication_method == REPLICATION_INCREMENTAL:
                self._record_complete(site, state, window)
        self.state_manager.is_flushed = False
        self._write_state_message()

    def _record_complete(self, site: Site, state: dict[str, Any], window: Window) -> None:
        """Note the last whole day a complete pass read, unless the bookmark already says it.

        `complete_through` never moves back. It is left out where the bookmark is on a later
        day (records keep coming: the usual daily run), or on that day when the pass ended
        there (an `end_date` in the past), so that state stays small; the bookmark then tells
        the next run as much.
        """
        through = complete_day(window.last_day, self.now, site.zone)
        saved = self._complete_through(site)
        if saved is not None:
            through = max(through, saved)
        bookmark = self._bookmark(site)
        marked = None if bookmark is None else local_day(bookmark, site.zone)
        if marked is not None and (through < marked or through == marked == window.last_day):
            state.pop(COMPLETE_KEY, None)
        else:
            state[COMPLETE_KEY] = through.isoformat()

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        """No signpost: the bookmark is always a creation time that was emitted."""
        return

    @override
    def generate_child_contexts(
        self, record: Record, context: Context | None
    ) -> Iterable[Context | None]:
        """No per-record child syncs: `get_records` hands each child its rows directly."""
        return ()


def least_progress_first(streams: dict[str, Stream]) -> dict[str, Stream]:
    """The streams, with the journals in the order a shared call budget should serve them.

    The journal that has read least of some site syncs first, so its window, the one that
    waited longest, always gets a call: pages of a window read before it could otherwise
    eat the calls owed to it, run after run.
    """

    def rank(stream: Stream) -> tuple[int, tuple[int, int] | None]:
        if not isinstance(stream, JournalStream) or not stream.sites:
            return 1, None
        return 0, min(stream.progress(site) for site in stream.sites)

    journals = sorted(
        (stream for stream in streams.values() if rank(stream)[0] == 0),
        key=lambda stream: rank(stream)[1],  # type: ignore[arg-type,return-value]
    )
    others = [stream for stream in streams.values() if rank(stream)[0] == 1]
    return {stream.name: stream for stream in [*journals, *others]}


class PageCheck:
    """What one read of a paged window saw: the keys emitted and the totals pages reported.

    The window was read consistently when every page reported the same `recordsTotal` and
    that many distinct records arrived.
    """

    def __init__(self, key: str, seen: set[Any] | None = None) -> None:
        """Track records by `key`; `seen` carries the keys of an earlier read."""
        self.key = key
        self.seen: set[Any] = set() if seen is None else seen
        self.totals: set[int | None] = set()
        self.count = 0

    def fresh(self, records: Iterable[Record], total: int | None) -> Iterator[Record]:
        """The records not emitted yet; notes the page's `recordsTotal`."""
        self.totals.add(total)
        seen, key = self.seen, self.key
        for record in records:
            value = record.get(key)
            self.count += 1
            if value is None or value not in seen:
                seen.add(value)
                yield record

    @property
    def steady(self) -> bool:
        """Every page reported the same total."""
        return len(self.totals) == 1

    @property
    def consistent(self) -> bool:
        """Every page reported the same total, and that many distinct records came."""
        return self.steady and self.totals == {len(self.seen)}

    def again(self) -> PageCheck:
        """A check for a second read, which emits only what this one did not."""
        return PageCheck(self.key, self.seen)

    def __str__(self) -> str:
        """The totals and the distinct records, for a log line."""
        totals = ", ".join(str(total) for total in sorted(self.totals, key=str))
        return f"recordsTotal {totals}; {len(self.seen)} distinct of {self.count} read"


def reported_later(stream: Stream) -> bool:
    """Whether a selected stream that reports stopped sites (`site_runs`, `sites`) syncs later."""
    names = list(stream._tap.streams)  # noqa: SLF001 - the tap the stream belongs to
    later = [stream._tap.streams[name] for name in names[names.index(stream.name) + 1 :]]  # noqa: SLF001
    return any(getattr(s, "reports_stopped_sites", False) and s.selected for s in later)


def stops_fail(stream: Stream, sites: list[Site], failures: dict[int, str]) -> bool:
    """Whether the sites stopped in a run fail it.

    As `fail_on_stopped_sites` says, but always when every site of a run without `shard`
    stopped: it read nothing (a wrong token, `meltano config test`), and there are no other
    sites' reports to rebuild. A shard is one share of a longer list, whose other shards'
    sites the job's dbt step still rebuilds. And always when `site_runs` is not selected: no
    check downstream could then see the stopped sites, and the run would pass for complete.
    """
    config = stream.config
    if config.get("fail_on_stopped_sites", True) or not records_outcomes(stream):
        return True
    every = all(site.site_id in failures for site in sites)
    return every and config.get("shard") is None


def records_outcomes(stream: Stream) -> bool:
    """Whether a selected stream of the run records each site's outcome (`site_runs`)."""
    streams = stream._tap.streams.values()  # noqa: SLF001 - the tap the stream belongs to
    return any(getattr(s, "records_site_outcomes", False) and s.selected for s in streams)


def report_stopped_sites(stream: Stream, sites: list[Site], failures: dict[int, str]) -> None:
    """End a run in which sites stopped: fail it, or with `fail_on_stopped_sites` false log it.

    Logged as an error, so cron's mail and Meltano's log show it; the exit stays 0, so the
    loader commits and the job's dbt step rebuilds the other sites' reports.
    """
    summary = failure_summary(sites, failures)
    if stops_fail(stream, sites, failures):
        if stream.config.get("fail_on_stopped_sites", True) is False and not records_outcomes(
            stream
        ):
            summary += (
                "\nfail_on_stopped_sites is false, but `site_runs` is not selected to record them"
            )
        raise SitesFailedError(summary)
    stream.logger.error(
        "%s\nfail_on_stopped_sites is false: the run exits 0; `site_runs` records the stopped "
        "sites and dbt's test `no_site_stopped` fails on them",
        summary,
    )
