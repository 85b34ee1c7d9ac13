"""The sites (Calltouch cabinets) one run reads: from `site_id` alone or from a `sites` list.

Agencies keep dozens of sites under a few logins; each entry of `sites` may bring its own
token, name and time zone, and falls back to the top-level `api_token` and `timezone`. Pure
functions of the config dict: no SDK, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tap_calltouch.redact import redact_registered, shorten

DEFAULT_TIMEZONE = "Europe/Moscow"


def zone_named(name: object) -> ZoneInfo | None:
    """The IANA time zone of that name, or None when there is none.

    A folder of the zone database (`Europe`) is no zone either: read from the `tzdata`
    package it raises IsADirectoryError rather than ZoneInfoNotFoundError.
    """
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError, OSError):
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


SITE_ID_PATTERN = r"^\d+$"  # the schema's, as `jsonschema` applies it: Python's `re`
MAX_SITE_ID = 2**63 - 1  # `siteId` is a 64-bit integer in every record and warehouse
_MAX_DIGITS = len(str(MAX_SITE_ID))


def site_number(value: object) -> int | None:
    """The site id a `site_id` value names, compared as a number (`012345` is site 12345).

    None unless it is a string of digits naming a site from 1 to MAX_SITE_ID; the length is
    checked first, as `int()` refuses strings of more than 4300 digits with an error of its own.
    """
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    digits = value.lstrip("0")
    if not digits or len(digits) > _MAX_DIGITS or int(digits) > MAX_SITE_ID:
        return None
    return int(digits)


def sites_of(config: dict[str, Any]) -> list[Site]:
    """The sites a valid config asks for, in the order given, their ids as numbers."""
    zone = str(config.get("timezone") or DEFAULT_TIMEZONE)
    token = str(config.get("api_token") or "")
    if config.get("sites") is None:
        return [Site(_valid_id(config["site_id"]), token, zone)]
    return [
        Site(
            _valid_id(entry["site_id"]),
            str(entry.get("api_token") or token),
            str(entry.get("timezone") or zone),
            entry.get("name"),
            named=True,
        )
        for entry in config["sites"]
    ]


def _valid_id(value: object) -> int:
    number = site_number(value)
    if number is None:  # pragma: no cover - validation refused the config before
        msg = "a site_id that validation refused"
        raise ValueError(msg)
    return number


SITE_ID_RULE = f"a Calltouch site id is digits, a number from 1 to {MAX_SITE_ID}"


def site_problems(config: dict[str, Any]) -> list[str]:
    """What is wrong with the choice of sites, each message naming the setting and the site.

    Run even when the schema failed, so it takes any JSON for `sites` and its entries
    without failing; wrong types (a string, a list of ids, an entry that is no object) are
    left to the schema's own message, which names `sites`, and so said once. Values are not
    echoed: a misplaced token could be among them.
    """
    sites = config.get("sites")
    if sites is None:
        return _single_site_problems(config)
    if config.get("site_id"):
        return ["sites: set either `site_id` or `sites`, not both"]
    if not isinstance(sites, list):
        return []  # the schema's "is not of type 'array'"
    if not sites:
        return ["sites: the list is empty; give at least one site"]
    errors: list[str] = []
    seen: dict[int, int] = {}  # site id -> the entry that listed it first
    for number, entry in enumerate(sites, 1):
        errors += _entry_problems(number, entry, config, seen)
    return errors


def _entry_problems(
    number: int, entry: object, config: dict[str, Any], seen: dict[int, int]
) -> list[str]:
    """What is wrong with one entry of `sites`; records its id in `seen`."""
    if not isinstance(entry, dict):
        return []  # the schema's "is not of type 'object'"
    errors = []
    site = site_number(entry.get("site_id"))
    where = f"sites[{number}]" + (f" (site {site})" if site else "")
    if site is None and _schema_lets_through(entry.get("site_id")):
        errors.append(f"{where}: site_id: {SITE_ID_RULE}")
    if site is not None and site in seen:
        errors.append(
            f"{where}: site_id {site} is listed twice, as sites[{seen[site]}] too "
            "(ids are compared as numbers: 012345 is 12345)"
        )
    if site is not None:
        seen.setdefault(site, number)
    if not entry.get("api_token") and not config.get("api_token"):
        errors.append(f"{where}: no api_token, and no top-level `api_token` to fall back on")
    zone = entry.get("timezone")
    if isinstance(zone, str) and zone and zone_named(zone) is None:
        shown = shorten(redact_registered(zone), _SHOWN)  # masked first: a cut hides a token
        errors.append(f"{where}: timezone {shown!r} is not an IANA zone")
    return errors


_SHOWN = 64  # longest time zone name echoed back in a message


def _single_site_problems(config: dict[str, Any]) -> list[str]:
    errors = []
    site_id = config.get("site_id")
    if not site_id:
        errors.append("site_id: set `site_id`, or list `sites`")
    elif site_number(site_id) is None and _schema_lets_through(site_id):
        errors.append(f"site_id: {SITE_ID_RULE}")
    if not config.get("api_token"):
        errors.append("api_token: required")
    return errors


def _schema_lets_through(site_id: object) -> bool:
    r"""Whether the schema's pattern passed a site id that is no site all the same.

    Zero, too many digits, or non-ASCII digits (Python's `\d` matches them); the schema's
    own message covers every other value.
    """
    return isinstance(site_id, str) and re.search(SITE_ID_PATTERN, site_id) is not None


def failure_summary(sites: list[Site], failures: dict[int, str]) -> str:
    """One message naming each site that stopped, and why."""
    failed = [site for site in sites if site.site_id in failures]
    then = "the next run continues each site from its own bookmark:"
    if len(failed) < len(sites):
        then = f"the others completed, with their state saved, and {then}"
    lines = [f"{len(failed)} of {len(sites)} site(s) stopped; {then}"]
    lines += [f"  {site}: {failures[site.site_id]}" for site in failed]
    return "\n".join(lines)
