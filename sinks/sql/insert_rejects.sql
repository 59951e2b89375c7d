-- name: insert_rejects
-- grain: DML: insert the staged REJECT_SCHEMA batch _stage into rejects, once per distinct row
-- param ingested_at: timestamptz  -- when the store commits the row
-- param batch_id: bigint  -- the store transaction that commits it
INSERT OR IGNORE INTO rejects BY NAME
SELECT
    CAST(md5(concat(
        aw_part(source), aw_part(host), aw_part(reason),
        CASE WHEN raw IS NULL THEN '~' ELSE md5(raw) END)) AS UUID) AS rid,
    $ingested_at AS ingested_at,
    $batch_id AS batch_id,
    *
FROM _stage;
