"""How records leave the tap: lean RECORD messages and a fast Singer writer.

The SDK's default per-record path walks the schema twice (selection mask, type conformance)
and serialises with simplejson, flushing stdout after every message. Records here are already
shaped to their schemas, so the walk is kept only for what a catalog deselects, and messages
are serialised with orjson and flushed at SCHEMA and STATE rather than at every RECORD.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

import orjson
from singer_sdk import Stream
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import RecordMessage

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Generator

    from singer_sdk.singerlib.encoding.simple import Message


def _fallback(value: Any) -> Any:  # noqa: ANN401 - orjson asks for anything it cannot encode
    """Encode what orjson does not know natively (decimals from user state or stream maps)."""
    if isinstance(value, Decimal):
        return float(value) if value % 1 else int(value)
    return str(value)


class FastSingerWriter(SingerWriter):
    """Singer messages as orjson lines; stdout is flushed at each non-RECORD message.

    A stop raised through `interrupt` never cuts a line: a signal handler runs in the main
    thread, which may be inside a write blocked on a full pipe, and an exception escaping
    from there can leave part of a line on stdout and lose the rest.
    """

    _writing = False  # a line is being written
    _stop: BaseException | None = None  # raised once the line being written is whole

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
        self._writing = True
        try:
            stdout = sys.stdout
            raw = getattr(stdout, "buffer", None)  # absent when a test swaps in a StringIO
            if raw is None:
                stdout.write(self.serialize_message(message))
            else:
                raw.write(self._line(message))
            if not isinstance(message, RecordMessage):
                (raw or stdout).flush()
        finally:
            self._writing = False
        if self._stop is not None:
            raise self._stop

    @staticmethod
    def _line(message: Message) -> bytes:
        return orjson.dumps(message.to_dict(), default=_fallback, option=orjson.OPT_APPEND_NEWLINE)


class LeanRecordStream(Stream):
    """A stream whose records are shaped to its schema before they reach the SDK."""

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    @cached_property
    def _deselects_anything(self) -> bool:
        """Whether the catalog deselects any property (then the mask walk is needed)."""
        return not all(self.mask.values())

    @override
    def _generate_record_messages(
        self, record: dict[str, Any]
    ) -> Generator[RecordMessage, None, None]:
        """RECORD messages for each stream map, without re-walking an all-selected schema."""
        if self._deselects_anything:
            pop_deselected_record_properties(record, self.schema, self.mask)
        extracted = utc_now()
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=extracted,
                )
