"""Streams: Calltouch's journals, and the records nested in them as child streams.

Each class only declares how its journal differs; the reading is `journal.JournalStream`'s.
Child rows are cut from the parent record already in hand (no extra HTTP call), with one
SCHEMA per run and no state of their own.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from tap_calltouch import schemas, settings, shaping
from tap_calltouch.answers import BARE_ARRAY, PAGED
from tap_calltouch.client import SitesFailedError
from tap_calltouch.journal import ChildStream, JournalStream, report_stopped_sites
from tap_calltouch.output import LeanRecordStream
from tap_calltouch.shards import shard_in, share
from tap_calltouch.sites import failure_summary, sites_of
from tap_calltouch.windows import CALLS_DATE_FORMAT, REQUESTS_DATE_FORMAT

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk import Stream
    from singer_sdk.helpers.types import Context

DEFAULT_WINDOW_DAYS = 14
DEFAULT_CALLS_WINDOW_DAYS = 14


class SitesStream(LeanRecordStream):
    """The sites this run reads, from the config: the site dimension of every report.

    It is how dbt learns each site's name and time zone (the raw tables hold neither). Full
    table each run, no API call, no state of its own; never a token.
    """

    name = "sites"
    primary_keys = ("siteId",)
    schema = schemas.SITE.to_dict()

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        config = dict(self.config)
        for site in share(sites_of(config), shard_in(config)):  # a shard's run: its own sites
            yield {"siteId": site.site_id, "name": site.name, "timezone": site.timezone}


class SiteRunsStream(LeanRecordStream):
    """Each site's outcome in this run: read, or stopped and why; synced after the journals.

    The record a warehouse keeps of a stopped site, so that a run which goes on with the
    other sites (`fail_on_stopped_sites: false`) still fails a check downstream (dbt's test
    `no_site_stopped`). It ends the run as the last journal otherwise would: failing, or
    logging the stopped sites. No API call, no state of its own.
    """

    name = "site_runs"
    primary_keys = ("siteId", "startedAt")
    schema = schemas.SITE_RUN.to_dict()
    reports_stopped_sites = True  # the journals leave the end-of-run report to it

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        config = dict(self.config)
        failures: dict[int, str] = self._tap.site_failures  # type: ignore[attr-defined]
        started = self._tap.started.isoformat()  # type: ignore[attr-defined]
        sites = share(sites_of(config), shard_in(config))
        for site in sites:
            reason = failures.get(site.site_id)
            yield {
                "siteId": site.site_id,
                "startedAt": started,
                "stopped": reason is not None,
                "reason": reason,
            }
        if failures:
            report_stopped_sites(self, SitesFailedError(failure_summary(sites, failures)))


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
    paged = True
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
    extract = staticmethod(shaping.order_rows)


class CommentsStream(ChildStream):
    """Comments left on each request."""

    name = "comments"
    parent_stream_type = RequestsStream
    primary_keys = ("commentId",)
    schema = schemas.COMMENTS_SCHEMA
    extract = staticmethod(shaping.comment_rows)


class MapVisitsStream(ChildStream):
    """The visit history of the visitor behind each request."""

    name = "map_visits"
    parent_stream_type = RequestsStream
    primary_keys = ("requestId", "sessionId")
    schema = schemas.MAP_VISITS_SCHEMA
    extract = staticmethod(shaping.map_visit_rows)


class RequestTagsStream(ChildStream):
    """Tags of each request, one row per tag after splitting comma-joined names."""

    name = "request_tags"
    parent_stream_type = RequestsStream
    primary_keys = ("requestId", "name")
    schema = schemas.REQUEST_TAGS_SCHEMA
    extract = staticmethod(shaping.request_tag_rows)


class CallOrdersStream(ChildStream):
    """Deals linked to each call."""

    name = "call_orders"
    parent_stream_type = CallsStream
    primary_keys = ("callId", "orderId")
    schema = schemas.CALL_ORDERS_SCHEMA
    extract = staticmethod(shaping.call_order_rows)


class CallCommentsStream(ChildStream):
    """Comments left on each call."""

    name = "call_comments"
    parent_stream_type = CallsStream
    primary_keys = ("commentId",)
    schema = schemas.CALL_COMMENTS_SCHEMA
    extract = staticmethod(shaping.call_comment_rows)


class CallMapVisitsStream(ChildStream):
    """The visit history of the caller behind each call."""

    name = "call_map_visits"
    parent_stream_type = CallsStream
    primary_keys = ("callId", "sessionId")
    schema = schemas.CALL_MAP_VISITS_SCHEMA
    extract = staticmethod(shaping.call_map_visit_rows)


class CallTagsStream(ChildStream):
    """Tags of each call, one row per tag after splitting comma-joined names."""

    name = "call_tags"
    parent_stream_type = CallsStream
    primary_keys = ("callId", "name")
    schema = schemas.CALL_TAGS_SCHEMA
    extract = staticmethod(shaping.call_tag_rows)


# `sites` syncs first (`TapCalltouch.load_state`): written even when a journal stops the run.
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
