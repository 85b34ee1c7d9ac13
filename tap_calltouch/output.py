"""How records leave the tap: lean RECORD messages and a fast Singer writer.

The SDK's default per-record path walks the schema twice (selection mask, type conformance)
and serialises with simplejson, flushing stdout after every message. Records here are already
shaped to their schemas, so the walk is kept only for what a catalog deselects, and messages
are serialised with orjson and flushed at SCHEMA and STATE rather than at every RECORD.
With flattening on, each flattened record is repaired to fit the flattened schema the SDK sent.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson
from singer_sdk import Stream
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.io_base import SingerWriter
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib import RecordMessage
from singer_sdk.singerlib.json import serialize_json

from tap_calltouch.projection import Plan, compile_plan, project

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Generator

    from singer_sdk.helpers.types import Context
    from singer_sdk.mapper import StreamMap
    from singer_sdk.singerlib.encoding.simple import Message


def _fallback(value: Any) -> Any:  # noqa: ANN401 - orjson asks for anything it cannot encode
    """Encode what orjson does not know natively (decimals from user state or stream maps)."""
    if isinstance(value, Decimal):
        return float(value) if value % 1 else int(value)
    return str(value)


class FastSingerWriter(SingerWriter):
    """Singer messages as orjson lines; RECORD lines wait in a buffer, flushed by any other.

    RECORD lines go out in writes of up to `BUFFER_BYTES`, whatever stdout's own buffering
    (none with `PYTHONUNBUFFERED=1`, as containers often set: a system call per parent). Any
    other message (SCHEMA, STATE) writes the lines before it first and flushes, so a STATE
    never reaches the target ahead of the records it covers; lines still waiting when a run
    stops are covered by no STATE, and the next run reads them again.

    A stop raised through `interrupt` never cuts a line: a signal handler runs in the main
    thread, which may be inside a write blocked on a full pipe, and an exception escaping
    from there can leave part of a line on stdout and lose the rest.
    """

    BUFFER_BYTES = 64 * 1024
    _writing = False  # a line is being written
    _stop: BaseException | None = None  # raised once the line being written is whole

    def __init__(self) -> None:
        """Start with no RECORD line waiting."""
        super().__init__()
        self._waiting: list[bytes] = []
        self._waiting_bytes = 0

    def interrupt(self, stop: BaseException) -> None:
        """Raise `stop` now or, if a line is being written, as soon as that line is whole.

        Meant for a signal handler, which Python runs in the main thread between two
        bytecodes or inside a blocking call; a write it interrupts then carries on.
        """
        if self._writing:
            self._stop = stop
            return
        raise stop

    @override
    def serialize_message(self, message: Message) -> str:
        return self._line(message).decode()

    @override
    def write_message(self, message: Message) -> None:
        self._write(self._line(message), flush=not isinstance(message, RecordMessage))

    def write_record(self, stream: str, record: dict[str, Any], version: int | None) -> None:
        """The line `write_message(RecordMessage(...))` writes, without building the message.

        A RECORD line is written per record and per child row: the message object, its
        dataclass checks and its `to_dict` were a third of the cost of each.
        """
        self._write(record_lines(stream, [record], version), flush=False)

    def write_records(
        self, stream: str, records: list[dict[str, Any]], version: int | None
    ) -> None:
        """The lines of several records of one stream, in one write (a parent's child rows)."""
        self._write(record_lines(stream, records, version), flush=False)

    def write_lines(self, lines: list[bytes]) -> None:
        """Lines of `record_lines`, in one write (all child rows of a parent)."""
        self._write(b"".join(lines), flush=False)

    def flush(self) -> None:
        """Write the RECORD lines still waiting (the end of a run)."""
        self._write(b"", flush=True)

    def _write(self, line: bytes, *, flush: bool) -> None:
        if not flush:
            self._waiting.append(line)
            self._waiting_bytes += len(line)
            if self._waiting_bytes < self.BUFFER_BYTES:
                return
            line = b""
        if self._waiting:
            self._waiting.append(line)
            line = b"".join(self._waiting)
            self._waiting.clear()
            self._waiting_bytes = 0
        self._writing = True
        try:
            stdout = sys.stdout
            raw = getattr(stdout, "buffer", None)  # absent when a test swaps in a StringIO
            if raw is None:
                stdout.write(line.decode())
            else:
                _write_whole(raw, line)
            if flush:
                (raw or stdout).flush()
        finally:
            self._writing = False
        if self._stop is not None:
            raise self._stop

    @staticmethod
    def _line(message: Message) -> bytes:
        return orjson.dumps(message.to_dict(), default=_fallback, option=orjson.OPT_APPEND_NEWLINE)


def _write_whole(raw: BinaryIO, data: bytes) -> None:
    """Write all of `data`, however many calls the file takes.

    An unbuffered stdout (`PYTHONUNBUFFERED=1`) is a raw file: its write to a full pipe that a
    signal interrupts returns having written only part of the data.
    """
    view = memoryview(data)
    while view:
        written = raw.write(view)
        view = view[written if written is not None else 0 :]


def record_lines(
    stream: str,
    records: list[dict[str, Any]],
    version: int | None,
    extracted: bytes | None = None,
) -> bytes:
    """The lines `FastSingerWriter._line` gives for these records' `RecordMessage`s.

    Only the record is serialised per line: the message's other fields are the same bytes on
    every line of one call, extracted at one time (`extracted_now`, or now), so they are
    encoded once.
    """
    head = _record_head(stream)
    tail = b',"time_extracted":' + (extracted or extracted_now()) + b"}\n"
    if version is not None:
        tail = b',"version":' + orjson.dumps(version) + tail
    dumps = orjson.dumps
    return head + (tail + head).join([dumps(row, default=_fallback) for row in records]) + tail


def extracted_now() -> bytes:
    """Now as a RECORD's `time_extracted`, encoded: one time for the rows cut from one parent."""
    return orjson.dumps(utc_now())


@cache
def _record_head(stream: str) -> bytes:
    return b'{"type":"RECORD","stream":' + orjson.dumps(stream) + b',"record":'


@dataclass(frozen=True)
class FlatteningRepair:
    """Makes a record flattened by the SDK fit the schema flattened by the SDK.

    The SDK flattens the schema by walking the schema and each record by walking the record,
    and the two walks disagree on a value that does not have the shape its schema allows for:

    - a null object (`session: null`): the schema's walk gives its fields as columns
      (`session__source`, ...), the record's walk keeps `session`, a column the schema lacks.
      The key is dropped: its columns are then absent, which loaders store as null.
    - a scalar in a field of open type (`isMarked`, any JSON value): the schema's walk makes it
      a text column, since it may hold an object or an array, but the record's walk serialises
      only dicts and lists. It is sent as JSON text too (`true` as "true"); every text-only
      column is checked, as the schema alone cannot tell which ones came from open types.

    Any other undeclared key is left for the tests to catch. Only flattening streams pay for this.
    """

    columns: frozenset[str]
    text_columns: tuple[str, ...]

    @classmethod
    def for_schema(cls, flattened_schema: dict[str, Any]) -> FlatteningRepair:
        """The repair for records flattened along with `flattened_schema`."""
        properties: dict[str, Any] = flattened_schema["properties"]
        text = tuple(name for name, schema in properties.items() if _holds_text(schema))
        return cls(columns=frozenset(properties), text_columns=text)

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        """Repair `record` in place; returns it."""
        if not self.columns.issuperset(record):
            for key in record.keys() - self.columns:
                if record[key] is None:
                    del record[key]
        for key in self.text_columns:
            value = record.get(key)
            if value is not None and not isinstance(value, str):
                record[key] = serialize_json(value)
        return record


def _holds_text(schema: dict[str, Any]) -> bool:
    """Whether a column's schema allows text and nothing else but null."""
    types = schema.get("type", ())
    types = {types} if isinstance(types, str) else set(types)
    return types - {"null"} == {"string"}


class LeanRecordStream(Stream):
    """A stream whose records are shaped to its schema before they reach the SDK."""

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    #: A record whose RECORD line is already out, written along with its child rows.
    written_along: dict[str, Any] | None = None

    @override
    def finalize_state_progress_markers(self, state: dict[str, Any] | None = None) -> None:
        """Finish the sync's state, then write the RECORD lines the writer still holds.

        The SDK calls this after each stream's sync; a dry run (`--test`) ends on RECORDs.
        """
        super().finalize_state_progress_markers(state)
        writer = self._tap.message_writer
        if isinstance(writer, FastSingerWriter):
            writer.flush()

    @override
    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> Generator[dict[str, Any], Any, Any]:
        """The SDK's sync of records; a sync that fails writes the RECORD lines still held.

        They are covered by no STATE, but unbuffered they went out before the failure, and a
        target loads what it gets. A signal's stop (`Interrupted`, no `Exception`) writes
        nothing more: its writer may be stuck on a full pipe.
        """
        try:
            return (yield from super()._sync_records(context, write_messages=write_messages))
        except Exception:
            writer = self._tap.message_writer
            if isinstance(writer, FastSingerWriter):
                with contextlib.suppress(OSError):  # the failure to report is the one raised
                    writer.flush()
            raise

    @cached_property
    def schema_overridden(self) -> bool:
        """Whether the input catalog declares a schema other than the built-in one."""
        return self.effective_schema != self.schema

    @cached_property
    def _declared_plan(self) -> Plan:
        return compile_plan(self.effective_schema, reference=self.schema)

    def _as_declared(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record projected onto the catalog's schema, when the catalog overrides ours.

        SCHEMA messages follow the catalog (e.g. a Meltano `schema:` override), so records
        must too: undeclared fields go, and scalars the catalog retypes are converted.
        """
        if self.schema_overridden:
            project(record, self._declared_plan)
        return record

    @cached_property
    def _deselects_anything(self) -> bool:
        """Whether the catalog deselects any property (then the mask walk is needed)."""
        return not all(self.mask.values())

    @cached_property
    def _maps_and_repairs(self) -> list[tuple[StreamMap, FlatteningRepair | None]]:
        """Each stream map, with the repair of its records when it flattens them."""
        return [
            (stream_map, FlatteningRepair.for_schema(stream_map.transformed_schema))
            if stream_map.flattening_enabled
            else (stream_map, None)
            for stream_map in self.stream_maps
        ]

    @cached_property
    def _direct(self) -> tuple[FastSingerWriter, str] | None:
        """The writer and stream name of RECORD lines written straight from the record.

        Straight when nothing comes between a record and its line: the fast writer, nothing
        deselected, and only the SDK's pass-through stream map, without flattening.
        """
        writer = self._tap.message_writer
        maps = self.stream_maps
        if (
            not isinstance(writer, FastSingerWriter)
            or self._deselects_anything
            or len(maps) != 1
            or type(maps[0]) is not SameRecordTransform
            or maps[0].flattening_enabled
        ):
            return None
        return writer, maps[0].stream_alias

    @override
    def _write_record_message(self, record: dict[str, Any]) -> None:
        """Write the record's RECORD line; the SDK's way when a map or deselection applies."""
        if record is self.written_along:  # out already, in one write with its child rows
            self.written_along = None
            return
        direct = self._direct
        if direct is None:
            super()._write_record_message(record)
            return
        writer, stream = direct
        writer.write_record(stream, record, self._stream_version)
        self.state_manager.is_flushed = False

    @override
    def _generate_record_messages(
        self, record: dict[str, Any]
    ) -> Generator[RecordMessage, None, None]:
        """RECORD messages for each stream map, without re-walking an all-selected schema."""
        if self._deselects_anything:
            pop_deselected_record_properties(record, self.schema, self.mask)
        extracted = utc_now()
        for stream_map, repair in self._maps_and_repairs:
            mapped = stream_map.transform(record)
            if mapped is not None:
                if repair is not None:
                    repair(mapped)
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=extracted,
                )
