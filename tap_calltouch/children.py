"""Child streams: rows cut from the parent record in hand, one SCHEMA per child stream per run.

The SDK's own child sync runs once per parent record, each time with a SCHEMA message and a
metrics line (9,535 SCHEMA messages for 9,535 parents). Here the parent's sync writes each
child's rows itself, before the parent's RECORD, through the child's own record path (catalog
deselection, stream maps, flattening, the writer). A child keeps no state: the parent's
bookmark covers its rows.
"""

from __future__ import annotations

import copy
import sys
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from tap_calltouch.records import ShapedStream, written_on_failure

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from singer_sdk import Stream
    from singer_sdk.helpers.types import Context, Record

    from tap_calltouch.shaping import ChildRows, TagRows

    #: Writes the rows of every selected child stream of one parent record.
    ChildWriter = Callable[[Record], None]


class ChildStream(ShapedStream):
    """A stream of records nested in each parent record; rows come from the parent in hand.

    Subclasses declare `name`, `parent_stream_type`, `primary_keys`, `schema` and `extract`.
    """

    #: Cuts this stream's rows out of one shaped parent (`shaping.ChildRows` or `TagRows`).
    extract: ClassVar[ChildRows | TagRows]

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        """Start with no SCHEMA sent."""
        super().__init__(*args, **kwargs)
        self._schema_sent = False
        self.left_out = 0  # items of the parents without an id of their own, since last said

    def report_left_out(self) -> None:
        """Warn once of the items left out since the last warning."""
        if self.left_out:
            self.logger.warning(
                "%d %s item(s) without an integer `%s` not emitted: the primary key cannot be "
                "null; the parent's `%s` column still holds them",
                *(self.left_out, self.name, self.extract.key, self.extract.field),
            )
            self.left_out = 0

    def write_schema_once(self) -> None:
        """One SCHEMA message per run, however many parents pass by."""
        if not self._schema_sent:
            self._write_schema_message()
            self._schema_sent = True

    def write_rows(self, parent: dict[str, Any]) -> int:
        """Write a RECORD for each of this stream's rows of `parent`; returns how many rows.

        Rows share nested objects with the parent, whose RECORD comes after them: a row whose
        way out changes nested objects (`reshapes`) is copied first, so the parent keeps its own.
        """
        rows: list[dict[str, Any] | None]
        rows, left_out = self.extract.split(parent)  # type: ignore[assignment]
        self.left_out += left_out  # items of the parent without an id of their own
        if not rows:  # most parents have no rows of a kind
            return 0
        if self.reshapes:  # else `post_process` has nothing to do
            rows = [self.post_process(copy.deepcopy(row)) for row in rows if row is not None]
        for row in rows:
            if row is not None:
                self._write_record_message(row)
        return len(rows)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Nothing of its own: rows are written while the parent stream syncs."""
        return []

    @override
    def finalize_state_progress_markers(self, state: dict[str, Any] | None = None) -> None:
        """No state of its own: the parent's bookmark covers its rows."""


@contextmanager
def child_writer(parent: Stream) -> Iterator[ChildWriter]:
    """A function writing each selected child stream's rows of one record of `parent`.

    Each child's SCHEMA goes out once, here; its record counter reports at the end, and so do
    the items it left out. A sync that fails writes the RECORD lines it holds first.
    """
    children = [c for c in parent.child_streams if c.selected and isinstance(c, ChildStream)]
    with ExitStack() as stack:
        stack.enter_context(written_on_failure(parent))
        counters = [(child, stack.enter_context(child.get_record_counter())) for child in children]
        for child in children:
            child.write_schema_once()
        keeps = parent.stream_maps[0].get_filter_result

        def write(record: Record) -> None:
            # A parent that a stream map filters out takes its child rows with it.
            if counters and keeps(record):
                for child, counter in counters:
                    written = child.write_rows(record)
                    if written:  # most parents have no rows of a kind
                        counter.increment(written)

        try:
            yield write
        finally:
            for child in children:
                child.report_left_out()
