"""Streams: the requests journal, and the records nested in each request as child streams.

Child rows are cut from the parent record already in hand (no extra HTTP call). The SDK's
default would run a full child sync, with its own SCHEMA and STATE messages, for every parent
record; instead each child writes its SCHEMA once and its rows as the parent's window streams by.
"""

from __future__ import annotations

import copy
import datetime as dt
import sys
from contextlib import ExitStack, contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL

from tap_calltouch import schemas, shaping
from tap_calltouch.bookmarks import RESUME_KEY, read_bookmark, read_resume_day
from tap_calltouch.client import CalltouchAPIError, CalltouchStream
from tap_calltouch.output import LeanRecordStream
from tap_calltouch.projection import Plan, compile_plan, project
from tap_calltouch.windows import Window, cut_windows, parse_instant, sync_days

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from singer_sdk import Stream
    from singer_sdk.helpers.types import Context, Record
    from singer_sdk.metrics import Counter

    from tap_calltouch.answers import Answer

DEFAULT_WINDOW_DAYS = 14
DEFAULT_LOOKBACK_DAYS = 7


class RequestsStream(CalltouchStream):
    """Requests (leads), incremental on creation time, fetched in windows of calendar days."""

    name = "requests"
    primary_keys = ("requestId",)
    replication_key = "date"
    is_sorted = False  # the API returns each window's records in no particular order
    schema = schemas.REQUEST.to_dict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        """Start with no window progress."""
        super().__init__(*args, **kwargs)
        self._newest_seen: str | None = None

    #: The setting that makes the API select by session date instead of creation date.
    bind_setting: ClassVar[str] = "bind_to"

    def plan_windows(self) -> list[Window]:
        """Windows from max(start_date, bookmark - lookback_days), or the resume day, to end."""
        zone = self.zone
        start = parse_instant(str(self.config["start_date"]), zone)
        end_setting = self.config.get("end_date")
        end = parse_instant(str(end_setting), zone) if end_setting else dt.datetime.now(zone)
        first, last = sync_days(
            start=start,
            end=end,
            tz=zone,
            bookmark=self._bookmark(),
            lookback_days=int(self.config.get("lookback_days", DEFAULT_LOOKBACK_DAYS)),
            resume_from=read_resume_day(self.stream_state, stream=self.name),
        )
        return cut_windows(first, last, int(self.config.get("window_days", DEFAULT_WINDOW_DAYS)))

    def _bookmark(self) -> dt.datetime | None:
        """The saved creation-time bookmark; a full-table sync ignores it."""
        if self.replication_method != REPLICATION_INCREMENTAL:
            return None
        return read_bookmark(
            self.stream_state, stream=self.name, replication_key=str(self.replication_key)
        )

    def _check_binding(self) -> None:
        """Refuse session-date selection in an incremental sync, before the first call.

        Windows would then select by session date while the bookmark is a creation time: a
        lead created today from an old session would move the bookmark past windows not yet
        read, and a lead whose session is older than the look-back would never be read.
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

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Each window's requests, shaped; child rows go out alongside, STATE after each window."""
        self._check_binding()
        windows = self.plan_windows()
        self.logger.info(
            "Syncing %d window(s) of up to %s day(s): %s",
            len(windows),
            self.config.get("window_days", DEFAULT_WINDOW_DAYS),
            f"{windows[0].first_day}..{windows[-1].last_day}" if windows else "nothing to fetch",
        )
        emitted = 0
        try:
            with self._child_writers() as write_children:
                for number, (window, answers) in enumerate(self.fetch_in_order(windows), 1):
                    count = 0
                    for record in self._shaped_records(window, answers):
                        write_children(record)
                        count += 1
                        created = record.get("date")
                        yield self._as_declared(record)
                        self._note_emitted(created)
                    emitted += count
                    self._checkpoint(resume_from=window.last_day + dt.timedelta(days=1))
                    self.logger.info(
                        "Window %d/%d %s: %d requests (%d so far); state saved",
                        number,
                        len(windows),
                        window,
                        count,
                        emitted,
                    )
                if self.held_back is None:
                    self.stream_state.pop(RESUME_KEY, None)  # the pass is complete
        finally:
            self._log_summary(emitted, windows)

    def _shaped_records(self, window: Window, answers: list[Answer]) -> Iterator[Record]:
        """A window's records, normalised and without the fields the schema does not declare.

        Projected with the built-in schema, so child rows are cut from complete blocks
        whatever the catalog says about the parent.
        """
        zone, plan = self.zone, self._projection
        for answer in answers:
            for raw in self.parse_answer(answer, window):
                yield project(shaping.shape_request(raw, zone), plan)

    @cached_property
    def _projection(self) -> Plan:
        """The schema projection plan, compiled once per run rather than per window."""
        return compile_plan(self.schema)

    @contextmanager
    def _child_writers(self) -> Iterator[Callable[[Record], None]]:
        """A function that writes each selected child stream's rows of one request.

        Each child's SCHEMA goes out once, here, and its record counter reports at the end.
        """
        children = [
            c for c in self.child_streams if c.selected and isinstance(c, RequestChildStream)
        ]
        with ExitStack() as stack:
            counters = [
                (child, stack.enter_context(child.get_record_counter())) for child in children
            ]
            for child in children:
                child.write_schema_once()

            keeps = self.stream_maps[0].get_filter_result

            def write(record: Record) -> None:
                if counters and keeps(record):  # a parent that a stream map filters out
                    for child, counter in counters:  # takes its child rows with it
                        child.emit_rows(record, counter)

            yield write

    def _log_summary(self, total: int, windows: list[Window]) -> None:
        """Say what the run cost and, if the call budget stopped it, where the next run resumes."""
        self.logger.info(
            "Made %d API call(s) for %d window(s); %d requests emitted",
            self.authenticator.calls,
            len(windows),
            total,
        )
        if self.held_back is not None:
            self.logger.warning(
                "max_api_calls (%s) reached: stopped before window %s; "
                "the next run continues from the saved bookmark",
                self.config.get("max_api_calls"),
                self.held_back,
            )

    def _note_emitted(self, value: str | None) -> None:
        """Remember the newest creation time emitted; RFC 3339 UTC strings sort as times."""
        if value and (self._newest_seen is None or value > self._newest_seen):
            self._newest_seen = value

    @override
    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        """Per-record progress markers are not needed: the bookmark moves per window."""

    def _checkpoint(self, *, resume_from: dt.date) -> None:
        """Advance the bookmark to the newest record emitted so far and write STATE.

        Called once a window is fully emitted: every record up to the bookmark has gone out,
        so a crash after this point loses at most the window in progress. `resume_from`, the
        day after the window, lets a pass that is cut short continue where it stopped rather
        than from the look-back again.
        """
        state = self.stream_state
        state[RESUME_KEY] = resume_from.isoformat()
        newest = self._newest_seen
        current = self._bookmark()
        if newest and (current is None or parse_instant(newest, dt.timezone.utc) > current):  # type: ignore[arg-type]
            state["replication_key"] = self.replication_key
            state["replication_key_value"] = newest
        self.state_manager.is_flushed = False
        self._write_state_message()

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        """No signpost: the bookmark is always a creation time that was emitted."""
        return

    @override
    def generate_child_contexts(
        self, record: Record, context: Context | None
    ) -> Iterator[Context | None]:
        """No per-record child syncs: `get_records` hands each child its rows directly."""
        yield from ()


class RequestChildStream(LeanRecordStream):
    """A stream of records nested in each request; rows come from the parent's records."""

    parent_stream_type = RequestsStream
    #: Cuts this stream's rows out of one shaped request (a function of `shaping`).
    extract: ClassVar[staticmethod[[dict[str, Any]], list[dict[str, Any]]]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        """Start with no SCHEMA sent."""
        super().__init__(*args, **kwargs)
        self._schema_sent = False

    def write_schema_once(self) -> None:
        """One SCHEMA message per run, however many parents pass by."""
        if not self._schema_sent:
            self._write_schema_message()
            self._schema_sent = True

    def emit_rows(self, request: dict[str, Any], counter: Counter) -> None:
        """Write a RECORD for each row this stream finds in `request`.

        Rows share nested objects with the parent record, which is written after them; a row
        that deselection or a catalog schema will change is copied first, so the parent keeps
        its own values.
        """
        isolate = self._deselects_anything or self.schema_overridden
        for row in self.extract(request):
            self._write_record_message(self._as_declared(copy.deepcopy(row)) if isolate else row)
            counter.increment()

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Nothing of its own: rows are written while the parent stream syncs."""
        return []

    @override
    def finalize_state_progress_markers(self, state: dict[str, Any] | None = None) -> None:
        """No state of its own: the parent's bookmark covers its rows."""


class OrdersStream(RequestChildStream):
    """Deals linked to each request."""

    name = "orders"
    primary_keys = ("orderId",)
    schema = schemas.ORDERS_SCHEMA
    extract = staticmethod(shaping.order_rows)


class CommentsStream(RequestChildStream):
    """Comments left on each request."""

    name = "comments"
    primary_keys = ("commentId",)
    schema = schemas.COMMENTS_SCHEMA
    extract = staticmethod(shaping.comment_rows)


class MapVisitsStream(RequestChildStream):
    """The visit history of the visitor behind each request."""

    name = "map_visits"
    primary_keys = ("requestId", "sessionId")
    schema = schemas.MAP_VISITS_SCHEMA
    extract = staticmethod(shaping.map_visit_rows)


class RequestTagsStream(RequestChildStream):
    """Tags of each request, one row per tag after splitting comma-joined names."""

    name = "request_tags"
    primary_keys = ("requestId", "name")
    schema = schemas.REQUEST_TAGS_SCHEMA
    extract = staticmethod(shaping.request_tag_rows)


STREAM_TYPES: list[type[Stream]] = [
    RequestsStream,
    OrdersStream,
    CommentsStream,
    MapVisitsStream,
    RequestTagsStream,
]
