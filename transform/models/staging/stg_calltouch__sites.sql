-- One row per site the tap has read (the `sites` stream: id, name, time zone, from its
-- config). Reads as empty when the stream was never loaded: every site then falls back to
-- the var calltouch_timezone (see the `sites` model).
{% set text = dbt.type_string() %}
with source as (

    select
        *,
        row_number() over (partition by site_id order by loaded_at desc nulls last) as copy_number
    from {{ calltouch.raw('sites', [
        ('siteId', 'site_id', 'bigint'),
        ('name', 'site_name', text),
        ('timezone', 'timezone', text),
        calltouch.loaded_at_field(),
    ]) }} as raw

)

select
    site_id,
    nullif(site_name, '') as site_name,
    nullif(timezone, '') as timezone
from source
where copy_number = 1 and site_id is not null
