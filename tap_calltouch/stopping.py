"""Stopping on SIGINT or SIGTERM: at once, with the exit status a shell gives a killed process."""

from __future__ import annotations

import signal


def exit_status(signum: int) -> int:
    """128 + the signal's number: 130 for SIGINT, 143 for SIGTERM, as shells report them."""
    return 128 + signum


def signal_name(signum: int) -> str:
    """SIGTERM, SIGINT...; the number for a signal Python has no name for."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Interrupted(SystemExit):
    """The run was stopped by a signal; the process exits with `exit_status(signum)`.

    A `SystemExit`, so neither the SDK's nor click's handlers take it for a failure to log
    with a traceback or turn into exit code 1.
    """

    def __init__(self, signum: int) -> None:
        """Exit with 128 + signum."""
        super().__init__(exit_status(signum))
        self.signal_name = signal_name(signum)
