-- name: insert_records
-- grain: DML: insert the staged batch _stage (MAC_SCHEMA) into records, new rids only
-- param ingested_at: timestamptz  -- when the store commits the row
-- param batch_id: bigint  -- the store transaction that commits it
-- param lo: timestamptz  -- the batch's min ts
-- param hi: timestamptz  -- the batch's max ts
-- param null_ts: boolean  -- the batch has rows without ts
-- Skips rows whose rid is already stored (replays, at-least-once duplicates). Used when
-- the batch itself holds no duplicate rid (checked first with records_batch_duplicates.sql).
--
-- Why an anti-join and not a PRIMARY KEY + INSERT OR IGNORE: the ART index made inserts
-- ~1.9x slower (one interleaved run, 1.2M rows offered in 100k batches into 1M stored:
-- 38k/74k rows/s with the key vs 71k/136k without, on a busy 2-core machine). The rid of a stored duplicate implies the
-- same ts, so only rows in the batch's ts range are compared, which DuckDB's zone maps
-- prune to the row groups of that time range. The single-writer design (one sink, one
-- thread, one transaction at a time) is what keeps rid unique.
INSERT INTO records BY NAME
WITH s AS (
    SELECT aw_record_rid(host, boot_id, ts, serial, record_type, raw) AS rid, *
    FROM _stage
)
SELECT
    $ingested_at AS ingested_at,
    $batch_id AS batch_id,
    *
FROM s
WHERE rid NOT IN (SELECT r.rid FROM records AS r WHERE r.ts BETWEEN $lo AND $hi)
  AND rid NOT IN (SELECT r.rid FROM records AS r WHERE $null_ts AND r.ts IS NULL);
