"""JSON schemas of the request object and its nested blocks, each block defined once.

Read defensively: every field may be null but a stream's keys, ids are integers after shaping,
money amounts are exact decimal text, times are RFC 3339 UTC date-times, free-form maps
(`attrs`) stay objects, and a value of no fixed type is kept as sent, but never an array.
"""

from __future__ import annotations

from typing import Any

from singer_sdk import typing as th

from tap_calltouch.projection import UNDECLARED

ID = th.IntegerType
TEXT = th.StringType
FLAG = th.BooleanType
WHEN = th.DateTimeType
STRINGS = th.ArrayType(th.StringType)
# A free-form object, declared without `properties`: th.ObjectType would add an empty
# `properties`, which the SDK's flattening takes for an object to open up, giving it no column
# while its record keys still come out (session__attrs__roistat). Without it, the object is
# one JSON-text column when flattened, and the same free-form object when not.
ANY_OBJECT = th.CustomType({"type": ["object"], "additionalProperties": True})
# Fields of a record its schema does not declare (yet), by path: see projection.py.
UNDECLARED_FIELDS = th.Property(
    UNDECLARED,
    ANY_OBJECT,
    description="Fields the API sent that this schema does not declare, by path, e.g. "
    '{"customFields": [...], "orders[0].discount": 5}; absent (null) when there are none.',
)
# Undeclared fields the API still sends, which its documentation calls obsolete: dropped, not
# kept in `_undeclared` (by path without indices, as `projection.field_name` gives them).
OBSOLETE_FIELDS = frozenset({"callbackPhone"})
# A value the vendor gives no type: any JSON value but an array (a list sent there arrives as
# its JSON text, `values.as_value_text`), and a list of such values: any item but null. With
# "array" among a field's types BigQuery's loader makes it a REPEATED column, which rejects a
# scalar; typed items make it REPEATED FLOAT or STRING. These forms give it a JSON column (or
# REPEATED JSON), and keep the jsonb / jsonb[] / JSON columns the other loaders already made.
ANY_VALUE = th.CustomType({"type": ["string", "number", "integer", "boolean", "object", "null"]})
VALUES = th.CustomType({"type": ["array", "null"], "items": {}})

# Where a visit came from: shared by the attributed session and each visit of the history.
VISIT_ORIGIN = (
    th.Property("sessionId", ID, description="Calltouch session id."),
    th.Property("source", TEXT, description="Traffic source."),
    th.Property("medium", TEXT, description="Traffic medium."),
    th.Property("utmSource", TEXT, description="utm_source; '<не указано>' means not set."),
    th.Property("utmMedium", TEXT),
    th.Property("utmTerm", TEXT),
    th.Property("utmContent", TEXT),
    th.Property("utmCampaign", TEXT),
    th.Property("url", TEXT, description="Landing URL."),
    th.Property("ref", TEXT, description="Referrer."),
    th.Property("city", TEXT, description="Visitor's city (Sypex Geo naming)."),
    th.Property("ip", TEXT, description="Visitor's IP, e.g. 95.163.114.76/32."),
    th.Property("guaClientId", TEXT, description="Google Analytics client id."),
    th.Property("ctGlobalId", TEXT, description="Calltouch global visitor id."),
    th.Property("additionalTags", VALUES, description="Tags of any type; nulls left out."),
)

SESSION = th.ObjectType(
    *VISIT_ORIGIN,
    th.Property("keywords", TEXT, description="Search keyword of the visit."),
    th.Property("browser", TEXT, description="User agent."),
    th.Property("device", TEXT),
    th.Property("os", TEXT),
    th.Property("browserName", TEXT),
    th.Property("yaClientId", TEXT, description="Yandex Metrica client id."),
    th.Property(
        "attribution", th.IntegerType, description="0 last interaction, 1 last non-direct."
    ),
    th.Property("attrs", ANY_OBJECT, description="Third-party parameters (with_attrs)."),
    th.Property(
        "sessionDate",
        WHEN,
        description=(
            "Time of the visit, UTC: the latest reading of `sessionDateStr` not after the "
            "request (or call), within 12 hours, or its one reading when the hour is 0 or 13-23."
        ),
    ),
    th.Property("sessionDateStr", TEXT, description="Time of the visit as sent, local time."),
)

ORDER = th.ObjectType(
    th.Property("orderId", ID, description="Deal id in Calltouch."),
    th.Property("callId", ID),
    th.Property("dateCreated", WHEN, description="Deal creation time, UTC."),
    th.Property("status", TEXT),
    th.Property("orderStatus", TEXT),
    th.Property("sum", TEXT, description="Deal budget, exact decimal text."),
    th.Property("realSum", TEXT),
    th.Property("orderSum", TEXT),
    th.Property("currentAmount", th.NumberType),
    th.Property("orderNumber", TEXT, description="Deal id in your CRM."),
    th.Property("orderComments", TEXT),
    th.Property("commentsCount", th.IntegerType),
    th.Property("offered", ANY_VALUE),
    th.Property("sent", TEXT),
    th.Property("isMarked", ANY_VALUE),
    th.Property("session", SESSION),
)

COMMENT = th.ObjectType(
    th.Property("commentId", ID),
    th.Property("requestId", ID),
    th.Property("comment", TEXT, description="Comment text; may end in a newline."),
    th.Property("partyId", ID),
    th.Property("partyName", TEXT),
)

MAP_VISIT = th.ObjectType(
    *VISIT_ORIGIN,
    th.Property(
        "sessionDate", WHEN, description="Visit time, UTC (sent in the account's zone, 24-hour)."
    ),
    th.Property("sessionDateStr", TEXT, description="Visit time in the account's zone, as sent."),
    th.Property("userAgent", TEXT),
    th.Property("keyword", TEXT, description="Search keyword of the visit."),
    th.Property("ctClientId", TEXT, description="Calltouch visitor id (the _ct cookie)."),
)

REQUEST_TAG = th.ObjectType(
    th.Property("category", TEXT, description="Obsolete; kept for compatibility."),
    th.Property("type", TEXT),
    th.Property(
        "names", STRINGS, description="Tag names; one entry may hold several, comma-joined."
    ),
)

CLIENT = th.ObjectType(
    th.Property("fio", TEXT, description="Client's name."),
    th.Property("clientId", ID),
    th.Property(
        "phones",
        th.ArrayType(
            th.ObjectType(th.Property("phoneNumber", TEXT), th.Property("phoneType", TEXT))
        ),
    ),
    th.Property(
        "contacts",
        th.ArrayType(
            th.ObjectType(th.Property("contactType", TEXT), th.Property("contactValue", TEXT))
        ),
    ),
)

YANDEX_DIRECT = th.ObjectType(
    th.Property("campaignId", ID),
    th.Property("adGroupId", ID),
    th.Property("adId", ID),
    th.Property("criteriaId", ID),
)

GOOGLE_ADWORDS = th.ObjectType(
    th.Property("campaignId", ID),
    th.Property("adGroupId", ID),
    th.Property("creativeId", ID),
    th.Property("criteriaId", ID),
)

DCM_SEND = th.ObjectType(
    th.Property("profileIdDCM", ID),
    th.Property("floodlightConfigurationId", TEXT),
    th.Property("floodlightActivityId", TEXT),
    th.Property("requestStatus", TEXT),
    th.Property("requestErrors", TEXT),
)

WIDGET_INFO = th.ObjectType(
    th.Property(
        "fields",
        th.ArrayType(
            th.ObjectType(
                th.Property("name", TEXT),
                th.Property("value", TEXT),
                th.Property("type", TEXT),
                th.Property("title", TEXT),
            )
        ),
    ),
)

CUSTOM_FIELD = th.ObjectType(
    th.Property("field", TEXT),
    th.Property("value", ANY_VALUE, description="As sent; a list as its JSON text."),
)

REQUEST = th.PropertiesList(
    th.Property("requestId", ID, required=True, description="Request (lead) id in Calltouch."),
    th.Property("requestNumber", TEXT, description="Your site's id, or the Calltouch id."),
    th.Property("siteId", ID, description="Calltouch account (site) id."),
    th.Property("date", WHEN, required=True, description="Creation time, UTC (replication key)."),
    th.Property("dateStr", TEXT, description="Creation time in the account's zone, as sent."),
    th.Property("subject", TEXT, description="Form name."),
    th.Property("requestUrl", TEXT, description="Page the request was sent from."),
    th.Property("requestType", TEXT),
    th.Property("status", TEXT),
    th.Property("manager", TEXT, description="Manager assigned through the API."),
    th.Property("uniqueRequest", FLAG),
    th.Property("targetRequest", FLAG),
    th.Property("uniqTargetRequest", FLAG),
    th.Property("ctClientId", TEXT, description="Calltouch visitor id (the _ct cookie)."),
    th.Property("ctGlobalId", TEXT, description="Calltouch global visitor id."),
    th.Property("session", SESSION, description="The visit the request is attributed to."),
    th.Property("client", CLIENT),
    th.Property("comments", th.ArrayType(COMMENT)),
    th.Property("orders", th.ArrayType(ORDER), description="Deals linked to the request."),
    th.Property("order", ORDER),
    th.Property(
        "mapVisits", th.ArrayType(MAP_VISIT), description="Visit history (with_map_visits)."
    ),
    th.Property("RequestTags", th.ArrayType(REQUEST_TAG), description="Tags (with_request_tags)."),
    th.Property("yandexDirect", YANDEX_DIRECT),
    th.Property("googleAdWords", GOOGLE_ADWORDS),
    th.Property("dcm", th.ArrayType(DCM_SEND), description="DoubleClick sends (with_dcm)."),
    th.Property("widgetInfo", WIDGET_INFO),
    th.Property("customFields", th.ArrayType(CUSTOM_FIELD)),
    UNDECLARED_FIELDS,
)


def child_schema(
    block: th.ObjectType, key: str, parent_key: str = "requestId", parent: str = "request"
) -> dict[str, Any]:
    """A child stream's schema: its block's fields, the parent's id and the site's.

    `key`, the item's own part of the primary key, is never null: an item without it is not
    a row (`child_rows.ChildRows`).
    """
    properties = th.PropertiesList(
        th.Property(parent_key, ID, required=True, description=f"The parent {parent}."),
        th.Property("siteId", ID, description=f"The {parent}'s Calltouch site."),
    ).to_dict()
    block_schema = block.to_dict()
    fields = {**block_schema["properties"], **properties["properties"]}
    fields[key] = {**fields[key], "type": [kind for kind in fields[key]["type"] if kind != "null"]}
    required = [*properties.get("required", []), *block_schema.get("required", [])]
    return {**properties, "properties": fields, "required": list(dict.fromkeys([*required, key]))}


# One row per tag, split from a `names` list entry that may hold several comma-joined tags.
TAG_ROW = th.ObjectType(
    th.Property("name", TEXT, required=True, description="One tag, split from `names`."),
    th.Property("type", TEXT, description="MANUAL, AUTO-PR, ..."),
    th.Property("category", TEXT, description="Obsolete; kept for compatibility."),
)

ORDERS_SCHEMA = child_schema(ORDER, "orderId")
COMMENTS_SCHEMA = child_schema(COMMENT, "commentId")
MAP_VISITS_SCHEMA = child_schema(MAP_VISIT, "sessionId")
REQUEST_TAGS_SCHEMA = child_schema(TAG_ROW, "name")


# --- the calls journal -----------------------------------------------------------------------

CALL_COMMENT = th.ObjectType(
    th.Property("commentId", ID),
    th.Property("callId", ID),
    th.Property("comment", TEXT, description="Comment text; may end in a newline."),
    th.Property("partyId", ID),
    th.Property("partyName", TEXT),
)

CALL_ORDER = th.ObjectType(
    th.Property("orderId", ID, description="Deal id in Calltouch."),
    th.Property("orderNumber", TEXT, description="Deal id in your CRM."),
    th.Property("orderDate", WHEN, description="Deal date, UTC."),
    th.Property("createdDate", WHEN, description="When the deal was created, UTC."),
    th.Property(
        "completedDate", WHEN, description="When the deal was completed, UTC; null if open."
    ),
    th.Property("plannedAmount", TEXT, description="Planned budget, exact decimal text."),
    th.Property("completedAmount", TEXT, description="Completed amount, exact decimal text."),
)

CALL_AD_IDS = th.ObjectType(
    th.Property("campaignId", ID),
    th.Property("adGroupId", ID),
    th.Property("adId", ID),
    th.Property("creativeId", ID),
    th.Property("criteriaId", ID),
)

CALLBACK_INFO = th.ObjectType(
    th.Property(
        "fields",
        th.ArrayType(th.ObjectType(th.Property("name", TEXT), th.Property("value", TEXT))),
    ),
)

CALL = th.PropertiesList(
    th.Property("callId", ID, required=True, description="Call id in Calltouch."),
    th.Property(
        "date",
        WHEN,
        required=True,
        description="Call time, UTC (replication key), from `timestamp` when sent.",
    ),
    th.Property("timestamp", th.IntegerType, description="Call time as sent (epoch seconds)."),
    th.Property(
        "sessionDate",
        WHEN,
        description=(
            "Time of the attributed visit, UTC: the one reading of `sessionDateStr` in the 12 "
            "hours up to the call; null if none fits."
        ),
    ),
    th.Property(
        "sessionDateStr",
        TEXT,
        description="Time of the attributed visit as sent: local, 12-hour clock, no AM/PM.",
    ),
    th.Property("duration", th.IntegerType, description="Talk time, seconds."),
    th.Property("waitingConnect", th.IntegerType, description="Seconds waiting for an answer."),
    th.Property("callerNumber", TEXT, description="Caller; may be 'Anonymous' or 'undefined'."),
    th.Property("phoneNumber", TEXT, description="Tracking number dialled."),
    th.Property("redirectNumber", TEXT, description="Number the call was forwarded to."),
    th.Property("successful", FLAG, description="Answered."),
    th.Property("uniqueCall", FLAG),
    th.Property("targetCall", FLAG),
    th.Property("uniqTargetCall", FLAG),
    th.Property("callbackCall", FLAG, description="Placed by the callback widget."),
    th.Property("callphase", TEXT, description="Phase of the call when asked."),
    th.Property("statusDetails", TEXT),
    th.Property("source", TEXT, description="Attributed traffic source."),
    th.Property("medium", TEXT, description="Attributed traffic medium."),
    th.Property("keyword", TEXT),
    th.Property("utmSource", TEXT),
    th.Property("utmMedium", TEXT),
    th.Property("utmCampaign", TEXT),
    th.Property("utmContent", TEXT),
    th.Property("utmTerm", TEXT),
    th.Property("city", TEXT, description="Caller's city (Sypex Geo naming)."),
    th.Property("url", TEXT, description="Landing page."),
    th.Property("callUrl", TEXT, description="Page the call was made from."),
    th.Property("ref", TEXT, description="Referrer."),
    th.Property("hostname", TEXT, description="Tracked domain."),
    th.Property("sessionId", ID, description="Attributed session; null or 0 without one."),
    th.Property("ctCallerId", TEXT),
    th.Property("ctClientId", TEXT, description="Calltouch visitor id (the _ct cookie)."),
    th.Property("ctGlobalId", TEXT),
    th.Property("clientId", TEXT, description="Google Analytics client id."),
    th.Property("yaClientId", TEXT, description="Yandex Metrica client id."),
    th.Property("sipCallId", TEXT),
    th.Property("callReferenceId", TEXT),
    th.Property("callClientUniqueId", TEXT),
    th.Property("userAgent", TEXT),
    th.Property("ip", TEXT),
    th.Property("device", TEXT),
    th.Property("os", TEXT),
    th.Property("browser", TEXT),
    th.Property("manager", TEXT, description="Manager set through the API."),
    th.Property("siteId", ID, description="Calltouch account (site) id."),
    th.Property("siteName", TEXT),
    th.Property("subPoolName", TEXT, description="Number sub-pool."),
    th.Property("poolType", TEXT),
    th.Property(
        "attribution", th.IntegerType, description="0 last interaction, 1 last non-direct."
    ),
    th.Property("callTags", th.ArrayType(REQUEST_TAG), description="Tags (with_call_tags)."),
    th.Property("comments", th.ArrayType(CALL_COMMENT), description="Comments (with_comments)."),
    th.Property(
        "mapVisits", th.ArrayType(MAP_VISIT), description="Visit history (with_map_visits)."
    ),
    th.Property("orders", th.ArrayType(CALL_ORDER), description="Deals (with_orders)."),
    th.Property("yandexDirect", CALL_AD_IDS),
    th.Property("googleAdWords", CALL_AD_IDS),
    th.Property("dcm", th.ArrayType(DCM_SEND), description="DoubleClick sends (with_dcm)."),
    th.Property("callbackInfo", CALLBACK_INFO, description="Fields left in the callback widget."),
    th.Property("phrases", VALUES, description="Transcript, where enabled."),
    th.Property("attrs", ANY_OBJECT, description="Third-party session attributes."),
    th.Property("additionalTags", VALUES, description="Tags of any type; nulls left out."),
    th.Property("phonesInText", VALUES, description="Phones found in the text."),
    th.Property("customFields", th.ArrayType(CUSTOM_FIELD)),
    th.Property("order", ORDER, description="A deal as the requests journal gives it."),
    UNDECLARED_FIELDS,
)

CALL_TAGS_SCHEMA = child_schema(TAG_ROW, "name", "callId", "call")
CALL_COMMENTS_SCHEMA = child_schema(CALL_COMMENT, "commentId", "callId", "call")
CALL_MAP_VISITS_SCHEMA = child_schema(MAP_VISIT, "sessionId", "callId", "call")
CALL_ORDERS_SCHEMA = child_schema(CALL_ORDER, "orderId", "callId", "call")


# --- the sites of the run --------------------------------------------------------------------

# The site dimension: what the config says of each site, nothing secret (no token).
SITE = th.PropertiesList(
    th.Property("siteId", ID, required=True, description="Calltouch account (site) id."),
    th.Property("name", TEXT, description="The site's name in `sites`; null when not given."),
    th.Property(
        "timezone", TEXT, required=True, description="The IANA zone the tap reads the site in."
    ),
)

SITE_RUN = th.PropertiesList(
    th.Property("siteId", ID, required=True, description="Calltouch account (site) id."),
    th.Property("name", TEXT, description="The site's name in `sites`; null when not given."),
    th.Property("startedAt", WHEN, required=True, description="When the run started (UTC)."),
    th.Property(
        "stopped",
        FLAG,
        required=True,
        description="Whether the site stopped in this run (rejected token, spent points, "
        "calls failing every try); its bookmark stays at its last complete window.",
    ),
    th.Property("reason", TEXT, description="Why it stopped; null when it did not."),
)
