"""Streams: Calltouch's journals, and the records nested in them as child streams.

Each class only declares how its journal differs; the reading is `journal.JournalStream`'s.
Child rows are cut from the parent record already in hand (no extra HTTP call), with one
SCHEMA per run and no state of their own.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from tap_calltouch import child_rows, schemas, settings, shaping
from tap_calltouch.answers import BARE_ARRAY, PAGED, release
from tap_calltouch.children import ChildStream
from tap_calltouch.journal import JournalStream
from tap_calltouch.outcomes import report_stopped_sites, reported_later
from tap_calltouch.records import ShapedStream, written_on_failure
from tap_calltouch.shards import shard_in, share
from tap_calltouch.sites import sites_of
from tap_calltouch.windows import CALLS_DATE_FORMAT, REQUESTS_DATE_FORMAT, Part, first_hour

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk import Stream
    from singer_sdk.helpers.types import Context

    from tap_calltouch.sites import Site

DEFAULT_WINDOW_DAYS = 14
DEFAULT_CALLS_WINDOW_DAYS = 14


class SitesStream(ShapedStream):
    """The sites this run reads, from the config: the site dimension of every report.

    It is how dbt learns each site's name and time zone (the raw tables hold neither). Full
    table each run, no state of its own; never a token. A site is listed only once the API
    has answered a call for it in this run, so a rejected token, an unknown site or an
    unreachable `api_url` fails before any of its records, whichever stream syncs first
    (`meltano config test` calls a configuration valid at the first RECORD). The journals'
    calls prove the sites they read; a site none has called yet costs one call of its own
    (`prove`).
    """

    name = "sites"
    # Syncing after the journals, it names the sites they stopped once it has listed the
    # others: a stopped site then never keeps the dimension from the sites that completed.
    reports_stopped_sites = True
    primary_keys = ("siteId",)
    schema = schemas.SITE.to_dict()

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        config = dict(self.config)
        sites = share(sites_of(config), shard_in(config))  # a shard's run: its own sites
        failures: dict[int, str] = self._tap.site_failures  # type: ignore[attr-defined]
        with written_on_failure(self):
            for site in sites:
                if self.prove(site):
                    yield {"siteId": site.site_id, "name": site.name, "timezone": site.timezone}
            # Else the last journal names them, or `sites` or `site_runs` after it.
            if failures and not self._journals_follow() and not reported_later(self):
                report_stopped_sites(self, sites, failures)

    def prove(self, site: Site) -> bool:
        """Whether the API answered a call for the site in this run, making one if none did.

        The call asks the requests journal for the first hour of today in the site's zone,
        the least a call can read; none is made for a site stopped in this run, nor past
        `max_api_calls`. It fails as the journals' calls do: with one site the run stops
        with the tap's message, with several the site stops alone.
        """
        tap: Any = self._tap
        budget = self.config.get("max_api_calls")
        if (
            site.site_id not in tap.answered
            and site.site_id not in tap.site_failures
            and (not budget or tap.authenticator.calls < budget)
        ):
            requests: RequestsStream = tap.streams[RequestsStream.name]
            # A fetch of its own: the requests journal's sync, if it ran, stopped its calls.
            requests.start_fetching()
            # On a fetch thread, as every call: a signal meanwhile stops the wait for it.
            for _, answers in requests.fetch_in_order(
                [Part(first_hour(tap.started, site.zone), site)]
            ):
                release(answers)
        return site.site_id in tap.answered

    def _journals_follow(self) -> bool:
        """Whether a selected journal syncs after this stream in this run."""
        names = list(self._tap.streams)
        later = [self._tap.streams[name] for name in names[names.index(self.name) + 1 :]]
        return any(
            isinstance(stream, JournalStream)
            and (stream.selected or stream.has_selected_descendents)
            for stream in later
        )


class SiteRunsStream(ShapedStream):
    """Each site's outcome in this run: read, or stopped and why; synced after the journals.

    The record a warehouse keeps of a stopped site, so that a run which goes on with the
    other sites (`fail_on_stopped_sites: false`) still fails a check downstream (dbt's test
    `no_site_stopped`). It ends the run as the last journal otherwise would: failing, or
    logging the stopped sites. No API call, no state of its own.
    """

    name = "site_runs"
    primary_keys = ("siteId",)  # the latest outcome (docs/loaders.md: ClickHouse keys no time)
    schema = schemas.SITE_RUN.to_dict()
    reports_stopped_sites = True  # the journals leave the end-of-run report to it
    records_site_outcomes = True  # without it selected, a stopped site always fails the run

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        config = dict(self.config)
        failures: dict[int, str] = self._tap.site_failures  # type: ignore[attr-defined]
        started = self._tap.started.isoformat()  # type: ignore[attr-defined]
        sites = share(sites_of(config), shard_in(config))
        with written_on_failure(self):
            for site in sites:
                reason = failures.get(site.site_id)
                yield {
                    "siteId": site.site_id,
                    "name": site.name,
                    "startedAt": started,
                    "stopped": reason is not None,
                    "reason": reason,
                }
            if failures and not reported_later(self):  # `sites`, synced after it, lists first
                report_stopped_sites(self, sites, failures)


class RequestsStream(JournalStream):
    """Requests (web-form leads): one unpaged answer per window, dates month first."""

    name = "requests"
    path = "/calls-service/RestAPI/requests/"
    site_parameter = "siteId"
    primary_keys = ("requestId",)
    schema = schemas.REQUEST.to_dict()
    envelope = BARE_ARRAY
    date_format = REQUESTS_DATE_FORMAT
    base_query = staticmethod(settings.api_params)
    shape = staticmethod(shaping.shape_request)
    window_days_setting = "window_days"
    default_window_days = DEFAULT_WINDOW_DAYS
    bind_setting = "bind_to"


class CallsStream(JournalStream):
    """Calls: the site id in the path, dates day first, each window read page by page."""

    name = "calls"
    path = "/calls-service/RestAPI/{site_id}/calls-diary/calls"
    primary_keys = ("callId",)
    schema = schemas.CALL.to_dict()
    envelope = PAGED
    date_format = CALLS_DATE_FORMAT
    base_query = staticmethod(settings.call_params)
    shape = staticmethod(shaping.shape_call)
    window_days_setting = "calls_window_days"
    default_window_days = DEFAULT_CALLS_WINDOW_DAYS
    bind_setting = "calls_bind_to"


class OrdersStream(ChildStream):
    """Deals linked to each request."""

    name = "orders"
    parent_stream_type = RequestsStream
    primary_keys = ("orderId",)
    schema = schemas.ORDERS_SCHEMA
    extract = child_rows.order_rows


class CommentsStream(ChildStream):
    """Comments left on each request."""

    name = "comments"
    parent_stream_type = RequestsStream
    primary_keys = ("commentId",)
    schema = schemas.COMMENTS_SCHEMA
    extract = child_rows.comment_rows


class MapVisitsStream(ChildStream):
    """The visit history of the visitor behind each request."""

    name = "map_visits"
    parent_stream_type = RequestsStream
    primary_keys = ("requestId", "sessionId")
    schema = schemas.MAP_VISITS_SCHEMA
    extract = child_rows.map_visit_rows


class RequestTagsStream(ChildStream):
    """Tags of each request, one row per tag after splitting comma-joined names."""

    name = "request_tags"
    parent_stream_type = RequestsStream
    primary_keys = ("requestId", "name")
    schema = schemas.REQUEST_TAGS_SCHEMA
    extract = child_rows.request_tag_rows


class CallOrdersStream(ChildStream):
    """Deals linked to each call."""

    name = "call_orders"
    parent_stream_type = CallsStream
    primary_keys = ("callId", "orderId")
    schema = schemas.CALL_ORDERS_SCHEMA
    extract = child_rows.call_order_rows


class CallCommentsStream(ChildStream):
    """Comments left on each call."""

    name = "call_comments"
    parent_stream_type = CallsStream
    primary_keys = ("commentId",)
    schema = schemas.CALL_COMMENTS_SCHEMA
    extract = child_rows.call_comment_rows


class CallMapVisitsStream(ChildStream):
    """The visit history of the caller behind each call."""

    name = "call_map_visits"
    parent_stream_type = CallsStream
    primary_keys = ("callId", "sessionId")
    schema = schemas.CALL_MAP_VISITS_SCHEMA
    extract = child_rows.call_map_visit_rows


class CallTagsStream(ChildStream):
    """Tags of each call, one row per tag after splitting comma-joined names."""

    name = "call_tags"
    parent_stream_type = CallsStream
    primary_keys = ("callId", "name")
    schema = schemas.CALL_TAGS_SCHEMA
    extract = child_rows.call_tag_rows


STREAM_TYPES: list[type[Stream]] = [
    SitesStream,
    RequestsStream,
    OrdersStream,
    CommentsStream,
    MapVisitsStream,
    RequestTagsStream,
    CallsStream,
    CallOrdersStream,
    CallCommentsStream,
    CallMapVisitsStream,
    CallTagsStream,
    SiteRunsStream,
]
