"""Collectors: tail audit.log / kern.log, follow journald, consume Kafka."""
