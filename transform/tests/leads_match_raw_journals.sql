-- `leads` holds exactly one row per call and per request loaded: fails with the two counts
-- when they differ.
with loaded as (

    select
        (select count(distinct {{ col('callId') }}) from {{ source('calltouch', 'calls') }})
        + (select count(distinct {{ col('requestId') }}) from {{ source('calltouch', 'requests') }})
        as raw_rows

),

modelled as (

    select count(*) as lead_rows from {{ ref('leads') }}

)

select raw_rows, lead_rows
from loaded cross join modelled
where raw_rows <> lead_rows
