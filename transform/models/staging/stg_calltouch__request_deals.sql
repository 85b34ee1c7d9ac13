-- One row per deal linked to a request (the `orders` stream, keyed orderId); `amount` is the
-- deal's budget `sum`, exact. Deduplicated on the key, so a re-loaded deal counts once.
with source as (

    select
        *,
        row_number() over (
            partition by {{ col('orderId') }} order by {{ col('dateCreated') }} desc
        ) as copy_number
    from {{ source('calltouch', 'orders') }}

)

select
    cast({{ col('orderId') }} as bigint) as order_id,
    cast({{ col('requestId') }} as bigint) as request_id,
    {{ col('dateCreated') }} as created_at,
    nullif({{ col('status') }}, '') as status,
    {{ money(col('sum')) }} as amount
from source
where copy_number = 1
