{#
  Everything that differs between the two warehouses, in one place.

  - col('requestId'): a raw column by the tap's field name. target-postgres keeps the tap's names
    (quoted: "requestId"); target-duckdb lower-cases them (requestid).
  - json_text('session', 'utmCampaign'): a text field of a JSON object column (jsonb in
    PostgreSQL, JSON in DuckDB); '' reads as null.
  - local_date(ts): the account's calendar day of a naive UTC timestamp.
  - money(text): an exact decimal from the tap's decimal text ("2800.0000").
#}

{% macro col(name) -%}
  {{ return(adapter.dispatch('col', 'calltouch')(name)) }}
{%- endmacro %}

{% macro default__col(name) -%}
  {{ adapter.quote(name) }}
{%- endmacro %}

{% macro duckdb__col(name) -%}
  {{ name | lower }}
{%- endmacro %}


{% macro json_text(column, key) -%}
  nullif({{ col(column) }} ->> '{{ key }}', '')
{%- endmacro %}


{% macro calltouch_timezone() -%}
  {%- set zone = var('calltouch_timezone') -%}
  {%- if not modules.re.fullmatch('[A-Za-z0-9_+/-]+', zone) -%}
    {{ exceptions.raise_compiler_error("calltouch_timezone is not an IANA zone name: " ~ zone) }}
  {%- endif -%}
  {{ return(zone) }}
{%- endmacro %}

{% macro local_date(ts) -%}
  {{ return(adapter.dispatch('local_date', 'calltouch')(ts)) }}
{%- endmacro %}

{# PostgreSQL and DuckDB (its bundled ICU) read AT TIME ZONE alike: naive UTC -> timestamptz ->
   the account's wall clock, whose date is the account's day. #}
{% macro default__local_date(ts) -%}
  cast(({{ ts }} at time zone 'UTC') at time zone '{{ calltouch_timezone() }}' as date)
{%- endmacro %}


{# Calltouch sends money with four decimals ("2800.0000"); numeric(38, 4) holds it exactly on
   both databases, and sums of it stay exact. #}
{% macro money_type() -%}
  numeric(38, 4)
{%- endmacro %}

{% macro money(text) -%}
  cast(nullif(trim({{ text }}), '') as {{ money_type() }})
{%- endmacro %}

{% macro zero_money() -%}
  cast(0 as {{ money_type() }})
{%- endmacro %}
