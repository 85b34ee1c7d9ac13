"""End-to-end tests: Meltano runs the tap into real loaders (PostgreSQL, DuckDB)."""
