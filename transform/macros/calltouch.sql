{#
  Everything that differs between the two warehouses, and between what a loader may have left,
  in one place.

  - raw('calls', [('callId', 'call_id', 'bigint'), ...]): a raw table as a subquery of typed,
    renamed columns, whatever the loader did with it. target-postgres keeps the tap's names
    ("requestId"), target-duckdb lower-cases them (requestid): columns are found by name in
    any case. A field of an object ('session.source') is read from the flattened column
    (session__source, with `flattening_enabled`, whatever the separator) and from the
    JSON/jsonb object column (session ->> 'source'), whichever the row has. A column the table lacks (a property deselected) reads as null,
    and a table the loader never created (a stream deselected) as no rows.
  - raw_count('calls', 'callId'): distinct values of a raw column, 0 without the table.
  - local_date(ts, zone): the calendar day of a naive UTC timestamp in the zone named by the
    SQL expression `zone`; calltouch_timezone() is the fallback zone (var calltouch_timezone).
  - money(text): an exact decimal from the tap's decimal text ("2800.0000").

  ClickHouse (target-clickhouse, dbt-clickhouse) differs most, and raw() undoes what its loader
  did: each table is read FINAL (ReplacingMergeTree keeps every load's rows until a merge),
  nulls come back from the 0 of an id and the '' of a text (the loader's columns are not
  Nullable), its DateTime holds the UTC wall clock read in the server's zone, so it is read
  again as UTC, and objects are JSON text, read with JSONExtract. Every cast is to Nullable(T)
  there: ClickHouse refuses to cast a null to a plain type.
#}

{# The loaded table of a stream, or none when the loader never created it. On ClickHouse the
   raw database must exist: dbt finds it by TARGET_CLICKHOUSE_DATABASE and the server by
   TARGET_CLICKHOUSE_HOST, ..., variables a `meltano config set target-clickhouse` in
   meltano.yml does not set; reading a database that is not there as empty would build empty
   reports whose tests pass. #}
{% macro raw_relation(name) -%}
  {%- set declared = source('calltouch', name) -%}
  {%- if not execute -%}
    {{ return(declared) }}
  {%- endif -%}
  {%- set relation = adapter.get_relation(
      database=declared.database, schema=declared.schema, identifier=declared.identifier) -%}
  {%- if relation is none and target.type == 'clickhouse'
        and not adapter.check_schema_exists(declared.database, declared.schema) -%}
    {{ exceptions.raise_compiler_error(
        "No database " ~ declared.schema ~ " on ClickHouse " ~ target.host ~ ":" ~ target.port
        ~ ": dbt reads the raw tables from TARGET_CLICKHOUSE_DATABASE on TARGET_CLICKHOUSE_HOST"
        ~ " (and _PORT, _USERNAME, _PASSWORD, _SECURE): set these variables in .env or the"
        ~ " environment, not with `meltano config set target-clickhouse`, which dbt does not read") }}
  {%- endif -%}
  {{ return(relation) }}
{%- endmacro %}


{# The table's columns by lower-case name: {'requestid': 'requestId', ...}. #}
{% macro raw_columns(relation) -%}
  {%- set columns = {} -%}
  {%- for column in adapter.get_columns_in_relation(relation) -%}
    {%- do columns.update({column.name | lower: column.name}) -%}
  {%- endfor -%}
  {{ return(columns) }}
{%- endmacro %}


{# One field as a typed expression: a column, or an object's field, or null.

   An object's field ('session.source') is read from every shape the loaded rows may have: a
   flattened column with any `flattening_separator` (session__source, session_source,
   session.source) and the object's JSON column, the first non-null of them. A warehouse
   loaded with flattening off and then on (or the other way) has both shapes, each filled
   for the rows loaded so; reading one would leave the others' attribution null. #}
{% macro raw_field(columns, field, type) -%}
  {%- set parts = field.split('.') -%}
  {%- if parts | length == 1 -%}
    {%- if (field | lower) in columns -%}
      {{ raw_column(adapter.quote(columns[field | lower]), field, type) }}
    {%- else -%}
      {{ typed_null(type) }}
    {%- endif -%}
  {%- else -%}
    {%- set re = modules.re -%}
    {%- set flat = re.escape(parts[0] | lower) ~ '[^a-z0-9]+' ~ re.escape(parts[1] | lower) -%}
    {%- set shapes = [] -%}
    {%- for name in columns | sort if re.fullmatch(flat, name) -%}
      {%- do shapes.append(raw_column(adapter.quote(columns[name]), parts[1], type)) -%}
    {%- endfor -%}
    {%- if (parts[0] | lower) in columns -%}
      {%- set text = json_text(adapter.quote(columns[parts[0] | lower]), parts[1]) -%}
      {%- if type | lower == dbt.type_timestamp() | lower -%}
        {#- JSON times are ISO text with an offset: ClickHouse's cast does not read those. -#}
        {%- do shapes.append(raw_column('nullif(' ~ text ~ ", '')", parts[1], type)) -%}
      {%- else -%}
        {%- do shapes.append('cast(nullif(' ~ text ~ ", '') as " ~ nullable(type) ~ ')') -%}
      {%- endif -%}
    {%- endif -%}
    {%- if not shapes -%}
      {{ typed_null(type) }}
    {%- elif shapes | length == 1 -%}
      {{ shapes[0] }}
    {%- else -%}
      coalesce({{ shapes | join(', ') }})
    {%- endif -%}
  {%- endif -%}
{%- endmacro %}


{# A loaded column as `type`. #}
{% macro raw_column(column, field, type) -%}
  {{ return(adapter.dispatch('raw_column', 'calltouch')(column, field, type)) }}
{%- endmacro %}

{% macro default__raw_column(column, field, type) -%}
  cast({{ column }} as {{ type }})
{%- endmacro %}

{# target-clickhouse writes a null id as 0 (Int64, not Nullable): no Calltouch id is 0. It
   writes a UTC time's wall clock into a DateTime of the server's zone: read that text as UTC,
   so the instant is right whatever the server's zone (Yandex Managed ClickHouse: Moscow). #}
{% macro clickhouse__raw_column(column, field, type) -%}
  {%- if type | lower == dbt.type_timestamp() | lower -%}
    parseDateTimeBestEffortOrNull(toString({{ column }}), 'UTC')
  {%- elif type | lower in ('bigint', 'integer', 'int') and field[-2:] | lower == 'id' -%}
    cast(nullif({{ column }}, 0) as {{ nullable(type) }})
  {%- else -%}
    cast({{ column }} as {{ nullable(type) }})
  {%- endif -%}
{%- endmacro %}


{# A type that holds null: ClickHouse's columns hold none unless Nullable(T). #}
{% macro nullable(type) -%}
  {{ return(adapter.dispatch('nullable', 'calltouch')(type)) }}
{%- endmacro %}

{% macro default__nullable(type) -%}
  {{ type }}
{%- endmacro %}

{% macro clickhouse__nullable(type) -%}
  {%- if type | lower == dbt.type_timestamp() | lower -%}
    Nullable(DateTime('UTC'))
  {%- else -%}
    Nullable({{ type }})
  {%- endif -%}
{%- endmacro %}

{% macro typed_null(type) -%}
  cast(null as {{ nullable(type) }})
{%- endmacro %}


{# A text field of a JSON object column: jsonb or JSON as the loaders store objects, or JSON
   text where a flattening depth left an object whole. #}
{% macro json_text(column, key) -%}
  {{ return(adapter.dispatch('json_text', 'calltouch')(column, key)) }}
{%- endmacro %}

{% macro default__json_text(column, key) -%}
  cast({{ column }} as jsonb) ->> '{{ key }}'
{%- endmacro %}

{% macro duckdb__json_text(column, key) -%}
  cast({{ column }} as json) ->> '{{ key }}'
{%- endmacro %}

{# JSON text in a String ('' for a null object): a string's value, other values as JSON text,
   like ->> does. #}
{% macro clickhouse__json_text(column, key) -%}
  multiIf(
    JSONType({{ column }}, '{{ key }}') = 'String', JSONExtractString({{ column }}, '{{ key }}'),
    JSONType({{ column }}, '{{ key }}') = 'Null', '',
    JSONExtractRaw({{ column }}, '{{ key }}')
  )
{%- endmacro %}


{% macro raw(name, fields) -%}
  {#- source() runs at parse time too, so dbt knows which raw tables a model reads. -#}
  {%- set relation = raw_relation(name) -%}
  {%- if not execute or relation is none -%}
    (
      select
      {%- for field, alias, type in fields %}
        {{ typed_null(type) }} as {{ alias }}{{ "," if not loop.last }}
      {%- endfor %}
      where 1 = 0
    )
  {%- else -%}
    {%- set columns = raw_columns(relation) -%}
    (
      select
      {%- for field, alias, type in fields %}
        {{ raw_field(columns, field, type) }} as {{ alias }}{{ "," if not loop.last }}
      {%- endfor %}
      from {{ relation }}{{ once_per_key() }}
    )
  {%- endif -%}
{%- endmacro %}


{# Read a raw table once per key: ClickHouse's ReplacingMergeTree holds each load's rows
   until a merge, and FINAL merges them as it reads (the latest load wins). #}
{% macro once_per_key() -%}
  {{ return(adapter.dispatch('once_per_key', 'calltouch')()) }}
{%- endmacro %}

{% macro default__once_per_key() -%}{%- endmacro %}

{% macro clickhouse__once_per_key() -%} final{%- endmacro %}


{% macro raw_count(name, field) -%}
  {%- set relation = raw_relation(name) -%}
  {%- if not execute or relation is none -%}
    0
  {%- else -%}
    (select count(distinct {{ raw_field(raw_columns(relation), field, 'bigint') }}) from {{ relation }})
  {%- endif -%}
{%- endmacro %}


{# When the loader wrote each row (_sdc_extracted_at: target-postgres' add_record_metadata,
   target-duckdb's add_metadata_columns), to keep a deal's latest load. #}
{% macro loaded_at_field() -%}
  {{ return(('_sdc_extracted_at', 'loaded_at', dbt.type_timestamp())) }}
{%- endmacro %}


{% macro calltouch_timezone() -%}
  {%- set zone = var('calltouch_timezone') -%}
  {%- if not modules.re.fullmatch('[A-Za-z0-9_+/-]+', zone) -%}
    {{ exceptions.raise_compiler_error("calltouch_timezone is not an IANA zone name: " ~ zone) }}
  {%- endif -%}
  {{ return(zone) }}
{%- endmacro %}

{% macro local_date(ts, zone) -%}
  {{ return(adapter.dispatch('local_date', 'calltouch')(ts, zone)) }}
{%- endmacro %}

{# PostgreSQL and DuckDB (its bundled ICU) read AT TIME ZONE alike, the zone being any text
   expression: naive UTC -> timestamptz -> the zone's wall clock, whose date is the day. #}
{% macro default__local_date(ts, zone) -%}
  cast(({{ ts }} at time zone 'UTC') at time zone {{ zone }} as date)
{%- endmacro %}


{# ClickHouse takes the zone of toDate as a constant only: one branch per zone a site is read
   in (the `sites` stream's) and the fallback zone; another zone reads as null, which the
   models' not_null tests report. #}
{% macro clickhouse__local_date(ts, zone) -%}
  {%- set zones = [calltouch_timezone()] -%}
  {%- set configured = ref('stg_calltouch__sites') -%}
  {%- if execute -%}
    {%- for row in run_query('select distinct timezone from ' ~ configured
                             ~ ' where timezone is not null') -%}
      {%- if not modules.re.fullmatch('[A-Za-z0-9_+/-]+', row[0]) -%}
        {{ exceptions.raise_compiler_error("a site's timezone is not an IANA zone name: " ~ row[0]) }}
      {%- endif -%}
      {%- if row[0] not in zones -%}{%- do zones.append(row[0]) -%}{%- endif -%}
    {%- endfor -%}
  {%- endif -%}
  multiIf(
    {%- for name in zones %}
    {{ zone }} = '{{ name }}', toDate({{ ts }}, '{{ name }}'),
    {%- endfor %}
    null
  )
{%- endmacro %}


{# Calltouch sends money with four decimals ("2800.0000"); numeric(38, 4) holds it exactly on
   both databases, and sums of it stay exact. #}
{% macro money_type() -%}
  numeric(38, 4)
{%- endmacro %}

{% macro money(text) -%}
  cast(nullif(trim({{ text }}), '') as {{ nullable(money_type()) }})
{%- endmacro %}

{% macro zero_money() -%}
  cast(0 as {{ money_type() }})
{%- endmacro %}
