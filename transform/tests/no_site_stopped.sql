-- Every site's latest run read it. A site that stopped there (revoked token, spent points:
-- the tap's `site_runs` stream records it) fails this test, each named in dbt's log with why;
-- the other sites' reports were rebuilt before this runs. Its next complete run clears it. A
-- site removed from `sites` no longer counts: once every other site of its latest run has run
-- again without it, or once no run of the last day has listed it.
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

),

latest as (

    select site_id, started_at from runs where recency = 1

),

-- Sites whose latest run every other site of that run has run after: no longer listed.
left_out as (

    select latest.site_id as left_out_site_id
    from latest
    inner join runs as same_run on same_run.started_at = latest.started_at
    inner join latest as other on other.site_id = same_run.site_id
    where same_run.site_id <> latest.site_id
    group by latest.site_id
    having min(other.started_at) > max(latest.started_at)

)

select runs.site_id, nullif(runs.site_name, '') as site_name, runs.started_at, runs.reason
from runs
cross join newest
where runs.recency = 1
    and runs.stopped
    and runs.started_at >= {{ dbt.dateadd('day', -1, 'newest.started_at') }}
    and runs.site_id not in (select left_out_site_id from left_out)
{% endset %}

{% if execute %}
  {% for row in run_query(stopped_sites) %}
    {% do log("Stopped site " ~ row[0] ~ (" (" ~ row[1] ~ ")" if row[1] else "")
              ~ " in the run of " ~ row[2] ~ ": " ~ row[3], info=True) %}
  {% endfor %}
{% endif %}

{{ stopped_sites }}
