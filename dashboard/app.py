"""Calltouch leads: the page a marketing lead or an account manager looks at.

`streamlit run dashboard/app.py` (./scripts/dashboard does it) over the dbt models
`analytics.leads_daily` and `analytics.leads`, from the database CALLTOUCH_DASHBOARD_DATABASE
names: the period's totals, leads per day by source, calls against requests, and which sources
and campaigns bring deals and revenue, for one site or all.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts dashboard/, not the repository, on the path
    sys.path.insert(0, str(ROOT))

import datetime as dt  # noqa: E402
import os  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import altair as alt  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from dashboard import formatting as fmt  # noqa: E402
from dashboard import warehouse as wh  # noqa: E402

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

LATEST_HEADINGS = {
    "created_at": "Created (UTC)",
    "lead_type": "Type",
    "source": "Source",
    "campaign": "Campaign",
    "keyword": "Keyword",
    "city": "City",
    "manager": "Manager",
    "deals": "Deals",
    "revenue": "Revenue",
}
NAMED_SITES = 5  # "All sites" names them up to this many
TOP_SOURCES = 9  # the chart's colours; smaller sources are summed as one
OTHER = "other sources"


def main() -> None:
    """The whole page; what is missing is said in place of it."""
    st.set_page_config(page_title="Calltouch leads", page_icon="📞", layout="wide")
    database = wh.database_from(wh.database_spec(), os.environ, ROOT)
    try:
        with wh.connect(database) as connection:
            shape = wh.check_loaded(connection, database)
            page(connection, shape, database)
    except wh.NotLoaded as missing:
        st.title("Calltouch leads")
        st.info(missing.message)
        if missing.command:
            st.markdown("Run this, then reload the page:")
            st.code(missing.command, language="bash")


def page(connection: wh.Connection, shape: wh.Shape, database: wh.Database) -> None:
    """Filters in the sidebar, then totals, charts and tables for what they select."""
    filters, sites = sidebar(connection, shape, database)
    st.title("Calltouch leads")
    site = st.session_state.get("site", wh.ALL_SITES)
    if site == wh.ALL_SITES and 1 < len(sites) <= NAMED_SITES:
        site = f"{len(sites)} sites: {', '.join(sites)}"
    st.caption(
        f"{site} · {filters.first_day:%d.%m.%Y} – {filters.last_day:%d.%m.%Y} · "
        + (", ".join(filters.sources) if filters.sources else "all sources")
    )
    total = wh.totals(connection, filters)
    show_totals(total)
    if not total.leads:
        st.info("No leads in this selection: widen the dates or pick other sources.")
        return
    days = [
        (day, source, figures)
        for (day, source), figures in wh.breakdown(connection, filters, ("day", "source"))
    ]
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Leads per day, by source")
        st.altair_chart(leads_chart(days), width="stretch")
    with right:
        st.subheader("Calls and requests per day")
        st.altair_chart(kinds_chart(days), width="stretch")
    st.subheader("Sources")
    st.table(styled(wh.breakdown(connection, filters, ("source",)), ["Source"]))
    st.subheader("Campaigns")
    st.dataframe(
        styled(wh.breakdown(connection, filters, ("source", "campaign")), ["Source", "Campaign"]),
        hide_index=True,
        width="stretch",
    )
    with st.expander("Latest leads of this selection (from analytics.leads)"):
        names, rows = wh.latest_leads(connection, filters, shape)
        frame = pd.DataFrame(rows, columns=[LATEST_HEADINGS.get(name, name) for name in names])
        st.dataframe(
            frame.style.format({"Revenue": fmt.money}, na_rep=""),
            hide_index=True,
            width="stretch",
        )


def sidebar(
    connection: wh.Connection, shape: wh.Shape, database: wh.Database
) -> tuple[wh.Filters, list[str]]:
    """Site, dates and sources, from what is loaded; and every site's label."""
    first, last = wh.day_range(connection)
    sites = wh.sites(connection, shape)
    by_label = {site.label: site.site_id for site in sites}
    with st.sidebar:
        st.header("Filters")
        label = st.selectbox("Site", [wh.ALL_SITES, *by_label], key="site")
        chosen = st.date_input(
            "Days (the account's time zone)",
            value=(first, last),
            min_value=first,
            max_value=last,
            format="DD.MM.YYYY",
            key="days",
        )
        picked = st.multiselect(
            "Sources", wh.sources(connection), key="sources", placeholder="All sources"
        )
        st.caption(f"Reading {database.label}, read-only.")
    first_day, last_day = day_span(chosen, first, last)
    filters = wh.Filters(first_day, last_day, by_label.get(str(label)), tuple(picked))
    return filters, list(by_label)


def day_span(chosen: object, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    """The date input's value as a range; one day while the second is being picked."""
    if isinstance(chosen, dt.date):
        return chosen, chosen
    items = chosen if isinstance(chosen, (tuple, list)) else ()
    picked = [day for day in items if isinstance(day, dt.date)]
    if not picked:
        return first, last
    return picked[0], picked[-1]


def show_totals(total: wh.Totals) -> None:
    """Leads, calls and requests apart, target leads, deals, revenue."""
    cells = st.columns([1, 1, 1, 1, 1, 2])  # revenue: the widest figure
    cells[0].metric("Leads", fmt.count(total.leads), help="calls + web requests")
    cells[1].metric("Calls", fmt.count(total.calls))
    cells[2].metric("Requests", fmt.count(total.requests), help="web forms (заявки)")
    cells[3].metric(
        "Target leads",
        fmt.count(total.target_leads),
        help="Calltouch's target flag",
    )
    cells[4].metric("Deals", fmt.count(total.deals))
    cells[5].metric("Revenue", fmt.money(total.revenue), help="deal budgets, calls and requests")
    per_lead = fmt.per_lead(total.revenue, total.leads)
    st.caption(
        f"Target share {fmt.share(total.target_leads, total.leads)} · "
        f"revenue per lead {fmt.money(per_lead) if per_lead is not None else fmt.NOTHING}"
    )


def leads_chart(days: list[tuple[dt.date, str, wh.Totals]]) -> alt.Chart:
    """Stacked bars: leads per day, one colour per source, the smallest summed as one."""
    frame = pd.DataFrame(
        [(day, source, figures.leads) for day, source, figures in days],
        columns=["day", "source", "leads"],
    )
    ranked = frame.groupby("source")["leads"].sum().sort_values(ascending=False)
    top = list(ranked.index[:TOP_SOURCES])
    if len(ranked) > TOP_SOURCES:
        frame["source"] = frame["source"].where(frame["source"].isin(top), OTHER)
        top.append(OTHER)
    frame = frame.groupby(["day", "source"], as_index=False)["leads"].sum()
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("day:T", title=None, axis=alt.Axis(format="%d.%m")),
            y=alt.Y("leads:Q", title="leads", stack="zero"),
            color=alt.Color("source:N", sort=top, title="source"),
            order=alt.Order("rank:Q"),
            tooltip=[
                alt.Tooltip("day:T", format="%d.%m.%Y"),
                "source:N",
                alt.Tooltip("leads:Q", format=","),
            ],
        )
        .transform_calculate(rank=f"indexof({top!r}, datum.source)")
        .properties(height=320)
    )
    return chart


def kinds_chart(days: list[tuple[dt.date, str, wh.Totals]]) -> alt.Chart:
    """Two lines: calls and web requests per day."""
    frame = pd.DataFrame(
        [(day, figures.calls, figures.requests) for day, _, figures in days],
        columns=["day", "calls", "requests"],
    )
    per_day = frame.groupby("day", as_index=False)[["calls", "requests"]].sum()
    long = per_day.melt("day", var_name="kind", value_name="leads")
    chart: alt.Chart = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("day:T", title=None, axis=alt.Axis(format="%d.%m")),
            y=alt.Y("leads:Q", title="leads"),
            color=alt.Color("kind:N", title=None),
            tooltip=[
                alt.Tooltip("day:T", format="%d.%m.%Y"),
                "kind:N",
                alt.Tooltip("leads:Q", format=","),
            ],
        )
        .properties(height=320)
    )
    return chart


FIGURE_COLUMNS = (
    "Leads",
    "Calls",
    "Requests",
    "Target share",
    "Deals",
    "Revenue",
    "Revenue per lead",
)


def styled(rows: list[tuple[tuple[Any, ...], wh.Totals]], keys: list[str]) -> Styler:
    """Leads, calls, requests, target share, deals, revenue and revenue per lead per key.

    Exact underneath (ints, Decimals), formatted for people on the page.
    """
    frame = pd.DataFrame(
        [
            (
                *key,
                figures.leads,
                figures.calls,
                figures.requests,
                figures.target_leads / figures.leads if figures.leads else None,
                figures.deals,
                figures.revenue,
                fmt.per_lead(figures.revenue, figures.leads),
            )
            for key, figures in rows
        ],
        columns=[*keys, *FIGURE_COLUMNS],
    )
    counts = dict.fromkeys(("Leads", "Calls", "Requests", "Deals"), fmt.count)
    styler: Styler = frame.style.format(
        {
            **counts,
            "Target share": lambda value: f"{100 * value:.1f}%",
            "Revenue": fmt.money,
            "Revenue per lead": fmt.money,
        },
        na_rep=fmt.NOTHING,
    )
    return styler


main()
