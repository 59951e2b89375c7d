"""armorwatch: CLI, configuration and wiring of the ingest → parsers → sinks → jobs pipeline."""

__version__ = "0.1.0"
