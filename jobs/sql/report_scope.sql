-- name: report_scope
-- grain: one row per report_events row up to the window's end (of its host), whole history
-- param until: timestamptz  -- inclusive upper bound of ts
-- param host: varchar  -- only this host's records (NULL: every host)
-- Creates TEMP TABLE report_scope: the one scan of the store's views every other
-- report_*.sql on events reads. The views derive their columns from the whole records
-- row (all its columns read for every scan): six scans of them were most of the report's
-- query time and memory, one into twelve narrow columns is not. TEMP: read-only stores too.
CREATE OR REPLACE TEMP TABLE report_scope AS
SELECT *
FROM report_events
WHERE ts <= $until AND ($host IS NULL OR host = $host);
