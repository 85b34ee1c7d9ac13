"""The leads dashboard: a Streamlit app over the dbt models `leads_daily` and `leads`.

Run it with ./scripts/dashboard, which keeps its dependencies in .venv-dashboard, apart from the
tap's package and .venv-meltano. `formatting` and `warehouse` need nothing but the standard
library (and duckdb or psycopg once a connection is opened); `app` is the Streamlit page.
"""
