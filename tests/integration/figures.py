"""What the integration tests measured, printed at the end of the run.

Seconds each slow step took, the rows each run left per table, the dbt models' totals. Under
`pytest -n` each worker hands its own to the controller, which prints them all
(tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

TIMINGS: dict[str, float] = {}
ROW_COUNTS: dict[str, dict[str, int]] = {}
MODEL_FIGURES: dict[str, str] = {}  # the dbt models' totals after each run
KEY = "integration_figures"  # under which a worker hands them over (xdist's workeroutput)


@contextlib.contextmanager
def timed(step: str) -> Iterator[None]:
    """Record how long a step took under `step`."""
    began = time.monotonic()
    try:
        yield
    finally:
        TIMINGS[step] = time.monotonic() - began


def dumped() -> str | None:
    """This process's figures as JSON, or None when it measured nothing."""
    if not (TIMINGS or ROW_COUNTS or MODEL_FIGURES):
        return None
    return json.dumps([TIMINGS, ROW_COUNTS, MODEL_FIGURES])


def merge(text: str, worker: str) -> None:
    """A worker's figures (`dumped`) added to this process's, its timings named by worker."""
    timings, rows, models = json.loads(text)
    TIMINGS.update({f"{step} [{worker}]": seconds for step, seconds in timings.items()})
    ROW_COUNTS.update(rows)
    MODEL_FIGURES.update(models)


def report(terminalreporter: Any) -> None:
    """Print the timings of the Meltano and PostgreSQL steps, and the rows each run left."""
    if TIMINGS:
        terminalreporter.section("integration timings")
        for step, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{seconds:7.1f} s  {step}")
    if ROW_COUNTS:
        terminalreporter.section("rows in the loaded tables")
        for when, counts in ROW_COUNTS.items():
            tables = ", ".join(f"{table} {rows}" for table, rows in counts.items())
            terminalreporter.write_line(f"{when}: {tables}")
    if MODEL_FIGURES:
        terminalreporter.section("dbt models")
        for when, figures in MODEL_FIGURES.items():
            terminalreporter.write_line(f"{when}: {figures}")
