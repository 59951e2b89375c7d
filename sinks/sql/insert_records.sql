-- Insert the staged Arrow batch _stage (MAC_SCHEMA) into records; rows whose rid is
-- already stored (replays, at-least-once duplicates, duplicates inside the batch) are
-- skipped. Parameters: $ingested_at (TIMESTAMPTZ), $batch_id (BIGINT).
INSERT OR IGNORE INTO records BY NAME
SELECT
    aw_record_rid(host, boot_id, ts, serial, record_type, ordinal, raw) AS rid,
    $ingested_at AS ingested_at,
    $batch_id AS batch_id,
    *
FROM _stage;
