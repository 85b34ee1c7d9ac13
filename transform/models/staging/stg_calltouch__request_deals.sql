-- One row per deal linked to a request, as loaded (the `orders` stream, keyed orderId);
-- `amount` is the deal's budget `sum`, exact. stg_calltouch__deals picks each deal's one lead.
with source as (

    select *
    from {{ calltouch.raw('orders', [
        ('orderId', 'order_id', 'bigint'),
        ('requestId', 'request_id', 'bigint'),
        ('dateCreated', 'created_at', dbt.type_timestamp()),
        ('status', 'status', dbt.type_string()),
        ('sum', 'amount_text', dbt.type_string()),
        calltouch.loaded_at_field(),
    ]) }} as raw

)

select
    order_id,
    request_id,
    created_at,
    nullif(status, '') as status,
    {{ money('amount_text') }} as amount,
    loaded_at
from source
