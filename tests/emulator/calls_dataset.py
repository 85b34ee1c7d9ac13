"""Deterministic, realistic Calltouch call records (the calls journal) for the emulator.

`generate_calls` builds full records, as the API returns them with every `with*` flag on.
The emulator serves the list it is given live, so a test changes the data between two runs
with `add_calls`, `add_call_order`, `add_call_tag` and `add_call_comment`, which edit the list
in place; `new_calls` makes records without adding them (for `Emulator.arrive_after`).

What published answers of the real API show (`calltouch-calls-api.md`, "What captured answers
show") holds here: every key is in every record, in the API's order, null when empty; `date` is
24-hour local time and `timestamp` its epoch seconds, while `sessionDate` is printed on Java's
12-hour clock with no AM/PM (`hh`: hour 0 as 12); `ctClientId` is a 19-digit integer; the
singular `order` is always null; `duration` is now and then negative; `redirectNumber` is
sometimes a SIP address; `statusDetails` is English prose or null. About 15% of calls are
offline (a static number): no session, so `sessionId`, `sessionDate`, `url`, `ref`, `ip`,
`userAgent`, `device`, `os`, `browser` and `ctClientId` are null, the tracking number stands
in `source`, `utmSource`, `utmCampaign` and `subPoolName`, `medium` is `offline`, and the
`callReferenceId` is telephony-style (`"<timestamp>.<n>"`) rather than a UUID. Visits
(`mapVisits`) keep the 24-hour times of the requests journal: the API's are not known.

Types drift as public clients report, deterministically by seed: `callId`, `duration` and
`sessionId` are sometimes numeric strings; the five call booleans are sometimes the strings
"true", "True" or "false"; Yandex Direct ids are sometimes strings.

Each record also carries two private keys (leading underscore, stripped by the server):
`CALL_TIME`, the call's epoch seconds, and `CALL_SESSION_TIME`, the session's (None without a
session). The server selects, pages and sorts on them, so a test may drop or garble the public
`timestamp` and `date` without changing what is served.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from tests.emulator.dataset import (
    _BROWSER_BY_UA,
    CITIES,
    DEFAULT_SITE_ID,
    DEFAULT_TZ,
    DOMAIN,
    MANAGERS,
    NOT_SET,
    PAGES,
    Records,
    _Factory,
    _gc_paused,
    first_ids_of,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from tests.emulator.dataset import Record

CALL_TIME = "_callTime"
CALL_SESSION_TIME = "_callSessionTime"
SITE_NAME = "Окна Демо"

FIRST_IDS = {
    "call": 415_000_000,
    "session": 26_000_000,
    "comment": 52_000,
    "order": 230_000,
}
_DRIFT = 0.06  # share of values whose JSON type drifts

# Number sub-pools: name, pool type, tracking numbers. Dynamic pools serve tracked visitors.
DYNAMIC_POOLS = (
    ("Яндекс Директ", "DYNAMIC", ("74951330101", "74951330102", "74951330103")),
    ("Google Ads", "DYNAMIC", ("74951330201", "74951330202")),
    ("SEO", "DYNAMIC", ("74951330301", "74951330302")),
)
STATIC_POOLS = (
    ("Наружная реклама", "STATIC", ("74951330901",)),
    ("Визитки", "STATIC", ("74951330902",)),
)
REDIRECT_NUMBERS = ("74957775533", "74957775534", "79161234567")
SIP_HOST = "192.0.2.58"  # a documentation address: SIP redirects read sip:<number>@<host>
ANSWERED_STATUSES = (
    "Connected. The disconnect came from the callers side",
    "Connection succeeded. Disconnection came from the called party",
)
FAILED_STATUSES = (
    "The call was not accepted by the caller",
    "The subscriber is busy",
    "The caller hung up before the answer",
)
SUPPORT_STATUS = "Please contact tech support for clarification"  # beside a negative duration
NOT_FILLED = "<не заполнено>"
SESSION_BEFORE = (15, 10 * 3600)  # seconds from session to call; captured: 16 s to 9 h 21 min
DAY_OLD_SESSIONS = 0.03  # sessions 12 to 36 hours before the call: a 12-hour text cannot tell
CALL_TAG_NAMES = (
    "Лид Самара",
    "Целевой",
    "Не целевой",
    "Спам",
    "Повторный",
    "Замер,Монтаж",
    "Доставка,Опт",
)
CALL_TAG_TYPES = ("MANUAL", "AUTO-PN", "AUTO-CT", "WEB-API", "AUTO-PR")
CALL_COMMENTS = (
    "Перезвонить после 18:00",
    "Клиент просит КП на почту\n",
    "Спрашивал про остекление балкона",
    "Записан на замер в субботу\n",
    "Ошиблись номером",
)
COMMENT_AUTHORS = ((19688, "API"), (20114, "m.ivanova@okna-demo.ru"), (20377, "crm-bot"))
FIRST_NAMES = ("Андрей", "Мария", "Коля", "Елена", "Сергей", "Анна")


def generate_calls(  # noqa: PLR0913 - the same keyword arguments as generate_dataset
    *,
    seed: int,
    start: dt.date,
    days: int,
    per_day: int,
    tz: str = DEFAULT_TZ,
    site_id: int = DEFAULT_SITE_ID,
    first_ids: Mapping[str, int] | None = None,
) -> list[Record]:
    """Build `days` days of calls from `start`, oldest first; the same arguments, the same calls.

    `first_ids` starts some id sequences elsewhere (keys as `FIRST_IDS`), so that several
    sites' calls share no ids (`sites.generate_sites`); the answer is then a `Records` that
    remembers them, for the helpers that add calls later.
    """
    rng = random.Random(seed)
    starts = {**FIRST_IDS, **(first_ids or {})}
    factory = _CallFactory(rng, ZoneInfo(tz), site_id, starts)
    records: list[Record] = [] if first_ids is None else Records(first_ids=starts)
    with _gc_paused():
        for offset in range(days):
            day = start + dt.timedelta(days=offset)
            count = round(per_day * rng.uniform(0.9, 1.1))
            seconds = sorted(factory.num(0, 86_400) for _ in range(count))
            records.extend(factory.call(factory.local_ms(day, second)) for second in seconds)
    return records


def new_calls(  # noqa: PLR0913 - optional knobs, all keyword-only
    calls: list[Record],
    n: int,
    day: dt.date,
    *,
    times: Sequence[dt.time] | None = None,
    seed: int = 0,
    tz: str = DEFAULT_TZ,
) -> list[Record]:
    """Make `n` calls on local `day` (at `times` if given) with ids past `calls`; add nothing."""
    if times is not None and len(times) != n:
        msg = f"times has {len(times)} entries, n is {n}"
        raise ValueError(msg)
    rng = random.Random(seed)
    site_id = calls[0]["siteId"] if calls else DEFAULT_SITE_ID
    factory = _CallFactory(rng, ZoneInfo(tz), site_id, _next_ids(calls))
    if times is None:
        seconds = sorted(factory.num(0, 86_400) for _ in range(n))
        return [factory.call(factory.local_ms(day, second)) for second in seconds]
    # A time's `fold` says which pass of a repeated hour: dt.time(2, 30, fold=1) is the second.
    return [factory.call(factory.wall_ms(day, t)) for t in times]


def add_calls(  # noqa: PLR0913 - optional knobs, all keyword-only
    calls: list[Record],
    n: int,
    day: dt.date,
    *,
    times: Sequence[dt.time] | None = None,
    seed: int = 0,
    tz: str = DEFAULT_TZ,
) -> list[Record]:
    """Append `n` calls made on local `day` (at `times` if given), as between two syncs."""
    added = new_calls(calls, n, day, times=times, seed=seed, tz=tz)
    calls.extend(added)
    return added


def add_call_order(
    calls: list[Record],
    call_id: int | str,
    *,
    planned: str | float = "2800.00",
    completed: str | float | None = None,
    tz: str = DEFAULT_TZ,
) -> Record:
    """Link a new deal to a call, as a CRM does a day later; `completed` closes it at once."""
    record = find_call(calls, call_id)
    factory = _CallFactory(random.Random(0), ZoneInfo(tz), record["siteId"], _next_ids(calls))
    local = factory.local_str(record[CALL_TIME] * 1000 + 86_400_000)
    order = {
        "orderId": next(factory.ids["order"]),
        "orderNumber": f"CRM-{record[CALL_TIME] % 10**6:06d}",
        "orderDate": local,
        "createdDate": local,
        "completedDate": None if completed is None else local,
        "plannedAmount": planned,
        "completedAmount": 0 if completed is None else completed,
    }
    record["orders"].append(order)
    return order


def add_call_tag(
    calls: list[Record], call_id: int | str, name: str, *, tag_type: str = "MANUAL"
) -> Record:
    """Tag a call later, as a manager (MANUAL) or speech analytics (AUTO-PR) does."""
    tag = {"category": "", "type": tag_type, "names": [name]}
    find_call(calls, call_id)["callTags"].append(tag)
    return tag


def add_call_comment(calls: list[Record], call_id: int | str, text: str) -> Record:
    """Comment on a call later, as a manager does through the interface or the API."""
    record = find_call(calls, call_id)
    comment = {
        "commentId": _next_ids(calls)["comment"],
        "callId": record["callId"],
        "comment": text,
        "partyId": 19688,
        "partyName": "API",
    }
    record["comments"].append(comment)
    return comment


def find_call(calls: list[Record], call_id: int | str) -> Record:
    """Return the call with this callId (number or numeric string alike), to edit it."""
    wanted = int(call_id)
    for record in calls:
        if int(record["callId"]) == wanted:
            return record
    raise KeyError(call_id)


def _next_ids(calls: list[Record]) -> dict[str, int]:
    """Continue every id sequence past what the calls hold, so added records stay unique."""
    last = {kind: first - 1 for kind, first in first_ids_of(calls, FIRST_IDS).items()}
    for record in calls:
        last["call"] = max(last["call"], int(record["callId"]))
        for visit in record.get("mapVisits") or []:
            last["session"] = max(last["session"], int(visit["sessionId"]))
        for comment in record.get("comments") or []:
            last["comment"] = max(last["comment"], comment["commentId"])
        for order in record.get("orders") or []:
            last["order"] = max(last["order"], order["orderId"])
    return {kind: value + 1 for kind, value in last.items()}


# The 62 keys of a record, in the order of the API's answers (2024: `customFields` last).
KEYS = (
    *("callId", "callphase", "attribution", "callTags", "date", "duration", "callerNumber"),
    *("redirectNumber", "phoneNumber", "manager", "successful", "uniqueCall", "targetCall"),
    *("uniqTargetCall", "callbackCall", "city", "source", "medium", "keyword", "url", "callUrl"),
    *("ref", "hostname", "utmSource", "utmMedium", "utmCampaign", "utmContent", "utmTerm"),
    *("sessionId", "ctCallerId", "clientId", "yaClientId", "sipCallId", "userAgent", "ip"),
    *("waitingConnect", "callReferenceId", "mapVisits", "attrs", "comments", "phrases"),
    *("additionalTags", "callClientUniqueId", "device", "os", "browser", "timestamp"),
    *("sessionDate", "orders", "order", "yandexDirect", "googleAdWords", "siteId", "siteName"),
    *("callbackInfo", "ctClientId", "dcm", "phonesInText", "ctGlobalId", "subPoolName"),
    *("statusDetails", "customFields", CALL_TIME, CALL_SESSION_TIME),
)


def java_hh(seconds: int, zone: ZoneInfo) -> str:
    """Epoch seconds as the API prints `sessionDate`: `dd/MM/yyyy hh:mm:ss`, no AM/PM."""
    t = dt.datetime.fromtimestamp(seconds, zone)
    return f"{t.day:02}/{t.month:02}/{t.year} {t.hour % 12 or 12:02}:{t.minute:02}:{t.second:02}"


class _CallFactory(_Factory):
    """Makes call records one by one, reusing the requests factory's visits and draws."""

    def call(self, call_ms: int) -> Record:
        """One full call, its keys in the API's order; a session only for tracked calls."""
        call_id = next(self.ids["call"])
        timestamp = call_ms // 1000
        online = not self.chance(0.15)
        # 19 digits, an int64 as the API's are (captured: 800000000802881118, 18 digits)
        ct_client_id = self.num(10**18, 2**63) if online else None
        visits = self.visits(call_ms, ct_client_id) if online else []
        session_time = timestamp - self.session_age() if visits else None
        if visits and session_time is not None:
            visits[-1]["sessionDate"] = self.local_str(session_time * 1000)
        successful = self.chance(0.8)
        duration = self.num(15, 900) if successful else self.num(0, 4)
        unique = self.chance(0.7)
        target = successful and duration >= 30 and self.chance(0.85)
        callback = self.chance(0.05)
        pool_name, numbers = self.pool(visits[-1] if visits else None)
        number = self.pick(numbers)
        status = self.pick(ANSWERED_STATUSES if successful else FAILED_STATUSES)
        if successful and self.chance(0.01):
            duration, status = -self.num(1, 60), SUPPORT_STATUS
        traffic = self.traffic(visits[-1]) if visits else self.offline(number)
        record: Record = {
            "callId": self.drift_id(call_id),
            "callphase": "calldisconnected" if self.chance(0.99) else "callconnected",
            "attribution": 1,
            "callTags": self.call_tags(),
            "date": self.local_str(call_ms),
            "duration": self.drift_id(duration),
            "callerNumber": self.caller_number(f"79{self.num(0, 10**9):09d}"),
            "redirectNumber": self.redirect(number),
            "phoneNumber": number,
            "manager": self.pick(MANAGERS) if self.chance(0.1) else None,
            "successful": self.drift_flag(successful),
            "uniqueCall": self.drift_flag(unique),
            "targetCall": self.drift_flag(target),
            "uniqTargetCall": self.drift_flag(unique and target),
            "callbackCall": self.drift_flag(callback),
            **traffic,
            "ctCallerId": f"{self.rng.getrandbits(128):032x}",
            "sipCallId": self.uuid() if online else None,
            "waitingConnect": self.num(1, 45) if self.chance(0.7) else None,
            "callReferenceId": self.uuid() if online else f"{timestamp}.{self.num(0, 10**5):05d}",
            "mapVisits": visits,
            "attrs": {"roistat": str(self.num(0, 10**5))} if online and self.chance(0.2) else None,
            "comments": self.call_comments(call_id),
            "phrases": None,
            "additionalTags": [],
            "callClientUniqueId": None,
            "timestamp": timestamp,
            "sessionDate": None if session_time is None else java_hh(session_time, self.zone),
            "orders": self.orders(call_ms) if visits and self.chance(0.2) else [],
            "order": None,
            "yandexDirect": None,
            "googleAdWords": None,
            "siteId": self.site_id,
            "siteName": SITE_NAME,
            "callbackInfo": self.callback_info(traffic) if callback else None,
            "ctClientId": ct_client_id,
            "dcm": self.dcm(),
            "phonesInText": None,
            "ctGlobalId": None,
            "subPoolName": number if not online else (pool_name if self.chance(0.8) else None),
            "statusDetails": status if self.chance(0.95) else None,
            "customFields": None if self.chance(0.7) else [{"field": "city", "value": "Москва"}],
            CALL_TIME: timestamp,
            CALL_SESSION_TIME: session_time,
        }
        channel = (record["source"], record["medium"])
        if channel == ("yandex", "cpc"):
            record["yandexDirect"] = self.direct_ids()
        elif channel == ("google", "cpc"):
            record["googleAdWords"] = self.ad_ids("creativeId")
        return {key: record[key] for key in KEYS}

    def local_ms(self, day: dt.date, second: int) -> int:
        """Epoch ms of `second` of 86,400 spread over the day's real length (23 to 25 hours).

        So calls fall in both passes of an hour the clocks repeat, and none in one they skip.
        """
        start = dt.datetime.combine(day, dt.time(), self.zone).timestamp()
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), self.zone).timestamp()
        instant = int(start) + second * int(end - start) // 86_400
        return instant * 1000 + self.num(0, 1000)

    def wall_ms(self, day: dt.date, time: dt.time) -> int:
        """Epoch ms of a wall time of `day`; its `fold` chooses the pass of a repeated hour."""
        instant = dt.datetime.combine(day, time, self.zone).timestamp()
        return int(instant) * 1000 + self.num(0, 1000)

    def session_age(self) -> int:
        """Seconds from the session to its call: mostly under 10 hours, a few a day or more."""
        if self.chance(DAY_OLD_SESSIONS):
            return self.num(12 * 3600, 36 * 3600)
        return self.num(*SESSION_BEFORE)

    def redirect(self, number: str) -> str:
        """Where the call was forwarded: a number, or (a third) a SIP address of the number."""
        return f"sip:{number}@{SIP_HOST}" if self.chance(0.3) else self.pick(REDIRECT_NUMBERS)

    def uuid(self) -> str:
        """A time-based-looking UUID, as the API's telephony ids of tracked calls are."""
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def pool(self, visit: Record | None) -> tuple[str, tuple[str, ...]]:
        """The number sub-pool: by the visit's channel, or a static number without a session."""
        if visit is None:
            name, _, numbers = self.pick(STATIC_POOLS)
            return name, numbers
        if visit["medium"] == "cpc":
            pool = DYNAMIC_POOLS[0] if visit["source"] == "yandex" else DYNAMIC_POOLS[1]
        else:
            pool = DYNAMIC_POOLS[2]
        return pool[0], pool[2]

    def traffic(self, visit: Record) -> Record:
        """The session's traffic and visitor fields, from the visit the call is attributed to."""
        ua, device, os_name, browser = _BROWSER_BY_UA[visit["userAgent"]]
        return {
            "city": visit["city"],
            "source": visit["source"],
            "medium": visit["medium"],
            "keyword": visit["keyword"],
            "url": visit["url"],
            "callUrl": f"https://{DOMAIN}{self.pick(PAGES)}",
            "ref": visit["ref"],
            "hostname": DOMAIN,
            "utmSource": visit["utmSource"],
            "utmMedium": visit["utmMedium"],
            "utmCampaign": visit["utmCampaign"],
            "utmContent": visit["utmContent"],
            "utmTerm": visit["utmTerm"],
            "sessionId": self.drift_id(visit["sessionId"]),
            "clientId": visit["guaClientId"],
            "yaClientId": str(self.num(10**18, 10**19)) if self.chance(0.7) else None,
            "userAgent": ua,
            "ip": visit["ip"].removesuffix("/32"),
            "device": device,
            "os": os_name,
            "browser": browser,
        }

    def offline(self, number: str) -> Record:
        """A call to a static number: no session; the number stands in for the source."""
        return {
            "city": self.pick(CITIES),  # from the caller's number
            "source": number,
            "medium": "offline",
            "keyword": NOT_SET,
            "url": None,
            "callUrl": None,
            "ref": None,
            "hostname": None,
            "utmSource": number,
            "utmMedium": "offline",
            "utmCampaign": number,
            "utmContent": NOT_FILLED,
            "utmTerm": NOT_FILLED,
            "sessionId": None,
            "clientId": None,
            "yaClientId": None,
            "userAgent": None,
            "ip": None,
            "device": None,
            "os": None,
            "browser": None,
        }

    def drift_id(self, value: int) -> int | str:
        """A number, or in about 6% the same number as a string."""
        return str(value) if self.rng.random() < _DRIFT else value

    def drift_flag(self, value: bool) -> bool | str:  # noqa: FBT001 - a value, not an option
        """A boolean, or in about 6% a string: "true" or "True" for true, "false" for false."""
        if self.rng.random() >= _DRIFT:
            return value
        return self.pick(("true", "True")) if value else "false"

    def caller_number(self, caller: str) -> str:
        """The caller's number; hidden numbers come as "Anonymous" (3%) or "undefined" (1%)."""
        draw = self.rng.random()
        if draw < 0.03:
            return "Anonymous"
        if draw < 0.04:
            return "undefined"
        return caller

    def call_tags(self) -> list[Record]:
        """Zero to two tag entries; a `names` entry may hold several tags joined by commas."""
        return [
            {
                "category": "",
                "type": self.pick(CALL_TAG_TYPES),
                "names": [self.pick(CALL_TAG_NAMES)],
            }
            for _ in range(self.pick((0, 0, 1, 1, 2)))
        ]

    def call_comments(self, call_id: int) -> list[Record]:
        """Zero to two manager comments; some end in a newline."""
        comments = []
        for _ in range(self.pick((0, 0, 0, 1, 2))):
            party_id, party_name = self.pick(COMMENT_AUTHORS)
            comments.append(
                {
                    "commentId": next(self.ids["comment"]),
                    "callId": call_id,
                    "comment": self.pick(CALL_COMMENTS),
                    "partyId": party_id,
                    "partyName": party_name,
                }
            )
        return comments

    def orders(self, call_ms: int) -> list[Record]:
        """One or two deals; dates are local strings, a few epoch-ms numbers; open ones unclosed."""
        orders = []
        for _ in range(self.pick((1, 1, 1, 2))):
            created_ms = call_ms + self.num(300_000, 5 * 86_400_000)
            closed = self.chance(0.5)
            completed_ms = created_ms + self.num(86_400_000, 20 * 86_400_000)
            rubles = self.num(5, 1500) * 100
            orders.append(
                {
                    "orderId": next(self.ids["order"]),
                    "orderNumber": f"CRM-{self.num(0, 10**6):06d}",
                    "orderDate": self.drift_date(created_ms),
                    "createdDate": self.drift_date(created_ms),
                    "completedDate": self.drift_date(completed_ms) if closed else None,
                    "plannedAmount": self.amount(rubles),
                    "completedAmount": self.amount(rubles) if closed else 0,
                }
            )
        return orders

    def drift_date(self, ms: int) -> str | int:
        """A local `dd/mm/yyyy hh:mm:ss` string, or in about 6% epoch milliseconds."""
        return ms if self.rng.random() < _DRIFT else self.local_str(ms)

    def amount(self, rubles: int) -> str | float | int:
        """A sum as "2800.00", or as a number (an int or a float) in about a third."""
        return self.pick((f"{rubles}.00", f"{rubles}.00", rubles, float(rubles)))

    def direct_ids(self) -> Record:
        """Yandex Direct ids: numbers, or all strings in about 6% of calls."""
        ids = self.ad_ids("adId")
        if self.rng.random() < _DRIFT:
            return {key: str(value) for key, value in ids.items()}
        return ids

    def callback_info(self, traffic: Record) -> Record:
        """What the visitor left in the callback widget."""
        return {
            "fields": [
                {"name": "Имя", "value": self.pick(FIRST_NAMES)},
                {"name": "Страница", "value": traffic["callUrl"] or ""},
            ]
        }
