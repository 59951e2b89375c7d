-- name: macros
-- grain: DDL: the writer connection's TEMP macros computing rid
-- Temporary macros of the writer connection: how rows get their de-duplication id (rid).
-- Key equality treats NULL as a value of its own: each part is written as
-- '<byte length>:<text>' or '~' for NULL, so (NULL, 'a'), ('', 'a') and ('a', '') never
-- produce the same key text, and two rows whose key parts are both NULL are equal.

-- aw_part(x): one key part as unambiguous text
CREATE OR REPLACE TEMP MACRO aw_part(x) AS
    CASE WHEN x IS NULL THEN '~' ELSE strlen(x::VARCHAR) || ':' || x::VARCHAR END;

-- aw_record_rid: KEY_COLUMNS (host, boot_id, ts, serial, record_type, raw). The record's
-- own bytes (md5(raw)) tell apart the records of one audit(ts:serial), never their position
-- in the event: an event split by a rotation, a pause, a clock step or interleaved hosts
-- keeps every record, and a replay of the same line maps to the same rid.
CREATE OR REPLACE TEMP MACRO aw_record_rid(host, boot_id, ts, serial, record_type, raw) AS
    CAST(md5(concat(
        aw_part(host), aw_part(boot_id), aw_part(epoch_ms(ts)), aw_part(serial),
        aw_part(record_type), 'R', coalesce(md5(raw), '~'))) AS UUID);
