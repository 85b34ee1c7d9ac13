"""The sites (Calltouch cabinets) one run reads: from `site_id` alone or from a `sites` list.

Agencies keep dozens of sites under a few logins; each entry of `sites` may bring its own
token, name and time zone, and falls back to the top-level `api_token` and `timezone`. Pure
functions of the config dict: no SDK, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Europe/Moscow"


def zone_named(name: object) -> ZoneInfo | None:
    """The IANA time zone of that name, or None when there is none."""
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class Site:
    """One site to read, with the token and time zone its calls use."""

    site_id: int
    token: str = field(repr=False)  # never in a repr, a log line or an error text
    timezone: str = DEFAULT_TIMEZONE
    name: str | None = None
    named: bool = False  # one of several: log lines and errors say which

    @property
    def zone(self) -> ZoneInfo:
        """The site's time zone, in which the API reads dates."""
        return ZoneInfo(self.timezone)

    def __str__(self) -> str:
        """`site 12345 (Brand)`, as log lines and error summaries name it."""
        return f"site {self.site_id}" + (f" ({self.name})" if self.name else "")


def sites_of(config: dict[str, Any]) -> list[Site]:
    """The sites a valid config asks for, in the order given."""
    zone = str(config.get("timezone") or DEFAULT_TIMEZONE)
    token = str(config.get("api_token") or "")
    if config.get("sites") is None:
        return [Site(int(config["site_id"]), token, zone)]
    return [
        Site(
            int(entry["site_id"]),
            str(entry.get("api_token") or token),
            str(entry.get("timezone") or zone),
            entry.get("name"),
            named=True,
        )
        for entry in config["sites"]
    ]


def site_problems(config: dict[str, Any]) -> list[str]:
    """What is wrong with the choice of sites, each message naming the setting and the site."""
    sites = config.get("sites")
    if sites is None:
        missing = [] if config.get("site_id") else ["site_id: set `site_id`, or list `sites`"]
        return missing + ([] if config.get("api_token") else ["api_token: required"])
    if config.get("site_id"):
        return ["sites: set either `site_id` or `sites`, not both"]
    if not sites:
        return ["sites: the list is empty; give at least one site"]
    errors: list[str] = []
    seen: set[str] = set()
    for number, entry in enumerate(sites, 1):
        site = str(entry.get("site_id"))
        where = f"sites[{number}] (site {site})"
        if site in seen:
            errors.append(f"{where}: site_id {site} is listed twice")
        seen.add(site)
        if not entry.get("api_token") and not config.get("api_token"):
            errors.append(f"{where}: no api_token, and no top-level `api_token` to fall back on")
        if entry.get("timezone") and zone_named(entry["timezone"]) is None:
            errors.append(f"{where}: timezone {entry['timezone']!r} is not an IANA zone")
    return errors


def failure_summary(sites: list[Site], failures: dict[int, str]) -> str:
    """One message naming each site that stopped, and why."""
    failed = [site for site in sites if site.site_id in failures]
    then = "the next run continues each site from its own bookmark:"
    if len(failed) < len(sites):
        then = f"the others completed, with their state saved, and {then}"
    lines = [f"{len(failed)} of {len(sites)} site(s) stopped; {then}"]
    lines += [f"  {site}: {failures[site.site_id]}" for site in failed]
    return "\n".join(lines)
