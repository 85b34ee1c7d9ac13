-- `leads_daily` loses and invents nothing: its totals equal those of `leads`.
with daily as (

    select sum(leads) as leads, sum(deals) as deals, sum(revenue) as revenue
    from {{ ref('leads_daily') }}

),

per_lead as (

    select count(*) as leads, sum(deals) as deals, sum(revenue) as revenue
    from {{ ref('leads') }}

)

select
    daily.leads as daily_leads, per_lead.leads as leads,
    daily.revenue as daily_revenue, per_lead.revenue as revenue
from daily cross join per_lead
where daily.leads <> per_lead.leads
    or daily.deals <> per_lead.deals
    or daily.revenue <> per_lead.revenue
