"""dbt-clickhouse on a raw database that is not there: an error naming the variables, not empty
reports.

dbt reads the server and the raw database from the TARGET_CLICKHOUSE_* variables; a
`meltano config set target-clickhouse database ...` writes meltano.yml, which only the loader
reads. dbt then looked in a database with no tables, read every stream as never loaded, and
built empty `leads` whose tests passed.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from tests.integration.conftest import MeltanoProject, meltano_env

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.integration.clickhouse_http import ChdbServer

pytestmark = pytest.mark.integration

RAW, MODELS = "agency_raw", "agency_models"  # databases of no other test


@pytest.fixture
def server(chdb_session: Any) -> Iterator[ChdbServer]:
    from tests.integration.clickhouse_http import ChdbServer  # noqa: PLC0415

    with ChdbServer(chdb_session) as running:
        for database in (RAW, MODELS):
            running.session.query(f"DROP DATABASE IF EXISTS {database}")
        try:
            yield running
        finally:
            for database in (RAW, MODELS):
                running.session.query(f"DROP DATABASE IF EXISTS {database}")


def dbt_run(project: MeltanoProject, server: ChdbServer, log: Path) -> tuple[int, str]:
    """`meltano invoke dbt-clickhouse:run` with the raw database RAW, the models in MODELS."""
    env = meltano_env(
        TARGET_CLICKHOUSE_HOST="127.0.0.1",
        TARGET_CLICKHOUSE_PORT=str(server.port),
        TARGET_CLICKHOUSE_DATABASE=RAW,
        DBT_CLICKHOUSE_SCHEMA=MODELS,
    )
    with log.open("w", encoding="utf-8") as sink:
        done = subprocess.run(  # noqa: S603 - meltano with our own arguments
            [str(project.meltano), "invoke", "dbt-clickhouse:run"],
            cwd=project.root, env=env, stdout=sink, stderr=subprocess.STDOUT,
            text=True, timeout=600, check=False,
        )  # fmt: skip
    return done.returncode, log.read_text(encoding="utf-8")


def test_a_raw_database_that_is_not_there_fails_naming_the_variables(
    clickhouse_project: MeltanoProject, server: ChdbServer, tmp_path: Path
) -> None:
    code, output = dbt_run(clickhouse_project, server, tmp_path / "missing.log")
    assert code != 0, output[-3000:]
    assert f"No database {RAW} on ClickHouse 127.0.0.1" in output, output[-3000:]
    assert "TARGET_CLICKHOUSE_DATABASE" in output
    tables = server.session.query(f"SHOW TABLES FROM {MODELS}", "CSV").bytes()
    assert b"leads" not in tables


def test_an_empty_raw_database_still_builds_empty_models(
    clickhouse_project: MeltanoProject, server: ChdbServer, tmp_path: Path
) -> None:
    server.session.query(f"CREATE DATABASE {RAW}")
    code, output = dbt_run(clickhouse_project, server, tmp_path / "empty.log")
    assert code == 0, output[-3000:]
    count = server.session.query(f"SELECT count() FROM {MODELS}.leads", "CSV").bytes()  # noqa: S608 - our own constant
    assert count.strip() == b"0"
