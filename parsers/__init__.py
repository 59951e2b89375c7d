"""Pure parsing: bytes in, Arrow out (no I/O).

Modules: ``schema`` (the one Arrow schema), ``result`` (HostInfo, ParseResult, ParserStats),
``stream`` (Parser, parse_bytes), ``records`` (line classifier, the reference path),
``fields`` (hex, labels, protocol names), ``envelope``, ``sanitize``, ``framing`` /
``grouping`` / ``journald`` (the Parser's parts), ``ckeys`` (writes the C scanner's key
tables ``_fastscan_keys.h`` from the Python ones), ``delivery`` (the sink contract and
``DeliveryError``, the base of ingest's and sinks' delivery errors), ``kafka_wire`` (Kafka
header names, ``KafkaSecurity``), ``sqlfile`` (the one SQL-file loader and header grammar)
and ``sql/`` (the DuckDB macros the store and the alert window share).

Error tree: the parser raises nothing on input. Bad lines are returned as rejects
(``ParseResult.rejects``: raw bytes + reason). ``ValueError`` / ``TypeError`` only for
programming errors (unknown framing, non-bytes input).
"""
