"""The Dagster code location: one partition per shard of `sites`, each a `meltano run` of its own.

Settings come from the environment, so one code location serves any project:

| variable | default | what |
| --- | --- | --- |
| CALLTOUCH_MELTANO_PROJECT | this checkout | the Meltano project (its meltano.yml) |
| CALLTOUCH_MELTANO | the project's .venv-meltano/bin/meltano, else `meltano` | the executable |
| CALLTOUCH_MELTANO_ENVIRONMENT | prod | the Meltano environment: its config, its state ids |
| CALLTOUCH_LOADER | target-postgres | the loader each shard runs into |
| CALLTOUCH_DBT | dbt-postgres (dbt- and the loader's) | the models' dbt utility; `none`: none |
| CALLTOUCH_SHARDS | 4 | N: shards 1/N..N/N of `sites` |
| CALLTOUCH_SHARDS_AT_ONCE | 2 | how many shards the `calltouch_shards` job runs at once |
| CALLTOUCH_RATE_LIMIT_STORE | a SQLite file in the project's .meltano | the shards' shared store |

The shards of one code location run on one machine, behind one IP: they share one
`rate_limit_store` (a SQLite file by default; a PostgreSQL URL for code locations on several
machines behind one NAT; `none` when each shard has an IP of its own).

Each shard's run starts from its sites' furthest bookmarks in any state of the environment and
loader (`shards.carried_state`), so changing CALLTOUCH_SHARDS re-reads no site; a shard with no
state there yet also reads the shards' states of the project's default environment, where they
were kept before the code location named one. Once every shard
has loaded, `calltouch_reports` runs the dbt utility's `run` then `test`: the models are rebuilt
from every site loaded, and a test failing (`no_site_stopped` names the sites a shard stopped
on) fails the run after that.
"""

# No `from __future__ import annotations`: Dagster reads the hints of ops and assets at runtime.
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from dagster import (
    AssetExecutionContext,
    AssetMaterialization,
    Config,
    DagsterError,
    Definitions,
    DynamicOut,
    DynamicOutput,
    MaterializeResult,
    OpExecutionContext,
    RetryPolicy,
    ScheduleDefinition,
    StaticPartitionsDefinition,
    asset,
    job,
    multiprocess_executor,
    op,
)

from calltouch_orchestrate import shards

if TYPE_CHECKING:
    from dagster import DagsterLogManager

CHECKOUT = Path(__file__).resolve().parents[2]
POOL = "calltouch_shards"  # limit it (dagster.yaml: concurrency) for backfills of the asset
LOG_TAIL = 40  # lines of a failed run's output shown in the error (less traceback frames)
STOPPED_SITES = re.compile(r"site\(s\) stopped|Stopped site ")  # tap's summary, dbt's check
# A shard that fails is run again: its state holds its last complete window, and the loader
# upserts. The first run into an empty database also meets loaders of two shards creating the
# same schema and tables at once, where one of them fails.
RETRY = RetryPolicy(max_retries=2, delay=10)


class ShardRunError(RuntimeError):
    """A shard's `meltano run` failed (or the models' run after the shards, or a state command).

    A plain exception on purpose: Dagster applies a `RetryPolicy` only to errors of user code,
    and passes its own `DagsterError` (and subclasses) through without a retry.
    """


def _project() -> Path:
    return Path(os.environ.get("CALLTOUCH_MELTANO_PROJECT") or CHECKOUT).resolve()


def _meltano() -> str:
    local = _project() / ".venv-meltano" / "bin" / "meltano"
    return os.environ.get("CALLTOUCH_MELTANO") or (str(local) if local.exists() else "meltano")


def _count(variable: str, default: int) -> int:
    value = os.environ.get(variable) or str(default)
    if not value.isdigit() or int(value) < 1:
        msg = f"{variable} must be a whole number of at least 1, got {value!r}"
        raise DagsterError(msg)
    return int(value)


def _store() -> str:
    """The URL every shard here names; `none`: no shared store (each shard its own IP)."""
    default = f"sqlite:///{_project() / '.meltano' / 'calltouch-rate-limit.db'}"
    value = os.environ.get(shards.STORE_VARIABLE) or default
    return "" if value.lower() == "none" else value


SHARD_COUNT = _count("CALLTOUCH_SHARDS", 4)
AT_ONCE = _count("CALLTOUCH_SHARDS_AT_ONCE", 2)
LOADER = os.environ.get("CALLTOUCH_LOADER") or "target-postgres"
ENVIRONMENT = os.environ.get("CALLTOUCH_MELTANO_ENVIRONMENT") or "prod"
DBT = os.environ.get("CALLTOUCH_DBT") or shards.dbt_utility(LOADER)
PARTITIONS = StaticPartitionsDefinition(shards.shard_keys(SHARD_COUNT))


def _meltano_run(command: list[str], what: str, log: "DagsterLogManager") -> str:
    """Run a Meltano command in the project; its output, or ShardRunError with its tail."""
    project = _project()
    log.info("%s: %s in %s", what, " ".join(command[1:]), project)
    env = {**os.environ, shards.STORE_VARIABLE: _store()}
    done = subprocess.run(  # noqa: S603 - meltano with arguments of our own
        command, cwd=project, env=env, capture_output=True, text=True, check=False
    )
    lines = (done.stdout + done.stderr).splitlines()
    told = [line for line in lines if not line.startswith(("│", "╭", "╰"))]  # rich frames
    for line in told:
        if STOPPED_SITES.search(line):  # the tap's and dbt's report of stopped sites
            log.warning("%s: %s", what, line)
    if done.returncode != 0:
        named = [line for line in told[:-LOG_TAIL] if STOPPED_SITES.search(line)]
        tail = "\n".join([*named, *told[-LOG_TAIL:]])
        verb = next(arg for arg in command[1:] if not arg.startswith("-"))
        msg = f"{what}: meltano {verb} exited {done.returncode}:\n{tail}"
        raise ShardRunError(msg)
    return done.stdout


def _singer_state(state_id: str, log: "DagsterLogManager") -> dict[str, Any]:
    """The Singer state Meltano holds for a pipeline (empty when it has none)."""
    command = [_meltano(), f"--environment={ENVIRONMENT}", "--log-level=warning", "state", "get"]
    output = _meltano_run([*command, state_id], f"state of {state_id}", log)
    text = output[output.find("{") :] if "{" in output else "{}"
    state: dict[str, Any] = json.loads(text).get("singer_state") or {}
    return state


def _state_ids(pattern: str, environment: str, log: "DagsterLogManager") -> list[str]:
    """The state ids of `environment` that Meltano lists for `pattern`."""
    listing = [_meltano(), f"--environment={ENVIRONMENT}", "--log-level=warning", "state", "list"]
    output = _meltano_run([*listing, "--pattern", pattern], "state list", log)
    return [line.strip() for line in output.splitlines() if line.startswith(f"{environment}:")]


def _default_environment() -> str | None:
    """The project's `default_environment`: where `meltano run` without one keeps state."""
    try:
        text = (_project() / "meltano.yml").read_text(encoding="utf-8")
    except OSError:
        return None
    project = yaml.safe_load(text)
    name = project.get("default_environment") if isinstance(project, dict) else None
    return name if isinstance(name, str) and name else None


def carry_bookmarks(key: str, log: "DagsterLogManager") -> None:
    """Give the shard's state each of its sites' furthest bookmark from the other pipelines.

    A new shard count, or the move from one unsharded pipeline, starts with new state ids:
    without this every site would be read again from `start_date`.
    """
    own_id = shards.state_id(key, LOADER, ENVIRONMENT)
    ids = _state_ids(shards.state_pattern(LOADER, ENVIRONMENT), ENVIRONMENT, log)
    legacy = _default_environment()
    if own_id not in ids and legacy not in (None, ENVIRONMENT):
        # The shards' states from before the code location named an environment: Meltano
        # kept them under the project's default one.
        ids += _state_ids(shards.legacy_pattern(LOADER, str(legacy)), str(legacy), log)
    if not any(state_id != own_id for state_id in ids):
        return
    own = _singer_state(own_id, log) if own_id in ids else None
    others = [_singer_state(state_id, log) for state_id in ids if state_id != own_id]
    carried = shards.carried_state(key, own, others)
    if carried is None:
        return
    log.info("shard %s: bookmarks carried from %s", key, ", ".join(i for i in ids if i != own_id))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.json"
        path.write_text(json.dumps({"singer_state": carried}), encoding="utf-8")
        setting = [_meltano(), f"--environment={ENVIRONMENT}", "state", "set", "--force"]
        _meltano_run([*setting, "--input-file", str(path), own_id], f"state of {own_id}", log)


def run_shard(key: str, log: "DagsterLogManager") -> dict[str, str]:
    """`meltano run` one shard in the project; raise with the tail of its output if it fails."""
    project = _project()
    shards.write_shards_file(project, SHARD_COUNT)
    if _store().startswith("sqlite:////"):
        (project / ".meltano").mkdir(exist_ok=True)
    carry_bookmarks(key, log)
    _meltano_run(shards.run_command(_meltano(), key, LOADER, ENVIRONMENT), f"shard {key}", log)
    return {
        "state_id": shards.state_id(key, LOADER, ENVIRONMENT),
        "plugin": shards.plugin_name(key),
    }


def build_reports(log: "DagsterLogManager") -> dict[str, str]:
    """Rebuild and test the models from every shard's load (a failed test fails the step)."""
    if DBT.lower() == "none":
        log.info("CALLTOUCH_DBT is none: no models after the shards")
        return {"dbt": "none", "environment": ENVIRONMENT}
    _meltano_run(shards.reports_command(_meltano(), DBT, ENVIRONMENT), "reports", log)
    return {"dbt": DBT, "environment": ENVIRONMENT}


@asset(partitions_def=PARTITIONS, pool=POOL, group_name="calltouch", retry_policy=RETRY)
def calltouch_shard(context: AssetExecutionContext) -> MaterializeResult:  # type: ignore[type-arg]
    """One shard of the agency's sites, extracted and loaded by Meltano with its own state."""
    return MaterializeResult(metadata=run_shard(context.partition_key, context.log))


class ShardsConfig(Config):
    """Which shards a run of `calltouch_shards` reads (all by default)."""

    only: list[str] = []  # noqa: RUF012 - a pydantic field: each instance gets its own copy


@op(out=DynamicOut(str))
def shard_list(config: ShardsConfig) -> Iterator[DynamicOutput[str]]:
    """Every shard (or those named), each a step of its own."""
    for key in config.only or PARTITIONS.get_partition_keys():
        yield DynamicOutput(key, mapping_key=key.replace("-", "_"))


@asset(deps=[calltouch_shard], group_name="calltouch")
def calltouch_reports(context: AssetExecutionContext) -> MaterializeResult:  # type: ignore[type-arg]
    """The dbt models (leads, leads_daily, sites), rebuilt and tested from every shard's load."""
    return MaterializeResult(metadata=build_reports(context.log))


@op(retry_policy=RETRY)
def shard_run(context: OpExecutionContext, key: str) -> str:
    """Run one shard and record it as that partition of `calltouch_shard`."""
    metadata = run_shard(key, context.log)
    context.log_event(
        AssetMaterialization(asset_key=calltouch_shard.key, partition=key, metadata=metadata)
    )
    return key


@op
def reports(context: OpExecutionContext, loaded: list[str]) -> None:
    """Once every shard has loaded: the models, recorded as `calltouch_reports`."""
    context.log.info("shards loaded: %s", ", ".join(sorted(loaded)))
    metadata = build_reports(context.log)
    context.log_event(AssetMaterialization(asset_key=calltouch_reports.key, metadata=metadata))


@job(executor_def=multiprocess_executor.configured({"max_concurrent": AT_ONCE}))
def calltouch_shards() -> None:
    """All shards, CALLTOUCH_SHARDS_AT_ONCE at a time, then the models: the daily run."""
    reports(shard_list().map(shard_run).collect())


defs = Definitions(
    assets=[calltouch_shard, calltouch_reports],
    jobs=[calltouch_shards],
    schedules=[ScheduleDefinition(job=calltouch_shards, cron_schedule="0 3 * * *")],
)
