"""The Dagster code location (orchestrate/) materializes the shards of an agency into PostgreSQL.

Dagster comes from orchestrate/requirements.txt into .venv-dagster (as ./scripts/orchestrate
installs it, reused while that file is unchanged). Its `calltouch_shards` job runs with Dagster's
multiprocess executor, two shards at once, each a `meltano run` of its own shard plugin in the
integration suite's Meltano project (environment `prod`), against one emulator that allows 5
calls a second in total, then the dbt models once every shard has loaded. Then: every site's
records are in PostgreSQL once, and its leads in the models; each shard has its own `prod:`
Meltano state holding its own sites alone, no call met a 429, Dagster recorded each shard as a
partition of `calltouch_shard` and the models as `calltouch_reports`, and two shards (never
three) were running at once.

A second agency changes its shard count from 2 to 3 between two runs, and one site's token is
revoked before the second: that run re-reads no site from its start, rebuilds the models, and
then fails on the stopped site, naming it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from tap_calltouch.shards import shard_of
from tests.conftest import TOKEN
from tests.emulator.server import Emulator
from tests.emulator.sites import Site, generate_sites, tokens_for
from tests.integration.conftest import ROOT, meltano_env, pinned_venv, run_logged
from tests.integration.figures import timed

if TYPE_CHECKING:
    from pathlib import Path

    from tests.integration.conftest import MeltanoProject, Postgres

pytestmark = pytest.mark.integration

DAGSTER_VENV = ROOT / ".venv-dagster"
REQUIREMENTS = ROOT / "orchestrate" / "requirements.txt"
SHARDS = 3
AT_ONCE = 2
DATABASE = "calltouch_shards"  # its own, apart from the end-to-end test's
FIRST_DAY = dt.date(2026, 9, 1)
DAYS = 6
LOADER = "target-postgres"
ENVIRONMENT = "prod"  # the code location's default

# Run in .venv-dagster after the job: the partitions Dagster recorded, and the steps' spans.
REPORT = """
import json
from dagster import AssetKey, DagsterEventType, DagsterInstance
instance = DagsterInstance.get()
run = instance.get_runs(limit=1)[0]  # the latest
ENDS = {"STEP_SUCCESS", "STEP_UP_FOR_RETRY", "STEP_FAILURE"}
spans, started, retries = [], {}, 0
for entry in instance.all_logs(run.run_id):
    event = entry.dagster_event
    if event is None or not (entry.step_key or "").startswith("shard_run"):
        continue
    kind = event.event_type.value
    if kind == "STEP_START":
        started[entry.step_key] = entry.timestamp
    elif kind in ENDS and entry.step_key in started:
        spans.append((started.pop(entry.step_key), entry.timestamp))
        retries += kind == "STEP_UP_FOR_RETRY"
print(json.dumps({
    "status": run.status.value,
    "partitions": sorted(instance.get_materialized_partitions(AssetKey("calltouch_shard"))),
    "reports": instance.get_latest_materialization_event(AssetKey("calltouch_reports"))
    is not None,
    "spans": spans,
    "retries": retries,
}))
"""


@pytest.fixture(scope="session")
def dagster_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Dagster from PyPI in .venv-dagster, from orchestrate/requirements.txt."""
    return pinned_venv(DAGSTER_VENV, REQUIREMENTS, "dagster", tmp_path_factory.mktemp("dagster"))


def max_overlap(spans: list[list[float]]) -> int:
    """The most shard steps (attempts included) running at one moment."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def test_dagster_materializes_every_shard_into_postgres_two_at_once(
    dagster_bin: Path, meltano_project: MeltanoProject, postgres: Postgres, tmp_path: Path
) -> None:
    fresh_database(postgres, DATABASE)
    sites = generate_sites(
        9, seed=16, start=FIRST_DAY, days=DAYS, requests_per_day=4, calls_per_day=6
    )
    home = tmp_path / "dagster-home"
    home.mkdir()
    with Emulator(
        sites=sites, tokens=tokens_for(sites, [TOKEN]), rate_limit=5, rate_limit_per="all"
    ) as emulator:
        env = meltano_env(
            **warehouse_env(postgres, DATABASE),
            TAP_CALLTOUCH_API_URL=emulator.url,
            TAP_CALLTOUCH_API_TOKEN=TOKEN,
            TAP_CALLTOUCH_SITES=json.dumps(
                [{"site_id": str(s.site_id), "timezone": s.tz} for s in sites]
            ),
            TAP_CALLTOUCH_START_DATE=FIRST_DAY.isoformat(),
            TAP_CALLTOUCH_END_DATE=(FIRST_DAY + dt.timedelta(days=DAYS - 1)).isoformat(),
            TAP_CALLTOUCH_WINDOW_DAYS="3",
            TAP_CALLTOUCH_CALLS_WINDOW_DAYS="3",
            CALLTOUCH_MELTANO_PROJECT=str(meltano_project.root),
            CALLTOUCH_MELTANO=str(meltano_project.meltano),
            CALLTOUCH_LOADER=LOADER,
            CALLTOUCH_SHARDS=str(SHARDS),
            CALLTOUCH_SHARDS_AT_ONCE=str(AT_ONCE),
            DAGSTER_HOME=str(home),
        )
        env.pop("CALLTOUCH_RATE_LIMIT_STORE", None)  # the code location's default: one SQLite file
        env.pop("CALLTOUCH_MELTANO_ENVIRONMENT", None)  # its default: prod
        clear_states(meltano_project, env, tmp_path / "clear.log")
        orchestrate = str(ROOT / "orchestrate")
        command = [str(dagster_bin), "job", "execute", "-m", "calltouch_orchestrate.definitions"]
        with timed(f"dagster job execute calltouch_shards ({SHARDS} shards, {AT_ONCE} at once)"):
            run_logged(
                [*command, "-d", orchestrate, "-j", "calltouch_shards"],
                tmp_path / "dagster.log",
                cwd=orchestrate,
                env=env,
                timeout=900,
            )
        peak, throttled = emulator.peak_rate(), emulator.count(429)
    report = subprocess.run(  # noqa: S603 - the Dagster venv's Python, our own script
        [str(DAGSTER_VENV / "bin" / "python"), "-c", REPORT],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        check=True,
    )
    dagster = json.loads(report.stdout)
    keys = [f"{k}-of-{SHARDS}" for k in range(1, SHARDS + 1)]
    assert dagster["status"] == "SUCCESS"
    assert dagster["partitions"] == keys
    assert dagster["reports"], "no calltouch_reports after the shards"
    assert max_overlap(dagster["spans"]) == AT_ONCE
    print(f"Dagster: {SHARDS} shards, {AT_ONCE} at once, {dagster['retries']} retried")  # noqa: T201
    assert throttled == 0
    assert peak <= 5

    owner = {site.site_id: shard_of(site.site_id, SHARDS) for site in sites}
    assert set(owner.values()) == set(range(1, SHARDS + 1)), "a shard of the seed has no site"
    rows = loaded_keys(postgres, DATABASE)
    for stream, key, field in (("requests", "requestId", "requests"), ("calls", "callId", "calls")):
        assert len(rows[stream]) == len(set(rows[stream])), f"{stream}: a row loaded twice"
        want = {(s.site_id, int(r[key])) for s in sites for r in getattr(s, field)}
        assert set(rows[stream]) == want, stream
    assert leads_per_site(postgres, DATABASE) == {s.site_id: leads_of(s) for s in sites}
    for number, shard_key in enumerate(keys, 1):
        state = saved_state(meltano_project, shard_key, env, tmp_path / f"state-{number}.log")
        mine = {site_id for site_id, shard in owner.items() if shard == number}
        for stream in ("requests", "calls"):
            partitions = state["bookmarks"][stream]["partitions"]
            assert {p["context"]["siteId"] for p in partitions} == mine, (shard_key, stream)


def fresh_database(postgres: Postgres, database: str) -> None:
    with postgres.connect() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {database}")
        admin.execute(f"CREATE DATABASE {database}")


def warehouse_env(postgres: Postgres, database: str) -> dict[str, str]:
    """target-postgres and dbt-postgres pointed at `database`."""
    return {
        **postgres.loader_env(),
        "TARGET_POSTGRES_DATABASE": database,
        "DBT_POSTGRES_DBNAME": database,
    }


def clear_states(project: MeltanoProject, env: dict[str, str], log: Path) -> None:
    """Forget every `prod` pipeline state of the shared project: each test's agency starts anew."""
    pattern = f"{ENVIRONMENT}:tap-calltouch*"
    listed = project.run(["--log-level=warning", "state", "list", "--pattern", pattern], log, env)
    for line in listed.splitlines():
        if line.strip().startswith(f"{ENVIRONMENT}:"):
            project.run(["state", "clear", "--force", line.strip()], log, env)


def leads_per_site(postgres: Postgres, database: str) -> dict[int, int]:
    """Leads in the dbt model per site."""
    with dataclasses.replace(postgres, database=database).connect() as connection:
        rows = connection.execute(
            "SELECT site_id, count(*) FROM analytics.leads GROUP BY 1"
        ).fetchall()
    return {int(site): int(count) for site, count in rows}


def leads_of(site: Site) -> int:
    return len(site.requests) + len(site.calls)


def loaded_keys(postgres: Postgres, database: str) -> dict[str, list[tuple[int, int]]]:
    """(siteId, id) of every row target-postgres loaded, duplicates included."""
    with dataclasses.replace(postgres, database=database).connect() as connection:
        return {
            stream: [
                (int(site), int(record))
                for site, record in connection.execute(
                    f'SELECT "siteId", "{key}" FROM calltouch.{stream}'  # noqa: S608 - our names
                ).fetchall()
            ]
            for stream, key in (("requests", "requestId"), ("calls", "callId"))
        }


def saved_state(
    project: MeltanoProject, shard_key: str, env: dict[str, str], log: Path
) -> dict[str, Any]:
    """The Singer state Meltano keeps for one shard's pipeline."""
    state_id = f"{ENVIRONMENT}:tap-calltouch-shard-{shard_key}-to-{LOADER}"
    output = project.run(["--log-level=warning", "state", "get", state_id], log, env)
    singer: dict[str, Any] = json.loads(output[output.index("{") :])["singer_state"]
    return singer


# A stand-in for `meltano --environment=prod ...` that fails a shard's first run and passes its
# second, as a loader racing another shard's to create the schema does; it holds no state, and
# the models build.
FAILS_ONCE = """#!/bin/sh
[ "$2" = run ] || exit 0
case "$3" in dbt-*) exit 0;; esac
mark="$CALLTOUCH_TEST_MARKS/$3"
if [ -e "$mark" ]; then exit 0; fi
touch "$mark"
echo "schema calltouch already exists" >&2
exit 1
"""


def test_a_shard_that_fails_once_is_retried(dagster_bin: Path, tmp_path: Path) -> None:
    marks, project, home = tmp_path / "marks", tmp_path / "project", tmp_path / "dagster-home"
    for folder in (marks, project, home):
        folder.mkdir()
    meltano = tmp_path / "meltano"
    meltano.write_text(FAILS_ONCE, encoding="utf-8")
    meltano.chmod(0o755)
    env = {
        **os.environ,
        "CALLTOUCH_MELTANO_PROJECT": str(project),
        "CALLTOUCH_MELTANO": str(meltano),
        "CALLTOUCH_TEST_MARKS": str(marks),
        "CALLTOUCH_SHARDS": "2",
        "CALLTOUCH_SHARDS_AT_ONCE": "2",
        "CALLTOUCH_RATE_LIMIT_STORE": "none",
        "DAGSTER_HOME": str(home),
    }
    orchestrate = str(ROOT / "orchestrate")
    command = [str(dagster_bin), "job", "execute", "-m", "calltouch_orchestrate.definitions"]
    done = subprocess.run(  # noqa: S603 - the Dagster venv's CLI, our own arguments
        [*command, "-d", orchestrate, "-j", "calltouch_shards"],
        cwd=orchestrate,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    report = subprocess.run(  # noqa: S603 - the Dagster venv's Python, our own script
        [str(DAGSTER_VENV / "bin" / "python"), "-c", REPORT],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        check=True,
    )
    dagster = json.loads(report.stdout)
    shards_run = sorted(path.name for path in marks.iterdir())
    assert shards_run == ["tap-calltouch-shard-1-of-2", "tap-calltouch-shard-2-of-2"]
    assert dagster["retries"] == 2, done.stdout[-2000:]
    assert dagster["status"] == "SUCCESS"
    assert done.returncode == 0


RESHARD_DATABASE = "calltouch_reshard"
RESHARD_DAYS = 60
LOST = "revoked-client-token"  # one client's token, revoked during the first run


def dagster_job(
    dagster_bin: Path, env: dict[str, str], log: Path
) -> tuple[int, dict[str, Any], str]:
    """`calltouch_shards` once; its exit status, the report of its run, and its output."""
    orchestrate = str(ROOT / "orchestrate")
    command = [str(dagster_bin), "job", "execute", "-m", "calltouch_orchestrate.definitions"]
    with log.open("w", encoding="utf-8") as sink:
        done = subprocess.run(  # noqa: S603 - the Dagster venv's CLI, our own arguments
            [*command, "-d", orchestrate, "-j", "calltouch_shards"],
            cwd=orchestrate,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=900,
        )
    report = subprocess.run(  # noqa: S603 - the Dagster venv's Python, our own script
        [str(DAGSTER_VENV / "bin" / "python"), "-c", REPORT],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.returncode, json.loads(report.stdout), log.read_text(encoding="utf-8")


def test_a_new_shard_count_rereads_no_site_and_a_stopped_site_fails_after_the_models(
    dagster_bin: Path, meltano_project: MeltanoProject, postgres: Postgres, tmp_path: Path
) -> None:
    fresh_database(postgres, RESHARD_DATABASE)
    sites = generate_sites(
        4, seed=22, start=FIRST_DAY, days=RESHARD_DAYS, requests_per_day=1, calls_per_day=1
    )
    lost, healthy = sites[0], sites[1:]
    home = tmp_path / "dagster-home"
    home.mkdir()
    tokens = {LOST: {lost.site_id}, TOKEN: {site.site_id for site in healthy}}
    entries = [
        {"site_id": str(s.site_id), "timezone": s.tz} | ({"api_token": LOST} if s is lost else {})
        for s in sites
    ]
    with Emulator(sites=sites, tokens=tokens) as emulator:
        env = meltano_env(
            **warehouse_env(postgres, RESHARD_DATABASE),
            TAP_CALLTOUCH_API_URL=emulator.url,
            TAP_CALLTOUCH_API_TOKEN=TOKEN,
            TAP_CALLTOUCH_SITES=json.dumps(entries),
            TAP_CALLTOUCH_START_DATE=FIRST_DAY.isoformat(),
            TAP_CALLTOUCH_END_DATE=(FIRST_DAY + dt.timedelta(days=RESHARD_DAYS - 1)).isoformat(),
            TAP_CALLTOUCH_WINDOW_DAYS="30",
            TAP_CALLTOUCH_CALLS_WINDOW_DAYS="30",
            CALLTOUCH_MELTANO_PROJECT=str(meltano_project.root),
            CALLTOUCH_MELTANO=str(meltano_project.meltano),
            CALLTOUCH_LOADER=LOADER,
            CALLTOUCH_SHARDS="2",
            CALLTOUCH_SHARDS_AT_ONCE="2",
            CALLTOUCH_RATE_LIMIT_STORE="none",
            DAGSTER_HOME=str(home),
        )
        env.pop("CALLTOUCH_MELTANO_ENVIRONMENT", None)
        clear_states(meltano_project, env, tmp_path / "clear.log")
        with timed("dagster: 4 sites in 2 shards"):
            status, first, log = dagster_job(dagster_bin, env, tmp_path / "run1.log")
        first_calls = len(emulator.calls)
        assert status == 0, log[-3000:]
        assert (first["status"], first["reports"]) == ("SUCCESS", True)
        drop_models(postgres, RESHARD_DATABASE)
        emulator.revoke(LOST)
        emulator.reset_log()
        with timed("dagster: the same sites in 3 shards, one token revoked"):
            again, second, log_again = dagster_job(
                dagster_bin, {**env, "CALLTOUCH_SHARDS": "3"}, tmp_path / "run2.log"
            )
        calls = [call for call in emulator.calls if call.status == 200]
    # Three shards: every site that could be read went on from its bookmark (its look-back).
    print(f"2 shards: {first_calls} calls; then 3 shards: {len(calls)} calls")  # noqa: T201
    starts: dict[int, set[dt.date]] = {site.site_id: set() for site in healthy}
    for call in calls:
        form = "%m/%d/%Y" if call.journal == "requests" else "%d/%m/%Y"
        day = dt.datetime.strptime(call.params["dateFrom"], form).date()  # noqa: DTZ007
        starts[int(call.site or 0)].add(day)
    for site in healthy:
        assert starts[site.site_id], site.site_id
        assert min(starts[site.site_id]) > FIRST_DAY, f"site {site.site_id} read from its start"
    # Every shard loaded, the models were rebuilt (dropped before), and the run then failed,
    # naming the site whose token was revoked.
    assert second["partitions"] == ["1-of-2", "1-of-3", "2-of-2", "2-of-3", "3-of-3"]
    assert leads_per_site(postgres, RESHARD_DATABASE) == {s.site_id: leads_of(s) for s in sites}
    assert again != 0
    assert second["status"] == "FAILURE"
    assert f"Stopped site {lost.site_id}" in log_again
    assert LOST not in log_again


def drop_models(postgres: Postgres, database: str) -> None:
    """Drop the dbt models, so that finding them again shows the next run built them."""
    with dataclasses.replace(postgres, database=database).connect() as connection:
        connection.execute("DROP SCHEMA analytics CASCADE")


# A stand-in for Meltano's `run` (the shards and dbt succeed, writing nothing); every other
# command, `state` above all, is the real Meltano's.
RUNS_NOTHING = """#!/bin/sh
[ "$2" = run ] && exit 0
exec "$CALLTOUCH_REAL_MELTANO" "$@"
"""


def test_the_shards_states_of_the_default_environment_are_carried_into_the_named_one(
    dagster_bin: Path, meltano_bin: Path, tmp_path: Path
) -> None:
    # Before it named an environment, the code location ran `meltano run` in the project's
    # default one (dev): its shards' bookmarks are there. The first run in `prod` must go on
    # from them, not read every site again from `start_date`.
    project, home = tmp_path / "project", tmp_path / "dagster-home"
    for folder in (project, home):
        folder.mkdir()
    shutil.copyfile(ROOT / "meltano.yml", project / "meltano.yml")
    meltano = tmp_path / "meltano"
    meltano.write_text(RUNS_NOTHING, encoding="utf-8")
    meltano.chmod(0o755)
    env = meltano_env(
        CALLTOUCH_MELTANO_PROJECT=str(project),
        CALLTOUCH_MELTANO=str(meltano),
        CALLTOUCH_REAL_MELTANO=str(meltano_bin),
        CALLTOUCH_LOADER=LOADER,
        CALLTOUCH_SHARDS="2",
        CALLTOUCH_SHARDS_AT_ONCE="2",
        CALLTOUCH_RATE_LIMIT_STORE="none",
        DAGSTER_HOME=str(home),
    )
    env.pop("CALLTOUCH_MELTANO_ENVIRONMENT", None)
    site_ids = [1000 + n for n in range(12)]
    bookmarks = {site: f"2026-03-{site % 20 + 1:02d}T00:00:00+00:00" for site in site_ids}
    for number in (1, 2):
        partitions = [
            {"context": {"siteId": site}, "replication_key_value": bookmarks[site]}
            for site in site_ids
            if shard_of(site, 2) == number
        ]
        state = {"singer_state": {"bookmarks": {"requests": {"partitions": partitions}}}}
        path = tmp_path / f"dev-{number}.json"
        path.write_text(json.dumps(state), encoding="utf-8")
        legacy = f"dev:tap-calltouch-shard-{number}-of-2-to-{LOADER}"
        run_logged(
            [str(meltano_bin), "state", "set", "--force", "--input-file", str(path), legacy],
            tmp_path / f"set-{number}.log",
            cwd=project,
            env=env,
        )
    status, report, log = dagster_job(dagster_bin, env, tmp_path / "run.log")
    assert status == 0, log[-3000:]
    assert report["status"] == "SUCCESS"
    carried: dict[int, str] = {}
    for number in (1, 2):
        state_id = f"{ENVIRONMENT}:tap-calltouch-shard-{number}-of-2-to-{LOADER}"
        output = subprocess.run(  # noqa: S603 - the Meltano venv's CLI, our own arguments
            [str(meltano_bin), "--log-level=warning", "state", "get", state_id],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        assert "{" in output, f"{state_id}: no state, so every site from start_date"
        singer = json.loads(output[output.index("{") :])["singer_state"]
        for partition in singer["bookmarks"]["requests"]["partitions"]:
            carried[partition["context"]["siteId"]] = partition["replication_key_value"]
    assert carried == bookmarks
