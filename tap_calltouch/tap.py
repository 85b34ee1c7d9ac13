"""The Calltouch tap: its settings and its streams."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import logging
import re
import sys
import threading
import warnings
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import (
    CapabilitiesEnum,
    PluginCapabilities,
    TapCapabilities,
)

from tap_calltouch import journal, limit_store, settings, shards, streams
from tap_calltouch.auth import RateLimitedTokenAuthenticator, build_limiter, spacing_ms
from tap_calltouch.bookmarks import StateError
from tap_calltouch.client import DEFAULT_REQUEST_TIMEOUT, CalltouchAPIError
from tap_calltouch.records import RecordWriter
from tap_calltouch.redact import config_secrets, redact_registered, register_secret
from tap_calltouch.sites import DEFAULT_TIMEZONE, SITE_ID_PATTERN, site_problems
from tap_calltouch.stopping import Interrupted

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

    from tap_calltouch.relay import Relay

# singer-sdk warns at every tap it builds on a Python past its end of life (3.10 since 2026-10).
# The notice is shown, never raised: with warnings as errors (`-W error`, PYTHONWARNINGS) it would
# otherwise end every run on such a Python with a traceback before the first call.
warnings.filterwarnings(
    "default",
    message=r"Python \d+\.\d+ (reached|will reach) its end of life",
    category=FutureWarning,
)

MODES = list(settings.FILTER_MODES)
ID_LIST = th.ArrayType(th.CustomType({"type": ["string", "integer"]}))
SITE_ID = th.StringType(min_length=1, pattern=SITE_ID_PATTERN)


def _switch(name: str, *, default: bool, description: str) -> th.Property:  # type: ignore[type-arg]
    return th.Property(name, th.BooleanType, default=default, description=description)


def _flag(name: str, what: str) -> th.Property:  # type: ignore[type-arg]
    """A `with*` flag of the requests journal, or of both where the calls journal has it too."""
    journals = "both journals" if name in settings.CALL_FLAGS else "the requests journal"
    flag = settings.FLAGS[name]
    return _switch(name, default=True, description=f"Ask {journals} for {what} (`{flag}=true`).")


def _call_flag(name: str, what: str) -> th.Property:  # type: ignore[type-arg]
    flag = settings.CALL_FLAGS[name]
    return _switch(
        name, default=True, description=f"Ask the calls journal for {what} (`{flag}=true`)."
    )


def _call_filter(name: str, what: str) -> th.Property:  # type: ignore[type-arg]
    flag = settings.CALL_FILTERS[name]
    return _switch(name, default=False, description=f"Only {what} (`{flag}=true`).")


def _text_filter(name: str, how: str) -> th.Property:  # type: ignore[type-arg]
    return th.Property(name, th.StringType, description=f"Only requests whose {how}.")


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

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_token",
            th.StringType(min_length=1),
            secret=True,
            title="API token",
            description="Calltouch API token (`clientApiId`): Integrations > API and Webhooks. "
            "Required unless every entry of `sites` has its own.",
        ),
        th.Property(
            "site_id",
            SITE_ID,
            title="Site ID",
            description="Calltouch account (site) id (`siteId`), digits only; or use `sites`.",
        ),
        th.Property(
            "sites",
            th.ArrayType(
                th.ObjectType(
                    th.Property("site_id", SITE_ID, required=True),
                    th.Property("api_token", th.StringType(min_length=1), secret=True),
                    th.Property("name", th.StringType),
                    th.Property("timezone", th.StringType),
                    additional_properties=False,
                )
            ),
            secret=True,
            description="Several sites in one run, instead of `site_id`: a list of "
            "{site_id, api_token?, name?, timezone?}; a missing token or time zone falls back "
            "to `api_token` and `timezone`. All sites share one limiter and one state.",
        ),
        th.Property(
            "start_date",
            th.StringType(min_length=1),
            required=True,
            description="Earliest request creation time to sync: ISO 8601 date or date-time; "
            "a date or naive time is read in `timezone`.",
        ),
        th.Property(
            "end_date",
            th.StringType(min_length=1),
            description="Latest creation day to sync (ISO 8601); default: now.",
        ),
        th.Property(
            "api_url",
            th.StringType,
            default=settings.DEFAULT_API_URL,
            title="API base URL",
            description="Base URL; the tap calls `{api_url}/calls-service/RestAPI/...`.",
        ),
        th.Property(
            "timezone",
            th.StringType,
            default=DEFAULT_TIMEZONE,
            description="The account's IANA time zone, in which the API reads "
            "`dateFrom`/`dateTo` and sends local times.",
        ),
        th.Property(
            "window_days",
            th.IntegerType(minimum=1, maximum=366),
            default=streams.DEFAULT_WINDOW_DAYS,
            description="Calendar days per API call. Larger windows spend fewer API points; "
            "smaller ones keep each answer small.",
        ),
        th.Property(
            "calls_window_days",
            th.IntegerType(minimum=1, maximum=92),
            default=streams.DEFAULT_CALLS_WINDOW_DAYS,
            description="Calendar days per window of the calls journal, each read page by page. "
            "Larger windows spend fewer calls on short last pages; smaller ones checkpoint "
            "more often.",
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1, maximum=settings.MAX_PAGE_SIZE),
            default=settings.MAX_PAGE_SIZE,
            description="Calls per page of the calls journal (`limit`, at most 1000).",
        ),
        th.Property(
            "lookback_days",
            th.IntegerType(minimum=0, maximum=settings.MAX_LOOKBACK_DAYS),
            default=journal.DEFAULT_LOOKBACK_DAYS,
            description="Days before the bookmark each incremental run re-reads, to catch "
            "late deals, comments, tags, manager/status changes and ad data.",
        ),
        th.Property(
            "requests_per_second",
            # The SDK annotates `minimum` as int; JSON Schema takes any number.
            th.NumberType(minimum=settings.MIN_REQUESTS_PER_SECOND, maximum=5),  # type: ignore[arg-type]
            default=5,
            description="Ceiling on calls per rolling second, retries included "
            "(the API allows 5 per IP).",
        ),
        th.Property(
            "rate_limit_store",
            th.StringType,
            secret=True,
            description="Where the per-IP call budget lives, for runs that share an IP: "
            "unset, this process alone; `sqlite:////abs/path.db`, every process on the machine "
            "naming that file; `postgresql://user:password@host/db` or libpq's "
            "`host=... dbname=...` words (extra `tap-calltouch[postgres]`), every machine naming "
            "that database. All their calls together stay within `requests_per_second`.",
        ),
        th.Property(
            "shard",
            th.StringType,
            description="Read only shard K of N of `sites` (`K/N`, e.g. `2/3`): a site's shard "
            "is a hash of its id, so it keeps it when the list changes, and N runs with shards "
            "1/N..N/N read every site once. Give each shard its own state.",
        ),
        th.Property(
            "request_timeout",
            th.IntegerType(minimum=1, maximum=3600),
            default=DEFAULT_REQUEST_TIMEOUT,
            description="Seconds to wait for an answer before the call is retried.",
        ),
        th.Property(
            "max_api_calls",
            th.IntegerType(minimum=1, maximum=settings.MAX_API_CALLS),
            description="Stop cleanly, state saved, once a run has made this many calls "
            "(each spends API points); the next run continues. Default: no limit.",
        ),
        th.Property(
            "fail_on_stopped_sites",
            th.BooleanType,
            default=True,
            description="Exit 1 when a site stopped (rejected token, spent points); false "
            "(with `site_runs` selected): "
            "exit 0 once the other sites are read, the stopped ones logged as an error and "
            "recorded in the `site_runs` stream for a check downstream (dbt's `no_site_stopped`).",
        ),
        th.Property(
            "attribution",
            th.IntegerType,
            allowed_values=[0, 1],
            description="Attribution model: 0 last interaction, 1 last non-direct; "
            "default: the account's setting.",
        ),
        th.Property(
            "bind_to",
            th.StringType,
            allowed_values=["request", "session"],
            description="Select requests by creation date (`request`, the default) or by "
            "session date (`session`: only when `requests` is synced FULL_TABLE, as a "
            "creation-time bookmark cannot follow session dates).",
        ),
        _text_filter("subject", "form name starts with this"),
        _text_filter("keywords", "search keyword contains this"),
        _text_filter("city", "city is exactly this (Sypex Geo naming)"),
        _text_filter("source", "traffic source is exactly this"),
        _text_filter("medium", "traffic medium is exactly this"),
        _text_filter("manager", "manager's full name is exactly this"),
        th.Property("phone", th.StringType, description="Only requests with this phone number."),
        th.Property(
            "phone_filter_mode",
            th.StringType,
            allowed_values=MODES,
            description="How `phone` matches: startwith, contains or exact (default).",
        ),
        th.Property("email", th.StringType, description="Only requests with this e-mail."),
        th.Property(
            "email_filter_mode",
            th.StringType,
            allowed_values=MODES,
            description="How `email` matches: startwith, contains or exact (default).",
        ),
        th.Property("request_ids", ID_LIST, description="Only these Calltouch request ids."),
        th.Property(
            "request_numbers", ID_LIST, description="Only these request numbers (your site's ids)."
        ),
        th.Property(
            "calls_bind_to",
            th.StringType,
            allowed_values=["call", "session"],
            description="Select calls by call date (`call`, the default) or by session date "
            "(`session`: only when `calls` is synced FULL_TABLE).",
        ),
        _call_filter("calls_unique_only", "unique calls"),
        _call_filter("calls_target_only", "target calls"),
        _call_filter("calls_unique_target_only", "calls both unique and target"),
        _call_filter("calls_callback_only", "calls placed by the callback widget"),
        _call_flag("with_call_tags", "tags (`call_tags` stream)"),
        _call_flag("with_comments", "comments (`call_comments` stream)"),
        _call_flag("with_orders", "deals (`call_orders` stream)"),
        _flag("with_map_visits", "the visit history (`map_visits`, `call_map_visits` streams)"),
        _flag("with_request_tags", "tags (`request_tags` stream)"),
        _flag("with_yandex_direct", "Yandex Direct campaign data"),
        _flag("with_google_adwords", "Google Ads campaign data"),
        _flag("with_attrs", "third-party session attributes"),
        _flag("with_widget_info", "fields left in social and smart-request widgets"),
        _flag("with_custom_fields", "custom fields"),
        _flag("with_dcm", "DoubleClick Campaign Manager sends"),
        additional_properties=False,
    ).to_dict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        """Start with no site stopped; `_validate_config` has hidden every token by then."""
        self.stopped = threading.Event()  # set by a signal (from here on): no more calls
        self.stopped_by: int | None = None  # the signal's number
        super().__init__(*args, **kwargs)
        self.site_failures: dict[int, str] = {}  # site id -> why it stopped, across streams
        self.answered: set[int] = set()  # sites a call of this run got a whole answer for
        self.relay: Relay | None = None  # the journals' fetching, begun by the first to sync

    @override
    def discover_streams(self) -> list[Stream]:
        return [stream_type(tap=self) for stream_type in streams.STREAM_TYPES]

    @override
    def load_state(self, state: dict[str, Any]) -> None:
        """Load the state; with `max_api_calls`, the journals sync by need; `site_runs` last.

        Saved days no pass can have written by today (an older version's `resume_from` after
        today, a hand edit) are dropped first: no STATE of the run holds them.

        The SDK syncs `streams` in name order (`sites` after both journals, whose calls then
        prove its sites at no cost), and offers no other hook for it; `site_runs` is moved
        last, once every site's outcome is known. Journals sync one after the other and share
        the budget: the one that has read least of some site syncs first, so the window that
        waited longest always gets its call (pages of a window read before it could otherwise
        eat the calls owed to it, run after run).
        """
        super().load_state(copy.deepcopy(state))  # the caller's state is left as it was
        for stream in self.streams.values():
            if isinstance(stream, journal.JournalStream) and state.get("bookmarks"):
                stream.drop_untrusted_days()
        if self.config.get("max_api_calls"):
            with contextlib.suppress(StateError):  # reported by the journal that reads it
                self._streams = journal.least_progress_first(self.streams)
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
        A setting given as `null` is taken as not set (its default applies): the schema lets
        null through, and `int(None)` would fail the run.
        """
        self._config = {key: value for key, value in self._config.items() if value is not None}
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

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """SIGINT or SIGTERM: record the stop; the main thread ends the run at its next wait.

        The SDK's handler writes one more STATE and exits 0, so a killed run looked like a
        finished one, and that STATE, written from inside the handler, could land inside a
        line the main thread was writing. Here nothing is written or raised: the handler
        returns, a write it interrupted carries on, and the main thread raises `Interrupted`
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
        """Raise `Interrupted` if a signal has stopped the run (see `_handle_termination`)."""
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
