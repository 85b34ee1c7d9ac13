-- One row per call, typed and in snake_case, with the journal's attribution. Reads as empty
-- when the calls journal was never loaded (deselected).
{% set text = dbt.type_string() %}
with source as (

    select
        *,
        row_number() over (partition by call_id order by created_at desc) as copy_number
    from {{ calltouch.raw('calls', [
        ('callId', 'call_id', 'bigint'),
        ('siteId', 'site_id', 'bigint'),
        ('siteName', 'calltouch_site_name', text),
        ('date', 'created_at', dbt.type_timestamp()),
        ('source', 'source', text),
        ('medium', 'medium', text),
        ('utmCampaign', 'campaign', text),
        ('keyword', 'keyword', text),
        ('utmSource', 'utm_source', text),
        ('utmMedium', 'utm_medium', text),
        ('utmTerm', 'utm_term', text),
        ('utmContent', 'utm_content', text),
        ('url', 'landing_url', text),
        ('city', 'city', text),
        ('manager', 'manager', text),
        ('duration', 'duration_seconds', 'bigint'),
        ('callerNumber', 'caller_number', text),
        ('phoneNumber', 'phone_number', text),
        ('successful', 'is_successful', 'boolean'),
        ('uniqueCall', 'is_unique', 'boolean'),
        ('targetCall', 'is_target', 'boolean'),
        ('uniqTargetCall', 'is_unique_target', 'boolean'),
    ]) }} as raw

)

select
    call_id,
    site_id,
    nullif(calltouch_site_name, '') as calltouch_site_name,
    created_at,
    nullif(source, '') as source,
    nullif(medium, '') as medium,
    nullif(campaign, '') as campaign,
    nullif(keyword, '') as keyword,
    nullif(utm_source, '') as utm_source,
    nullif(utm_medium, '') as utm_medium,
    nullif(utm_term, '') as utm_term,
    nullif(utm_content, '') as utm_content,
    nullif(landing_url, '') as landing_url,
    nullif(city, '') as city,
    nullif(manager, '') as manager,
    duration_seconds,
    nullif(caller_number, '') as caller_number,
    nullif(phone_number, '') as phone_number,
    coalesce(is_successful, false) as is_successful,
    coalesce(is_unique, false) as is_unique,
    coalesce(is_target, false) as is_target,
    coalesce(is_unique_target, false) as is_unique_target
from source
where copy_number = 1
