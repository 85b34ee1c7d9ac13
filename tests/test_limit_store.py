"""`rate_limit_store`: which URLs name a store, and a store that cannot be opened stops the run
before its first call, with one message naming the setting and never the password."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pyrate_limiter import RateItem

from tap_calltouch import auth, limit_store
from tap_calltouch.auth import (
    SLOT,
    STALE_SLOT,
    RateLimitedTokenAuthenticator,
    build_limiter,
    spacing_ms,
)
from tap_calltouch.limit_store import (
    POSTGRES,
    SQLITE,
    ProcessLock,
    RateStoreError,
    parse_store,
)
from tap_calltouch.redact import redact_registered
from tap_calltouch.tap import TapCalltouch
from tests.conftest import TOKEN, run_tap
from tests.emulator.dataset import generate_dataset
from tests.emulator.server import API_PATH, Emulator
from tests.test_faults import closed_port
from tests.test_process import ENV, TAP

if TYPE_CHECKING:
    from collections.abc import Iterator

PASSWORD = "s3cret/Пароль@:x"  # noqa: S105 - made up; "/", "@" and ":" must be escaped in a URL
ESCAPED = "s3cret%2F%D0%9F%D0%B0%D1%80%D0%BE%D0%BB%D1%8C%40%3Ax"


@pytest.mark.parametrize(
    ("url", "kind", "target"),
    [
        ("sqlite:////var/lib/calltouch/limit.db", SQLITE, "/var/lib/calltouch/limit.db"),
        ("SQLITE:////srv/a b.db", SQLITE, "/srv/a b.db"),
        (
            "postgresql://u:p@db.local:5433/limits",
            POSTGRES,
            "postgresql://u:p@db.local:5433/limits",
        ),
        ("postgres://u@db/limits", POSTGRES, "postgresql://u@db/limits"),
        ("postgresql+psycopg://u:p@db/limits", POSTGRES, "postgresql://u:p@db/limits"),
    ],
)
def test_a_store_url_names_a_file_or_a_database(url: str, kind: str, target: str) -> None:
    store = parse_store(url)
    assert (store.kind, store.target) == (kind, target)


def test_a_store_is_shown_by_its_place_alone_and_its_password_never() -> None:
    url = f"postgresql://calltouch:{ESCAPED}@127.0.0.1:5432/limits?sslmode=disable"
    store = parse_store(url)
    assert store.shown == "postgresql://127.0.0.1:5432/limits"
    assert PASSWORD not in repr(store)
    assert ESCAPED not in repr(store)


def test_building_the_tap_hides_the_store_s_password_from_every_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"postgresql://calltouch:{ESCAPED}@127.0.0.1:5432/limits"
    config = {"api_token": TOKEN, "site_id": "1", "start_date": "2026-10-01"}
    TapCalltouch(config={**config, "rate_limit_store": url})
    with caplog.at_level(logging.INFO):
        logging.getLogger("anything").info("connecting to %s (%s)", url, PASSWORD)
    assert PASSWORD not in caplog.text
    assert ESCAPED not in caplog.text
    assert redact_registered(url) == "postgresql://calltouch:***@127.0.0.1:5432/limits"
    assert redact_registered(f"password={PASSWORD}") == "password=***"


def unopenable_stores(tmp_path: Path) -> list[str]:
    return [
        f"sqlite:///{tmp_path}/no/such/folder/limit.db",
        f"postgresql://calltouch:{ESCAPED}@127.0.0.1:{closed_port()}/limits",
    ]


@pytest.fixture
def small_emulator() -> Iterator[Emulator]:
    dataset = generate_dataset(seed=3, start=dt.date(2026, 10, 1), days=2, per_day=3)
    with Emulator(dataset=dataset, token=TOKEN) as server:
        yield server


def config_for(server: Emulator, store: str) -> dict[str, Any]:
    return {
        "api_token": TOKEN,
        "site_id": str(server.site_id),
        "start_date": "2026-10-01",
        "end_date": "2026-10-02",
        "api_url": server.url,
        "rate_limit_store": store,
    }


@pytest.mark.parametrize("which", [0, 1], ids=["sqlite-folder-missing", "postgresql-unreachable"])
def test_a_store_that_cannot_be_opened_stops_the_run_before_any_call(
    small_emulator: Emulator, tmp_path: Path, which: int
) -> None:
    store = unopenable_stores(tmp_path)[which]
    with pytest.raises(RateStoreError) as info:
        run_tap(config_for(small_emulator, store))
    assert small_emulator.count() == 0
    message = str(info.value)
    assert message.startswith("rate_limit_store: cannot open ")
    assert PASSWORD not in message
    assert ESCAPED not in message


@pytest.mark.parametrize("which", [0, 1], ids=["sqlite-folder-missing", "postgresql-unreachable"])
def test_the_command_says_so_in_one_line_and_exits_1(
    small_emulator: Emulator, tmp_path: Path, which: int
) -> None:
    store = unopenable_stores(tmp_path)[which]
    config = tmp_path / "config.json"
    config.write_text(json.dumps(config_for(small_emulator, store)))
    env = {k: v for k, v in ENV.items() if k != "TAP_CALLTOUCH_LOGLEVEL"}  # as in production
    done = subprocess.run(  # noqa: S603 - our own executable, arguments we wrote
        [TAP, "--config", str(config)], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 1
    assert small_emulator.count() == 0
    errors = [line for line in done.stderr.splitlines() if "rate_limit_store" in line]
    assert len(errors) == 1, done.stderr[-2000:]
    assert "rate_limit_store: cannot open " in errors[0]
    assert "Traceback" not in done.stderr
    assert PASSWORD not in done.stderr + done.stdout
    assert ESCAPED not in done.stderr + done.stdout


@pytest.mark.parametrize("held", [False, True], ids=["proc", "held-by-another-process"])
def test_a_sqlite_store_that_cannot_be_locked_stops_the_run_naming_the_setting(
    small_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, held: bool
) -> None:
    """filelock takes a lock file it cannot create (ENOENT in /proc) for one another process
    holds, and waited on it for ever; a lock nobody gives up is the same to a run."""
    monkeypatch.setattr(limit_store, "LOCK_TIMEOUT", 0.2)
    path = tmp_path / "limit.db" if held else Path("/proc/limit.db")
    other = ProcessLock(f"{path}.lock")
    if held:
        other.acquire()
    try:
        with pytest.raises(RateStoreError) as info:
            run_tap(config_for(small_emulator, f"sqlite:///{path}"))
    finally:
        if held:
            other.release()
    assert str(info.value).startswith(f"rate_limit_store: cannot open sqlite:///{path}: ")
    assert f"{path}.lock" in str(info.value)
    assert small_emulator.count() == 0


# --- the emulator's limit over all clients ---------------------------------------------------


def call_from(emulator: Emulator, source: str) -> int:
    """One call of the requests journal from a given loopback address."""
    port = int(emulator.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(source, 0)
    )
    query = f"clientApiId=x&siteId={emulator.site_id}&dateFrom=10/01/2026&dateTo=10/01/2026"
    try:
        connection.request("GET", f"{API_PATH}?{query}")
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize(("per", "sixth"), [("ip", 403), ("all", 429)])
def test_the_limit_counts_each_ip_alone_or_all_clients_together(per: str, sixth: int) -> None:
    """Five calls from 127.0.0.1, then one from 127.0.0.2: per IP it is let in (403: its token
    is wrong, past the limit), over all clients it is the sixth in a second."""
    with Emulator(dataset=[], token=TOKEN, rate_limit=5, rate_limit_per=per) as emulator:
        statuses = [call_from(emulator, "127.0.0.1") for _ in range(5)]
        statuses.append(call_from(emulator, "127.0.0.2"))
    assert statuses == [403] * 5 + [sixth]


# --- a slot held too long is given up ----------------------------------------------------------


@pytest.mark.slow
def test_a_call_that_lost_the_cpu_after_its_slot_takes_a_fresh_one(tmp_path: Path) -> None:
    """Two processes' authenticators on one store; the first is held up after taking its slot
    (as a process descheduled under load is) for longer than `STALE_SLOT`. Its call must not
    then leave close behind the other's: the two calls still leave a spacing apart."""
    store = parse_store(f"sqlite:///{tmp_path}/limit.db")
    spacing = spacing_ms(5) / 1000
    first, second = (
        RateLimitedTokenAuthenticator(
            token=TOKEN, limiter=build_limiter(5, store), spacing=spacing, shared=True
        )
        for _ in range(2)
    )
    held = threading.Event()

    def slow() -> None:
        with first.turn():
            held.set()
            time.sleep(4 * STALE_SLOT)  # the CPU lost between the slot and the send

    thread = threading.Thread(target=slow)
    thread.start()
    held.wait(timeout=10)
    with second.turn():
        pass
    thread.join(timeout=10)
    assert abs(second._left - first._left) >= spacing - STALE_SLOT
    assert first.stale_slots >= 1


# --- slots a spacing apart ----------------------------------------------------------------------


@pytest.mark.usefixtures("production_pacing")
@pytest.mark.parametrize("where", ["memory", "sqlite"])
@pytest.mark.parametrize("rate", [5, 4.5, 1])
def test_a_slot_frees_one_spacing_after_the_last_and_not_before(
    tmp_path: Path, where: str, rate: float
) -> None:
    """The bucket's clock counts whole milliseconds. A slot must free exactly `spacing_ms` after
    the last one (less `CATCH_UP` in a process's own bucket, which `turn` keeps to a grid): a
    millisecond early breaks the headroom, a millisecond late is lost on every call of a
    sustained run."""
    store = None if where == "memory" else parse_store(f"sqlite:///{tmp_path}/limit.db")
    (bucket,) = build_limiter(rate, store).buckets()
    spacing = spacing_ms(rate) - (round(auth.CATCH_UP * 1000) if store is None else 0)
    start = 10_000_000
    assert bucket.put(RateItem(SLOT, start))
    assert not bucket.put(RateItem(SLOT, start + spacing - 1))
    assert bucket.put(RateItem(SLOT, start + spacing))
