"""How records reach the SDK: already shaped to their schemas, so the SDK's own path is cheap.

Every stream's records are built to fit its schema (`shaping`, `projection`), so the SDK's type
conformance is off. What the SDK cannot know is shaped in `post_process`, its public hook
before its record path (catalog deselection, stream maps, flattening, the msgspec writer):

- a catalog schema other than the built-in one (a Meltano `schema:` override): records are
  projected onto it, as the SCHEMA messages follow it;
- flattening: the SDK flattens the schema and each record by two walks that disagree on a
  value not of the shape its schema allows for. A null object (`session: null`) stays one key
  where the schema has its columns (`session__source`...): it is dropped, and loaders store its
  absent columns as null. A scalar in a field of open type (`isMarked`, any JSON value) keeps
  its type where the schema made a text column: it is sent as JSON text (`true` as "true").
"""

from __future__ import annotations

import select
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage
from singer_sdk.singerlib.json import serialize_json

from tap_calltouch.projection import Plan, compile_plan, project

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context
    from singer_sdk.singerlib.encoding.simple import Message


class RecordWriter(MsgSpecWriter):
    """The SDK's msgspec writer, with RECORD lines written in batches of up to 64 KB.

    The SDK's writer writes and flushes each message: a system call per record and child row,
    a third of the tap's CPU on a backfill (and stdout has no buffer of its own under
    `PYTHONUNBUFFERED=1`, as containers often set). RECORD lines wait here; any other message
    (SCHEMA, STATE) writes them first, so a STATE never reaches the target ahead of the records
    it covers. A stream's sync writes what is left as it ends or fails (`flush`); lines a kill
    loses are covered by no STATE, so the next run reads them again.
    """

    BUFFER_BYTES = 64 * 1024

    def __init__(self) -> None:
        """Start with no line waiting."""
        super().__init__()
        self._lines = bytearray()

    @override
    def write_message(self, message: Message) -> None:
        if not isinstance(message, RecordMessage):
            self._lines += self.format_message(message)
            self.flush()
            return
        end = len(self._lines)
        try:  # as `serialize_jsonl`, but in place
            encoder.encode_into(message.to_dict(), self._lines, -1)
        except BaseException:
            del self._lines[end:]  # no piece of a line that failed
            raise
        self._lines += b"\n"
        if len(self._lines) >= self.BUFFER_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write the lines waiting, whole, and flush stdout.

        Unbuffered, stdout is a raw file: a write to a full pipe that a signal interrupts
        returns having written part of the data, and the rest is written here. A host may
        hand over a non-blocking stdout: once its pipe is full, a write takes nothing (raw) or
        raises `BlockingIOError` (buffered), and the writer waits for the pipe to drain.
        """
        out, view = sys.stdout.buffer, memoryview(bytes(self._lines))
        self._lines.clear()
        while view:
            written = _write_some(out, view)
            if not written:
                select.select([], [out], [])  # a full non-blocking pipe: wait until it drains
            view = view[written:]
        while not _flushed():
            select.select([], [out], [])


def _write_some(out: IO[bytes], data: memoryview) -> int:
    """How much of `data` one write took: all, part, or nothing from a full non-blocking pipe."""
    try:
        return out.write(data) or 0
    except BlockingIOError as full:
        return full.characters_written


def _flushed() -> bool:
    """Whether stdout's buffer went out whole; not yet when a non-blocking pipe is full."""
    try:
        sys.stdout.flush()
    except BlockingIOError:
        return False
    return True


class ShapedStream(Stream):
    """A stream whose records are shaped to its schema before they reach the SDK."""

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    @cached_property
    def schema_overridden(self) -> bool:
        """Whether the input catalog declares a schema other than the built-in one."""
        return self.effective_schema != self.schema

    @cached_property
    def _declared_plan(self) -> Plan:
        return compile_plan(self.effective_schema, reference=self.schema)

    @cached_property
    def flat_shape(self) -> FlatShape | None:
        """How a record is shaped for the SDK's flattening; None when no stream map flattens."""
        for stream_map in self.stream_maps:
            options = stream_map.flattening_options
            if stream_map.flattening_enabled and options is not None:
                return FlatShape.of(stream_map.raw_schema, options.max_level)
        return None

    @cached_property
    def reshapes(self) -> bool:
        """Whether the way out changes a record's nested objects (deselection or shaping).

        Child rows share nested objects with their parent, so such a row is copied first.
        """
        return self.schema_overridden or self.flat_shape is not None or not all(self.mask.values())

    @override
    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        """The record as the catalog declares it and as flattening expects it (see above)."""
        if self.schema_overridden:
            project(row, self._declared_plan)
        if self.flat_shape is not None:
            self.flat_shape(row)
        return row

    @override
    def finalize_state_progress_markers(self, state: dict[str, Any] | None = None) -> None:
        """Finish the stream's state; a run stopped by a signal meanwhile stops here."""
        super().finalize_state_progress_markers(state)
        flush_records(self)
        self._tap.check_stopped()  # type: ignore[attr-defined]


def flush_records(stream: Stream) -> None:
    """Write the RECORD lines the tap's writer holds: a stream's sync ends, or failed."""
    writer = stream._tap.message_writer  # noqa: SLF001 - the tap the stream belongs to
    if isinstance(writer, RecordWriter):
        writer.flush()


@contextmanager
def written_on_failure(stream: Stream) -> Iterator[None]:
    """Write the RECORD lines the tap's writer holds when what runs inside fails.

    No STATE follows a failure, and the lines would die with the process: `sites` and
    `site_runs` records of a run that ends failing on its stopped sites among them.
    """
    try:
        yield
    except Exception:
        flush_records(stream)
        raise


@dataclass(frozen=True)
class FlatShape:
    """What the SDK's flattening opens in one object, and which of its keys become text."""

    #: Keys whose objects the flattened schema opens into columns, with their own shape.
    objects: dict[str, FlatShape] = field(default_factory=dict)
    #: Keys flattened into a JSON-text column: open types, free-form objects, arrays.
    texts: tuple[str, ...] = ()

    @classmethod
    def of(cls, schema: dict[str, Any], max_level: int, level: int = 0) -> FlatShape:
        """The shape of an object schema flattened to `max_level`, as `flatten_schema` does it."""
        objects: dict[str, FlatShape] = {}
        texts: list[str] = []
        for name, sub in (schema.get("properties") or {}).items():
            types = sub.get("type")
            if types is None:
                if not any(isinstance(value, list) for value in sub.values()):  # not anyOf...
                    texts.append(name)  # a typeless property: a text column
                continue
            types = [types] if isinstance(types, str) else types
            if "object" in types and "properties" in sub and level < max_level:
                objects[name] = cls.of(sub, max_level, level + 1)
            elif "array" in types or "object" in types:
                texts.append(name)
        return cls(objects, tuple(texts))

    def __call__(self, record: dict[str, Any]) -> None:
        """Shape `record` in place: null objects dropped, scalars of text columns as JSON text.

        Objects and arrays are left to the SDK, which writes them as JSON text itself.
        """
        for key in self.texts:
            value = record.get(key)
            if value is not None and not isinstance(value, (str, dict, list)):
                record[key] = serialize_json(value)
        for key, inner in self.objects.items():
            value = record.get(key)
            if isinstance(value, dict):
                inner(value)
            elif value is None and key in record:
                del record[key]
