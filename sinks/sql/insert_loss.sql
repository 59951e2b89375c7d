-- name: insert_loss
-- grain: DML: insert the staged LOSS_SCHEMA batch _stage into loss, once per distinct row
-- param ingested_at: timestamptz  -- when the store commits the row
-- param batch_id: bigint  -- the store transaction that commits it
-- rid is md5 of every column; a rid already stored (or repeated in the batch) is skipped
-- (DuckLake has no PRIMARY KEY; loss is small, so the anti-join reads the whole table).
INSERT INTO loss BY NAME
WITH s AS (
    SELECT DISTINCT ON (rid) *
    FROM (
        SELECT
            CAST(md5(concat(
                aw_part(epoch_ms(ts)), aw_part(host), aw_part(boot_id), aw_part(source),
                aw_part(kind), aw_part(count), aw_part(detail))) AS UUID) AS rid,
            *
        FROM _stage
    )
)
SELECT
    $ingested_at AS ingested_at,
    $batch_id AS batch_id,
    *
FROM s
WHERE rid NOT IN (SELECT l.rid FROM loss AS l);
