"""The dbt models on raw tables a warehouse accumulates over its life, on both warehouses.

A long-lived warehouse holds rows of several shapes in one table: `flattening_enabled` switched
on or off between runs (the JSON `session` column filled for some rows, `session__source` for
others), another `flattening_separator` (`session.source`), and a site renamed in Calltouch
(its calls' `siteName` changes over time). The raw tables are written here as the loaders
leave them (target-postgres: the tap's names, jsonb; target-duckdb: lower-case names, JSON),
from seeded records, and `dbt build` (its tests too) must read every row's source and the
site's current name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from collections import Counter
from typing import TYPE_CHECKING, Any

import duckdb
import pytest

from tests.integration.conftest import meltano_env

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.integration.conftest import MeltanoProject, Postgres

pytestmark = pytest.mark.integration

SITE_ID = 777
SOURCES = ("yandex", "google", "Яндекс.Директ", "vk.com")
# How each request's session reached the table: its JSON column, or one flattened column.
SHAPES = ("json", "session__", "session.")
SITE_NAMES = ("Окна «Старое» имя", "Okna 'New' name")
FIRST = dt.datetime(2025, 3, 1, 9, 0)  # noqa: DTZ001 - the loaders store naive UTC
VISIT_BEFORE = dt.timedelta(seconds=57)  # session.sessionDate, as the tap writes it: RFC 3339


@dataclasses.dataclass(frozen=True)
class Raw:
    """Seeded requests and calls, and what the models must make of them."""

    requests: list[dict[str, Any]]
    calls: list[dict[str, Any]]

    def sources(self) -> Counter[tuple[str, str | None]]:
        """Leads per (type, source), from the records."""
        return Counter(
            [("request", r["source"]) for r in self.requests]
            + [("call", c["source"]) for c in self.calls]
        )

    def site_name(self) -> str:
        """The siteName of the site's latest call."""
        latest = max(self.calls, key=lambda call: (call["date"], call["callId"]))
        return str(latest["siteName"])


def raw_records(seed: int = 15) -> Raw:
    """Requests in every shape, calls whose siteName changes once, in random order of time."""
    rng = random.Random(seed)
    requests = [
        {
            "requestId": 1000 + n,
            "date": FIRST + dt.timedelta(hours=rng.randrange(24 * 30)),
            "source": rng.choice(SOURCES),
            "shape": SHAPES[n % len(SHAPES)],
        }
        for n in range(60)
    ]
    renamed_at = FIRST + dt.timedelta(days=rng.randrange(5, 25))
    calls = []
    for n in range(40):
        date = FIRST + dt.timedelta(hours=rng.randrange(24 * 30))
        calls.append(
            {
                "callId": 5000 + rng.randrange(10_000) * 40 + n,  # ids not in time order
                "date": date,
                "source": rng.choice(SOURCES),
                "siteName": SITE_NAMES[date >= renamed_at],
            }
        )
    return Raw(requests, calls)


def request_row(record: dict[str, Any]) -> tuple[Any, ...]:
    """requestId, siteId, date, session (JSON text), session__source, session.source."""
    shape = record["shape"]
    visit = record["date"] - VISIT_BEFORE
    session = (
        json.dumps({"source": record["source"], "sessionDate": f"{visit.isoformat()}Z"})
        if shape == "json"
        else None
    )
    flat = [record["source"] if shape == name else None for name in SHAPES[1:]]
    return (record["requestId"], SITE_ID, record["date"], session, *flat)


def call_row(call: dict[str, Any]) -> tuple[Any, ...]:
    return (call["callId"], SITE_ID, call["siteName"], call["date"], call["source"])


REQUEST_COLUMNS = ("requestId", "siteId", "date", "session", "session__source", "session.source")
CALL_COLUMNS = ("callId", "siteId", "siteName", "date", "source")


def write_duckdb(path: Path, raw: Raw) -> None:
    """The raw tables as target-duckdb writes them: lower-case names, JSON objects."""
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE SCHEMA calltouch")
        db.execute(
            'CREATE TABLE calltouch.requests (requestid BIGINT, siteid BIGINT, "date" TIMESTAMP,'
            ' "session" JSON, session__source VARCHAR, "session.source" VARCHAR)'
        )
        db.executemany(
            "INSERT INTO calltouch.requests VALUES (?, ?, ?, ?, ?, ?)",
            [request_row(r) for r in raw.requests],
        )
        db.execute(
            "CREATE TABLE calltouch.calls (callid BIGINT, siteid BIGINT, sitename VARCHAR,"
            ' "date" TIMESTAMP, "source" VARCHAR)'
        )
        db.executemany(
            "INSERT INTO calltouch.calls VALUES (?, ?, ?, ?, ?)", [call_row(c) for c in raw.calls]
        )


def write_postgres(server: Postgres, raw: Raw) -> None:
    """The raw tables as target-postgres writes them: the tap's names, jsonb objects."""
    with server.connect() as db:
        db.execute("CREATE SCHEMA calltouch")
        db.execute(
            'CREATE TABLE calltouch.requests ("requestId" bigint, "siteId" bigint,'
            ' "date" timestamp, "session" jsonb, session__source text, "session.source" text)'
        )
        with db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO calltouch.requests VALUES (%s, %s, %s, %s, %s, %s)",
                [request_row(r) for r in raw.requests],
            )
            db.execute(
                'CREATE TABLE calltouch.calls ("callId" bigint, "siteId" bigint,'
                ' "siteName" text, "date" timestamp, "source" text)'
            )
            cursor.executemany(
                "INSERT INTO calltouch.calls VALUES (%s, %s, %s, %s, %s)",
                [call_row(c) for c in raw.calls],
            )


def check_models(query: Callable[[str], list[tuple[Any, ...]]], raw: Raw) -> None:
    """Every lead's source read, whatever its row's shape; the site's current name."""
    rows = query("SELECT lead_type, source, count(*) FROM analytics.leads GROUP BY 1, 2")
    assert Counter({(kind, source): int(n) for kind, source, n in rows}) == raw.sources()
    names = query("SELECT site_id, site_name FROM analytics.sites")
    assert [(int(site), name) for site, name in names] == [(SITE_ID, raw.site_name())]
    visits = query("SELECT request_id, session_at FROM analytics.stg_calltouch__requests")
    assert {int(request): at for request, at in visits if at is not None} == {
        r["requestId"]: r["date"] - VISIT_BEFORE for r in raw.requests if r["shape"] == "json"
    }
    # The data set does hold each shape, and both names.
    assert {r["shape"] for r in raw.requests} == set(SHAPES)
    assert {c["siteName"] for c in raw.calls} == set(SITE_NAMES)


def test_raw_shapes_in_duckdb(meltano_project: MeltanoProject, tmp_path: Path) -> None:
    raw = raw_records()
    path = tmp_path / "warehouse.duckdb"
    write_duckdb(path, raw)
    env = meltano_env(DBT_DUCKDB_PATH=str(path))
    meltano_project.run(["invoke", "dbt-duckdb:build"], tmp_path / "dbt.log", env)
    with duckdb.connect(str(path), read_only=True) as db:
        check_models(lambda sql: db.execute(sql).fetchall(), raw)


def test_raw_shapes_in_postgres(
    meltano_project: MeltanoProject, postgres: Postgres, tmp_path: Path
) -> None:
    raw = raw_records()
    server = dataclasses.replace(postgres, database="calltouch_raw_shapes")
    with postgres.connect() as admin:
        admin.execute(f"CREATE DATABASE {server.database}")
    write_postgres(server, raw)
    env = meltano_env(**server.loader_env())
    meltano_project.run(["invoke", "dbt-postgres:build"], tmp_path / "dbt.log", env)
    with server.connect() as db:
        check_models(lambda sql: db.execute(sql).fetchall(), raw)
