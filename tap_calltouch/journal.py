"""A Calltouch journal as a stream: windows of days, pages, bookmarks and child rows.

The requests and calls journals differ only in what `streams.py` declares about them (path,
date format, paging, answer envelope, shaping, settings). Everything else is here, once:
planning windows from the bookmark, look-back and resume day; fetching them concurrently in
order under the shared limiter; reading pages consistently; writing child rows from the
parent in hand; and moving the bookmark only past what was emitted.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sys
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL

from tap_calltouch.bookmarks import COMPLETE_KEY, RESUME_KEY
from tap_calltouch.children import child_writer
from tap_calltouch.client import CalltouchStream
from tap_calltouch.errors import CalltouchAPIError
from tap_calltouch.outcomes import end_if_every_site_stopped, report_stopped_sites, reported_later
from tap_calltouch.pages import PageCheck, read_again
from tap_calltouch.planning import (
    Planner,
    binding_refused,
    budget_shares,
    call_limit,
    interleaved,
)
from tap_calltouch.projection import UNDECLARED, Naming, Undeclared, compile_plan, with_declared
from tap_calltouch.schemas import OBSOLETE_FIELDS
from tap_calltouch.windows import Part, parse_instant

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


class JournalStream(CalltouchStream):
    """A journal read in windows of calendar days, incremental on its records' creation time.

    Subclasses declare the rest (see `streams.py`): `name`, `path`, `primary_keys`, `schema`,
    `envelope`, `date_format`, and the declarations `_REQUIRED` names, which a journal class
    that lacks one fails on as it is defined.
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
    _REQUIRED = (
        "shape",
        "base_query",
        "window_days_setting",
        "default_window_days",
        "bind_setting",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:  # noqa: ANN401
        """Refuse a journal class that leaves out a declaration, as it is defined."""
        super().__init_subclass__(**kwargs)
        missing = [name for name in cls._REQUIRED if not hasattr(cls, name)]
        if missing:
            msg = f"journal {cls.__name__} does not declare {', '.join(missing)}"
            raise TypeError(msg)

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        """Start with no window progress."""
        super().__init__(*args, **kwargs)
        self._newest_seen: dict[int, str] = {}  # per site
        self.undated = 0  # records left out for want of a creation time

    # --- which days ----------------------------------------------------------------------------

    @property
    def now(self) -> dt.datetime:
        """When the run started (the tap's `clock`): the same now for every journal and site."""
        started: dt.datetime = self._tap.started  # type: ignore[attr-defined]
        return started

    @property
    def planner(self) -> Planner:
        """This journal's planning over the state as it stands (`planning.Planner`)."""
        return Planner(
            stream=self.name,
            config=self.config,
            bookmarks=self.tap_state.get("bookmarks", {}),
            now=self.now,
            replication_key=str(self.replication_key),
            incremental=self.replication_method == REPLICATION_INCREMENTAL,
            window_days=int(self.config.get(self.window_days_setting) or self.default_window_days),
        )

    def plans(self) -> list[tuple[Site, list[Window]]]:
        """Each site not stopped in this run, with its windows, the furthest behind first."""
        live = [site for site in self.sites if site.site_id not in self.site_failures]
        return self.planner.plans(live)

    @property
    @override
    def partitions(self) -> None:
        """One sync for all sites: their windows take turns (see `planning.interleaved`).

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

    # --- the sync ------------------------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Each window's records, shaped; child rows go out alongside, STATE after each window.

        Windows of all sites take turns under the one limiter; each site's windows still come
        out in order, and a site's STATE moves only past its own complete windows.
        """
        plans, call_limit = self._begin()
        left = {site.site_id: len(windows) for site, windows in plans}  # windows to complete
        emitted = count = done = 0
        pages: PageCheck | None = None
        limit = self.ABORT_AT_RECORD_COUNT  # `--test`: a dry run of this many records
        try:
            with child_writer(self) as write:
                parts = (
                    Part(window, site, 1 if self.paged else None)
                    for site, window in interleaved(plans, self.site_failures)
                )
                for part, answers in self.fetch_in_order(parts, call_limit=call_limit):
                    site = part.site
                    if self._stopped_midway(site):
                        count, pages = 0, None  # its window stays incomplete: no STATE
                        continue
                    records = self.shaped(part, answers)
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
                    stopped = site.site_id in self.site_failures  # its last answer broke
                    if pages is not None and not pages.consistent and not stopped:
                        again = read_again(self, part, pages)
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
        finally:
            self._stopping.set()  # no call of this journal outlives its sync
            log_summary(self, emitted, sum(len(windows) for _, windows in plans))
        if self.site_failures and run_journals(self)[-1] is self and not reported_later(self):
            report_stopped_sites(self, self.sites, self.site_failures)

    def _begin(self) -> tuple[list[tuple[Site, list[Window]]], int | None]:
        """Check the run's settings, plan this journal, and ready its calls.

        Returns the plans and the run's call count at which this journal starts no new window.
        """
        journals = run_journals(self)
        check_bindings(journals)
        check_saved_states(journals)
        limit = budgeted_call_limit(self, journals)
        plans = self._planned()
        self.start_fetching()
        return plans, limit

    def _planned(self) -> list[tuple[Site, list[Window]]]:
        """This sync's plans, logged; each site read has its partition from now on."""
        plans = self.plans()
        for site, _ in plans:
            self._site_state(site)
        log_plan(self, plans)
        return plans

    def _stopped_midway(self, site: Site) -> bool:
        """Whether a site stopped while its window was read, after its answers came.

        A body broken mid-stream or a failed re-read does that; ends the run if no site is left.
        """
        if site.site_id not in self.site_failures:
            return False
        end_if_every_site_stopped(self, self.sites, self.site_failures)
        return True

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

    def shaped(self, part: Part, answers: list[Answer]) -> Iterator[Record]:
        """A part's records, normalised, the fields the schema does not declare in `_undeclared`.

        Projected with the built-in schema, so child rows are cut from complete blocks
        whatever the catalog says about the parent.
        """
        site, keep, shape = part.site, self.undeclared.keep, self.shape
        zone, site_id = site.zone, site.site_id
        for answer in answers:
            for raw in self.parse_answer(answer, part):
                record = shape(raw, zone)
                record["siteId"] = site_id  # the site asked for, whatever the record says
                keep(record)
                yield record

    @cached_property
    def undeclared(self) -> Undeclared:
        """The undeclared fields of this run's records, and whether their column goes out."""
        declared = UNDECLARED in self.effective_schema.get("properties", {})
        kept = declared and self.mask.get(("properties", UNDECLARED), True)
        plan = compile_plan(with_declared(self.schema, self.effective_schema))
        return Undeclared(plan, Naming(self.name, kept=kept), self.logger.warning, OBSOLETE_FIELDS)

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
        pass drops it and records `complete_through` (`Planner.complete_through`), so a
        journal with no records moves on too.
        """
        state = self._site_state(site)
        newest = self._newest_seen.get(site.site_id)
        planner = self.planner
        current = planner.saved(site).bookmark
        if newest and (current is None or parse_instant(newest, dt.timezone.utc) > current):  # type: ignore[arg-type]
            if self.config.get("sites") is None:  # a site's partition keeps only the value,
                state["replication_key"] = self.replication_key  # so state stays small
            state["replication_key_value"] = newest
        if not complete:
            state[RESUME_KEY] = (window.last_day + dt.timedelta(days=1)).isoformat()
        else:
            state.pop(RESUME_KEY, None)
            if planner.incremental:
                through = planner.complete_through(site, window)
                if through is None:
                    state.pop(COMPLETE_KEY, None)
                else:
                    state[COMPLETE_KEY] = through.isoformat()
        self.state_manager.is_flushed = False
        self._write_state_message()

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


def log_plan(journal: JournalStream, plans: list[tuple[Site, list[Window]]]) -> None:
    """Say what this sync reads: how many windows, of how many sites, over which days."""
    windows = [window for _, site_windows in plans for window in site_windows]
    span = f"{min(windows).first_day}..{max(windows).last_day}" if windows else "nothing"
    sites = f" of {len(plans)} site(s)" if len(journal.sites) > 1 else ""
    journal.logger.info(
        "Syncing %s: %d window(s)%s of up to %d day(s): %s",
        *(journal.name, len(windows), sites, journal.planner.window_days, span),
    )


def log_summary(journal: JournalStream, total: int, windows: int) -> None:
    """Say what the run cost and, if the call budget stopped it, where the next run resumes."""
    journal.logger.info(
        "Made %d API call(s) for %d window(s); %d %s emitted%s%s",
        *(journal.calls_made, windows, total, journal.name),
        f"; {journal.undated} without a creation time not emitted" if journal.undated else "",
        journal.undeclared.naming.summary(),
    )
    if journal.held_back is not None:
        journal.logger.warning(
            "max_api_calls (%s) reached: stopped before window %s; "
            "the next run continues from there",
            journal.config.get("max_api_calls"),
            Part(journal.held_back.window, journal.held_back.site),
        )


def run_journals(stream: Stream) -> list[JournalStream]:
    """The run's selected journals, in the order they sync; the last reports stopped sites."""
    return [
        journal
        for journal in stream._tap.streams.values()  # noqa: SLF001 - the tap the stream belongs to
        if isinstance(journal, JournalStream)
        and (journal.selected or journal.has_selected_descendents)
    ]


def check_bindings(journals: list[JournalStream]) -> None:
    """Refuse session-date selection in an incremental sync (`planning.binding_refused`).

    Every journal of the run is checked as the first syncs: a setting one of them refuses
    fails before the run's first call, not after the journals before it synced whole.
    """
    for journal in journals:
        refused = binding_refused(
            journal.config,
            journal=journal.name,
            bind_setting=journal.bind_setting,
            incremental=journal.replication_method == REPLICATION_INCREMENTAL,
        )
        if refused:
            raise CalltouchAPIError(refused)


def check_saved_states(journals: list[JournalStream]) -> None:
    """Read every journal's saved state of each of its sites; a `StateError` if one cannot be.

    Each journal plans as it begins: state of a later journal that cannot be read would
    otherwise fail the run after the journals before it synced whole, not before its first call.
    """
    for journal in journals:
        planner = journal.planner
        for site in journal.sites:
            planner.saved(site)


def budgeted_call_limit(journal: JournalStream, journals: list[JournalStream]) -> int | None:
    """The run's call count at which `journal` starts no new window, with `max_api_calls`.

    The budget is shared once per run, before the first journal's first call
    (`planning.budget_shares`); each journal's limit is `planning.call_limit`.
    """
    budget = journal.config.get("max_api_calls")
    if not budget:
        return None
    tap: Any = journal._tap  # noqa: SLF001 - the tap the journal belongs to
    if tap.budget_shares is None:
        needs = [(each.name, each.planner.needs(each.sites)) for each in journals]
        tap.budget_shares = budget_shares(needs, int(budget))
    later = journals[journals.index(journal) + 1 :] if journal in journals else []
    return call_limit(
        tap.budget_shares,
        int(budget),
        journal=journal.name,
        later=[each.name for each in later],
        calls=tap.authenticator.calls,
    )
