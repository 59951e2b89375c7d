-- name: report_scope
-- grain: one row per report_events row of the window and the one before it (of its host)
-- param prev_since: timestamptz  -- start of the window before the report's, exclusive
-- param until: timestamptz  -- inclusive upper bound of ts
-- param host: varchar  -- only this host's records (NULL: every host)
-- Creates TEMP TABLE report_scope, the recent events the report's jobs read (the older
-- ones, aggregated, are report_history.sql's). One narrow scan of the store's records
-- for the report (report_events.sql) instead of one per job. TEMP: read-only stores too.
CREATE OR REPLACE TEMP TABLE report_scope AS
SELECT *
FROM report_events
WHERE ts > $prev_since AND ts <= $until AND ($host IS NULL OR host = $host);
