-- One row per lead: every call and every web request, with its attribution and its deals.
-- Deals are aggregated per lead before the join (one row per lead on each side), so a lead's
-- revenue is the sum of its own deals, never multiplied by a join fan-out.
with request_deals as (

    select
        request_id,
        count(*) as deals,
        sum(amount) as revenue,
        min(created_at) as first_deal_at
    from {{ ref('stg_calltouch__request_deals') }}
    group by request_id

),

call_deals as (

    select
        call_id,
        count(*) as deals,
        sum(amount) as revenue,
        min(created_at) as first_deal_at
    from {{ ref('stg_calltouch__call_deals') }}
    group by call_id

),

{% set columns = [
    'site_id', 'created_at', 'created_date_local', 'source', 'medium', 'campaign', 'keyword',
    'utm_source', 'utm_medium', 'utm_term', 'utm_content', 'landing_url', 'city', 'manager',
    'is_unique', 'is_target', 'is_unique_target',
] %}

calls as (

    select
        'call' as lead_type,
        c.call_id as lead_id,
        {% for column in columns %}c.{{ column }},
        {% endfor -%}
        cast(coalesce(d.deals, 0) as bigint) as deals,
        coalesce(d.revenue, {{ zero_money() }}) as revenue,
        d.first_deal_at
    from {{ ref('stg_calltouch__calls') }} as c
    left join call_deals as d on d.call_id = c.call_id

),

requests as (

    select
        'request' as lead_type,
        r.request_id as lead_id,
        {% for column in columns %}r.{{ column }},
        {% endfor -%}
        cast(coalesce(d.deals, 0) as bigint) as deals,
        coalesce(d.revenue, {{ zero_money() }}) as revenue,
        d.first_deal_at
    from {{ ref('stg_calltouch__requests') }} as r
    left join request_deals as d on d.request_id = r.request_id

),

unioned as (

    select * from calls
    union all
    select * from requests

)

select
    concat(lead_type, ':', cast(lead_id as {{ dbt.type_string() }})) as lead_key,
    lead_type,
    lead_id,
    {% for column in columns %}{{ column }},
    {% endfor -%}
    deals,
    cast(revenue as {{ money_type() }}) as revenue,
    first_deal_at
from unioned
