-- One row per site: each site the `sites` stream lists, and any other site a call or request
-- names. The site dimension of every report: its name, and the zone its local days are
-- counted in.
--   site_name: the name given in the tap's `sites`, else the siteName of the site's latest
--              call, else the site id as text (never null, so a report always has a label).
--   timezone:  the zone the tap read the site in (the `sites` stream), else the var
--              calltouch_timezone (CALLTOUCH_TIMEZONE), for a site the stream does not know.
with configured as (

    select site_id, site_name, timezone
    from {{ ref('stg_calltouch__sites') }}

),

journals as (

    -- A site renamed in Calltouch shows its name of its latest call, on both warehouses alike
    -- (not the alphabetically greatest, which the two order by their own collations).
    select site_id, calltouch_site_name
    from (
        select
            site_id,
            calltouch_site_name,
            row_number() over (
                partition by site_id
                order by
                    case when calltouch_site_name is null then 1 else 0 end,
                    created_at desc,
                    lead_id desc
            ) as name_rank
        from (
            select site_id, calltouch_site_name, created_at, call_id as lead_id
            from {{ ref('stg_calltouch__calls') }}
            union all
            select
                site_id,
                {{ typed_null(dbt.type_string()) }},
                created_at,
                request_id
            from {{ ref('stg_calltouch__requests') }}
        ) as leads
        where site_id is not null
    ) as named
    where name_rank = 1

),

joined as (

    select
        coalesce(c.site_id, j.site_id) as site_id,
        c.site_name as configured_name,
        j.calltouch_site_name,
        c.timezone as configured_timezone,
        c.site_id is not null as is_configured
    from configured as c
    full outer join journals as j on j.site_id = c.site_id

)

select
    site_id,
    coalesce(
        configured_name, calltouch_site_name, cast(site_id as {{ dbt.type_string() }})
    ) as site_name,
    coalesce(configured_timezone, '{{ calltouch_timezone() }}') as timezone,
    is_configured
from joined
