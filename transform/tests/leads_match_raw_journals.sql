-- `leads` holds exactly one row per call and per request loaded: fails with the two counts
-- when they differ. A journal never loaded counts 0.
with loaded as (

    select {{ raw_count('calls', 'callId') }} + {{ raw_count('requests', 'requestId') }} as raw_rows

),

modelled as (

    select count(*) as lead_rows from {{ ref('leads') }}

)

select raw_rows, lead_rows
from loaded cross join modelled
where raw_rows <> lead_rows
