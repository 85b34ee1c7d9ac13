-- Each lead's created_date_local is its day in its own site's zone (the `sites` model; the
-- var calltouch_timezone for a lead without a site): fails with the leads on another day, as
-- when every site's day was counted in the one fallback zone and every other test passed.
select
    l.lead_key,
    l.created_at,
    l.created_date_local,
    s.timezone
from {{ ref('leads') }} as l
left join {{ ref('sites') }} as s on s.site_id = l.site_id
where l.created_date_local
    <> {{ local_date('l.created_at', "coalesce(s.timezone, '" ~ calltouch_timezone() ~ "')") }}
