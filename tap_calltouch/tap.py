"""The Calltouch tap: its settings and its streams."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import logging
import re
import signal
import sys
import threading
import warnings
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import (
    CapabilitiesEnum,
    PluginCapabilities,
    TapCapabilities,
)

from tap_calltouch import journal, limit_store, settings, shards, streams
from tap_calltouch.auth import RateLimitedTokenAuthenticator, build_limiter, spacing_ms
from tap_calltouch.bookmarks import StateError
from tap_calltouch.config_schema import CONFIG_SCHEMA
from tap_calltouch.errors import CalltouchAPIError
from tap_calltouch.records import RecordWriter
from tap_calltouch.redact import config_secrets, redact_registered, register_secret
from tap_calltouch.sites import site_problems
from tap_calltouch.stopping import Interrupted
from tap_calltouch.windows import local_day

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

# singer-sdk warns at every tap it builds on a Python past its end of life (3.10 since 2026-10).
# The notice is shown, never raised: with warnings as errors (`-W error`, PYTHONWARNINGS) it would
# otherwise end every run on such a Python with a traceback before the first call.
warnings.filterwarnings(
    "default",
    message=r"Python \d+\.\d+ (reached|will reach) its end of life",
    category=FutureWarning,
)

# The schema's message quotes the value it refuses, `... in config['sites'][0]['api_token']`.
_SCHEMA_ERROR_PATH = re.compile(r" in config(\[.*\])$", re.DOTALL)
_SECRET_SETTINGS = tuple(f"['{name}']" for name in ("api_token", "rate_limit_store"))


def unquoted(error: str) -> str:
    """A schema message about a secret setting, naming the setting but not its value.

    The value may hold a secret too short to be masked everywhere (a five-letter password in a
    store's URL), or be a secret of the wrong type, which nothing registered for masking.
    """
    path = _SCHEMA_ERROR_PATH.search(error)
    if not path or not path.group(1).endswith(_SECRET_SETTINGS):
        return error
    where = path.group(1)
    return f"config{where}: not a non-empty string (the value is not shown: it may be secret)"


class TapCalltouch(Tap):
    """Singer tap for Calltouch's calls and requests journals (deals, comments, visits, tags)."""

    name = "tap-calltouch"
    message_writer_class = RecordWriter
    #: The SDK's defaults less BATCH and ACTIVATE_VERSION: child rows are written as RECORD
    #: messages while the parent syncs, which neither batch files nor table versions cover.
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    @staticmethod
    def clock() -> dt.datetime:
        """The wall clock (aware UTC), read once per run as `started`.

        It decides which days are today's and which are wholly past; tests replace it to run
        the tap at any hour of any day.
        """
        return dt.datetime.now(dt.timezone.utc)

    config_jsonschema = CONFIG_SCHEMA

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        """Start with no site stopped; `_validate_config` has hidden every token by then.

        A setting given as `null` is taken as not set (its default applies): the schema lets
        null through, and `int(None)` would fail the run. SIGINT and SIGTERM go to `on_signal`.
        """
        self.stopped = threading.Event()  # set by a signal (from here on): no more calls
        self.stopped_by: int | None = None  # the signal's number
        config = kwargs.get("config")
        if isinstance(config, dict):
            kwargs["config"] = {key: value for key, value in config.items() if value is not None}
        super().__init__(*args, **kwargs)
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, self.on_signal)
        self.site_failures: dict[int, str] = {}  # site id -> why it stopped, across streams
        self.answered: set[int] = set()  # sites a call of this run got a whole answer for
        #: Each journal's share of `max_api_calls`, settled as the first journal syncs.
        self.budget_shares: dict[str, int] | None = None

    @override
    def discover_streams(self) -> list[Stream]:
        return [stream_type(tap=self) for stream_type in streams.STREAM_TYPES]

    @override
    def load_state(self, state: dict[str, Any]) -> None:
        """Load the state, less the saved days no pass can have written by today; `site_runs` last.

        An older version's `resume_from` after today, a hand edit: dropped first, so no STATE
        of the run holds them.

        The SDK syncs `streams` in name order (`load_streams`, which is final): the journals,
        then `site_runs`, then `sites`. `site_runs` is moved after `sites`, the one place to
        do so before the sync, as it records every site's outcome, a site `sites` stopped too.
        """
        super().load_state(copy.deepcopy(state))  # the caller's state is left as it was
        for stream in self.streams.values():
            if isinstance(stream, journal.JournalStream) and state.get("bookmarks"):
                planner = stream.planner
                for site in stream.sites:
                    for dropped in planner.drop_untrusted_days(site):
                        stream.logger.warning(
                            "%s of %s: saved %s is later than any pass can have reached by "
                            "today (%s); reading from where the rest of the state stands less "
                            "the look-back",
                            stream.name, site, dropped, local_day(stream.now, site.zone),
                        )  # fmt: skip
        last = [s for s in self.streams.values() if isinstance(s, streams.SiteRunsStream)]
        others = [s for s in self.streams.values() if s not in last]
        self._streams = {stream.name: stream for stream in [*others, *last]}

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Schema checks, then what a schema cannot say (sites, zones, dates, URL).

        Which sites to read, and with which token, is checked even when the schema failed:
        an empty config names `api_token` and `site_id` (or `sites`), not only `start_date`.

        The SDK calls this first thing in `__init__`, on the raw config (files and environment
        merged): every token in it, of any type, is registered for masking here, before a
        schema message can quote one or a log line print one, and the messages are redacted.
        """
        config = dict(self.config)
        for secret in config_secrets(config):
            register_secret(secret)
        limit_store.hide_password(config)  # before any message could quote the store's URL
        errors = [unquoted(error) for error in super()._validate_config(raise_errors=False)]
        errors += settings.problems(config) if not errors else site_problems(config)
        errors += limit_store.store_problems(config) + shards.shard_problems(config)
        errors = [redact_registered(error) for error in errors]
        if errors and raise_errors:
            summary = "Config validation failed"
            raise ConfigValidationError(summary, errors=errors, schema=self.config_jsonschema)
        return errors

    @override
    def setup_mapper(self) -> None:
        """The SDK's stream maps, with a too short flattened key length as a setting error.

        The SDK's flattening cuts column names to `flattening_max_key_length` and then fails on
        two that came out the same (`ValueError`): a crash with a traceback, for a setting.
        """
        try:
            super().setup_mapper()
        except ValueError as error:
            if "Duplicate column name" not in str(error):
                raise
            length = self.config.get("flattening_max_key_length")
            message = (
                f"flattening_max_key_length: {length} is too short for these streams: two "
                f"flattened columns would get one name ({error})"
            )
            summary = "Config validation failed"
            raise ConfigValidationError(summary, errors=[message]) from None

    @classmethod
    @override
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        """Run the command line; end a failure a person must act on with its message alone."""
        with cls._reported():
            super().invoke(*args, **kwargs)

    @classmethod
    @override
    def cb_test(cls, ctx: Any, param: Any, value: str) -> None:
        """`--test` (a sync of one record per stream), its failures ended as a run's are."""
        with cls._reported():
            super().cb_test(ctx, param, value)

    @classmethod
    @contextlib.contextmanager
    def _reported(cls) -> Iterator[None]:
        """End a failure a person must act on with its message alone.

        Rejected credentials, spent points, a refused call, unreadable state: the message says
        what to check; a traceback would only bury it (it is kept at DEBUG). Anything else is
        a bug and keeps its traceback.
        """
        try:
            yield
        except (CalltouchAPIError, StateError, limit_store.RateStoreError) as error:
            if cls.logger.isEnabledFor(logging.DEBUG):
                raise
            cls.logger.error("%s", error)  # noqa: TRY400 - the message is the whole story
            raise SystemExit(1) from None
        except Interrupted as stop:
            cls.logger.error(  # noqa: TRY400 - a signal, not a failure with a traceback
                "Stopped by %s: no more calls; the last STATE holds the last complete window, "
                "so the next run continues from there",
                stop.signal_name,
            )
            raise

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """SIGINT or SIGTERM: record the stop; the main thread ends the run at its next wait.

        It replaces the SDK's handler, which writes one more STATE and exits 0, so a killed
        run would look like a finished one, and that STATE, written from inside the handler,
        could land inside a line the main thread was writing. Here nothing is written or
        raised: the handler returns, a write it interrupted carries on, and the main thread
        raises `Interrupted`
        where it next waits (`check_stopped`): for an answer, or at the end of a stream.
        The last STATE on stdout is then the one after the last complete window. The fetch
        threads make no more calls (`CalltouchStream._check_running` reads `stopped`); they
        are daemons, so one in the middle of a call or a backoff does not hold the exit up.
        Only `stopped` is set, once: no lock the main thread may hold is taken here (the
        streams' own stop events are the main thread's to set).
        """
        if self.stopped_by is None:
            self.stopped_by = signum
            self.stopped.set()

    def check_stopped(self) -> None:
        """Raise `Interrupted` if a signal has stopped the run (see `on_signal`)."""
        if self.stopped_by is not None:
            raise Interrupted(self.stopped_by)

    @cached_property
    def started(self) -> dt.datetime:
        """When this run started, by `clock`: every journal and site plans from the same now."""
        return self.clock()

    @cached_property
    def authenticator(self) -> RateLimitedTokenAuthenticator:
        """One authenticator and limiter for every stream and fetch thread of this run.

        The limiter's slots are this process's, or those of the `rate_limit_store` it opens
        here (the first journal asks before its first call: a store that cannot be opened
        stops the run before any call).
        """
        rate = float(self.config.get("requests_per_second", 5))
        store = limit_store.store_of(dict(self.config))
        return RateLimitedTokenAuthenticator(
            token=str(self.config.get("api_token") or ""),
            limiter=build_limiter(rate, store),
            spacing=spacing_ms(rate) / 1000,
            shared=store is not None,
        )


if __name__ == "__main__":
    TapCalltouch.cli()
