-- name: insert_rejects
-- grain: DML: insert the staged REJECT_SCHEMA batch _stage into rejects, once per distinct row
-- param ingested_at: timestamptz  -- when the store commits the row
-- param batch_id: bigint  -- the store transaction that commits it
-- rid is md5 of source, host, reason and raw; a rid already stored (or repeated in the
-- batch) is skipped (DuckLake has no PRIMARY KEY; rejects is small).
INSERT INTO rejects BY NAME
WITH s AS (
    SELECT DISTINCT ON (rid) *
    FROM (
        SELECT
            CAST(md5(concat(
                aw_part(source), aw_part(host), aw_part(reason),
                CASE WHEN raw IS NULL THEN '~' ELSE md5(raw) END)) AS UUID) AS rid,
            *
        FROM _stage
    )
)
SELECT
    $ingested_at AS ingested_at,
    $batch_id AS batch_id,
    *
FROM s
WHERE rid NOT IN (SELECT r.rid FROM rejects AS r);
