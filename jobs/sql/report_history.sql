-- name: report_history
-- grain: one row per (decision, subject, class, operation, object, mask, host) before the window before the report's
-- param prev_since: timestamptz  -- start of the window before the report's, inclusive upper bound here
-- param host: varchar  -- only this host's records (NULL: every host)
-- Creates TEMP TABLE report_history: what the report needs of the events older than
-- report_scope.sql's (first seen, the complain-mode history), per signature and host, so
-- its memory grows with the signatures, never with the history's events.
CREATE OR REPLACE TEMP TABLE report_history AS
SELECT
    decision, subject, class, operation, object, mask, host,
    any_value(name) AS name,
    any_value(capname) AS capname,
    count(*) AS events,
    min(ts) AS first_seen,
    max(ts) AS last_seen
FROM report_events
WHERE ts <= $prev_since AND ($host IS NULL OR host = $host)
GROUP BY ALL;
