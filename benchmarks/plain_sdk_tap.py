"""A straightforward singer-sdk tap for the same five streams, written the way a tutorial would.

The yardstick for "what the SDK costs when used plainly": a RESTStream with the SDK's own JSON
parsing (`records_jsonpath`), type conformance and message writing; date windows as
partitions; child streams through the SDK's standard parent-child mechanism, so every parent
record runs one child sync per child stream (each with its SCHEMA and STATE messages).

Run: `python benchmarks/plain_sdk_tap.py --config FILE` (the same config file as tap-calltouch).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.streams import RESTStream

from tap_calltouch import schemas
from tap_calltouch.settings import api_params

if TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context, Record

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def epoch_ms_to_iso(value: Any) -> str | None:  # noqa: ANN401 - the API's types drift
    """Epoch milliseconds as an ISO 8601 UTC date-time."""
    if value is None:
        return None
    return (EPOCH + dt.timedelta(milliseconds=int(value))).isoformat()


class RequestsStream(RESTStream[Any]):
    """Requests (leads), one partition per date window."""

    name = "requests"
    path = "/calls-service/RestAPI/requests/"
    primary_keys = ("requestId",)
    replication_key = "date"
    records_jsonpath = "$[*]"
    schema = schemas.REQUEST.to_dict()

    @property
    def url_base(self) -> str:
        return str(self.config["api_url"]).rstrip("/")

    @property
    def authenticator(self) -> APIKeyAuthenticator:
        return APIKeyAuthenticator(
            key="clientApiId", value=self.config["api_token"], location="params"
        )

    @property
    def partitions(self) -> list[dict[str, Any]]:
        first = dt.date.fromisoformat(str(self.config["start_date"])[:10])
        end = self.config.get("end_date")
        last = (
            dt.date.fromisoformat(str(end)[:10]) if end else dt.datetime.now(dt.timezone.utc).date()
        )
        step = int(self.config.get("window_days", 7))
        windows = []
        while first <= last:
            window_end = min(first + dt.timedelta(days=step - 1), last)
            windows.append(
                {"dateFrom": first.strftime("%m/%d/%Y"), "dateTo": window_end.strftime("%m/%d/%Y")}
            )
            first = window_end + dt.timedelta(days=1)
        return windows

    def get_url_params(
        self,
        context: Context | None,
        next_page_token: Any | None,  # noqa: ANN401, ARG002
    ) -> dict[str, Any]:
        params: dict[str, Any] = {**api_params(dict(self.config)), "siteId": self.config["site_id"]}
        if context:
            params.update(dateFrom=context["dateFrom"], dateTo=context["dateTo"])
        return params

    def post_process(
        self,
        row: Record,
        context: Context | None = None,  # noqa: ARG002
    ) -> Record | None:
        row["date"] = epoch_ms_to_iso(row.get("date"))
        return row

    def get_child_context(
        self,
        record: Record,
        context: Context | None,  # noqa: ARG002
    ) -> Context:
        return {
            "requestId": record["requestId"],
            "orders": record.get("orders") or [],
            "comments": record.get("comments") or [],
            "mapVisits": record.get("mapVisits") or [],
            "RequestTags": record.get("RequestTags") or [],
        }


class ChildStream(Stream):
    """Rows nested in each request, read from the parent's context."""

    parent_stream_type = RequestsStream
    state_partitioning_keys: ClassVar[list[str]] = []  # one state, not one per parent
    key: ClassVar[str]

    def get_records(self, context: Context | None) -> Iterator[Record]:
        if not context:
            return
        for row in context[self.key]:
            yield {**row, "requestId": context["requestId"]}


class OrdersStream(ChildStream):
    name = "orders"
    primary_keys = ("orderId",)
    schema = schemas.ORDERS_SCHEMA
    key = "orders"


class CommentsStream(ChildStream):
    name = "comments"
    primary_keys = ("commentId",)
    schema = schemas.COMMENTS_SCHEMA
    key = "comments"


class MapVisitsStream(ChildStream):
    name = "map_visits"
    primary_keys = ("requestId", "sessionId")
    schema = schemas.MAP_VISITS_SCHEMA
    key = "mapVisits"

    def get_records(self, context: Context | None) -> Iterator[Record]:
        seen = set()
        for row in super().get_records(context):
            if row.get("sessionId") not in seen:
                seen.add(row.get("sessionId"))
                yield row


class RequestTagsStream(ChildStream):
    name = "request_tags"
    primary_keys = ("requestId", "name")
    schema = schemas.REQUEST_TAGS_SCHEMA
    key = "RequestTags"

    def get_records(self, context: Context | None) -> Iterator[Record]:
        seen = set()
        for tag in super().get_records(context):
            for names in tag.get("names") or []:
                for name in (part.strip() for part in names.split(",")):
                    if name and name not in seen:
                        seen.add(name)
                        yield {
                            "requestId": tag["requestId"],
                            "name": name,
                            "type": tag.get("type"),
                            "category": tag.get("category"),
                        }


class PlainCalltouchTap(Tap):
    """The tutorial-style tap."""

    name = "plain-calltouch"
    config_jsonschema = th.PropertiesList(
        th.Property("api_token", th.StringType, required=True, secret=True),
        th.Property("site_id", th.StringType, required=True),
        th.Property("start_date", th.StringType, required=True),
        th.Property("end_date", th.StringType),
        th.Property("api_url", th.StringType, default="https://api.calltouch.ru"),
        th.Property("window_days", th.IntegerType, default=7),
    ).to_dict()

    def discover_streams(self) -> list[Stream]:
        return [
            RequestsStream(self),
            OrdersStream(self),
            CommentsStream(self),
            MapVisitsStream(self),
            RequestTagsStream(self),
        ]


if __name__ == "__main__":
    PlainCalltouchTap.cli()
