"""JSON schemas of the request object and its nested blocks, each block defined once.

Read defensively: every field may be null, ids are integers after shaping, money amounts are
exact decimal text, times are RFC 3339 UTC date-times, and free-form maps (`attrs`) stay objects.
"""

from __future__ import annotations

from singer_sdk import typing as th

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
ANY_VALUE = th.CustomType(
    {"type": ["string", "number", "integer", "boolean", "object", "array", "null"]}
)

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
    th.Property("additionalTags", th.ArrayType(ANY_VALUE)),
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
    th.Property("sessionDate", WHEN, description="Visit time, UTC (sent in the account's zone)."),
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

CUSTOM_FIELD = th.ObjectType(th.Property("field", TEXT), th.Property("value", ANY_VALUE))

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
)


def child_schema(block: th.ObjectType, *extra: th.Property) -> dict:  # type: ignore[type-arg]
    """A child stream's schema: its block's fields plus the parent's `requestId`."""
    properties = th.PropertiesList(
        th.Property("requestId", ID, required=True, description="The parent request."),
        *extra,
    ).to_dict()
    block_schema = block.to_dict()
    properties["properties"] = {**block_schema["properties"], **properties["properties"]}
    properties["required"] = [*properties.get("required", []), *block_schema.get("required", [])]
    return properties


ORDERS_SCHEMA = child_schema(ORDER)
COMMENTS_SCHEMA = child_schema(COMMENT)
MAP_VISITS_SCHEMA = child_schema(MAP_VISIT)
REQUEST_TAGS_SCHEMA = child_schema(
    th.ObjectType(
        th.Property("name", TEXT, required=True, description="One tag, split from `names`."),
        th.Property("type", TEXT),
        th.Property("category", TEXT, description="Obsolete; kept for compatibility."),
    )
)
