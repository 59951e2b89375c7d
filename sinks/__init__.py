"""Sinks: where envelopes go (DuckDB, Parquet, Kafka, webhook, dead-letter files)."""
