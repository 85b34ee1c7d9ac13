"""How a run in which some sites stopped ends: failing, or logged for a check downstream.

The stream that syncs last of those that report (the last journal, `sites` or `site_runs`)
ends the run with one message naming each stopped site and why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tap_calltouch.errors import SitesFailedError
from tap_calltouch.sites import failure_summary

if TYPE_CHECKING:
    from singer_sdk import Stream

    from tap_calltouch.sites import Site


def reported_later(stream: Stream) -> bool:
    """Whether a selected stream that reports stopped sites (`site_runs`, `sites`) syncs later."""
    names = list(stream._tap.streams)  # noqa: SLF001 - the tap the stream belongs to
    later = [stream._tap.streams[name] for name in names[names.index(stream.name) + 1 :]]  # noqa: SLF001
    return any(getattr(s, "reports_stopped_sites", False) and s.selected for s in later)


def stops_fail(stream: Stream, sites: list[Site], failures: dict[int, str]) -> bool:
    """Whether the sites stopped in a run fail it.

    As `fail_on_stopped_sites` says, but always when every site of a run without `shard`
    stopped: it read nothing (a wrong token, `meltano config test`), and there are no other
    sites' reports to rebuild. A shard is one share of a longer list, whose other shards'
    sites the job's dbt step still rebuilds. And always when `site_runs` is not selected: no
    check downstream could then see the stopped sites, and the run would pass for complete.
    """
    config = stream.config
    if config.get("fail_on_stopped_sites", True) or not records_outcomes(stream):
        return True
    every = all(site.site_id in failures for site in sites)
    return every and config.get("shard") is None


def records_outcomes(stream: Stream) -> bool:
    """Whether a selected stream of the run records each site's outcome (`site_runs`)."""
    streams = stream._tap.streams.values()  # noqa: SLF001 - the tap the stream belongs to
    return any(getattr(s, "records_site_outcomes", False) and s.selected for s in streams)


def report_stopped_sites(stream: Stream, sites: list[Site], failures: dict[int, str]) -> None:
    """End a run in which sites stopped: fail it, or with `fail_on_stopped_sites` false log it.

    Logged as an error, so cron's mail and Meltano's log show it; the exit stays 0, so the
    loader commits and the job's dbt step rebuilds the other sites' reports.
    """
    summary = failure_summary(sites, failures)
    if stops_fail(stream, sites, failures):
        if stream.config.get("fail_on_stopped_sites", True) is False and not records_outcomes(
            stream
        ):
            summary += (
                "\nfail_on_stopped_sites is false, but `site_runs` is not selected to record them"
            )
        raise SitesFailedError(summary)
    stream.logger.error(
        "%s\nfail_on_stopped_sites is false: the run exits 0; `site_runs` records the stopped "
        "sites and dbt's test `no_site_stopped` fails on them",
        summary,
    )


def end_if_every_site_stopped(stream: Stream, sites: list[Site], failures: dict[int, str]) -> None:
    """End the run at once when every site has stopped: nothing is left to read.

    Unless stopped sites do not fail the run (a shard's, see `stops_fail`): then the run goes
    on to its end (calling for no stopped site), where `site_runs` records them and the report
    is logged.
    """
    if all(site.site_id in failures for site in sites) and stops_fail(stream, sites, failures):
        raise SitesFailedError(failure_summary(sites, failures))
