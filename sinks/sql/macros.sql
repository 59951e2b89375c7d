-- Temporary macros of the writer connection: how rows get their de-duplication id (rid).
-- Key equality treats NULL as a value of its own: each part is written as
-- '<byte length>:<text>' or '~' for NULL, so (NULL, 'a'), ('', 'a') and ('a', '') never
-- produce the same key text, and two rows whose key parts are both NULL are equal.

-- aw_part(x): one key part as unambiguous text
CREATE OR REPLACE TEMP MACRO aw_part(x) AS
    CASE WHEN x IS NULL THEN '~' ELSE strlen(x::VARCHAR) || ':' || x::VARCHAR END;

-- aw_record_rid: KEY_COLUMNS (host, boot_id, ts, serial, record_type, ordinal); records
-- without an audit serial (dbus syslog lines, journald renderings) add md5(raw), so two
-- different such lines in the same millisecond stay two records.
CREATE OR REPLACE TEMP MACRO aw_record_rid(host, boot_id, ts, serial, record_type, ordinal, raw) AS
    CAST(md5(concat(
        aw_part(host), aw_part(boot_id), aw_part(epoch_ms(ts)), aw_part(serial),
        aw_part(record_type), aw_part(ordinal),
        CASE WHEN serial IS NULL THEN 'R' || coalesce(md5(raw), '~') ELSE '' END)) AS UUID);
