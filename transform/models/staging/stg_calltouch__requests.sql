-- One row per web request (заявка), typed and in snake_case, attributed to its session: read
-- from the JSON `session` column, or from session__source, ... when flattening is on. Reads
-- as empty when the requests journal was never loaded (deselected). session_at is the time of
-- that visit, UTC.
{% set text = dbt.type_string() %}
with source as (

    select
        *,
        row_number() over (partition by request_id order by created_at desc) as copy_number
    from {{ calltouch.raw('requests', [
        ('requestId', 'request_id', 'bigint'),
        ('siteId', 'site_id', 'bigint'),
        ('requestNumber', 'request_number', text),
        ('date', 'created_at', dbt.type_timestamp()),
        ('session.sessionDate', 'session_at', dbt.type_timestamp()),
        ('session.source', 'source', text),
        ('session.medium', 'medium', text),
        ('session.utmCampaign', 'campaign', text),
        ('session.keywords', 'keyword', text),
        ('session.utmSource', 'utm_source', text),
        ('session.utmMedium', 'utm_medium', text),
        ('session.utmTerm', 'utm_term', text),
        ('session.utmContent', 'utm_content', text),
        ('session.url', 'landing_url', text),
        ('session.city', 'city', text),
        ('requestUrl', 'request_url', text),
        ('subject', 'subject', text),
        ('requestType', 'request_type', text),
        ('status', 'status', text),
        ('manager', 'manager', text),
        ('uniqueRequest', 'is_unique', 'boolean'),
        ('targetRequest', 'is_target', 'boolean'),
        ('uniqTargetRequest', 'is_unique_target', 'boolean'),
    ]) }} as raw

)

select
    request_id,
    site_id,
    nullif(request_number, '') as request_number,
    created_at,
    session_at,
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
    nullif(request_url, '') as request_url,
    nullif(subject, '') as subject,
    nullif(request_type, '') as request_type,
    nullif(status, '') as status,
    nullif(manager, '') as manager,
    coalesce(is_unique, false) as is_unique,
    coalesce(is_target, false) as is_target,
    coalesce(is_unique_target, false) as is_unique_target
from source
where copy_number = 1
