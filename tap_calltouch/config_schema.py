"""The tap's settings as JSON Schema: what Meltano, `--about` and the config check read.

What a schema cannot say (sites, zones, dates, the URL, the store, the shard) is checked in
`settings`, `sites`, `limit_store` and `shards`.
"""

from __future__ import annotations

from singer_sdk import typing as th

from tap_calltouch import settings, streams
from tap_calltouch.client import DEFAULT_REQUEST_TIMEOUT
from tap_calltouch.planning import DEFAULT_LOOKBACK_DAYS
from tap_calltouch.sites import DEFAULT_TIMEZONE, SITE_ID_PATTERN

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


CONFIG_SCHEMA = th.PropertiesList(
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
        default=DEFAULT_LOOKBACK_DAYS,
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
