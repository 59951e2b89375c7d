"""DuckDB jobs: aggregates, rule suggestion, alerts and the nightly report."""
