"""Benchmark: 100 small sites in one run, the API answering in 1 s: calls/s and state size.

    .venv/bin/python -m benchmarks.sites            # 100 sites, 1 s per call
    .venv/bin/python -m benchmarks.sites --sites 20 --latency 0.5

The emulator serves the sites from this process (accept-time stamps, its datasets out of the
garbage collector's way); the tap runs as its own process with a `sites` list, as in
production. Prints the measured figures and exits 1 when a goal is missed: >= 4 calls/s
sustained, no 429, at most 5 calls in any second, the final state under 20 KB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.datasets import TAP
from benchmarks.runtime import ensure_runtime
from tests.emulator.server import Emulator
from tests.emulator.sites import generate_sites

TOKEN = "agency-token"  # noqa: S105 - the emulator's made-up token
FIRST_DAY = dt.date(2025, 3, 1)
DAYS = 7


def main() -> int:
    """Run the tap once over many sites and print what it cost."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--latency", type=float, default=1.0)
    args = parser.parse_args()
    ensure_runtime()
    sites = generate_sites(
        args.sites, seed=3, start=FIRST_DAY, days=DAYS, requests_per_day=2, calls_per_day=5
    )
    config = {
        "api_token": TOKEN,
        "sites": [{"site_id": str(s.site_id), "name": f"Brand {k}"} for k, s in enumerate(sites)],
        "start_date": FIRST_DAY.isoformat(),
        "end_date": (FIRST_DAY + dt.timedelta(days=DAYS - 1)).isoformat(),
    }
    tokens = {TOKEN: {site.site_id for site in sites}}
    emulator = Emulator(sites=sites, tokens=tokens, latency=args.latency)
    with emulator, tempfile.TemporaryDirectory() as work:
        config_file = Path(work) / "config.json"
        config_file.write_text(json.dumps({**config, "api_url": emulator.url}))
        began = time.monotonic()
        done = subprocess.run(
            [str(TAP), "--config", str(config_file)], capture_output=True, text=True, check=False
        )
        seconds = time.monotonic() - began
        arrivals = sorted(call.time for call in emulator.calls)
        peak, throttled = emulator.peak_rate(), emulator.count(429)
    states = [json.loads(line) for line in done.stdout.splitlines() if '"type":"STATE"' in line]
    state_bytes = len(json.dumps(states[-1]["value"], separators=(",", ":"))) if states else 0
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else 0.0
    goals = {
        "calls/s sustained >= 4": rate >= 4,
        "no 429": throttled == 0,
        "<= 5 calls in any second": peak <= 5,
        "state < 20 KB": 0 < state_bytes < 20_000,
        "exit 0": done.returncode == 0,
    }
    print(f"{args.sites} sites, {args.latency:g} s per call, tap exit {done.returncode}")
    print(f"{len(arrivals)} calls in {arrivals[-1] - arrivals[0]:.1f} s: {rate:.2f} calls/s")
    print(f"peak {peak} calls in 1 s, {throttled} x 429, run {seconds:.1f} s")
    print(f"final state {state_bytes:,} bytes ({state_bytes / args.sites:.0f} per site)")
    for goal, met in goals.items():
        print(f"  {'PASS' if met else 'FAIL'}  {goal}")
    if done.returncode:
        print(done.stderr[-2000:], file=sys.stderr)
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
