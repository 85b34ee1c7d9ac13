"""Who may read what: the sites an emulator serves, the tokens that read them, their points.

One site, one token, as ever (`given_sites` checks which of the two was given):

    Emulator(dataset=requests, calls=calls, token="tok", site_id=12345, tz="Europe/Moscow")

Many sites (an agency's cabinets) under a few tokens, each site with its own records, zone
and points budget (`sites.Site`, made by hand or by `sites.generate_sites`):

    Emulator(
        sites=[Site(101, requests=[...], calls=[...], tz="Asia/Novosibirsk"), Site(102), ...],
        tokens={"tok-a": {101, 102}, "tok-b": {103}},
    )

A call is admitted when it is a GET with a known token, not revoked, that serves the site the
call names exactly as its id prints, and the site has points left; a token asking for a site
it does not serve, in either journal, is refused as a wrong token is (`denied_status`, 403 or
401, `ACCESS_DENIED`). Each successful call spends one of its site's daily points, whichever
journal it asked. At run time `revoke(token)` refuses every call of a token and
`restore(token)` lets it in again; `exhaust(site_id)` spends a site's points for the day (its
calls then get the points error, other sites still answer) and `refill()` starts a new day.
"""

from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING

from tests.emulator.dataset import DEFAULT_SITE_ID, DEFAULT_TZ
from tests.emulator.responses import json_error, points_error
from tests.emulator.sites import Site

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from zoneinfo import ZoneInfo

    from werkzeug.wrappers import Request, Response

    from tests.emulator.dataset import Record

CLIENT_API_ID = "clientApiId"  # the token parameter


def given_sites(  # noqa: PLR0913, PLR0917 - the single-site arguments of `Emulator`, checked together
    dataset: list[Record] | None,
    token: str | None,
    site_id: int | None,
    tz: str | None,
    calls: list[Record] | None,
    points_budget: int | None,
    sites: Iterable[Site] | None,
    tokens: Mapping[str, Iterable[int]] | None,
) -> tuple[Iterable[Site], Mapping[str, Iterable[int]]]:
    """The sites and tokens, from one site's arguments or many sites' (not a mix of both)."""
    if sites is None:
        if dataset is None or token is None or tokens is not None:
            msg = "give dataset= and token= for one site, or sites= and tokens= for many"
            raise ValueError(msg)
        site_id = DEFAULT_SITE_ID if site_id is None else site_id
        calls = [] if calls is None else calls
        return [Site(site_id, dataset, calls, tz or DEFAULT_TZ, points_budget)], {token: {site_id}}
    if tokens is None or any(
        given is not None for given in (dataset, token, site_id, tz, calls, points_budget)
    ):
        msg = "with sites=, give tokens= and set data, zone and budget on each Site"
        raise ValueError(msg)
    return sites, tokens


class Accounts:
    """The sites and the tokens that read them, with access and points tests change at run time.

    The single-site attributes (`dataset`, `call_records`, `token`, `site_id`, `zone`,
    `points_budget`) are the first site's and the first token's.
    """

    def __init__(
        self, sites: Iterable[Site], tokens: Mapping[str, Iterable[int]], denied_status: int = 403
    ) -> None:
        """Serve `sites`, each to the tokens that name it; refuse others with `denied_status`."""
        self.sites: dict[int, Site] = {}
        for site in sites:
            if site.site_id in self.sites:
                msg = f"site {site.site_id} is given twice"
                raise ValueError(msg)
            self.sites[site.site_id] = site
        self.tokens: dict[str, set[int]] = {name: set(ids) for name, ids in tokens.items()}
        if unknown := set().union(*self.tokens.values()) - self.sites.keys():
            msg = f"tokens name sites the emulator does not serve: {sorted(unknown)}"
            raise ValueError(msg)
        self.denied_status = denied_status  # a wrong token or site: 403, sometimes 401
        self._access_lock = threading.Lock()
        self._points_spent: collections.Counter[int] = collections.Counter()
        self._exhausted: set[int] = set()  # sites whose points `exhaust` spent
        self._revoked: dict[str, int] = {}  # token -> the status its calls now get

    # --- the single-site view: the first site and the first token --------------------------------

    @property
    def first_site(self) -> Site:
        """The site given first (the only one, for a single-site emulator)."""
        return next(iter(self.sites.values()))

    @property
    def dataset(self) -> list[Record]:
        """The first site's requests."""
        return self.first_site.requests

    @dataset.setter
    def dataset(self, records: list[Record]) -> None:
        self.first_site.requests = records

    @property
    def call_records(self) -> list[Record]:
        """The first site's calls."""
        return self.first_site.calls

    @call_records.setter
    def call_records(self, records: list[Record]) -> None:
        self.first_site.calls = records

    @property
    def site_id(self) -> int:
        """The first site's id."""
        return self.first_site.site_id

    @property
    def zone(self) -> ZoneInfo:
        """The first site's zone."""
        return self.first_site.zone

    @property
    def points_budget(self) -> int | None:
        """The first site's daily points budget."""
        return self.first_site.points_budget

    @points_budget.setter
    def points_budget(self, budget: int | None) -> None:
        self.first_site.points_budget = budget

    @property
    def token(self) -> str:
        """The first token."""
        return next(iter(self.tokens))

    # --- access and points at run time, for tests -----------------------------------------------

    def revoke(self, token: str, *, status: int | None = None) -> None:
        """Refuse every call of `token`, for every site, with `status` (`denied_status`)."""
        if token not in self.tokens:
            raise KeyError(token)
        with self._access_lock:
            self._revoked[token] = self.denied_status if status is None else status

    def restore(self, token: str) -> None:
        """Let a revoked token in again, to the sites it served."""
        if token not in self.tokens:
            raise KeyError(token)
        with self._access_lock:
            self._revoked.pop(token, None)

    def exhaust(self, site_id: int) -> None:
        """Spend a site's points for the day: its calls get the points error until `refill`."""
        if site_id not in self.sites:
            raise KeyError(site_id)
        with self._access_lock:
            self._exhausted.add(site_id)

    def refill(self, site_id: int | None = None) -> None:
        """A new day: give one site (or every site) its whole points budget again."""
        with self._access_lock:
            for site in self.sites if site_id is None else [site_id]:
                self._points_spent.pop(site, None)
                self._exhausted.discard(site)

    def points_spent(self, site_id: int) -> int:
        """How many points a site spent today (successful calls over both journals)."""
        with self._access_lock:
            return self._points_spent[site_id]

    # --- judging a call ------------------------------------------------------------------------

    def admitted_site(self, request: Request, named: str | None) -> Site | Response:
        """The site a call may read, or why not: no GET, a bad token or site, no points left.

        A token is bad when unknown, revoked, or not this site's. Each journal says where a
        call names its site (`Journal.site_named`).
        """
        if request.method != "GET":
            return json_error(405, "METHOD_NOT_ALLOWED", "Only GET is supported")
        token = request.args.get(CLIENT_API_ID)
        site = self._site_named(named)
        with self._access_lock:
            revoked = self._revoked.get(token) if token is not None else None
        if revoked is not None:
            return json_error(revoked, "ACCESS_DENIED", "Invalid clientApiId or siteId")
        if token not in self.tokens or site is None or site.site_id not in self.tokens[token]:
            return json_error(self.denied_status, "ACCESS_DENIED", "Invalid clientApiId or siteId")
        with self._access_lock:
            if not self._points_left(site):
                return points_error()
        return site

    def spend_point(self, site: Site) -> bool:
        """Charge one successful call against the site's budget; False when it is spent."""
        with self._access_lock:
            if not self._points_left(site):
                return False
            self._points_spent[site.site_id] += 1
            return True

    def _site_named(self, named: str | None) -> Site | None:
        """The site a call names, exactly as its id prints ("012345" or " 12345" name none)."""
        if named is None or not (named.isascii() and named.isdigit()):
            return None
        site = self.sites.get(int(named))
        return site if site is not None and str(site.site_id) == named else None

    def _points_left(self, site: Site) -> bool:
        """Whether a site may still spend a point today; call it holding `_access_lock`."""
        if site.site_id in self._exhausted:
            return False
        budget = site.points_budget
        return budget is None or self._points_spent[site.site_id] < budget
