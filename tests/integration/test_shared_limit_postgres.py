"""The three shard processes of tests/test_shared_limit.py, sharing a PostgreSQL store: what
machines behind one NAT would name. The server is the integration suite's own throwaway one."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from tests.test_shared_limit import assert_every_site_whole_and_once, run_three

if TYPE_CHECKING:
    from pathlib import Path

    from tests.integration.conftest import Postgres

pytestmark = pytest.mark.integration


def test_three_shards_sharing_a_postgres_store_stay_within_five_calls_a_second(
    postgres: Postgres, tmp_path: Path
) -> None:
    password = quote(postgres.password, safe="")
    store = f"postgresql://{postgres.user}:{password}@127.0.0.1:{postgres.port}/{postgres.database}"
    together = run_three(tmp_path, store)
    assert_every_site_whole_and_once(together)
    assert together.throttled == 0
    assert together.peak <= 5
    for outcome in together.outcomes:
        assert postgres.password not in outcome.stdout + outcome.stderr
        assert password not in outcome.stdout + outcome.stderr
    with postgres.connect() as connection:  # the slots were taken there (pyrate's table name)
        row = connection.execute("SELECT to_regclass('ratelimit___calltouch_calls')").fetchone()
    assert row is not None
    assert row[0] is not None
    print(f"PostgreSQL store: {together.calls} calls, {together.rate:.2f}/s, peak {together.peak}")  # noqa: T201
