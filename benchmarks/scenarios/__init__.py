"""The scenarios, in the order the report gives them; `--only` names them."""

from __future__ import annotations

from benchmarks.scenarios import (
    calls_cpu,
    calls_memory,
    calls_saturation,
    calls_windows,
    cpu,
    journals,
    memory,
    profiles,
    saturation,
    windows,
)

SCENARIOS = tuple(
    module.SCENARIO
    for module in (
        cpu,
        saturation,
        memory,
        windows,
        calls_cpu,
        calls_saturation,
        calls_memory,
        calls_windows,
        journals,
        profiles,
    )
)
