-- name: migrate_3
-- grain: DML: recompute every stored rid for schema v3
-- Migration to schema v3: rid no longer depends on the record's ordinal in its event but
-- on its bytes (md5(raw)); recompute it for every stored record so that a replay of an
-- old line is recognised. Needs the macros of macros.sql (migrate() defines them first).
-- The `suspect` column is added by the generic missing-column step.
UPDATE records SET rid = aw_record_rid(host, boot_id, ts, serial, record_type, raw);
