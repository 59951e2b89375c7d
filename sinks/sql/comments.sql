-- name: comments
-- grain: DDL: the comments of the store's tables and of the columns no Arrow schema has
-- Applied with COMMENT ON on every open (read them back with: SELECT table_name,
-- column_name, comment FROM duckdb_columns()). Every MAC_SCHEMA, LOSS_SCHEMA and
-- REJECT_SCHEMA column's comment is generated from its description in parsers/schema.py
-- (sinks.duckdb._apply_comments); here are only the tables and the ingest metadata
-- columns rid, ingested_at, batch_id.

COMMENT ON TABLE records IS 'every MAC record parsed (AppArmor and SELinux), one row per record, duplicates removed on rid';
COMMENT ON COLUMN records.rid IS 'record id (UUID form of an md5): md5 of the key (host, boot_id, ts, serial, record_type, md5(raw); nulls marked explicitly): the record''s own bytes, not its position in the event; the de-duplication key';
COMMENT ON COLUMN records.ingested_at IS 'when the store committed the row (UTC)';
COMMENT ON COLUMN records.batch_id IS 'the store transaction that committed the row (a writer numbers on from the highest stored)';

COMMENT ON TABLE loss IS 'every counted loss: kernel lost=, callbacks suppressed, journald suppression, rotated away unread, parser rejects, opt-in drops';
COMMENT ON COLUMN loss.rid IS 'md5 of every other loss column (nulls marked): a replayed loss row is stored once';
COMMENT ON COLUMN loss.ingested_at IS 'when the store committed the row (UTC)';
COMMENT ON COLUMN loss.batch_id IS 'the store transaction that committed the row';

COMMENT ON TABLE rejects IS 'lines the parser could not use, byte-exact (also in the dead-letter file)';
COMMENT ON COLUMN rejects.rid IS 'md5 of source, host, reason and raw (nulls marked): a replayed reject is stored once';
COMMENT ON COLUMN rejects.ingested_at IS 'when the store committed the row (UTC)';
COMMENT ON COLUMN rejects.batch_id IS 'the store transaction that committed the row';

COMMENT ON TABLE meta IS 'store metadata: schema_version (MAC_SCHEMA version of the tables), catalog (hash of the comments)';

COMMENT ON TABLE profile_state IS 'AppArmor profiles loaded per host, as the collector read them from securityfs (never from log text): one row per profile per reading, sent when the set changed and every resend_s anyway';
COMMENT ON COLUMN profile_state.rid IS 'md5 of every other profile_state column (nulls marked): a redelivered reading is stored once';
COMMENT ON COLUMN profile_state.ingested_at IS 'when the store committed the row (UTC)';
COMMENT ON COLUMN profile_state.batch_id IS 'the store transaction that committed the row';
