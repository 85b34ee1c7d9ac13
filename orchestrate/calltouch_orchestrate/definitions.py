"""The Dagster code location: one partition per shard of `sites`, each a `meltano run` of its own.

Settings come from the environment, so one code location serves any project:

| variable | default | what |
| --- | --- | --- |
| CALLTOUCH_MELTANO_PROJECT | this checkout | the Meltano project (its meltano.yml) |
| CALLTOUCH_MELTANO | the project's .venv-meltano/bin/meltano, else `meltano` | the executable |
| CALLTOUCH_LOADER | target-postgres | the loader each shard runs into |
| CALLTOUCH_SHARDS | 4 | N: shards 1/N..N/N of `sites` |
| CALLTOUCH_SHARDS_AT_ONCE | 2 | how many shards the `calltouch_shards` job runs at once |
| CALLTOUCH_RATE_LIMIT_STORE | a SQLite file in the project's .meltano | the shards' shared store |

The shards of one code location run on one machine, behind one IP: they share one
`rate_limit_store` (a SQLite file by default; a PostgreSQL URL for code locations on several
machines behind one NAT; `none` when each shard has an IP of its own).
"""

# No `from __future__ import annotations`: Dagster reads the hints of ops and assets at runtime.
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

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
# A shard that fails is run again: its state holds its last complete window, and the loader
# upserts. The first run into an empty database also meets loaders of two shards creating the
# same schema and tables at once, where one of them fails.
RETRY = RetryPolicy(max_retries=2, delay=10)


class ShardRunError(RuntimeError):
    """A shard's `meltano run` failed.

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
PARTITIONS = StaticPartitionsDefinition(shards.shard_keys(SHARD_COUNT))


def run_shard(key: str, log: "DagsterLogManager") -> dict[str, str]:
    """`meltano run` one shard in the project; raise with the tail of its output if it fails."""
    project = _project()
    shards.write_shards_file(project, SHARD_COUNT)
    store = _store()
    if store.startswith("sqlite:////"):
        (project / ".meltano").mkdir(exist_ok=True)
    command = shards.run_command(_meltano(), key, LOADER)
    env = {**os.environ, shards.STORE_VARIABLE: store}
    log.info("shard %s: %s in %s", key, " ".join(command[1:]), project)
    done = subprocess.run(  # noqa: S603 - meltano with arguments of our own
        command, cwd=project, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).splitlines()
        told = [line for line in lines if not line.startswith(("│", "╭", "╰"))]  # rich frames
        tail = "\n".join(told[-LOG_TAIL:])
        msg = f"shard {key}: meltano run exited {done.returncode}:\n{tail}"
        raise ShardRunError(msg)
    return {"state_id": shards.state_id(key, LOADER), "plugin": shards.plugin_name(key)}


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


@op(retry_policy=RETRY)
def shard_run(context: OpExecutionContext, key: str) -> None:
    """Run one shard and record it as that partition of `calltouch_shard`."""
    metadata = run_shard(key, context.log)
    context.log_event(
        AssetMaterialization(asset_key=calltouch_shard.key, partition=key, metadata=metadata)
    )


@job(executor_def=multiprocess_executor.configured({"max_concurrent": AT_ONCE}))
def calltouch_shards() -> None:
    """All shards, CALLTOUCH_SHARDS_AT_ONCE at a time: the daily run, and a backfill's."""
    shard_list().map(shard_run)


defs = Definitions(
    assets=[calltouch_shard],
    jobs=[calltouch_shards],
    schedules=[ScheduleDefinition(job=calltouch_shards, cron_schedule="0 3 * * *")],
)
