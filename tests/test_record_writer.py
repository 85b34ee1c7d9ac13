"""The tap's message writer: RECORD lines wait in the writer, any other message writes them.

Under `PYTHONUNBUFFERED=1` stdout has no buffer of its own. The stream is not the tap's: a
host that captures output (pytest does) or Python itself holds it, and it stays as it is.
"""

from __future__ import annotations

import gc
import io
import itertools
import json
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any
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


class CountingFile(io.FileIO):
    """A raw file that notes how many bytes each write took (None: it would have blocked)."""

    taken: list[int | None]

    def write(self, data: Any) -> int | None:
        taken = super().write(data)
        self.taken.append(taken)
        return taken


@pytest.mark.parametrize("buffered", [False, True], ids=["unbuffered", "buffered"])
def test_a_non_blocking_stdout_that_fills_is_waited_for_not_spun_on_or_fatal(
    buffered: bool,  # noqa: FBT001
) -> None:
    """A host can hand the tap a non-blocking stdout (one it set so itself). Once its pipe is
    full a write takes nothing: the writer waits until the pipe drains (not trying again and
    again in vain, which spins a core) and the run goes on (a buffered stdout raised
    BlockingIOError and ended it), every line whole and in order."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    raw = CountingFile(write_end, "wb", closefd=True)
    raw.taken = []
    stream = io.BufferedWriter(raw) if buffered else raw
    saved = sys.stdout
    received = bytearray()
    started = threading.Event()

    def read() -> None:
        started.wait()
        time.sleep(0.2)  # the pipe (64 KB) fills meanwhile
        with os.fdopen(read_end, "rb") as pipe:
            received.extend(pipe.read())

    reader = threading.Thread(target=read)
    reader.start()
    count = 20_000  # about 1 MB of lines
    try:
        sys.stdout = io.TextIOWrapper(stream, encoding="utf-8", write_through=True)  # type: ignore[arg-type]
        writer = RecordWriter()
        started.set()
        for number in range(count):
            writer.write_message(RecordMessage(stream="s", record={"n": number, "pad": "x" * 30}))
        writer.write_message(StateMessage(value={"n": count}))
    finally:
        sys.stdout = saved
        stream.close()
        reader.join(timeout=30)
    lines = [json.loads(line) for line in received.decode().splitlines()]
    assert [line["record"]["n"] for line in lines[:-1]] == list(range(count))
    assert lines[-1] == {"type": "STATE", "value": {"n": count}}
    assert None in raw.taken or 0 in raw.taken  # the pipe did fill
    # In vain in a row: at most the buffered writer's own two tries (its buffer, then the
    # data) before it raises; spinning, thousands while the reader sleeps.
    runs = [len(list(run)) for vain, run in itertools.groupby(raw.taken, lambda n: not n) if vain]
    assert max(runs) <= 2, runs
