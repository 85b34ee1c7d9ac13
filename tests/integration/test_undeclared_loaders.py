"""Fields the schema does not declare reach every warehouse the project configures, in full.

`meltano run tap-calltouch <loader>` against an account whose records carry fields the tap's
schema does not know, at the top and inside `orders[]`: the `_undeclared` column of `requests`
and `calls` must hold each of them, with its path and value, in PostgreSQL (jsonb), DuckDB
(JSON) and JSON Lines, and the rows without such fields leave it null. In the two databases the
tables come first from a run with the column deselected, as a warehouse loaded by a version
without it has them: the loader must add the column, then fill it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import duckdb
import pytest

from tests.conftest import TOKEN
from tests.emulator.calls_dataset import generate_calls
from tests.emulator.dataset import DEFAULT_SITE_ID, generate_dataset
from tests.emulator.server import Emulator
from tests.integration.conftest import meltano_env
from tests.integration.figures import timed

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.integration.conftest import MeltanoProject, Postgres

pytestmark = pytest.mark.integration

FIRST_DAY = dt.date(2025, 3, 3)
DAYS = 3
NEW_ORDER_FIELD = "discountPercent"


@pytest.fixture
def account() -> Iterator[tuple[Emulator, dict[int, dict[str, Any]], dict[int, dict[str, Any]]]]:
    """An emulated account, and the `_undeclared` each request and call must arrive with."""
    requests = generate_dataset(seed=21, start=FIRST_DAY, days=DAYS, per_day=6)
    calls = generate_calls(seed=21, start=FIRST_DAY, days=DAYS, per_day=6)
    want_requests: dict[int, dict[str, Any]] = {}
    for number, record in enumerate(r for r in requests if r["orders"]):
        if number == 3:
            break
        record["leadScore"] = 80 + number
        record["utmPartner"] = {"id": f"p-{number}", "tier": "золото"}
        record["orders"][0][NEW_ORDER_FIELD] = 10 + number
        want_requests[int(record["requestId"])] = {
            "leadScore": 80 + number,
            "utmPartner": {"id": f"p-{number}", "tier": "золото"},
            f"orders[0].{NEW_ORDER_FIELD}": 10 + number,
            f"order.{NEW_ORDER_FIELD}": 10 + number,  # `order` is the request's deal, as sent
        }
    calls[1]["aiSummary"] = "Клиент спросил о доставке"
    want_calls = {int(calls[1]["callId"]): {"aiSummary": "Клиент спросил о доставке"}}
    with Emulator(dataset=requests, calls=calls, token=TOKEN) as emulator:
        yield emulator, want_requests, want_calls


SELECTED = ["requests.*", "calls.*"]
# The tables as a version without the column left them; also how a user drops the column.
WITHOUT_COLUMN = [*SELECTED, "!requests._undeclared", "!calls._undeclared"]


def tap_env(url: str, select: list[str]) -> dict[str, str]:
    return {
        "TAP_CALLTOUCH_API_TOKEN": TOKEN,
        "TAP_CALLTOUCH_SITE_ID": str(DEFAULT_SITE_ID),
        "TAP_CALLTOUCH_START_DATE": FIRST_DAY.isoformat(),
        "TAP_CALLTOUCH_END_DATE": (FIRST_DAY + dt.timedelta(days=DAYS)).isoformat(),
        "TAP_CALLTOUCH_API_URL": url,
        "TAP_CALLTOUCH__SELECT": json.dumps(select),
    }


def load(  # noqa: PLR0913 - one run, its loader and its selection
    project: MeltanoProject,
    loader: str,
    url: str,
    extra: dict[str, str],
    log: Path,
    *,
    select: list[str] = SELECTED,
) -> str:
    env = meltano_env(**tap_env(url, select), **extra)
    command = ["--environment=dev", "run", "--full-refresh", "tap-calltouch", loader]
    with timed(f"meltano run tap-calltouch {loader} (undeclared fields, {len(select)} rules)"):
        return project.run(command, log, env)


def as_object(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def check(rows: list[tuple[Any, Any]], want: dict[int, dict[str, Any]]) -> None:
    """Each row's `_undeclared` is exactly what it was sent with, null for every other row."""
    got = {int(key): as_object(value) for key, value in rows if value is not None}
    assert got == want
    assert len(rows) > len(want)  # rows without such fields are there, with null


def test_undeclared_fields_into_postgres(
    meltano_project: MeltanoProject, postgres: Postgres, account: Any, tmp_path: Path
) -> None:
    emulator, want_requests, want_calls = account
    with postgres.connect() as admin:  # a database of its own: others' tables have the column
        admin.execute("DROP DATABASE IF EXISTS undeclared")
        admin.execute("CREATE DATABASE undeclared")
    postgres = dataclasses.replace(postgres, database="undeclared")
    env = postgres.loader_env()
    load(meltano_project, "target-postgres", emulator.url, env, tmp_path / "pg0.log",
         select=WITHOUT_COLUMN)  # fmt: skip
    with postgres.connect() as db:
        columns = db.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'calltouch' AND table_name = 'requests'"
        ).fetchall()
    assert columns
    assert ("_undeclared",) not in columns
    output = load(meltano_project, "target-postgres", emulator.url, env, tmp_path / "pg.log")
    assert "leadScore" in output  # named in the run's log
    with postgres.connect() as db:
        requests = db.execute('SELECT "requestId", "_undeclared" FROM calltouch.requests')
        check(requests.fetchall(), want_requests)
        calls = db.execute('SELECT "callId", "_undeclared" FROM calltouch.calls').fetchall()
        check(calls, want_calls)
        (kind,) = db.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = 'calltouch'"
            " AND table_name = 'requests' AND column_name = '_undeclared'"
        ).fetchone() or (None,)
    assert kind == "jsonb"


def test_undeclared_fields_into_duckdb(
    meltano_project: MeltanoProject, account: Any, tmp_path: Path
) -> None:
    emulator, want_requests, want_calls = account
    path = tmp_path / "warehouse.duckdb"
    env = {"TARGET_DUCKDB_PATH": str(path)}
    load(meltano_project, "target-duckdb", emulator.url, env, tmp_path / "duckdb0.log",
         select=WITHOUT_COLUMN)  # fmt: skip
    with duckdb.connect(str(path), read_only=True) as db:
        columns = {row[0] for row in db.execute("DESCRIBE calltouch.requests").fetchall()}
    assert columns
    assert "_undeclared" not in columns
    load(meltano_project, "target-duckdb", emulator.url, env, tmp_path / "duckdb.log")
    with duckdb.connect(str(path), read_only=True) as db:
        check(db.execute("SELECT requestid, _undeclared FROM calltouch.requests").fetchall(),
              want_requests)  # fmt: skip
        check(db.execute("SELECT callid, _undeclared FROM calltouch.calls").fetchall(), want_calls)
        (score,) = db.execute(
            "SELECT sum((_undeclared->>'leadScore')::int) FROM calltouch.requests"
        ).fetchone() or (None,)
    assert score == sum(u["leadScore"] for u in want_requests.values())


def test_undeclared_fields_into_json_lines(
    meltano_project: MeltanoProject, account: Any, tmp_path: Path
) -> None:
    emulator, want_requests, want_calls = account
    meltano_project.run(
        ["install", "--plugin-type", "loader", "target-jsonl"],
        tmp_path / "install.log",
        meltano_env(),
    )
    folder = tmp_path / "jsonl"
    load(meltano_project, "target-jsonl", emulator.url,
         {"TARGET_JSONL_DESTINATION_PATH": str(folder)}, tmp_path / "jsonl.log")  # fmt: skip
    for stream, key, want in (("requests", "requestId", want_requests),
                              ("calls", "callId", want_calls)):  # fmt: skip
        lines = (folder / f"{stream}.jsonl").read_text("utf-8").splitlines()
        records = [json.loads(line) for line in lines]
        check([(r[key], r.get("_undeclared")) for r in records], want)
