-- Every deal loaded (each orderId, calls' and requests' together) counts in `leads` exactly
-- once: fails with both counts when a relinked deal doubled or a deal went missing.
with loaded as (

    select count(*) as deals from {{ ref('stg_calltouch__deals') }}

),

counted as (

    select coalesce(sum(deals), 0) as deals from {{ ref('leads') }}

)

select loaded.deals as loaded_deals, counted.deals as counted_deals
from loaded cross join counted
where loaded.deals <> counted.deals
