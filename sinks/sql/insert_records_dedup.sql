-- name: insert_records_dedup
-- grain: DML: insert_records.sql for a batch that repeats a rid, keeping the first row of each
-- param ingested_at: timestamptz  -- when the store commits the row
-- param batch_id: bigint  -- the store transaction that commits it
-- param lo: timestamptz  -- the batch's min ts
-- param hi: timestamptz  -- the batch's max ts
-- param null_ts: boolean  -- the batch has rows without ts
-- Slower (the DISTINCT ON carries every column), so only used when needed.
INSERT INTO records BY NAME
WITH s AS (
    SELECT DISTINCT ON (rid) *
    FROM (
        SELECT aw_record_rid(host, boot_id, ts, serial, record_type, raw) AS rid, *
        FROM _stage
    )
)
SELECT
    $ingested_at AS ingested_at,
    $batch_id AS batch_id,
    *
FROM s
WHERE rid NOT IN (SELECT r.rid FROM records AS r WHERE r.ts BETWEEN $lo AND $hi)
  AND rid NOT IN (SELECT r.rid FROM records AS r WHERE $null_ts AND r.ts IS NULL);
