"""Where the programs are, what they read, and the datasets of the full and quick modes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"  # the harness and the emulator
#: The measured programs' venv: the tap and its dependencies only, as Meltano installs an
#: extractor (`runtime.py` builds it). The development .venv also holds the test tools, and
#: singer-sdk's imports load what they find there (numpy, lz4, zstd: ~0.15 s at every start).
RUNTIME = ROOT / ".venv-bench"
RUN_PYTHON = RUNTIME / "bin" / "python"
TAP = RUNTIME / "bin" / "tap-calltouch"
BENCH = ROOT / "benchmarks"
STREAMS = ("requests", "orders", "comments", "map_visits", "request_tags")
CALL_STREAMS = ("calls", "call_orders", "call_comments", "call_map_visits", "call_tags")
JOURNAL_STREAMS = {"requests": STREAMS, "calls": CALL_STREAMS, "both": STREAMS + CALL_STREAMS}
# The settings a run's window size goes to; the first names it in the report.
WINDOW_SETTINGS = {
    "requests": ("window_days",),
    "calls": ("calls_window_days",),
    "both": ("window_days", "calls_window_days"),
}
WINDOW_SETTING = {journal: names[0] for journal, names in WINDOW_SETTINGS.items()}
TOKEN = "demo-token"  # noqa: S105 - the emulator's default token, not a secret
SITE_ID = "12345"
FIRST_DAY = dt.date(2025, 3, 1)  # fixed, so every run sees the same records
MB = 1024 * 1024


@dataclass(frozen=True)
class Scale:
    """Dataset sizes for one benchmark mode."""

    per_day: int  # requests per day (the emulator varies each day by +-10 %)
    cpu_days: int = 30
    memory_days: int = 31
    saturation_days: int = 80  # 80 calls, as C3 and J3: one start over as many calls
    saturation_latency: float = 1.0
    window_sizes: tuple[int, ...] = (1, 3, 7, 14, 31)
    # The calls journal: one dataset of calls_days x ~calls_per_day calls serves every section.
    calls_per_day: int = 1000
    page_size: int = 1000  # = calls_per_day: a day is about one page
    calls_cpu_days: int = 30
    calls_memory_days: int = 20  # one window, read in pages of each of these sizes:
    calls_memory_page_sizes: tuple[int, ...] = (1000, 333, 100)  # ~20, 60, 200 pages
    calls_backfill_days: tuple[int, ...] = (28, 84)  # 2 and 6 default windows
    calls_windows_days: int = 31
    calls_saturation_days: int = 8
    calls_saturation_page_size: int = 100  # ~10 pages a day: many pages, little data
    # Both journals in one run (goal J3), 1-day windows over `journals_days` each.
    journals_days: int = 40
    journals_calls_per_day: int = 100  # one page a day

    @property
    def calls_days(self) -> int:
        return max(
            self.calls_cpu_days,
            self.calls_windows_days,
            self.calls_memory_days,
            *self.calls_backfill_days,
        )


FULL = Scale(per_day=320)
QUICK = Scale(
    per_day=64,
    saturation_days=12,
    journals_days=12,
    calls_per_day=200,
    page_size=200,
    calls_saturation_days=4,
    calls_memory_page_sizes=(200, 67, 20),
)
