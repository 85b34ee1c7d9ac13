"""Deterministic, realistic Calltouch request (lead) records for the emulator.

`generate_dataset` builds full records, as the API returns them with every `with*` flag on.
The emulator serves the list it is given live, so a test changes the data between two runs
with `add_requests`, `add_order` and `add_tag`, which edit the list in place.

Each record also carries one private key, `SESSION_TIME` (leading underscore): the epoch ms
that `bindTo=session` filters on. The server strips keys that start with `_`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import itertools
import random
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence

Record = dict[str, Any]

DEFAULT_TZ = "Europe/Moscow"
DEFAULT_SITE_ID = 12345
SESSION_TIME = "_sessionTime"
NOT_SET = "<не указано>"
DOMAIN = "okna-demo.ru"

FIRST_IDS = {
    "request": 81_000_000,
    "session": 16_000_000,
    "client": 640_000,
    "comment": 7_300,
    "order": 119_900,
}

SUBJECTS = (
    "Заявка на звонок",
    "Заявка с квиза",
    "Обратный звонок",
    "Заказать замер",
    "Рассчитать стоимость",
    "Форма в подвале сайта",
    "Умная заявка",
)
WIDGET_SUBJECTS = ("Умная заявка", "Форма ВКонтакте")
REQUEST_STATUSES = ("NOT_SET", "NOT_SET", "NOT_SET", "IN_WORK", "COMPLETED", "REJECTED")
MANAGERS = (
    "Иванова Мария Сергеевна",
    "Петров Алексей Викторович",
    "Смирнова Ольга Игоревна",
    "Кузнецов Дмитрий Андреевич",
)
CLIENT_NAMES = (
    "Андрей Соколов",
    "Мария Попова",
    "Коля",
    "Елена Лебедева",
    "Сергей Кузнецов",
    "Анна Смирнова",
    "Дмитрий Иванов",
    "Ольга",
)
LOGINS = ("ivan", "m.petrova", "kolya", "elena.s", "serg", "anna_k", "dima", "olga")
MAIL_DOMAINS = ("yandex.ru", "mail.ru", "gmail.com", "bk.ru")
CITIES = ("moscow", "moscow", "saint petersburg", "kazan", "novosibirsk", "krasnodar")
PAGES = ("/", "/catalog/okna-pvh/", "/balkony/", "/kontakty/", "/akcii/skidka-20/")
CPC_KEYWORDS = (
    "купить пластиковые окна",
    "окна пвх цена",
    "остекление балкона под ключ",
    "замер окон бесплатно",
    "монтаж окон москва",
)
# Traffic channels: source, medium, referrer, and weight in percent.
CHANNELS = (
    ("yandex", "cpc", "https://yandex.ru/", 30),
    ("google", "cpc", "https://www.google.com/", 12),
    ("yandex", "organic", "https://yandex.ru/", 18),
    ("google", "organic", "https://www.google.com/", 8),
    ("(direct)", "(none)", "", 20),
    ("vk.com", "referral", "https://vk.com/", 7),
    ("avito.ru", "referral", "https://www.avito.ru/", 5),
)
_CHANNEL_POOL = [channel[:3] for channel in CHANNELS for _ in range(channel[3])]
# Browsers: user agent, then device, os and browserName as the session reports them.
BROWSERS = (
    (
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
        ),
        "desktop",
        "Windows",
        "Chrome",
    ),
    (
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
        ),
        "mobile",
        "iOS",
        "Safari",
    ),
    (
        (
            "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36"
        ),
        "mobile",
        "Android",
        "Chrome",
    ),
    (
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/124.0.0.0 YaBrowser/24.6.0.0 Safari/537.36"
        ),
        "desktop",
        "Windows",
        "Yandex Browser",
    ),
)
_BROWSER_BY_UA = {browser[0]: browser for browser in BROWSERS}
COMMENTS = (
    "Перезвонить после 18:00",
    "Клиент просит КП на почту\n",
    "Не дозвонились, повторить завтра",
    "Согласовали замер на субботу\n",
    "Интересует остекление лоджии, 6 м",
)
COMMENT_AUTHORS = ((19688, "API"), (20114, "m.ivanova@okna-demo.ru"), (20377, "crm-bot"))
TAG_NAMES = ("Горячий", "VIP", "Повторный", "Замер", "Доставка", "Горячий,VIP", "Опт,Самовывоз")
TAG_TYPES = ("AUTO-CT", "MANUAL", "AUTO-CT")
ORDER_STATUSES = ("PENDING", "IN_PROGRESS", "PAID", "CANCELLED")


def generate_dataset(  # noqa: PLR0913 - the brief fixes these keyword arguments
    *,
    seed: int,
    start: dt.date,
    days: int,
    per_day: int,
    tz: str = DEFAULT_TZ,
    site_id: int = DEFAULT_SITE_ID,
    first_ids: Mapping[str, int] | None = None,
) -> list[Record]:
    """Build `days` days of requests from `start`; the same arguments give the same records.

    `first_ids` starts some id sequences elsewhere (keys as `FIRST_IDS`), so that several
    sites' records share no ids (`sites.generate_sites`); the answer is then a `Records`
    that remembers them, for the helpers that add records later.
    """
    rng = random.Random(seed)
    starts = {**FIRST_IDS, **(first_ids or {})}
    factory = _Factory(rng, ZoneInfo(tz), site_id, starts)
    records: list[Record] = [] if first_ids is None else Records(first_ids=starts)
    with _gc_paused():
        for offset in range(days):
            day = start + dt.timedelta(days=offset)
            count = round(per_day * rng.uniform(0.9, 1.1))
            seconds = sorted(factory.num(0, 86_400) for _ in range(count))
            records.extend(factory.request(factory.local_ms(day, second)) for second in seconds)
    return records


@contextlib.contextmanager
def _gc_paused() -> Generator[None]:
    """Hold the cycle collector: records are acyclic, and its passes cost a third of the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def add_requests(  # noqa: PLR0913 - optional knobs, all keyword-only
    dataset: list[Record],
    n: int,
    day: dt.date,
    *,
    times: Sequence[dt.time] | None = None,
    seed: int = 0,
    tz: str = DEFAULT_TZ,
) -> list[Record]:
    """Append `n` requests created on local `day` (at `times` if given), as between two syncs."""
    if times is not None and len(times) != n:
        msg = f"times has {len(times)} entries, n is {n}"
        raise ValueError(msg)
    rng = random.Random(seed)
    site_id = dataset[0]["siteId"] if dataset else DEFAULT_SITE_ID
    factory = _Factory(rng, ZoneInfo(tz), site_id, _next_ids(dataset))
    if times is None:
        seconds = sorted(factory.num(0, 86_400) for _ in range(n))
    else:
        seconds = [t.hour * 3600 + t.minute * 60 + t.second for t in times]
    added = [factory.request(factory.local_ms(day, second)) for second in seconds]
    dataset.extend(added)
    return added


def add_order(
    dataset: list[Record],
    request_id: int,
    *,
    amount: str | float = "2800.0000",
    status: str = "PENDING",
) -> Record:
    """Attach a new deal to a request, as a CRM does days after the lead came in."""
    record = find_request(dataset, request_id)
    order_id = _next_ids(dataset)["order"]
    order = _order(order_id, record["date"] + 86_400_000, amount, status, record["session"])
    record["orders"].append(order)
    if record["order"] is None:
        record["order"] = order
    return order


def add_tag(dataset: list[Record], request_id: int, name: str, *, tag_type: str = "MANUAL") -> None:
    """Tag a request later, as a manager does in the Calltouch interface."""
    tag = {"category": name, "type": tag_type, "names": [name]}
    find_request(dataset, request_id)["RequestTags"].append(tag)


def find_request(dataset: list[Record], request_id: int) -> Record:
    """Return the record with this requestId, so helpers and tests can edit it."""
    for record in dataset:
        if record["requestId"] == request_id:
            return record
    raise KeyError(request_id)


class Records(list[Record]):
    """A list of records that owns a block of ids: `first_ids` are where its sequences start.

    `generate_sites` gives each site's journal its own block, so that the helpers that add
    records or deals (`add_requests`, `add_calls`, `add_order`, ...) continue inside it, and a
    site with no deals yet gets its first deal id from its block, not from another site's.
    """

    first_ids: dict[str, int]

    def __init__(self, records: Iterable[Record] = (), *, first_ids: Mapping[str, int]) -> None:
        """Hold `records`; `first_ids` has an entry for every id sequence of the journal."""
        super().__init__(records)
        self.first_ids = dict(first_ids)


def first_ids_of(records: list[Record], defaults: Mapping[str, int]) -> dict[str, int]:
    """Where a journal's id sequences start: its block's, or the single-site `defaults`."""
    return dict(records.first_ids) if isinstance(records, Records) else dict(defaults)


def _next_ids(dataset: list[Record]) -> dict[str, int]:
    """Continue every id sequence past what the dataset holds, so added records stay unique."""
    last = {kind: first - 1 for kind, first in first_ids_of(dataset, FIRST_IDS).items()}
    for record in dataset:
        last["request"] = max(last["request"], record["requestId"])
        last["client"] = max(last["client"], record["client"]["clientId"])
        for visit in record.get("mapVisits") or []:
            last["session"] = max(last["session"], visit["sessionId"])
        for comment in record["comments"]:
            last["comment"] = max(last["comment"], comment["commentId"])
        for order in record["orders"]:
            last["order"] = max(last["order"], order["orderId"])
    return {kind: value + 1 for kind, value in last.items()}


def _inserted(block: Record | None, *, after: str, key: str, value: Any) -> Record | None:
    """`block` with `key` placed right after `after`, as the API orders its keys."""
    if block is None:
        return None
    placed: Record = {}
    for name, item in block.items():
        placed[name] = item
        if name == after:
            placed[key] = value
    placed.setdefault(key, value)
    return placed


def _order(
    order_id: int, created_ms: int, amount: str | float, status: str, session: Record | None
) -> Record:
    """Shape one deal like the vendor's example, obsolete fields included."""
    created = created_ms // 1000 * 1000
    return {
        "orderId": order_id,
        "callId": None,
        "dateCreated": created,
        "status": status,
        "realSum": amount,
        "offered": None,
        "sent": dt.datetime.fromtimestamp(created // 1000, dt.timezone.utc).strftime("%d.%m.%Y"),
        "sum": amount,
        "isMarked": None,
        "commentsCount": 0,
        "currentAmount": round(float(amount)),
        "orderNumber": str(order_id),
        "orderSum": amount,
        "orderStatus": status,
        "orderComments": "",
        "session": session,
    }


class _Factory:
    """Makes records one by one from a seeded generator, continuing the given id sequences."""

    def __init__(
        self, rng: random.Random, zone: ZoneInfo, site_id: int, first_ids: dict[str, int]
    ) -> None:
        self.rng = rng
        self.zone = zone
        self.site_id = site_id
        self.ids: dict[str, Iterator[int]] = {k: itertools.count(v) for k, v in first_ids.items()}

    def pick(self, options: Sequence[Any]) -> Any:
        """Choose one option; faster than `random.choice`, and it runs 25 times a record."""
        return options[int(self.rng.random() * len(options))]

    def num(self, low: int, high: int) -> int:
        """Draw an int in [low, high), like `randrange`, only faster."""
        return low + int(self.rng.random() * (high - low))

    def chance(self, probability: float) -> bool:
        """Draw a yes with this probability, so shares read as plain numbers."""
        return self.rng.random() < probability

    def local_ms(self, day: dt.date, second: int) -> int:
        """Epoch ms of `second` seconds past local midnight of `day` (wall clock, DST-aware)."""
        wall = dt.datetime.combine(day, dt.time(), self.zone) + dt.timedelta(seconds=second)
        return int(wall.timestamp()) * 1000 + self.num(0, 1000)

    def local_str(self, ms: int) -> str:
        """Format epoch ms as the API's local `dd/mm/yyyy hh:mm:ss`."""
        t = dt.datetime.fromtimestamp(ms // 1000, self.zone)
        return f"{t.day:02}/{t.month:02}/{t.year} {t.hour:02}:{t.minute:02}:{t.second:02}"

    def request(self, created_ms: int) -> Record:
        """One full request; about 15% have no session, and then no visits, deals or ad data."""
        request_id = next(self.ids["request"])
        has_session = not self.chance(0.15)
        ct_client_id = self.num(10**18, 2 * 10**18) if has_session else None
        visits = self.visits(created_ms, ct_client_id) if has_session else []
        session = self.session(visits[-1]) if visits else None
        session_time = created_ms - self.num(20_000, 3 * 3_600_000) if visits else created_ms
        if visits:
            visits[-1]["sessionDate"] = self.local_str(session_time)
            # The real API sends the visit's time in `session` too (the vendor's example has
            # none), after `guaClientId` as in the captured request; 24-hour, as its visits.
            session = _inserted(
                session, after="guaClientId", key="sessionDate", value=visits[-1]["sessionDate"]
            )
        fio = self.pick(CLIENT_NAMES)
        phone = f"79{self.num(0, 10**9):09d}"
        widget = self.chance(0.2)
        orders = [
            _order(
                next(self.ids["order"]),
                created_ms + self.num(300_000, 10 * 86_400_000),
                *self.amount_and_status(),
                session,
            )
            for _ in range(self.pick((0, 0, 0, 0, 1, 2)) if session else 0)
        ]
        channel = (visits[-1]["source"], visits[-1]["medium"]) if visits else None
        return {
            "requestId": request_id,
            "requestNumber": self.request_number(request_id),
            "siteId": self.site_id,
            "date": created_ms,
            "dateStr": self.local_str(created_ms),
            "subject": self.pick(WIDGET_SUBJECTS if widget else SUBJECTS),
            "requestUrl": f"https://{DOMAIN}{self.pick(PAGES)}",
            "requestType": "CLIENT_ORDER",
            "status": self.pick(REQUEST_STATUSES),
            "manager": self.pick(MANAGERS) if self.chance(0.6) else None,
            "uniqueRequest": self.chance(0.8),
            "targetRequest": self.chance(0.7),
            "uniqTargetRequest": self.chance(0.6),
            "ctClientId": ct_client_id,
            "callbackPhone": phone,  # obsolete: not in the vendor's table
            "session": session,
            "client": self.client(fio, phone),
            "comments": self.comments(request_id),
            "orders": orders,
            "order": orders[0] if orders else None,
            "mapVisits": visits,
            "RequestTags": self.tags(),
            "yandexDirect": self.ad_ids("adId") if channel == ("yandex", "cpc") else None,
            "googleAdWords": self.ad_ids("creativeId") if channel == ("google", "cpc") else None,
            "dcm": self.dcm(),
            "widgetInfo": self.widget(fio, phone) if widget else None,
            "customFields": self.custom_fields(fio),
            SESSION_TIME: session_time,
        }

    def request_number(self, request_id: int) -> str | int:
        """The site's own id, or the Calltouch id; the type drifts to int in about 5%."""
        if self.chance(0.05):
            return request_id
        if self.chance(0.2):
            return f"site-{request_id % 10**7:07d}"
        return str(request_id)

    def visits(self, created_ms: int, ct_client_id: int | None) -> list[Record]:
        """The visitor's 1-3 visits, oldest first; the last one is the request's session."""
        count = self.pick((1, 1, 1, 1, 2, 3))
        earlier = sorted(
            (self.num(86_400_000, 20 * 86_400_000) for _ in range(count - 1)), reverse=True
        )
        visits = []
        for back_ms in [*earlier, 0]:
            source, medium, ref = self.pick(_CHANNEL_POOL)
            cpc = medium == "cpc"
            keyword = self.pick(CPC_KEYWORDS) if cpc else "(not set)"
            campaign = f"{source}_poisk_{self.pick(CITIES).replace(' ', '_')}"
            page = self.pick(PAGES)
            visit_ms = created_ms - back_ms
            visits.append(
                {
                    "utmSource": source if cpc else NOT_SET,
                    "sessionDate": self.local_str(visit_ms),
                    "city": self.pick(CITIES),
                    "ip": f"95.{self.num(0, 256)}.{self.num(0, 256)}.{self.num(0, 256)}/32",
                    "utmTerm": keyword if cpc else NOT_SET,
                    "utmContent": f"ad{self.num(0, 10**6)}" if cpc else NOT_SET,
                    "userAgent": self.pick(BROWSERS)[0],
                    "sessionId": next(self.ids["session"]),
                    "source": source,
                    "medium": medium,
                    "utmCampaign": campaign if cpc else NOT_SET,
                    "url": f"https://{DOMAIN}{page}"
                    + (
                        f"?utm_source={source}&utm_medium=cpc&utm_campaign={campaign}"
                        if cpc
                        else ""
                    ),
                    "ref": ref,
                    "additionalTags": [],
                    "utmMedium": medium if cpc else NOT_SET,
                    "guaClientId": f"{self.num(0, 10**9)}.{visit_ms // 1000}"
                    if self.chance(0.5)
                    else None,
                    "keyword": keyword,
                    "ctClientId": ct_client_id,
                    "ctGlobalId": self.num(10**9, 10**10),
                }
            )
        return visits

    def session(self, visit: Record) -> Record:
        """The request's session, built from its last visit plus device and attribution data."""
        ua, device, os_name, browser_name = _BROWSER_BY_UA[visit["userAgent"]]
        return {
            "keywords": visit["keyword"],
            "city": visit["city"],
            "ip": visit["ip"],
            "browser": ua,
            "device": device,
            "os": os_name,
            "browserName": browser_name,
            "source": visit["source"],
            "medium": visit["medium"],
            "ref": visit["ref"],
            "url": visit["url"],
            "utmSource": visit["utmSource"],
            "utmMedium": visit["utmMedium"],
            "utmTerm": visit["utmTerm"],
            "utmContent": visit["utmContent"],
            "utmCampaign": visit["utmCampaign"],
            "guaClientId": visit["guaClientId"],
            "yaClientId": str(self.num(10**18, 10**19)) if self.chance(0.7) else None,
            "ctGlobalId": visit["ctGlobalId"],
            "sessionId": visit["sessionId"],
            "additionalTags": [],
            "attribution": 1,
            "attrs": {"roistat": str(self.num(0, 10**5))} if self.chance(0.3) else None,
        }

    def client(self, fio: str, phone: str) -> Record:
        """The person who left the request: a phone always, an e-mail often."""
        contacts = [
            {
                "contactType": "EMAIL",
                "contactValue": f"{self.pick(LOGINS)}{self.num(0, 100)}@{self.pick(MAIL_DOMAINS)}",
            }
            for _ in range(self.chance(0.6))
        ]
        return {
            "fio": fio,
            "clientId": next(self.ids["client"]),
            "phones": [{"phoneNumber": phone, "phoneType": "OTHER"}],
            "contacts": contacts,
        }

    def comments(self, request_id: int) -> list[Record]:
        """Zero to three manager comments; some end in a newline, as the vendor warns."""
        comments = []
        for _ in range(self.pick((0, 0, 1, 2, 3))):
            party_id, party_name = self.pick(COMMENT_AUTHORS)
            comments.append(
                {
                    "commentId": next(self.ids["comment"]),
                    "requestId": request_id,
                    "comment": self.pick(COMMENTS),
                    "partyId": party_id,
                    "partyName": party_name,
                }
            )
        return comments

    def amount_and_status(self) -> tuple[str | float, str]:
        """A deal sum as a decimal string, or in about 5% as a number, since types drift."""
        rubles = self.num(5, 1500) * 100
        amount: str | float = float(rubles) if self.chance(0.05) else f"{rubles}.0000"
        return amount, self.pick(ORDER_STATUSES)

    def tags(self) -> list[Record]:
        """Zero to three tag entries; a `names` entry may hold several tags joined by commas."""
        tags = []
        for _ in range(self.pick((0, 1, 1, 2, 3))):
            name = self.pick(TAG_NAMES)
            tags.append(
                {"category": self.pick(("", name)), "type": self.pick(TAG_TYPES), "names": [name]}
            )
        return tags

    def ad_ids(self, ad_key: str) -> Record:
        """Yandex Direct (`adId`) or Google Ads (`creativeId`) campaign ids."""
        return {
            "campaignId": self.num(10**7, 10**8),
            "adGroupId": self.num(10**9, 10**12),
            ad_key: self.num(10**9, 10**10),
            "criteriaId": self.num(10**8, 10**10),
        }

    def dcm(self) -> list[Record]:
        """DoubleClick sends: usually none."""
        if self.chance(0.85):
            return []
        failed = self.chance(0.3)
        return [
            {
                "profileIdDCM": 1411789,
                "floodlightConfigurationId": "10355394",
                "floodlightActivityId": "10501143",
                "requestStatus": "ERROR" if failed else "SUCCESS",
                "requestErrors": "HTTP_AUTH_ERROR" if failed else None,
            }
        ]

    def widget(self, fio: str, phone: str) -> Record:
        """Fields left in a social or smart-request widget, the first one without type and title."""
        pretty = f"+7 ({phone[1:4]}) {phone[4:7]}-{phone[7:9]}-{phone[9:]}"
        return {
            "fields": [
                {"name": "Имя", "value": fio.split(maxsplit=1)[0]},
                {"name": "Номер телефона", "value": pretty, "type": "phone", "title": None},
            ]
        }

    def custom_fields(self, fio: str) -> list[Record]:
        """User-defined fields: often none."""
        if self.chance(0.6):
            return []
        return [{"field": "name", "value": fio}, {"field": "birthday", "value": "1990-01-01"}]
