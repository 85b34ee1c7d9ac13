"""The fast writer emits valid Singer lines, UTF-8 intact, and flushes at STATE."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from typing import TYPE_CHECKING

from singer_sdk.singerlib import RecordMessage, StateMessage

from tap_calltouch.output import FastSingerWriter

if TYPE_CHECKING:
    import pytest


class CountingStream(io.StringIO):
    flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_writer_serialises_like_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    out = CountingStream()
    monkeypatch.setattr("sys.stdout", out)
    writer = FastSingerWriter()
    extracted = dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc)
    writer.write_message(
        RecordMessage(
            stream="comments",
            record={"comment": "Перезвонить\n", "sum": Decimal("2800.50"), "n": Decimal(3)},
            time_extracted=extracted,
        )
    )
    assert out.flushes == 0  # records are not flushed one by one
    writer.write_message(StateMessage(value={"bookmarks": {}}))
    assert out.flushes == 1
    record, state = (json.loads(line) for line in out.getvalue().splitlines())
    assert record == {
        "type": "RECORD",
        "stream": "comments",
        "record": {"comment": "Перезвонить\n", "sum": 2800.5, "n": 3},
        "time_extracted": "2026-11-01T12:00:00+00:00",
    }
    assert "Перезвонить" in out.getvalue()  # UTF-8, not \\u escapes
    assert state == {"type": "STATE", "value": {"bookmarks": {}}}
