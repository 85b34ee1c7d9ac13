-- One row per web request (заявка), typed and in snake_case, attributed to its session.
with source as (

    select
        *,
        row_number() over (
            partition by {{ col('requestId') }} order by {{ col('date') }} desc
        ) as copy_number
    from {{ source('calltouch', 'requests') }}

)

select
    cast({{ col('requestId') }} as bigint) as request_id,
    cast({{ col('siteId') }} as bigint) as site_id,
    nullif({{ col('requestNumber') }}, '') as request_number,
    {{ col('date') }} as created_at,
    {{ local_date(col('date')) }} as created_date_local,
    {{ json_text('session', 'source') }} as source,
    {{ json_text('session', 'medium') }} as medium,
    {{ json_text('session', 'utmCampaign') }} as campaign,
    {{ json_text('session', 'keywords') }} as keyword,
    {{ json_text('session', 'utmSource') }} as utm_source,
    {{ json_text('session', 'utmMedium') }} as utm_medium,
    {{ json_text('session', 'utmTerm') }} as utm_term,
    {{ json_text('session', 'utmContent') }} as utm_content,
    {{ json_text('session', 'url') }} as landing_url,
    {{ json_text('session', 'city') }} as city,
    nullif({{ col('requestUrl') }}, '') as request_url,
    nullif({{ col('subject') }}, '') as subject,
    nullif({{ col('requestType') }}, '') as request_type,
    nullif({{ col('status') }}, '') as status,
    nullif({{ col('manager') }}, '') as manager,
    coalesce({{ col('uniqueRequest') }}, false) as is_unique,
    coalesce({{ col('targetRequest') }}, false) as is_target,
    coalesce({{ col('uniqTargetRequest') }}, false) as is_unique_target
from source
where copy_number = 1
