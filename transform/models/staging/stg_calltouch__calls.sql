-- One row per call, typed and in snake_case, with the journal's attribution.
with source as (

    select
        *,
        row_number() over (
            partition by {{ col('callId') }} order by {{ col('date') }} desc
        ) as copy_number
    from {{ source('calltouch', 'calls') }}

)

select
    cast({{ col('callId') }} as bigint) as call_id,
    cast({{ col('siteId') }} as bigint) as site_id,
    {{ col('date') }} as created_at,
    {{ local_date(col('date')) }} as created_date_local,
    nullif({{ col('source') }}, '') as source,
    nullif({{ col('medium') }}, '') as medium,
    nullif({{ col('utmCampaign') }}, '') as campaign,
    nullif({{ col('keyword') }}, '') as keyword,
    nullif({{ col('utmSource') }}, '') as utm_source,
    nullif({{ col('utmMedium') }}, '') as utm_medium,
    nullif({{ col('utmTerm') }}, '') as utm_term,
    nullif({{ col('utmContent') }}, '') as utm_content,
    nullif({{ col('url') }}, '') as landing_url,
    nullif({{ col('city') }}, '') as city,
    nullif({{ col('manager') }}, '') as manager,
    {{ col('duration') }} as duration_seconds,
    nullif({{ col('callerNumber') }}, '') as caller_number,
    nullif({{ col('phoneNumber') }}, '') as phone_number,
    coalesce({{ col('successful') }}, false) as is_successful,
    coalesce({{ col('uniqueCall') }}, false) as is_unique,
    coalesce({{ col('targetCall') }}, false) as is_target,
    coalesce({{ col('uniqTargetCall') }}, false) as is_unique_target
from source
where copy_number = 1
