"""Shared fixtures: an emulated Calltouch account and a way to run the tap against it."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import importlib.util
import io
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from tap_calltouch import auth, redact
from tap_calltouch.client import CalltouchStream
from tap_calltouch.retry import exponential_waits
from tap_calltouch.tap import TapCalltouch
from tests.emulator.dataset import DEFAULT_SITE_ID, generate_dataset
from tests.emulator.server import Emulator
from tests.integration import figures

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from types import ModuleType

# A token shaped like the real ones: long, with "/" and "+" that must be URL-encoded.
TOKEN = "pY7/tEsT+tOkEn/Qw9zXc8vBn5mLk3jHg2fDs1aPo0iUy"  # noqa: S105 - a made-up test token
FIRST_DAY = dt.date(2026, 10, 1)
DAYS = 10
PER_DAY = 30


@dataclass
class SyncResult:
    """What one tap run wrote to stdout, sorted by message type and stream."""

    messages: list[dict[str, Any]]
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    schemas: Counter[str] = field(default_factory=Counter)
    states: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Index the messages."""
        for message in self.messages:
            if message["type"] == "RECORD":
                self.records[message["stream"]].append(message["record"])
            elif message["type"] == "SCHEMA":
                self.schemas[message["stream"]] += 1
            elif message["type"] == "STATE":
                self.states.append(message["value"])

    @property
    def final_state(self) -> dict[str, Any]:
        """The last STATE message, as Meltano would store it."""
        return self.states[-1]


REQUEST_STREAMS = ("requests", "orders", "comments", "map_visits", "request_tags")


def catalog_selecting(streams: tuple[str, ...]) -> dict[str, Any]:
    """The tap's catalog with only `streams` selected, as `meltano select` would leave it."""
    discovery = {"api_token": TOKEN, "site_id": "1", "start_date": FIRST_DAY.isoformat()}
    catalog: dict[str, Any] = TapCalltouch(config=discovery).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


class Stdout(io.TextIOWrapper):
    """A stdout for a tap run in this process: the SDK's msgspec writer writes to its bytes."""

    def __init__(self) -> None:
        self._bytes = io.BytesIO()
        super().__init__(self._bytes, encoding="utf-8", write_through=True)

    def getvalue(self) -> str:
        """Everything written so far."""
        self.flush()
        return self._bytes.getvalue().decode()


def run_tap(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
    streams: tuple[str, ...] | None = REQUEST_STREAMS,
) -> SyncResult:
    """Run a whole sync in this process and collect its Singer messages.

    By default only the requests journal is selected, as the tests of its behaviour count its
    calls; `streams=None` syncs every stream.
    """
    if catalog is None and streams is not None:
        catalog = catalog_selecting(streams)
    out = Stdout()
    with contextlib.redirect_stdout(out):
        TapCalltouch(config=config, state=state, catalog=catalog).sync_all()
    return SyncResult([json.loads(line) for line in out.getvalue().splitlines() if line])


# Under `pytest -n` (pytest-xdist, as ./scripts/test runs it), each test is a unit of work of its
# own, free to run beside any other, but for the modules below, whose module fixture is itself a
# long run every test of the module judges (the process matrix, the dashboard's load and
# browser): each goes whole to one worker, which runs that fixture once. Other module fixtures
# (generated data, an emulator) are cheap to set up again on each worker that needs them.
TOGETHER = ("test_process.py", "test_dashboard.py")
# The modules whose tests take longest (a minute or more each, mostly waiting on processes),
# started first so that the many short tests fill in around them.
LONGEST = ("test_meltano_end_to_end.py", "test_dagster.py", *TOGETHER)


def order(item: pytest.Item) -> int:
    """Where a test starts under `pytest -n`: the longest modules, then the other integration
    and slow tests, then the inner loop."""
    if item.path.name in LONGEST:
        return 0
    if item.get_closest_marker("integration"):
        return 1
    return 2 if item.get_closest_marker("slow") else 3


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its module in TOGETHER, else itself."""
    module = nodeid.split("::", maxsplit=1)[0]
    return module if module.rsplit("/", 1)[-1] in TOGETHER else nodeid


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests in the order pytest-xdist hands out its units, the longest first, each
    module's tests in their own order."""
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        units.setdefault(unit_of(item.nodeid), []).append(item)
    ranked = sorted(units.values(), key=lambda unit: min(order(item) for item in unit))
    items[:] = [item for unit in ranked for item in unit]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's scheduler for `--dist loadgroup`, its groups being `unit_of`'s.

    (xdist's own `xdist_group` mark names the group in the test's id, which pytest 9.2's ids no
    longer let a plugin change.)
    """
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling  # noqa: PLC0415 - only under pytest -n

    class Units(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

    return Units(config, log)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker: hand what the integration tests measured to the controller."""
    output = getattr(session.config, "workeroutput", None)
    text = figures.dumped()
    if output is not None and text is not None:
        output[figures.KEY] = text


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:  # noqa: ARG001 - xdist's signature
    """In pytest-xdist's controller: gather what a finished worker's integration tests measured."""
    text = getattr(node, "workeroutput", {}).get(figures.KEY)
    if text is not None:
        figures.merge(text, node.gateway.id)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The integration tests' timings, rows and model figures."""
    figures.report(terminalreporter)


@pytest.fixture(autouse=True)
def _own_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test masks only the secrets its own taps register.

    The registry is one per process, as a tap runs once per process; in the test process, a
    value some earlier test registered as a token (a property test's `with_c...`) would mask
    part of a later test's message.
    """
    monkeypatch.setattr(redact, "_secrets", set(redact._secrets))
    monkeypatch.setattr(redact, "_ordered", redact._ordered)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tap's eight tries 1 ms doubling apart, without jitter, instead of 0.5 s doubling plus
    up to 1 s; a server's `Retry-After` still counts in full (`exponential_waits`)."""
    monkeypatch.setattr(
        CalltouchStream, "backoff_wait_generator", lambda _self: exponential_waits(factor=0.001)
    )
    monkeypatch.setattr(CalltouchStream, "backoff_jitter", lambda _self, value: value)


# Production's pacing, as auth.py declares it, before any test changes it.
PACING = {"SPACING_HEADROOM": auth.SPACING_HEADROOM, "CATCH_UP": auth.CATCH_UP}


@pytest.fixture
def production_pacing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spacing and catch-up production has, for a test of pacing that uses no real time."""
    for name, value in PACING.items():
        monkeypatch.setattr(auth, name, value)


@pytest.fixture
def quick_time(fast_retries: None, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ARG001
    """Waits of milliseconds: for every test not marked `slow`, whose subject is not time.

    `fast_retries`; the tap spaces its calls 2 ms apart instead of 220 ms; an emulator not
    given a `rate_limit` has none. Tap processes started by a test are never patched.
    """
    monkeypatch.setattr(auth, "SPACING_HEADROOM", 0.01)  # 2 ms apart at 5 calls a second
    monkeypatch.setattr(auth, "CATCH_UP", 0)  # no grid to keep to at 2 ms
    monkeypatch.setattr(Emulator, "default_rate_limit", None)


@pytest.fixture(autouse=True)
def _quick_time_unless_slow(request: pytest.FixtureRequest) -> None:
    """`quick_time` for every test but those marked `slow` (pacing, shared limits, backoff as
    production has it, real processes) or `integration`, which keep real time."""
    if not (
        request.node.get_closest_marker("slow") or request.node.get_closest_marker("integration")
    ):
        request.getfixturevalue("quick_time")


@pytest.fixture(scope="session")
def base_dataset() -> list[dict[str, Any]]:
    """Ten days of requests; tests get their own copy to change."""
    return generate_dataset(seed=7, start=FIRST_DAY, days=DAYS, per_day=PER_DAY)


@pytest.fixture
def dataset(base_dataset: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """This test's own copy of the dataset."""
    return copy.deepcopy(base_dataset)


@pytest.fixture
def emulator(dataset: list[dict[str, Any]]) -> Iterator[Emulator]:
    """A running emulator serving `dataset`."""
    with Emulator(dataset=dataset, token=TOKEN) as server:
        yield server


@pytest.fixture
def config(emulator: Emulator) -> dict[str, Any]:
    """Tap settings for the whole emulated range, in 3-day windows."""
    return {
        "api_token": TOKEN,
        "site_id": str(DEFAULT_SITE_ID),
        "start_date": FIRST_DAY.isoformat(),
        "end_date": (FIRST_DAY + dt.timedelta(days=DAYS - 1)).isoformat(),
        "api_url": emulator.url,
        "window_days": 3,
    }


def load_script(path: Path) -> ModuleType:
    """A script of the repository (scripts/*.py) imported as the module named by its file."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module
