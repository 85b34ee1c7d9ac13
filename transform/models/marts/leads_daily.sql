-- Calls, requests, deals and revenue per site, the site's local day, source, medium and
-- campaign: the table to point a BI tool at. Missing attribution reads '(not set)'.
with attributed as (

    -- Labelled first, grouped below: ClickHouse would read `source` in a GROUP BY as the
    -- label of the same name, which PostgreSQL and DuckDB read as the column.
    select
        site_id,
        site_name,
        created_date_local,
        coalesce(source, '(not set)') as source,
        coalesce(medium, '(not set)') as medium,
        coalesce(campaign, '(not set)') as campaign,
        lead_type,
        is_unique,
        is_target,
        deals,
        revenue
    from {{ ref('leads') }}

)

select
    site_id,
    site_name,
    created_date_local,
    source,
    medium,
    campaign,
    cast(sum(case when lead_type = 'call' then 1 else 0 end) as bigint) as calls,
    cast(sum(case when lead_type = 'call' and is_unique then 1 else 0 end) as bigint)
        as unique_calls,
    cast(sum(case when lead_type = 'call' and is_target then 1 else 0 end) as bigint)
        as target_calls,
    cast(sum(case when lead_type = 'request' then 1 else 0 end) as bigint) as requests,
    cast(count(*) as bigint) as leads,
    cast(sum(case when is_target then 1 else 0 end) as bigint) as target_leads,
    cast(sum(deals) as bigint) as deals,
    cast(sum(revenue) as {{ money_type() }}) as revenue
from attributed
group by site_id, site_name, created_date_local, source, medium, campaign
