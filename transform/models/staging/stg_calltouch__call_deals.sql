-- One row per deal linked to a call (the `call_orders` stream, keyed callId + orderId).
-- `amount` is plannedAmount, the deal's budget: the same measure as a request deal's `sum`
-- (completedAmount is 0 until the deal closes; it is kept as completed_amount).
with source as (

    select
        *,
        row_number() over (
            partition by {{ col('callId') }}, {{ col('orderId') }}
            order by {{ col('createdDate') }} desc
        ) as copy_number
    from {{ source('calltouch', 'call_orders') }}

)

select
    cast({{ col('callId') }} as bigint) as call_id,
    cast({{ col('orderId') }} as bigint) as order_id,
    coalesce({{ col('createdDate') }}, {{ col('orderDate') }}) as created_at,
    {{ col('completedDate') }} as completed_at,
    {{ money(col('plannedAmount')) }} as planned_amount,
    {{ money(col('completedAmount')) }} as completed_amount,
    {{ money(col('plannedAmount')) }} as amount
from source
where copy_number = 1
