-- One row per deal (orderId), on the lead Calltouch holds it on now: of every row a deal has
-- in `orders` and `call_orders`, the latest load. A deal a CRM relinked to another call or
-- request moves there instead of counting twice. Rows without a load time (a loader without
-- its metadata columns) rank last, then by the higher lead id.
with loaded as (

    select
        order_id, 'request' as lead_type, request_id as lead_id, created_at, amount, loaded_at
    from {{ ref('stg_calltouch__request_deals') }}
    union all
    select order_id, 'call' as lead_type, call_id as lead_id, created_at, amount, loaded_at
    from {{ ref('stg_calltouch__call_deals') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by order_id
            order by loaded_at desc nulls last, lead_id desc, lead_type
        ) as load_number
    from loaded
    where order_id is not null

)

select order_id, lead_type, lead_id, created_at, amount, loaded_at
from ranked
where load_number = 1
