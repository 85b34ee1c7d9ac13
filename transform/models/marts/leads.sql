-- One row per lead: every call and every web request, with its site, attribution and deals.
-- Each deal counts once, on the lead it was last loaded with (stg_calltouch__deals); deals are
-- aggregated per lead before the join (one row per lead on each side), so a lead's revenue is
-- the sum of its own deals, never multiplied by a join fan-out. created_date_local is the
-- lead's day in its own site's zone (the `sites` model).
with deals as (

    select
        lead_type,
        lead_id,
        count(*) as deals,
        sum(amount) as revenue,
        min(created_at) as first_deal_at
    from {{ ref('stg_calltouch__deals') }}
    group by lead_type, lead_id

),

{% set columns = [
    'site_id', 'created_at', 'source', 'medium', 'campaign', 'keyword',
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
    left join deals as d on d.lead_type = 'call' and d.lead_id = c.call_id

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
    left join deals as d on d.lead_type = 'request' and d.lead_id = r.request_id

),

unioned as (

    select * from calls
    union all
    select * from requests

)

select
    concat(u.lead_type, ':', cast(u.lead_id as {{ dbt.type_string() }})) as lead_key,
    u.lead_type,
    u.lead_id,
    u.site_id,
    s.site_name,
    u.created_at,
    {{ local_date('u.created_at', "coalesce(s.timezone, '" ~ calltouch_timezone() ~ "')") }}
        as created_date_local,
    {% for column in columns if column not in ('site_id', 'created_at') %}u.{{ column }},
    {% endfor -%}
    u.deals,
    cast(u.revenue as {{ money_type() }}) as revenue,
    u.first_deal_at
from unioned as u
left join {{ ref('sites') }} as s on s.site_id = u.site_id
