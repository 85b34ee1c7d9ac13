"""The performance goals, in one place (README.md says how each is judged)."""

from __future__ import annotations

# CPU against the bare orjson loop, for both journals (goals 1a and C1). The API sets the pace:
# 5 calls a second, each answered in about a second, and the tap shapes an answer in a fraction
# of that, so CPU far below what the API can feed does not matter. 3x leaves the SDK's own
# record path its room over a bare loop.
CPU_VS_BARE = 3.0
# The plain SDK tap is shown beside them with no verdict (1b). Issue 5 set "<= 0.1x the plain
# SDK tap" beside "<= 3x the bare loop" when both named the same CPU (18 s and 0.6 s on its
# machine: 1.8 s). On this machine the two programs differ by less (about 17-20 s against
# 0.7 s), so 0.1x (about 2.7x the bare loop) would be a second, tighter CPU goal; issue 23
# keeps one, on the bare loop.
# One journal at 1 s per call, sustained over 80 calls (goals 3 and C3). A run's first call
# goes alone (it proves the token), then calls leave 1.1 / 5 s apart: 79 / (1 + 78 * 0.22) =
# 4.35 at best, 4.17 over 40 calls.
MIN_CALLS_PER_SECOND = 4.3
MAX_RSS_MB = 120.0
MAX_RSS_GROWTH_MB = 10.0  # from 1x to 2x data: a 33 MB larger answer must not show up in RSS
MAX_CALLS_PER_SECOND = 5  # the API's limit: calls in any rolling second
# Calls memory: the largest run's peak RSS within this share, or these MB, of the smallest's.
CALLS_RSS_GROWTH_SHARE = 0.10
CALLS_RSS_GROWTH_MB = 5.0
STATE_SLACK = 2  # STATE messages allowed beyond one per window (start, end)
SATURATION_RUNS = 3  # saturation's 429s come and go, so one clean run proves little
# Both journals in one run (goal J3): they run one after the other, and each switch from one
# journal to the next costs two latencies beyond one journal's pace: the last answer of the
# journal before (its stream ends when its last window is in), then the next journal's first
# call, which goes alone. Anything slower is a gap the tap added.
LATENCIES_PER_JOURNAL_SWITCH = 2


def min_calls_per_second_both(calls: int, switches: int, latency: float) -> float:
    """Goal J3's floor: one journal's pace over `calls`, less each switch's latencies.

    80 calls, one switch, 1 s answers: 79 / (79 / 4.3 + 2) = 3.88 calls/s. Two journals of 40
    calls each reach 79 / (3 + 76 * 0.22) = 4.01 at best (see MIN_CALLS_PER_SECOND).
    """
    intervals = max(calls - 1, 1)
    pace = intervals / MIN_CALLS_PER_SECOND + switches * LATENCIES_PER_JOURNAL_SWITCH * latency
    return intervals / pace
