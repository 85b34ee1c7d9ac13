-- One row per deal linked to a call, as loaded (the `call_orders` stream, keyed callId +
-- orderId: a deal relinked to another call leaves its old row beside the new one, and
-- stg_calltouch__deals keeps the latest). `amount` is plannedAmount, the deal's budget: the
-- same measure as a request deal's `sum` (completedAmount is 0 until the deal closes; it is
-- kept as completed_amount).
{% set text = dbt.type_string() %}
with source as (

    select *
    from {{ calltouch.raw('call_orders', [
        ('callId', 'call_id', 'bigint'),
        ('orderId', 'order_id', 'bigint'),
        ('createdDate', 'created_date', dbt.type_timestamp()),
        ('orderDate', 'order_date', dbt.type_timestamp()),
        ('completedDate', 'completed_at', dbt.type_timestamp()),
        ('plannedAmount', 'planned_amount_text', text),
        ('completedAmount', 'completed_amount_text', text),
        calltouch.loaded_at_field(),
    ]) }} as raw

)

select
    call_id,
    order_id,
    coalesce(created_date, order_date) as created_at,
    completed_at,
    {{ money('planned_amount_text') }} as planned_amount,
    {{ money('completed_amount_text') }} as completed_amount,
    {{ money('planned_amount_text') }} as amount,
    loaded_at
from source
