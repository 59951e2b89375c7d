-- name: insert_loss
-- grain: DML: insert the staged LOSS_SCHEMA batch _stage into loss, once per distinct row
-- param ingested_at: timestamptz  -- when the store commits the row
-- param batch_id: bigint  -- the store transaction that commits it
INSERT OR IGNORE INTO loss BY NAME
SELECT
    CAST(md5(concat(
        aw_part(epoch_ms(ts)), aw_part(host), aw_part(boot_id), aw_part(source),
        aw_part(kind), aw_part(count), aw_part(detail))) AS UUID) AS rid,
    $ingested_at AS ingested_at,
    $batch_id AS batch_id,
    *
FROM _stage;
