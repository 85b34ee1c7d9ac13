"""`meltano run calltouch-to-duckdb` when one site of an agency stops (its token revoked).

The job must still rebuild and test the models from what the other sites loaded, then fail, the
stopped site named in its log by dbt's test `no_site_stopped`; once the token works again the
next run of the job passes, the site read from its start.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from typing import TYPE_CHECKING

import duckdb
import pytest

from tests.emulator.server import Emulator
from tests.emulator.sites import Site, generate_sites
from tests.integration.conftest import meltano_env
from tests.integration.figures import timed

if TYPE_CHECKING:
    from pathlib import Path

    from tests.integration.conftest import MeltanoProject

pytestmark = pytest.mark.integration

FIRST_DAY = dt.date(2025, 6, 2)
DAYS = 4
HEALTHY, LOST = "healthy-token", "revoked-token"


def job(project: MeltanoProject, env: dict[str, str], log: Path) -> tuple[int, str]:
    """The daily job, with a state id of its own; its exit status and output."""
    command = [str(project.meltano), "--environment=dev", "run", "--state-id-suffix=stopped"]
    with log.open("w", encoding="utf-8") as sink:
        done = subprocess.run(  # noqa: S603 - meltano with our own arguments
            [*command, "calltouch-to-duckdb"],
            cwd=project.root,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=900,
        )
    return done.returncode, log.read_text(encoding="utf-8")


def leads_per_site(path: Path) -> dict[int, int]:
    with duckdb.connect(str(path), read_only=True) as db:
        rows = db.execute("SELECT site_id, count(*) FROM analytics.leads GROUP BY 1").fetchall()
    return {int(site): int(count) for site, count in rows}


def record_removed_site(path: Path) -> int:
    """A site the config no longer lists, whose last run, two days ago, stopped."""
    site_id = 999_001
    with duckdb.connect(str(path)) as db:
        db.execute(
            "INSERT INTO calltouch.site_runs (siteid, startedat, stopped, reason) "
            "VALUES (?, now()::timestamp - INTERVAL 2 DAY, true, 'removed since')",
            [site_id],
        )
    return site_id


def leads_of(site: Site) -> int:
    return len(site.requests) + len(site.calls)


def test_a_revoked_site_fails_the_job_after_dbt_rebuilt_the_other_sites(
    meltano_project: MeltanoProject, tmp_path: Path
) -> None:
    sites = generate_sites(
        3, seed=22, start=FIRST_DAY, days=DAYS, requests_per_day=3, calls_per_day=4
    )
    lost, healthy = sites[0], sites[1:]
    path = tmp_path / "warehouse.duckdb"
    tokens = {LOST: {lost.site_id}, HEALTHY: {site.site_id for site in healthy}}
    entries = [
        {"site_id": str(s.site_id), "name": f"Клиент {k}", "timezone": s.tz}
        | ({"api_token": LOST} if s is lost else {})
        for k, s in enumerate(sites, 1)
    ]
    with Emulator(sites=sites, tokens=tokens) as emulator:
        env = meltano_env(
            TAP_CALLTOUCH_API_URL=emulator.url,
            TAP_CALLTOUCH_API_TOKEN=HEALTHY,
            TAP_CALLTOUCH_SITES=json.dumps(entries, ensure_ascii=False),
            TAP_CALLTOUCH_START_DATE=FIRST_DAY.isoformat(),
            TAP_CALLTOUCH_END_DATE=(FIRST_DAY + dt.timedelta(days=DAYS - 1)).isoformat(),
            TARGET_DUCKDB_PATH=str(path),
            DBT_DUCKDB_PATH=str(path),
        )
        emulator.revoke(LOST)
        with timed("calltouch-to-duckdb with a revoked site"):
            status, log = job(meltano_project, env, tmp_path / "stopped.log")
        built = leads_per_site(path)
        removed = record_removed_site(path)
        emulator.restore(LOST)
        again, log_again = job(meltano_project, env, tmp_path / "restored.log")
    # The healthy sites' reports were rebuilt; the job still failed, naming the stopped site.
    assert built == {site.site_id: leads_of(site) for site in healthy}, log[-3000:]
    assert status != 0
    assert "1 of 3 site(s) stopped" in log
    assert f"Stopped site {lost.site_id} (Клиент 1) in the run of" in log
    assert "rejected the credentials" in log
    assert "no_site_stopped" in log
    assert LOST not in log
    # Restored, the next run reads the site from its start, and the job passes: a site that
    # stopped two days ago and has not been run since (removed from `sites`) does not count.
    assert again == 0, log_again[-3000:]
    assert f"Stopped site {removed}" not in log_again
    assert leads_per_site(path) == {site.site_id: leads_of(site) for site in sites}
