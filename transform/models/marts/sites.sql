-- One row per site: each site the `sites` stream lists, and any other site a call or request
-- names. The site dimension of every report: its name, and the zone its local days are
-- counted in.
--   site_name: the name given in the tap's `sites`, else the calls journal's siteName, else
--              the site id as text (never null, so a report always has a label).
--   timezone:  the zone the tap read the site in (the `sites` stream), else the var
--              calltouch_timezone (CALLTOUCH_TIMEZONE), for a site the stream does not know.
with configured as (

    select site_id, site_name, timezone
    from {{ ref('stg_calltouch__sites') }}

),

journals as (

    select site_id, max(calltouch_site_name) as calltouch_site_name
    from (
        select site_id, calltouch_site_name from {{ ref('stg_calltouch__calls') }}
        union all
        select site_id, cast(null as {{ dbt.type_string() }}) from {{ ref('stg_calltouch__requests') }}
    ) as leads
    where site_id is not null
    group by site_id

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
