"""`meltano run tap-calltouch target-postgres` / `target-duckdb`, twice, against the emulator.

Each run is the project's job: the load, then the dbt models (`sites`, `leads`, `leads_daily` in
schema `analytics`) and their tests. Run 1 loads a month of an emulated agency from scratch: two
sites in `sites`, one in Moscow, one in Novosibirsk (four hours ahead of the dbt fallback zone).
Between the runs the account changes as a real one does: a lead inside the look-back gets a
deal, a tag, a comment, a new status and manager; a lead outside the look-back gets a tag (which
an incremental run must not see); new leads arrive; a CRM relinks a call's deal from a call
outside the look-back to one inside it, and a request's deal from one request to another. Run 2
starts from Meltano's saved bookmarks. After each run, SQL against the loaded database must show
exactly the rows the emulator's data implies, worked out here from that data, each primary key
once, the changed values, and text and nested JSON intact; and the models must hold one lead per
call and request, each on its own site's local day and with its site's name, with per-site,
per-day and per-source figures and revenue equal to those counted here, every deal once, on the
lead that holds it now.

Then the configurations the README offers must build too, each in a fresh warehouse from one
run: the calls journal deselected (its tables never created), and `flattening_enabled`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import duckdb
import pytest

from tests.conftest import TOKEN
from tests.emulator.calls_dataset import (
    CALL_TIME,
    add_call_comment,
    add_call_order,
    add_calls,
)
from tests.emulator.dataset import (
    DEFAULT_SITE_ID,
    add_order,
    add_requests,
    add_tag,
)
from tests.emulator.server import Emulator
from tests.emulator.sites import Site, generate_sites
from tests.integration.conftest import meltano_env
from tests.integration.figures import MODEL_FIGURES, ROW_COUNTS, timed
from tests.integration.warehouses import (
    STREAMS,
    DuckDBWarehouse,
    PostgresWarehouse,
    Warehouse,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager
    from pathlib import Path

    from tests.integration.conftest import MeltanoProject, Postgres

pytestmark = pytest.mark.integration

Record = dict[str, Any]
MOSCOW = ZoneInfo("Europe/Moscow")  # the tap's `timezone` and dbt's fallback calltouch_timezone
NOVOSIBIRSK = "Asia/Novosibirsk"
SITE_NAMES = {DEFAULT_SITE_ID: "Окна Москва", DEFAULT_SITE_ID + 1: "Двери Новосибирск"}
FIRST_DAY = dt.date(2025, 3, 3)
DAYS = 28
PER_DAY = 40
CALLS_PER_DAY = 60
LAST_DAY = FIRST_DAY + dt.timedelta(days=DAYS - 1)
END_DAY = LAST_DAY + dt.timedelta(days=3)
WINDOW_DAYS = 5
LOOKBACK_DAYS = 7
NEW_TAG = "Перезвонить"
UNSEEN_TAG = "Вне окна"
NEW_COMMENT = "Клиент перезвонил, ждёт замерщика\n"
NEW_MANAGER = "Новикова Анна Петровна"
NEW_SUM = "12345.6700"
JOBS = {
    "target-postgres": "calltouch-to-postgres",
    "target-duckdb": "calltouch-to-duckdb",
    "target-clickhouse": "calltouch-to-clickhouse",
}
DBT = {
    "target-postgres": "dbt-postgres",
    "target-duckdb": "dbt-duckdb",
    "target-clickhouse": "dbt-clickhouse",
}
REQUEST_STREAMS = ("sites", "requests", "orders", "comments", "map_visits", "request_tags")
# One fresh run each: the journal of calls deselected, and flat tables instead of JSON columns.
VARIANTS = {
    "calls-deselected": {"TAP_CALLTOUCH__SELECT": json.dumps([f"{s}.*" for s in REQUEST_STREAMS])},
    "flattened": {
        "TAP_CALLTOUCH_FLATTENING_ENABLED": "true",
        "TAP_CALLTOUCH_FLATTENING_MAX_DEPTH": "1",
    },
}
VARIANT_DAYS = 7
LOADER_DUCKDB = "1.2.2"  # target-duckdb's pin in meltano.yml, and dbt-duckdb's
LEAD_DEALS = (
    "SELECT deals, revenue, first_deal_at FROM analytics.leads"
    " WHERE lead_type = '{kind}' AND lead_id = {id}"
)


# --- the two loaders ---------------------------------------------------------------------------


def test_meltano_into_postgres(
    meltano_project: MeltanoProject, postgres: Postgres, tmp_path: Path
) -> None:
    @contextlib.contextmanager
    def warehouse() -> Iterator[Warehouse]:
        with postgres.connect() as connection:
            yield PostgresWarehouse(connection)

    run_twice(meltano_project, "target-postgres", postgres.loader_env(), warehouse, tmp_path)
    with postgres.connect() as connection:
        db = PostgresWarehouse(connection)
        types = db.column_types("requests")
        calls = db.column_types("calls")
        call_orders = db.column_types("call_orders")
    assert (types["requestId"], types["date"]) == ("bigint", "timestamp without time zone")
    assert (types["session"], types["orders"]) == ("jsonb", "ARRAY")  # orders: jsonb[]
    # One column per field, one type each, whatever type the API sent a value as.
    assert (calls["callId"], calls["duration"], calls["sessionId"]) == ("bigint",) * 3
    assert (calls["successful"], calls["uniqueCall"], calls["targetCall"]) == ("boolean",) * 3
    assert (calls["date"], calls["callerNumber"]) == ("timestamp without time zone", "text")
    assert (call_orders["createdDate"], call_orders["plannedAmount"]) == (
        "timestamp without time zone",
        "text",
    )


def test_meltano_into_duckdb(meltano_project: MeltanoProject, tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"

    @contextlib.contextmanager
    def warehouse() -> Iterator[Warehouse]:
        opened = DuckDBWarehouse(path)
        try:
            yield opened
        finally:
            opened.close()  # target-duckdb needs the file to itself on the next run

    env = {"TARGET_DUCKDB_PATH": str(path), "DBT_DUCKDB_PATH": str(path)}
    run_twice(
        meltano_project,
        "target-duckdb",
        env,
        warehouse,
        tmp_path,
        after_run=lambda: check_file(path),
    )
    with warehouse() as db:
        calls = db.column_types("calls")
        integer = db.column_types("requests")["requestid"]  # how target-duckdb stores integers
    assert integer in {"BIGINT", "HUGEINT"}
    assert (calls["callid"], calls["duration"], calls["sessionid"]) == (integer,) * 3
    assert (calls["successful"], calls["uniquecall"], calls["targetcall"]) == ("BOOLEAN",) * 3
    assert (calls["date"], calls["callernumber"]) == ("TIMESTAMP", "VARCHAR")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_any_selection_into_postgres(
    meltano_project: MeltanoProject, postgres: Postgres, tmp_path: Path, variant: str
) -> None:
    server = dataclasses.replace(postgres, database=f"calltouch_{variant.replace('-', '_')}")
    with postgres.connect() as admin:
        admin.execute(f"CREATE DATABASE {server.database}")

    @contextlib.contextmanager
    def warehouse() -> Iterator[Warehouse]:
        with server.connect() as connection:
            yield PostgresWarehouse(connection)

    env = server.loader_env()
    run_variant(meltano_project, "target-postgres", env, warehouse, tmp_path, variant=variant)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_any_selection_into_duckdb(
    meltano_project: MeltanoProject, tmp_path: Path, variant: str
) -> None:
    path = tmp_path / "warehouse.duckdb"

    @contextlib.contextmanager
    def warehouse() -> Iterator[Warehouse]:
        opened = DuckDBWarehouse(path)
        try:
            yield opened
        finally:
            opened.close()

    env = {"TARGET_DUCKDB_PATH": str(path), "DBT_DUCKDB_PATH": str(path)}
    run_variant(meltano_project, "target-duckdb", env, warehouse, tmp_path, variant=variant)


# --- the scenario ------------------------------------------------------------------------------


def agency(days: int = DAYS) -> list[Site]:
    """The emulated agency: a Moscow site and a Novosibirsk one, no id shared between them."""
    return generate_sites(
        2,
        seed=11,
        start=FIRST_DAY,
        days=days,
        requests_per_day=PER_DAY,
        calls_per_day=CALLS_PER_DAY,
        zones=("Europe/Moscow", NOVOSIBIRSK),
    )


def every(sites: list[Site], journal: str) -> list[Record]:
    """One journal's records of every site, as they are now."""
    return [record for site in sites for record in getattr(site, journal)]


def run_twice(  # noqa: PLR0913 - after_run is the DuckDB file check
    project: MeltanoProject,
    loader: str,
    loader_env: dict[str, str],
    warehouse: Callable[[], AbstractContextManager[Warehouse]],
    tmp_path: Path,
    *,
    after_run: Callable[[], None] = lambda: None,
) -> None:
    """Full run, change the account, incremental run; check the database after each."""
    sites = agency()
    moscow, novosibirsk = sites
    dataset, calls = moscow.requests, moscow.calls  # the Moscow site's, for the content checks
    state_id = f"dev:tap-calltouch-to-{loader}"
    tokens = {TOKEN: {site.site_id for site in sites}}
    with Emulator(sites=sites, tokens=tokens) as emulator:
        env = meltano_env(**tap_env(emulator.url, sites), **loader_env)
        # The job: tap-calltouch LOADER dbt-...:run dbt-...:test (a failed dbt test fails it).
        command = ["--environment=dev", "run", JOBS[loader]]

        with timed(f"{loader}: meltano run 1 (full)"):
            log = project.run(command, tmp_path / "run1.log", env)
        assert "Window 1/" in log, "the tap's progress lines should reach Meltano's log"
        first_calls = requests_journal(emulator)
        assert min(date_from(call.params) for call in first_calls) == FIRST_DAY
        bookmarks = saved_bookmarks(project, state_id, env, tmp_path / "state1.log")
        assert bookmarks == newest_requests(sites)
        assert emulator.peak_rate() <= 5, "both journals together stay under the limit"
        with warehouse() as db:
            assert db.tables() >= {*STREAMS, "sites"}
            check_rows(
                db,
                expected_keys(every(sites, "requests"), every(sites, "calls")),
                f"{loader} after run 1",
            )
            check_sites(db, sites)
            check_content(db, dataset)
            check_calls_content(db, calls)
            check_models(db, sites, f"{loader} after run 1")
        check_dbt_tests(project, DBT[loader])
        after_run()

        changed, unseen = change_account(dataset)
        changed_call = change_calls(calls)
        relinked = relink_deals(novosibirsk)
        emulator.reset_log()
        with timed(f"{loader}: meltano run 2 (incremental)"):
            project.run(command, tmp_path / "run2.log", env)
        check_reread(emulator, sites, bookmarks, first_calls)
        assert saved_bookmarks(project, state_id, env, tmp_path / "state2.log") == newest_requests(
            sites
        )
        with warehouse() as db:
            expected = expected_keys(every(sites, "requests"), every(sites, "calls"))
            expected["request_tags"].remove((unseen["requestId"], UNSEEN_TAG))
            # The call the deal left is older than the look-back: its row stays in the raw table.
            expected["call_orders"] = sorted([*expected["call_orders"], relinked.stale_call_order])
            check_rows(db, expected, f"{loader} after run 2")
            check_content(db, dataset)
            check_changes(db, changed, unseen)
            check_call_changes(db, changed_call)
            check_models(db, sites, f"{loader} after run 2")
            check_new_deals(db, changed, changed_call)
            check_relinked(db, relinked)
        check_dbt_tests(project, DBT[loader])
        after_run()


def run_variant(  # noqa: PLR0913 - one fresh run of one configuration
    project: MeltanoProject,
    loader: str,
    loader_env: dict[str, str],
    warehouse: Callable[[], AbstractContextManager[Warehouse]],
    tmp_path: Path,
    *,
    variant: str,
) -> None:
    """One full run of the job in a configuration the README offers, into a fresh warehouse."""
    sites = agency(VARIANT_DAYS)
    with_calls = variant != "calls-deselected"
    with Emulator(sites=sites, tokens={TOKEN: {site.site_id for site in sites}}) as emulator:
        settings = tap_env(emulator.url, sites)
        settings["TAP_CALLTOUCH_END_DATE"] = (
            FIRST_DAY + dt.timedelta(days=VARIANT_DAYS + 1)
        ).isoformat()
        env = meltano_env(**settings, **VARIANTS[variant], **loader_env)
        command = ["--environment=dev", "run", f"--state-id-suffix={variant}", JOBS[loader]]
        with timed(f"{loader}: meltano run ({variant})"):
            project.run(command, tmp_path / f"{variant}.log", env)
        journals = {call.journal for call in emulator.calls}
    assert journals == ({"requests", "calls"} if with_calls else {"requests"})
    with warehouse() as db:
        tables = db.tables()
        assert ("calls" in tables, "call_orders" in tables) == (with_calls, with_calls)
        columns = {name.lower() for name in db.column_types("requests")}
        flat = variant == "flattened"
        assert ("session__source" in columns, "session" in columns) == (flat, not flat)
        check_sites(db, sites)
        check_models(db, sites, f"{loader} {variant}", with_calls=with_calls)
    check_dbt_tests(project, DBT[loader])


def check_reread(
    emulator: Emulator, sites: list[Site], bookmarks: dict[int, str], first_calls: list[Any]
) -> None:
    """Run 2 re-read each site from its own bookmark less the look-back, in its own zone.

    Or from the day run 1 read whole last, less the look-back, where that is later: run 1 was
    complete through END_DAY (`complete_through`), three days past the newest request.
    """
    second_calls = requests_journal(emulator)
    lookback = dt.timedelta(days=LOOKBACK_DAYS)
    for site in sites:
        from_bookmark = (parse_rfc3339(bookmarks[site.site_id]) - lookback).astimezone(site.zone)
        reread_from = max(from_bookmark.date(), END_DAY - lookback)
        asked = [call for call in second_calls if call.site == str(site.site_id)]
        first = min(date_from(call.params) for call in asked)
        assert first == reread_from, site.site_id
    assert len(second_calls) < len(first_calls)
    calls_from = min(
        dt.datetime.strptime(call.params["dateFrom"], "%d/%m/%Y").date()  # noqa: DTZ007
        for call in emulator.calls
        if call.journal == "calls" and call.status == 200
    )
    assert calls_from > FIRST_DAY, "the calls journal resumed from its own bookmark"


def newest_requests(sites: list[Site]) -> dict[int, str]:
    """Each site's requests bookmark: its newest creation time."""
    return {site.site_id: rfc3339(max(r["date"] for r in site.requests)) for site in sites}


def requests_journal(emulator: Emulator) -> list[Any]:
    return [call for call in emulator.calls if call.status == 200 and call.journal == "requests"]


def tap_env(url: str, sites: list[Site]) -> dict[str, str]:
    """The tap's settings for the emulated agency, as Meltano environment variables.

    The Moscow site leaves its zone to the top-level `timezone`; the other names its own.
    """
    entries = [
        {"site_id": str(site.site_id), "name": SITE_NAMES[site.site_id]}
        | ({"timezone": site.tz} if site.zone != MOSCOW else {})
        for site in sites
    ]
    return {
        "TAP_CALLTOUCH_API_URL": url,
        "TAP_CALLTOUCH_API_TOKEN": TOKEN,
        "TAP_CALLTOUCH_SITES": json.dumps(entries, ensure_ascii=False),
        "TAP_CALLTOUCH_START_DATE": FIRST_DAY.isoformat(),
        "TAP_CALLTOUCH_END_DATE": END_DAY.isoformat(),
        "TAP_CALLTOUCH_TIMEZONE": "Europe/Moscow",
        "TAP_CALLTOUCH_WINDOW_DAYS": str(WINDOW_DAYS),
        "TAP_CALLTOUCH_LOOKBACK_DAYS": str(LOOKBACK_DAYS),
        "TAP_CALLTOUCH_PAGE_SIZE": "100",  # several pages per calls window
    }


def change_account(dataset: list[Record]) -> tuple[Record, Record]:
    """What happens between two runs; returns the lead changed inside and outside the look-back.

    Inside: three days before the newest lead, a lead without a deal gets one, a tag, a comment,
    a status and a manager. Outside: the first day's first lead gets a tag. Four leads arrive.
    """
    changed = next(
        record
        for record in dataset
        if local_day(record["date"]) == LAST_DAY - dt.timedelta(days=3)
        and record["session"] is not None
        and not record["orders"]
    )
    add_order(dataset, changed["requestId"], amount=NEW_SUM, status="PAID")
    add_tag(dataset, changed["requestId"], NEW_TAG)
    changed["status"] = "COMPLETED"
    changed["manager"] = NEW_MANAGER
    comment_id = 1 + max(c["commentId"] for record in dataset for c in record["comments"])
    changed["comments"].append(
        {
            "commentId": comment_id,
            "requestId": changed["requestId"],
            "comment": NEW_COMMENT,
            "partyId": 19688,
            "partyName": "API",
        }
    )
    unseen = next(record for record in dataset if local_day(record["date"]) == FIRST_DAY)
    add_tag(dataset, unseen["requestId"], UNSEEN_TAG)
    add_requests(dataset, 4, LAST_DAY + dt.timedelta(days=1), seed=5)
    return changed, unseen


# --- what the database must hold ---------------------------------------------------------------


def change_calls(calls: list[Record]) -> Record:
    """Between the runs, a call inside the look-back gets a deal and a comment; calls arrive."""
    changed = next(
        call
        for call in calls
        if dt.datetime.fromtimestamp(call[CALL_TIME], MOSCOW).date()
        == LAST_DAY - dt.timedelta(days=2)
    )
    add_call_order(calls, changed["callId"], planned=NEW_SUM)
    add_call_comment(calls, changed["callId"], NEW_COMMENT)
    add_calls(calls, 5, LAST_DAY + dt.timedelta(days=1), seed=5)
    return changed


@dataclasses.dataclass(frozen=True)
class Relinked:
    """The deals a CRM moved between the runs: a call's, and a request's."""

    order_id: int  # the call deal
    old_call: Record
    new_call: Record
    request_order_id: int
    old_request: Record
    new_request: Record

    @property
    def stale_call_order(self) -> tuple[int, int]:
        """The call_orders key the deal leaves behind: nothing re-reads the old call."""
        return (int(self.old_call["callId"]), self.order_id)


def relink_deals(site: Site) -> Relinked:
    """Between the runs, a CRM relinks deals, as a manager fixing a match does.

    A call's deal moves from a call of the first day (older than the look-back, so never read
    again) to a call inside the look-back; a request's deal moves between two requests inside
    it.
    """

    def call_day(call: Record) -> dt.date:
        return dt.datetime.fromtimestamp(call[CALL_TIME], site.zone).date()

    def request_day(record: Record) -> dt.date:
        return local_day(record["date"], site.zone)

    inside = LAST_DAY - dt.timedelta(days=2)
    old_call = next(call for call in site.calls if call_day(call) == FIRST_DAY and call["orders"])
    new_call = next(c for c in site.calls if call_day(c) == inside and not c["orders"])
    order = old_call["orders"].pop(0)
    new_call["orders"].append(order)
    old_request = next(
        r for r in site.requests if request_day(r) == inside and len(r["orders"]) == 1
    )
    new_request = next(
        r
        for r in site.requests
        if request_day(r) == inside - dt.timedelta(days=1) and not r["orders"]
    )
    request_order = old_request["orders"].pop()
    old_request["order"] = None
    new_request["orders"].append(request_order)
    new_request["order"] = request_order
    return Relinked(
        order_id=int(order["orderId"]),
        old_call=old_call,
        new_call=new_call,
        request_order_id=int(request_order["orderId"]),
        old_request=old_request,
        new_request=new_request,
    )


def check_relinked(db: Warehouse, relinked: Relinked) -> None:
    """Each relinked deal counts once, on the lead Calltouch holds it on now."""
    raw = [key for key in db.keys("call_orders") if key[1] == relinked.order_id]
    assert len(raw) == 2, "the raw table keeps the old link beside the new one"
    deal = "SELECT lead_type, lead_id FROM analytics.stg_calltouch__deals WHERE order_id = {}"
    assert db.query(deal.format(relinked.order_id)) == [("call", int(relinked.new_call["callId"]))]
    request_deal = db.query(deal.format(relinked.request_order_id))
    assert request_deal == [("request", int(relinked.new_request["requestId"]))]
    for kind, lead, key in (
        ("call", relinked.old_call, "callId"),
        ("call", relinked.new_call, "callId"),
        ("request", relinked.old_request, "requestId"),
        ("request", relinked.new_request, "requestId"),
    ):
        rows = db.query(LEAD_DEALS.format(kind=kind, id=int(lead[key])))
        assert [row[0] for row in rows] == [len(lead["orders"])], (kind, lead[key])


def check_calls_content(db: Warehouse, calls: list[Record]) -> None:
    """Cyrillic tags and comments, converted times and types, as the calls journal sent them."""
    tagged = next(call for call in calls if call.get("callTags") and call.get("comments"))
    call_id = int(tagged["callId"])
    row = db.row("calls", callId=call_id)
    assert row["date"] == local_to_utc(tagged["date"])
    assert row["callernumber"] == str(tagged["callerNumber"])
    assert isinstance(row["successful"], bool)
    comment = tagged["comments"][0]
    comment_row = db.row("call_comments", commentId=int(comment["commentId"]))
    assert (comment_row["comment"], comment_row["callid"]) == (comment["comment"], call_id)
    name = tagged["callTags"][0]["names"][0].split(",")[0].strip()
    assert db.row("call_tags", callId=call_id, name=name)["name"] == name
    anonymous = next(call for call in calls if call["callerNumber"] == "Anonymous")
    assert db.row("calls", callId=int(anonymous["callId"]))["callernumber"] == "Anonymous"


def check_call_changes(db: Warehouse, changed: Record) -> None:
    """The call changed inside the look-back shows its new deal and comment."""
    call_id = int(changed["callId"])
    order = changed["orders"][-1]
    order_row = db.row("call_orders", callId=call_id, orderId=int(order["orderId"]))
    assert order_row["plannedamount"] == NEW_SUM
    comment = changed["comments"][-1]
    assert db.row("call_comments", commentId=int(comment["commentId"]))["comment"] == NEW_COMMENT


def expected_keys(dataset: list[Record], calls: list[Record]) -> dict[str, list[tuple[Any, ...]]]:
    """Each table's primary keys, from the emulator's records (comma-joined tags split)."""
    keys: dict[str, list[tuple[Any, ...]]] = {stream: [] for stream in STREAMS}
    for call in calls:
        cid = int(call["callId"])
        keys["calls"].append((cid,))
        keys["call_orders"] += [(cid, int(order["orderId"])) for order in call.get("orders") or []]
        keys["call_comments"] += [
            (int(comment["commentId"]),) for comment in call.get("comments") or []
        ]
        keys["call_map_visits"] += {
            (cid, int(visit["sessionId"])) for visit in call.get("mapVisits") or []
        }
        keys["call_tags"] += {
            (cid, name.strip())
            for tag in call.get("callTags") or []
            for names in tag["names"]
            for name in names.split(",")
            if name.strip()
        }
    for record in dataset:
        rid = int(record["requestId"])
        keys["requests"].append((rid,))
        keys["orders"] += [(int(order["orderId"]),) for order in record["orders"]]
        keys["comments"] += [(int(comment["commentId"]),) for comment in record["comments"]]
        keys["map_visits"] += {(rid, int(visit["sessionId"])) for visit in record["mapVisits"]}
        keys["request_tags"] += {
            (rid, name.strip())
            for tag in record["RequestTags"]
            for names in tag["names"]
            for name in names.split(",")
            if name.strip()
        }
    return {stream: sorted(rows) for stream, rows in keys.items()}


def check_rows(db: Warehouse, expected: dict[str, list[tuple[Any, ...]]], when: str) -> None:
    """Every expected row once, and nothing else."""
    ROW_COUNTS[when] = {}
    for stream in STREAMS:
        assert db.duplicates(stream) == [], f"{stream}: primary keys loaded twice"
        loaded = sorted(db.keys(stream))
        ROW_COUNTS[when][stream] = len(loaded)
        assert len(loaded) == len(expected[stream]), stream
        assert loaded == expected[stream], stream


def check_content(db: Warehouse, dataset: list[Record]) -> None:
    """Cyrillic text, a comment's final newline, times, and nested objects and arrays intact."""
    rich = next(
        record
        for record in dataset
        if record["session"] is not None
        and record["session"]["attrs"]
        and record["session"]["medium"] == "cpc"
        and len(record["orders"]) == 2
        and len(record["mapVisits"]) > 1
    )
    row = db.row("requests", requestId=rich["requestId"])
    assert row["subject"] == rich["subject"]
    assert row["datestr"] == rich["dateStr"]
    assert row["date"] == db.stored_time(utc(rich["date"]))
    assert row["client"]["fio"] == rich["client"]["fio"]
    assert row["client"]["phones"] == rich["client"]["phones"]
    session = row["session"]
    assert session["utmTerm"] == rich["session"]["utmTerm"]  # a Cyrillic search phrase
    assert session["attrs"] == rich["session"]["attrs"]
    assert session["sessionId"] == rich["session"]["sessionId"]
    assert session["ctGlobalId"] == str(rich["session"]["ctGlobalId"])
    assert [order["orderId"] for order in row["orders"]] == [o["orderId"] for o in rich["orders"]]
    assert [order["sum"] for order in row["orders"]] == [str(o["sum"]) for o in rich["orders"]]
    assert row["orders"][1]["session"]["utmTerm"] == rich["session"]["utmTerm"]
    visits = [visit["sessionId"] for visit in row["mapvisits"]]
    assert visits == [visit["sessionId"] for visit in rich["mapVisits"]]

    order = rich["orders"][0]
    order_row = db.row("orders", orderId=order["orderId"])
    assert order_row["requestid"] == rich["requestId"]
    assert order_row["sum"] == str(order["sum"])
    assert order_row["datecreated"] == db.stored_time(utc(order["dateCreated"]))
    assert order_row["session"]["utmTerm"] == rich["session"]["utmTerm"]

    commented = next(
        (record, comment)
        for record in dataset
        for comment in record["comments"]
        if comment["comment"].endswith("\n")
    )
    comment_row = db.row("comments", commentId=commented[1]["commentId"])
    assert comment_row["comment"] == commented[1]["comment"]
    assert comment_row["requestid"] == commented[0]["requestId"]
    nested = db.row("requests", requestId=commented[0]["requestId"])["comments"]
    assert commented[1]["comment"] in [comment["comment"] for comment in nested]

    visit = rich["mapVisits"][0]
    visit_row = db.row("map_visits", requestId=rich["requestId"], sessionId=visit["sessionId"])
    assert visit_row["utmterm"] == visit["utmTerm"]
    assert visit_row["sessiondate"] == local_to_utc(visit["sessionDate"])


def check_changes(db: Warehouse, changed: Record, unseen: Record) -> None:
    """The lead changed inside the look-back shows its new values; the one outside does not."""
    row = db.row("requests", requestId=changed["requestId"])
    assert row["status"] == "COMPLETED"
    assert row["manager"] == NEW_MANAGER
    new_order = changed["orders"][-1]
    assert [order["orderId"] for order in row["orders"]] == [new_order["orderId"]]
    assert row["order"]["orderId"] == new_order["orderId"]
    assert NEW_TAG in [name for tag in row["requesttags"] for name in tag["names"]]
    assert row["comments"][-1]["comment"] == NEW_COMMENT

    order_row = db.row("orders", orderId=new_order["orderId"])
    assert (order_row["sum"], order_row["status"]) == (NEW_SUM, "PAID")
    assert order_row["requestid"] == changed["requestId"]
    assert db.row("request_tags", requestId=changed["requestId"], name=NEW_TAG)["type"] == "MANUAL"
    comment_id = changed["comments"][-1]["commentId"]
    assert db.row("comments", commentId=comment_id)["comment"] == NEW_COMMENT

    old = db.row("requests", requestId=unseen["requestId"])
    assert UNSEEN_TAG not in [name for tag in old["requesttags"] for name in tag["names"]]


# --- the dbt models ----------------------------------------------------------------------------


def check_sites(db: Warehouse, sites: list[Site]) -> None:
    """The `sites` table and model: each site's id, name and zone, no token."""
    for site in sites:
        row = db.row("sites", siteId=site.site_id)
        assert (row["name"], row["timezone"]) == (SITE_NAMES[site.site_id], site.tz)
        assert TOKEN not in json.dumps(row, default=str)
    modelled = db.query("SELECT site_id, site_name, timezone FROM analytics.sites")
    assert sorted(modelled) == [(site.site_id, SITE_NAMES[site.site_id], site.tz) for site in sites]


def check_models(db: Warehouse, sites: list[Site], when: str, *, with_calls: bool = True) -> None:
    """`leads`: one row per call and request, on its site's day and with its site's name;
    `leads_daily`: the emulator's own figures per site, day and source."""
    leads = db.query(
        "SELECT lead_type, lead_id, site_name, created_date_local FROM analytics.leads"
    )
    expected_leads = expected_lead_days(sites, with_calls=with_calls)
    assert len(leads) == len(expected_leads), "one lead per call and per request"
    assert {(kind, int(lead), name): day for kind, lead, name, day in leads} == {
        key: day for key, (day, _) in expected_leads.items()
    }
    elsewhere = sum(day != moscow_day for day, moscow_day in expected_leads.values())
    assert elsewhere > 0, "some Novosibirsk leads fall on another day in Moscow"
    daily = db.query(
        "SELECT site_name, created_date_local, source, sum(calls), sum(unique_calls),"
        " sum(target_calls), sum(requests), sum(leads), sum(target_leads), sum(deals),"
        " sum(revenue) FROM analytics.leads_daily GROUP BY 1, 2, 3"
    )
    loaded = {
        (name, day, source): (*(int(value) for value in counts[:-1]), Decimal(counts[-1]))
        for name, day, source, *counts in daily
    }
    expected = expected_daily(sites, with_calls=with_calls)
    assert loaded == expected
    totals = [sum(figures[i] for figures in expected.values()) for i in range(8)]
    ((deals,),) = db.query("SELECT sum(deals) FROM analytics.leads")
    assert int(deals) == totals[6]
    MODEL_FIGURES[when] = (
        f"leads {len(leads)} (calls {totals[0]} + requests {totals[3]}), target leads "
        f"{totals[5]}, deals {totals[6]}, revenue {totals[7]}; {elsewhere} Novosibirsk leads "
        "on a day other than Moscow's"
    )


def expected_lead_days(
    sites: list[Site], *, with_calls: bool = True
) -> dict[tuple[str, int, str], tuple[dt.date, dt.date]]:
    """Each lead (type, id, site name): its day in its site's zone, and in Moscow."""
    days = {}
    for site in sites:
        name = SITE_NAMES[site.site_id]
        for call in site.calls if with_calls else []:
            at = dt.datetime.fromtimestamp(call[CALL_TIME], dt.timezone.utc)
            days["call", int(call["callId"]), name] = (
                at.astimezone(site.zone).date(),
                at.astimezone(MOSCOW).date(),
            )
        for record in site.requests:
            days["request", int(record["requestId"]), name] = (
                local_day(record["date"], site.zone),
                local_day(record["date"]),
            )
    return days


def expected_daily(
    sites: list[Site], *, with_calls: bool = True
) -> dict[tuple[str, dt.date, str], tuple[Any, ...]]:
    """Per site, its local day and source, from the emulator's records: calls, unique calls,
    target calls, requests, leads, target leads, deals, revenue (requests' `sum`, calls'
    `plannedAmount`), each deal on the lead that holds it now."""
    counts: dict[tuple[str, dt.date, str], Counter[str]] = {}
    revenue: dict[tuple[str, dt.date, str], Decimal] = {}
    for site in sites:
        name = SITE_NAMES[site.site_id]
        for call in site.calls if with_calls else []:
            day = dt.datetime.fromtimestamp(call[CALL_TIME], site.zone).date()
            key = (name, day, call["source"] or "(not set)")
            orders = call.get("orders") or []
            counts.setdefault(key, Counter()).update(
                calls=1,
                unique_calls=truthy(call["uniqueCall"]),
                target_calls=truthy(call["targetCall"]),
                leads=1,
                target_leads=truthy(call["targetCall"]),
                deals=len(orders),
            )
            amounts = [Decimal(str(order["plannedAmount"])) for order in orders]
            revenue[key] = revenue.get(key, Decimal(0)) + sum(amounts, Decimal(0))
        for record in site.requests:
            session = record["session"] or {}
            key = (name, local_day(record["date"], site.zone), session.get("source") or "(not set)")
            counts.setdefault(key, Counter()).update(
                requests=1,
                leads=1,
                target_leads=truthy(record["targetRequest"]),
                deals=len(record["orders"]),
            )
            amounts = [Decimal(str(order["sum"])) for order in record["orders"]]
            revenue[key] = revenue.get(key, Decimal(0)) + sum(amounts, Decimal(0))
    names = ("calls", "unique_calls", "target_calls", "requests", "leads", "target_leads", "deals")
    return {
        key: (*(figures[name] for name in names), revenue[key]) for key, figures in counts.items()
    }


def check_new_deals(db: Warehouse, changed: Record, changed_call: Record) -> None:
    """The deals added between the runs count once each in their leads, to the kopeck."""
    request = db.query(LEAD_DEALS.format(kind="request", id=int(changed["requestId"])))
    assert [(deals, revenue) for deals, revenue, _ in request] == [(1, Decimal(NEW_SUM))]
    assert request[0][2] is not None
    call = [
        row[:2] for row in db.query(LEAD_DEALS.format(kind="call", id=int(changed_call["callId"])))
    ]
    planned = [Decimal(str(order["plannedAmount"])) for order in changed_call["orders"]]
    assert call == [(len(planned), sum(planned, Decimal(0)))]
    assert Decimal(NEW_SUM) in planned


def check_dbt_tests(project: MeltanoProject, utility: str) -> None:
    """The job's last step, `dbt test`, passed every test, the row-count test among them."""
    results = project.root / ".meltano" / "transformers" / utility / "target" / "run_results.json"
    outcome = {
        result["unique_id"].split(".")[2]: result["status"]
        for result in json.loads(results.read_text(encoding="utf-8"))["results"]
    }
    assert set(outcome.values()) == {"pass"}, outcome
    assert {
        "leads_match_raw_journals",
        "each_deal_counts_once",
        "accepted_values_leads_lead_type__call__request",
    } <= set(outcome)
    assert len(outcome) >= 25


def check_file(path: Path) -> None:
    """After dbt wrote it, the DuckDB file opens read-write with the loader's duckdb version."""
    assert duckdb.__version__ == LOADER_DUCKDB
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE analytics.scratch AS SELECT 1 AS one")
        connection.execute("DROP TABLE analytics.scratch")
        (count,) = connection.execute("SELECT count(*) FROM analytics.leads_daily").fetchone() or (
            0,
        )
    assert count > 0


def truthy(value: Any) -> bool:
    """A Calltouch flag, whether it came as a JSON boolean or as text."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


# --- helpers -----------------------------------------------------------------------------------


def saved_bookmarks(
    project: MeltanoProject, state_id: str, env: dict[str, str], log: Path
) -> dict[int, str]:
    """Each site's requests bookmark, as Meltano keeps it in its system database."""
    output = project.run(["--log-level=warning", "state", "get", state_id], log, env)
    state = json.loads(output[output.index("{") :])
    partitions = state["singer_state"]["bookmarks"]["requests"]["partitions"]
    return {
        int(entry["context"]["siteId"]): str(entry["replication_key_value"]) for entry in partitions
    }


def date_from(params: dict[str, str]) -> dt.date:
    """A call's `dateFrom` (mm/dd/yyyy)."""
    return dt.datetime.strptime(params["dateFrom"], "%m/%d/%Y").date()  # noqa: DTZ007


def local_day(epoch_ms: int, zone: ZoneInfo = MOSCOW) -> dt.date:
    """The calendar day of an epoch-ms time in a site's zone (Moscow unless told)."""
    return dt.datetime.fromtimestamp(epoch_ms / 1000, zone).date()


def utc(epoch_ms: int) -> dt.datetime:
    """An epoch-ms time as the naive UTC timestamp both loaders store."""
    return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=epoch_ms)  # noqa: DTZ001


def local_to_utc(text: str) -> dt.datetime:
    """A local `dd/mm/yyyy hh:mm:ss` (Moscow) as a naive UTC timestamp."""
    local = dt.datetime.strptime(text, "%d/%m/%Y %H:%M:%S").replace(tzinfo=MOSCOW)
    return local.astimezone(dt.timezone.utc).replace(tzinfo=None)


def rfc3339(epoch_ms: int) -> str:
    """An epoch-ms time as the tap writes bookmarks: RFC 3339, milliseconds, Z."""
    instant = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=epoch_ms)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_rfc3339(text: str) -> dt.datetime:
    """The inverse of `rfc3339`."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
