-- Every site's latest run read it. A site that stopped there (revoked token, spent points:
-- the tap's `site_runs` stream records it) fails this test, each named in dbt's log with why;
-- the other sites' reports were rebuilt before this runs. Its next complete run clears it. A
-- site no run of the last day has listed (removed from `sites`) no longer counts.
{% set text = dbt.type_string() %}
{% set stopped_sites %}
with runs as (

    select
        *,
        row_number() over (partition by site_id order by started_at desc) as recency
    from {{ calltouch.raw('site_runs', [
        ('siteId', 'site_id', 'bigint'),
        ('name', 'site_name', text),
        ('startedAt', 'started_at', dbt.type_timestamp()),
        ('stopped', 'stopped', dbt.type_boolean()),
        ('reason', 'reason', text),
    ]) }} as raw

),

newest as (

    select max(started_at) as started_at from runs

)

select runs.site_id, nullif(runs.site_name, '') as site_name, runs.started_at, runs.reason
from runs
cross join newest
where runs.recency = 1
    and runs.stopped
    and runs.started_at >= {{ dbt.dateadd('day', -1, 'newest.started_at') }}
{% endset %}

{% if execute %}
  {% for row in run_query(stopped_sites) %}
    {% do log("Stopped site " ~ row[0] ~ (" (" ~ row[1] ~ ")" if row[1] else "")
              ~ " in the run of " ~ row[2] ~ ": " ~ row[3], info=True) %}
  {% endfor %}
{% endif %}

{{ stopped_sites }}
