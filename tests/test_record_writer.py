"""The tap's message writer: RECORD lines wait in the writer, any other message writes them.

Under `PYTHONUNBUFFERED=1` stdout has no buffer of its own. The stream is not the tap's: a
host that captures output (pytest does) or Python itself holds it, and it stays as it is.
"""

from __future__ import annotations

import gc
import io
import json
import signal
import sys
from typing import TYPE_CHECKING
from unittest import mock

import pytest
from singer_sdk.singerlib import RecordMessage, StateMessage

from tap_calltouch.records import RecordWriter
from tests import test_process, test_stopping
from tests.conftest import FIRST_DAY, TOKEN
from tests.emulator.dataset import generate_dataset
from tests.emulator.server import Emulator
from tests.test_faults import settings

if TYPE_CHECKING:
    from pathlib import Path


def test_records_wait_for_the_next_state_and_stdout_stays_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "stdout"
    saved = sys.stdout
    with path.open("wb", buffering=0) as raw:  # what `python -u` and pytest's capture give
        # Held, as Python holds `sys.__stdout__` and pytest its capture: the owner's stream.
        owned = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
        sys.stdout = owned
        try:
            writer = RecordWriter()
            assert sys.stdout is owned
            writer.write_message(RecordMessage(stream="s", record={"n": 1}))
            assert path.read_bytes() == b""  # a RECORD waits
            writer.write_message(StateMessage(value={"n": 1}))
            assert path.read_bytes().count(b"\n") == 2  # a STATE goes out after its records
            writer.write_message(RecordMessage(stream="s", record={"n": 2}))
            writer.flush()  # a stream's sync ended or failed
        finally:
            sys.stdout = saved
        del writer
        gc.collect()
        assert not raw.closed
        owned.write("after\n")
    lines = path.read_bytes().decode().splitlines()
    assert [json.loads(line)["type"] for line in lines[:3]] == ["RECORD", "STATE", "RECORD"]
    assert lines[3:] == ["after"]


@pytest.mark.slow
def test_an_unbuffered_python_stopped_by_sigterm_ends_with_whole_lines(tmp_path: Path) -> None:
    """PYTHONUNBUFFERED=1, as containers set it: stdout ends with whole lines, its last STATE
    the last complete window, every record up to it out."""
    dataset = generate_dataset(seed=23, start=FIRST_DAY, days=test_stopping.DAYS, per_day=6)
    with (
        mock.patch.dict(test_process.ENV, {"PYTHONUNBUFFERED": "1"}),
        Emulator(dataset=dataset, token=TOKEN) as server,
    ):
        server.inject("hang", match={"dateFrom": test_stopping.HANGING_DAY})
        backing_off = {"dateFrom": test_stopping.BACKING_OFF_DAY}
        server.inject("status", status=503, retry_after=30, match=backing_off)
        stopped = test_stopping.run_and_stop(
            tmp_path,
            server,
            ready=test_stopping.state_at(test_stopping.LAST_COMPLETE_DAY, server),
            signum=signal.SIGTERM,
        )
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    test_stopping.assert_whole_lines_up_to(stopped, dataset, test_stopping.LAST_COMPLETE_DAY)


@pytest.mark.slow
def test_an_unbuffered_python_writes_the_same_messages(tmp_path: Path) -> None:
    dataset = generate_dataset(seed=5, start=FIRST_DAY, days=6, per_day=40)
    outputs = []
    with Emulator(dataset=dataset, token=TOKEN, rate_limit=None) as server:
        for unbuffered in ("0", "1"):
            env = {"PYTHONUNBUFFERED": "1"} if unbuffered == "1" else {}
            with mock.patch.dict(test_process.ENV, env):
                process = test_process.start_tap(tmp_path / unbuffered, settings(server.url))
                stdout, stderr = process.communicate(timeout=test_process.GUARD)
            assert process.returncode == 0, stderr[-2000:]
            outputs.append(stdout)
    messages = [[json.loads(line) for line in out.splitlines()] for out in outputs]
    assert [m["type"] for m in messages[0]] == [m["type"] for m in messages[1]]
    assert sum(m["type"] == "RECORD" for m in messages[0]) > 0


def test_a_record_that_cannot_be_encoded_leaves_no_piece_of_its_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Encoded in place into the lines held, a record that fails partway is taken out again:
    the next flush writes whole lines only."""
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out, write_through=True))
    writer = RecordWriter()
    writer.write_message(RecordMessage(stream="calls", record={"callId": 1}))
    deep: dict[str, object] = {}
    inner = deep
    for _ in range(sys.getrecursionlimit() + 10):  # deeper than the encoder goes
        inner["x"] = inner = {}
    with pytest.raises(RecursionError):
        writer.write_message(RecordMessage(stream="calls", record={"callId": 2, "deep": deep}))
    writer.write_message(StateMessage(value={"bookmark": 1}))
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["RECORD", "STATE"]
    assert json.loads(lines[0])["record"] == {"callId": 1}
