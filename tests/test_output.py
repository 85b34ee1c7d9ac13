"""The fast writer emits valid Singer lines, UTF-8 intact, flushes at STATE, and never cuts one."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any

import pytest
from singer_sdk.singerlib import RecordMessage, StateMessage

from tap_calltouch.errors import CalltouchAPIError
from tap_calltouch.output import FastSingerWriter
from tap_calltouch.tap import TapCalltouch
from tests.conftest import FIRST_DAY, REQUEST_STREAMS, TOKEN, catalog_selecting
from tests.emulator.calls_dataset import generate_calls
from tests.emulator.dataset import DEFAULT_SITE_ID
from tests.emulator.server import Emulator
from tests.test_faults import sync


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


class Stop(Exception):  # noqa: N818 - stands in for the SystemExit a signal handler raises
    pass


class InterruptedMidLine(io.StringIO):
    """stdout whose first write is interrupted by a "signal" half-way through the line."""

    def __init__(self, writer: FastSingerWriter) -> None:
        super().__init__()
        self.writer = writer

    def write(self, text: str) -> int:
        half = len(text) // 2
        super().write(text[:half])
        self.writer.interrupt(Stop())  # as the handler would, with the line half written
        return half + super().write(text[half:])


def test_a_stop_during_a_write_waits_for_the_whole_line(monkeypatch: pytest.MonkeyPatch) -> None:
    writer = FastSingerWriter()
    out = InterruptedMidLine(writer)
    monkeypatch.setattr("sys.stdout", out)
    with pytest.raises(Stop):
        writer.write_message(StateMessage(value={"bookmarks": {"requests": {}}}))
    assert json.loads(out.getvalue()) == {"type": "STATE", "value": {"bookmarks": {"requests": {}}}}
    assert out.getvalue().endswith("\n")


def test_a_stop_between_writes_is_raised_at_once() -> None:
    with pytest.raises(Stop):
        FastSingerWriter().interrupt(Stop())


@pytest.mark.parametrize("version", [None, 1764547200])
def test_a_record_written_straight_is_the_line_of_its_record_message(
    monkeypatch: pytest.MonkeyPatch, version: int | None
) -> None:
    extracted = dt.datetime(2026, 11, 1, 12, 30, 1, 123456, tzinfo=dt.timezone.utc)
    monkeypatch.setattr("tap_calltouch.output.utc_now", lambda: extracted)
    record = {"requestId": 1, "subject": "Заявка", "sum": Decimal("2800.50"), "tags": ["a"]}
    lines = []
    for write in (
        lambda writer: writer.write_record("requests", record, version),
        lambda writer: writer.write_message(
            RecordMessage(
                stream="requests", record=record, version=version, time_extracted=extracted
            )
        ),
    ):
        out = CountingStream()
        monkeypatch.setattr("sys.stdout", out)
        write(FastSingerWriter())
        assert out.flushes == 0
        lines.append(out.getvalue())
    assert lines[0] == lines[1]


def test_rows_written_at_once_are_the_lines_of_their_record_messages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extracted = dt.datetime(2026, 11, 1, 12, 30, 1, 123456, tzinfo=dt.timezone.utc)
    monkeypatch.setattr("tap_calltouch.output.utc_now", lambda: extracted)
    rows = [{"requestId": 1, "name": "тег"}, {"requestId": 1, "name": "b"}]
    out = CountingStream()
    monkeypatch.setattr("sys.stdout", out)
    FastSingerWriter().write_records("request_tags", rows, None)
    together = out.getvalue()
    out = CountingStream()
    monkeypatch.setattr("sys.stdout", out)
    writer = FastSingerWriter()
    for row in rows:
        writer.write_message(
            RecordMessage(stream="request_tags", record=row, time_extracted=extracted)
        )
    assert together == out.getvalue()
    assert out.flushes == 0


class WriteLog(io.StringIO):
    """Stdout that keeps each write apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def test_record_lines_go_out_in_few_writes_each_parent_whole_with_its_child_rows(
    config: dict[str, Any],
) -> None:
    out = WriteLog()
    with contextlib.redirect_stdout(out):
        TapCalltouch(config=config, catalog=catalog_selecting(REQUEST_STREAMS)).sync_all()
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    children: list[dict[str, Any]] = []  # the rows before the next parent
    most_streams = 0
    for message in messages:
        if message["type"] != "RECORD":
            assert children == []  # no SCHEMA or STATE between a parent and its rows
        elif message["stream"] != "requests":
            children.append(message)
        else:
            parent = message["record"]["requestId"]
            assert all(row["record"]["requestId"] == parent for row in children)
            most_streams = max(most_streams, len({row["stream"] for row in children}) + 1)
            children = []
    assert most_streams > 2  # some parent had rows in several child streams
    record_writes = 0
    for text in out.writes:
        assert text.endswith("\n") or not text  # whole lines only
        lines = [json.loads(line) for line in text.splitlines()]
        records = [line for line in lines if line["type"] == "RECORD"]
        if records:
            record_writes += 1
            assert records[-1]["stream"] == "requests"  # no parent's rows left for the next write
    # RECORD lines wait for BUFFER_BYTES, or for the next other message: not a write a parent.
    others = sum(message["type"] != "RECORD" for message in messages)
    parents = sum(m["type"] == "RECORD" and m["stream"] == "requests" for m in messages)
    bound = len(out.getvalue().encode()) // FastSingerWriter.BUFFER_BYTES + others + 1
    assert record_writes <= bound < parents


def _failing_run(buffer_bytes: int, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """A calls sync refused on the second page of its first window, as written to stdout."""
    monkeypatch.setattr(FastSingerWriter, "BUFFER_BYTES", buffer_bytes)
    calls = generate_calls(seed=5, start=FIRST_DAY, days=4, per_day=60)
    with Emulator(dataset=[], calls=calls, token=TOKEN) as emulator:
        emulator.inject("status", status=403, journal="calls", page=2)
        settings = {
            "api_token": TOKEN,
            "site_id": str(DEFAULT_SITE_ID),
            "start_date": FIRST_DAY.isoformat(),
            "end_date": (FIRST_DAY + dt.timedelta(days=3)).isoformat(),
            "api_url": emulator.url,
            "page_size": 40,
        }
        run = sync(settings, streams=("calls", "call_tags"))
    assert isinstance(run.error, CalltouchAPIError)
    for message in run.result.messages:
        message.pop("time_extracted", None)
    return run.result.messages


def test_a_failing_run_writes_the_records_it_read_as_an_unbuffered_writer_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rows of the window in progress are covered by no STATE, but they went out before
    RECORD lines waited in a buffer, and a target loads what it gets."""
    buffered = _failing_run(FastSingerWriter.BUFFER_BYTES, monkeypatch)
    unbuffered = _failing_run(0, monkeypatch)
    assert any(message["type"] == "RECORD" for message in unbuffered)
    assert buffered == unbuffered
