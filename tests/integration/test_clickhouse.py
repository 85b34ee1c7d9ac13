"""`meltano run calltouch-to-clickhouse`, twice, into the real ClickHouse engine.

chdb serves it on loopback (tests/integration/clickhouse_http.py), in Moscow's zone as Yandex
Managed ClickHouse is; CLICKHOUSE_TEST_URL points the same tests at a real server instead (CI's
service container). The scenario and every check are the PostgreSQL and DuckDB ones
(test_meltano_end_to_end.py): raw rows once per key, content, changes inside the look-back,
and `leads` / `leads_daily` equal to the figures counted from the emulator's records, read
with plain queries (no FINAL), as DataLens sends them. Before the second run the raw tables'
merges are stopped, so the re-read rows stay beside the old ones, as on a server that has not
merged yet: the models must still count each once.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest

from tests.integration.conftest import CH_DATABASE, ROOT
from tests.integration.figures import ROW_COUNTS
from tests.integration.test_meltano_end_to_end import run_twice
from tests.integration.warehouses import STREAMS, ClickHouseWarehouse

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.integration.conftest import ClickHouse, MeltanoProject

pytestmark = pytest.mark.integration

LOADER = "target-clickhouse"
# Both journals' main tables: the look-back re-reads rows of each.
RE_READ = ("requests", "calls")


def fresh_database(server: ClickHouse, name: str) -> None:
    """An empty raw database (the loader creates tables, not databases) and no models."""
    client = server.client()
    for database in (name, "analytics"):
        client.command(f"DROP DATABASE IF EXISTS {database}")
    client.command(f"CREATE DATABASE {name}")


def test_meltano_into_clickhouse(
    clickhouse_project: MeltanoProject, clickhouse: ClickHouse, tmp_path: Path
) -> None:
    fresh_database(clickhouse, CH_DATABASE)
    runs: list[dict[str, int]] = []

    @contextlib.contextmanager
    def warehouse() -> Iterator[ClickHouseWarehouse]:
        yield ClickHouseWarehouse(clickhouse.client())

    def after_run() -> None:
        db = ClickHouseWarehouse(clickhouse.client())
        stored = {table: db.raw_rows(table) for table in RE_READ}
        keys = {table: len(db.keys(table)) for table in RE_READ}
        ((leads,),) = db.query("SELECT count() FROM analytics.leads")
        assert leads == keys["requests"] + keys["calls"], "a plain count of leads, no FINAL"
        runs.append(stored)
        ROW_COUNTS[f"{LOADER} raw rows without FINAL, after run {len(runs)}"] = stored
        if len(runs) == 1:
            assert stored == keys, "one load: one row per key"
            for table in STREAMS:  # as on a server that has not merged the next load yet
                db.client.command(f"SYSTEM STOP MERGES {CH_DATABASE}.{table}")
        else:
            for table in RE_READ:
                assert stored[table] > keys[table], f"{table}: the look-back's rows, unmerged"

    run_twice(
        clickhouse_project,
        LOADER,
        clickhouse.loader_env(),
        warehouse,
        tmp_path,
        after_run=after_run,
    )
    assert len(runs) == 2
    for log in sorted(tmp_path.glob("*.log")):
        assert clickhouse.password not in log.read_text(encoding="utf-8"), log.name
    db = ClickHouseWarehouse(clickhouse.client())
    calls, requests = db.column_types("calls"), db.column_types("requests")
    # What the loader does to each type (docs/loaders.md): not Nullable, so a null id is 0 and
    # a null text ''; times DateTime in seconds; objects and arrays JSON text.
    assert (calls["callid"], calls["duration"], calls["sessionid"]) == ("Int64",) * 3
    assert (calls["successful"], calls["date"]) == ("Bool", "Nullable(DateTime)")
    assert (calls["callernumber"], requests["session"], requests["orders"]) == ("String",) * 3
    ((engine,),) = db.query(
        f"SELECT engine FROM system.tables WHERE database = '{CH_DATABASE}' AND name = 'calls'"  # noqa: S608
    )
    assert engine == "ReplacingMergeTree"
    ((null_sessions,),) = db.query(
        f"SELECT countIf(sessionid = 0) FROM {CH_DATABASE}.calls FINAL"  # noqa: S608
    )
    assert null_sessions > 0, "some calls have no session: their sessionId lands as 0"
    check_dashboard(clickhouse, len(db.keys("calls")) + len(db.keys("requests")))


def check_dashboard(server: ClickHouse, leads: int) -> None:
    """The dashboard reads the models over a clickhouse:// URL, the same leads, and writes
    nothing: its connection refuses a write."""
    from dashboard import warehouse as wh  # noqa: PLC0415

    url = f"clickhouse://{server.username}:{server.password}@{server.host}:{server.port}"
    database = wh.database_from(url, {}, ROOT)
    assert server.password not in database.label or not server.password
    with wh.connect(database) as connection:
        shape = wh.check_loaded(connection, database)
        first, last = wh.day_range(connection)
        assert wh.totals(connection, wh.Filters(first, last)).leads == leads
        assert len(wh.sites(connection, shape)) == 2
        with pytest.raises(Exception, match=r"(?i)readonly"):
            connection.rows("CREATE TABLE analytics.scratch (one Int8) ENGINE = Memory")
